"""The simulated Jira Cloud over real HTTP (threaded, HTTP/1.1 keep-alive, quiet by default).

Jira endpoints (Basic auth with the API credentials unless noted)::

    GET  /rest/api/3/issue/{key|id}?expand=renderedFields,changelog&fields=*all|a,b
    GET  /rest/api/3/issue/{key}/changelog?startAt=&maxResults=      (≤ 100 per page)
    GET  /rest/api/3/issue/{key}/remotelink
    GET  /rest/api/3/field
    GET  /rest/api/3/attachment/content/{id}                         (bytes, streamed)
    POST /rest/api/3/search/jql   (also GET)   jql, fields, maxResults, nextPageToken, expand
    GET|POST /rest/api/3/search                                      → 410 Gone, as on Cloud
    GET  /rest/api/3/myself
    GET  /ex/jira/{cloudId}/rest/servicedeskapi/request/{key}/sla?start=&limit=
                                                       (SLA credentials only; 404 if no SLA)
    GET  /ex/jira/{cloudId}/rest/servicedeskapi/info            (JSM runtime info; SLA
                                                       credentials; 404 for another cloud id)
    POST /rest/api/3/issue/bulkfetch       issueIdsOrKeys (≤ 100), fields, expand (lists)
                                           → {expand, issues, issueErrors}; changelog ≤ 40
    POST /rest/api/3/changelog/bulkfetch   issueIdsOrKeys (≤ 1000), maxResults, nextPageToken,
                                           fieldIds → {issueChangeLogs, nextPageToken}
    POST /ex/jira/{cloudId}/rest/api/3/issue/bulkfetch   the same, SLA credentials: the JSM
                                           account's view, SLA field values shown
    GET  /rest/api/3/project/search?startAt=&maxResults=         (browsable projects)
    GET  /_edge/tenant_info                                      → {"cloudId"} (no auth)

Site setup (``SiteSetup``, constructor ``setup=`` or ``PUT /_simulator/setup``): the
misconfigurations of a first contact with a real site. The API account's profile time zone
(``/myself``); projects it may not browse (their issues 404, search leaves them out, JQL
naming them is a 400 as on Jira); an SLA account without the JSM agent role (SLA requests
answer 403). A wrong ``JIRA_CLOUD_ID`` needs no switch: the gateway answers 404 for it.

Control API for tests and the ``send-webhooks`` process (API credentials; never faulted or
counted)::

    POST   /_simulator/mutate                 {"seed": n}? → Mutation JSON (event, body, …)
    GET    /_simulator/state                  what changed, request counts, current faults
    GET    /_simulator/keys                   {"keys": [live issue keys]}
    PUT    /_simulator/faults                 partial Faults JSON → the new faults
    PUT    /_simulator/setup                  partial SiteSetup JSON → the new setup
    POST   /_simulator/issues/{key}/resolve   → Mutation JSON (no webhook is sent)
    POST   /_simulator/issues/{key}/update    {"summary": …} → Mutation JSON
    DELETE /_simulator/issues/{key}           → Mutation JSON

Faults (``Faults``, changeable while running): every Nth request 429 + ``Retry-After`` /
``X-RateLimit-Reset``; random 500/503; added latency; truncated bodies (a correct
``Content-Length`` but the connection closes half way, so a client sees an incomplete read);
``down`` answers 503 to everything; ``invalid_search_key`` adds an issue with that key to
every search page; ``burst_routes`` ({route: seconds}) answers every
request of those routes 429 with ``Retry-After`` and ``RateLimit-Reason:
jira-burst-based`` (Jira's per-endpoint burst limit) until removed; ``bulk_status`` (404 or
403) makes the bulk endpoints answer that, as older sites or a missing permission do.
JQL dates are in the site time zone, UTC."""

from __future__ import annotations

import base64
import contextlib
import hmac
import math
import random
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from jira_pipeline.sandbox.simulator.data import SimulatedJira
from jira_pipeline.sandbox.simulator.defaults import (
    DEFAULT_CLOUD_ID,
    DEFAULT_EMAIL,
    DEFAULT_SLA_EMAIL,
    DEFAULT_SLA_TOKEN,
    DEFAULT_TOKEN,
)
from jira_pipeline.sandbox.simulator.jql import JqlError

NOT_FOUND_MESSAGE = "Issue does not exist or you do not have permission to see it."
SEARCH_GONE_MESSAGE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)


@dataclass
class Faults:
    """Injected failures; tests may change the fields of a running server's instance."""

    rate_limit_every: int = 0
    retry_after_s: float = 1
    error_rate: float = 0.0
    latency_ms: int = 0
    truncate_rate: float = 0.0
    down: bool = False
    invalid_search_key: str = ""  # added to every search page, as a copy of its first issue
    burst_routes: dict[str, float] = field(default_factory=dict)
    bulk_status: int = 0


@dataclass
class SiteSetup:
    """How the site's accounts are set up; the defaults are a healthy site."""

    time_zone: str = "UTC"  # the API account's profile time zone, as /myself reports it
    unbrowsable_projects: tuple[str, ...] = ()  # keys the API account lacks "Browse" on
    sla_agent: bool = True  # whether the SLA account has the JSM agent role

    @property
    def hidden(self) -> frozenset[str]:
        return frozenset(key.strip().upper() for key in self.unbrowsable_projects)


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict | None = None
    chunks: object = None  # an iterator of bytes for streamed bodies
    length: int | None = None
    truncate: bool = False  # set by the fault roll: send half the body, then hang up


def _json(status: int, payload) -> _Reply:
    return _Reply(status, orjson.dumps(payload))


def _errors(status: int, *messages: str) -> _Reply:
    return _Reply(status, orjson.dumps({"errorMessages": list(messages), "errors": {}}))


_ROUTES: list[tuple[str, re.Pattern, str, str]] = [
    # (method set, pattern, route name, credentials)
    ("GET", re.compile(r"/rest/api/3/issue/([^/]+)/changelog"), "changelog", "api"),
    ("GET", re.compile(r"/rest/api/3/issue/([^/]+)/remotelink"), "remotelink", "api"),
    ("GET", re.compile(r"/rest/api/3/issue/([^/]+)"), "issue", "api"),
    ("GET POST", re.compile(r"/rest/api/3/search/jql"), "search", "api"),
    ("GET POST", re.compile(r"/rest/api/3/search"), "search_removed", "api"),
    ("GET", re.compile(r"/rest/api/3/field"), "field", "api"),
    ("GET", re.compile(r"/rest/api/3/attachment/content/([^/]+)"), "attachment", "api"),
    ("GET", re.compile(r"/rest/api/3/myself"), "myself", "api"),
    ("GET", re.compile(r"/ex/jira/([^/]+)/rest/servicedeskapi/request/([^/]+)/sla"), "sla", "sla"),
    ("GET", re.compile(r"/ex/jira/([^/]+)/rest/servicedeskapi/info"), "sla_info", "sla"),
    ("POST", re.compile(r"/rest/api/3/issue/bulkfetch"), "issue_bulkfetch", "api"),
    ("POST", re.compile(r"/rest/api/3/changelog/bulkfetch"), "changelog_bulkfetch", "api"),
    (
        "POST",
        re.compile(r"/ex/jira/([^/]+)/rest/api/3/issue/bulkfetch"),
        "sla_issue_bulkfetch",
        "sla",
    ),
    ("GET", re.compile(r"/rest/api/3/project/search"), "project_search", "api"),
    ("GET", re.compile(r"/_edge/tenant_info"), "tenant_info", "none"),
]
# Routes answering for one issue key (or id): 404 when the API account may not browse it.
_ISSUE_ROUTES = frozenset({"issue", "changelog", "remotelink"})
SLA_FORBIDDEN_MESSAGE = "You do not have permission to access this request."
BULK_ROUTES = frozenset({"issue_bulkfetch", "changelog_bulkfetch", "sla_issue_bulkfetch"})


def _rate_limited(wait_s: float) -> _Reply:
    wait = max(wait_s, 0)
    reset = datetime.now(UTC) + timedelta(seconds=wait)
    reply = _errors(429, "Rate limit exceeded.")
    reply.headers = {
        "Retry-After": str(math.ceil(wait)),
        "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "0",
        "RateLimit-Reason": "jira-burst-based",
    }
    return reply


def _find_route(method: str, path: str) -> tuple[str, re.Match | None, str]:
    for methods, pattern, name, credentials in _ROUTES:
        match = pattern.fullmatch(path)
        if match and method in methods.split():
            return name, match, credentials
    return "other", None, "api"


class SimulatorServer:
    """A running simulated site. ``start()`` serves in a background thread."""

    def __init__(
        self,
        jira: SimulatedJira,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        email: str = DEFAULT_EMAIL,
        token: str = DEFAULT_TOKEN,
        sla_email: str = DEFAULT_SLA_EMAIL,
        sla_token: str = DEFAULT_SLA_TOKEN,
        cloud_id: str = DEFAULT_CLOUD_ID,
        faults: Faults | None = None,
        setup: SiteSetup | None = None,
        fault_seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self.jira = jira
        self.faults = faults if faults is not None else Faults()
        self.setup = setup if setup is not None else SiteSetup()
        self.cloud_id = cloud_id
        self.verbose = verbose
        self._api_credentials = (email, token)
        self._sla_credentials = (sla_email, sla_token)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.simulator = self
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host, self.port = bound_host, bound_port
        self.base_url = f"http://{bound_host}:{bound_port}"
        jira.base_url = self.base_url
        self._lock = threading.Lock()
        self._request_count = 0
        self._path_counts: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._fault_rng = random.Random(fault_seed)
        self._mutation_rng = random.Random(fault_seed + 1)
        self._thread: threading.Thread | None = None
        self._gate: _ConcurrencyGate | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> SimulatorServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"jira-simulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_all()
        self._httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- facts for clients --------------------------------------------------------------------
    @property
    def sla_base_url(self) -> str:
        return self.base_url

    def env(self) -> dict[str, str]:
        """Environment variables pointing a client (or a subprocess) at this server."""
        return {
            "JIRA_BASE_URL": self.base_url,
            "JIRA_DOMAIN": f"{self.host}:{self.port}",
            "JIRA_EMAIL": self._api_credentials[0],
            "JIRA_API_TOKEN": self._api_credentials[1],
            "JIRA_SLA_BASE_URL": self.sla_base_url,
            "JIRA_SLA_EMAIL": self._sla_credentials[0],
            "JIRA_SLA_API_TOKEN": self._sla_credentials[1],
            "JIRA_CLOUD_ID": self.cloud_id,
        }

    @property
    def request_count(self) -> int:
        with self._lock:
            return self._request_count

    @property
    def path_counts(self) -> dict[str, int]:
        """Requests per route name (issue, changelog, remotelink, search, field, attachment,
        sla, myself, …)."""
        with self._lock:
            return dict(self._path_counts)

    @property
    def max_in_flight(self) -> int:
        """The most API requests ever handled at the same moment (proves concurrency)."""
        with self._lock:
            return self._max_in_flight

    def expect_concurrency(self, route: str, parties: int, timeout_s: float = 30) -> None:
        """Hold requests to ``route`` until ``parties`` of them wait at once, then let every
        request through. A client that is really parallel meets the gate whatever the
        scheduling; a serial one leaves it unmet after ``timeout_s`` (``concurrency_met``)."""
        self._gate = _ConcurrencyGate(route, parties, timeout_s)

    @property
    def concurrency_met(self) -> bool:
        """Whether the gate of ``expect_concurrency`` saw its parties at once."""
        return self._gate is not None and self._gate.met

    def reset_counts(self) -> None:
        with self._lock:
            self._request_count = 0
            self._path_counts.clear()
            self._max_in_flight = self._in_flight

    # --- request handling (called from handler threads) ---------------------------------------
    def _count(self, route: str) -> tuple[bool, bool, bool]:
        """Count the request and roll the dice: (rate limited, server error, truncate)."""
        faults = self.faults
        with self._lock:
            self._request_count += 1
            self._path_counts[route] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            limited = (
                faults.rate_limit_every > 0 and self._request_count % faults.rate_limit_every == 0
            )
            failed = faults.error_rate > 0 and self._fault_rng.random() < faults.error_rate
            truncated = faults.truncate_rate > 0 and self._fault_rng.random() < faults.truncate_rate
        return limited, failed, truncated

    def _authorized(self, header: str | None, which: str) -> bool:
        expected = self._api_credentials if which == "api" else self._sla_credentials
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), expected[0].encode()) and hmac.compare_digest(
            password.encode(), expected[1].encode()
        )

    def handle(self, method: str, target: str, headers, body: bytes) -> _Reply:
        url = urlsplit(target)
        path, query = unquote(url.path), parse_qs(url.query)
        if path.startswith("/_simulator/"):
            if not self._authorized(headers.get("Authorization"), "api"):
                return _errors(401, "Client must be authenticated to access this resource.")
            return self._control(method, path, body)
        name, match, credentials = _find_route(method, path)
        limited, failed, truncated = self._count(name)
        try:
            if self._gate is not None:
                self._gate.pass_through(name)
            return self._answer(
                name, match, credentials, query, headers, body, limited, failed, truncated
            )
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(
        self,
        name: str,
        match: re.Match | None,
        credentials: str,
        query: dict,
        headers,
        body: bytes,
        limited: bool,
        failed: bool,
        truncated: bool,
    ) -> _Reply:
        faults = self.faults
        if faults.down:
            return _errors(503, "Service unavailable (simulated outage).")
        if faults.latency_ms > 0:
            time.sleep(faults.latency_ms / 1000)
        burst = faults.burst_routes.get(name)
        if limited or burst is not None:
            return _rate_limited(faults.retry_after_s if burst is None else burst)
        if failed:
            status = 500 if self._fault_rng.random() < 0.5 else 503
            return _errors(status, "Internal server error (simulated).")
        if match is None:
            return _errors(404, "No such endpoint in the simulated Jira.")
        if credentials != "none" and not self._authorized(
            headers.get("Authorization"), credentials
        ):
            return _errors(401, "Client must be authenticated to access this resource.")
        if name in BULK_ROUTES:
            reply = self._bulk(name, match, body)
        else:
            reply = self._route(name, match, query, body)
        reply.truncate = truncated and reply.status == 200
        return reply

    def _hidden_key(self, key_or_id: str) -> bool:
        """Whether the API account may not browse this issue (its project is hidden)."""
        hidden = self.setup.hidden
        if not hidden:
            return False
        key = self.jira.issue_id_to_key(key_or_id) if key_or_id.isdigit() else key_or_id
        return bool(key) and key.split("-", 1)[0].upper() in hidden

    def _setup_route(self, name: str, match: re.Match, query: dict) -> _Reply | None:
        """The answers the site setup changes; ``None`` when the usual route answers."""
        setup = self.setup
        if name in _ISSUE_ROUTES and self._hidden_key(match.group(1)):
            return _errors(404, NOT_FOUND_MESSAGE)
        if name == "attachment":
            meta = self.jira.attachment_meta(match.group(1))
            if meta is not None and self._hidden_key(meta["issue_key"]):
                return _errors(404, "The attachment does not exist.")
        if name == "sla" and match.group(1) == self.cloud_id and not setup.sla_agent:
            return _Reply(
                403,
                orjson.dumps(
                    {
                        "errorMessage": SLA_FORBIDDEN_MESSAGE,
                        "i18nErrorMessage": {
                            "i18nKey": "sd.request.error.no.permission",
                            "parameters": [],
                        },
                    }
                ),
            )
        if name == "project_search":
            projects = self.jira.project_list(setup.hidden)
            start = _int_arg(query, "startAt", 0)
            size = min(max(_int_arg(query, "maxResults", 50), 1), 100)
            page = projects[start : start + size]
            return _json(
                200,
                {
                    "self": f"{self.base_url}/rest/api/3/project/search",
                    "maxResults": size,
                    "startAt": start,
                    "total": len(projects),
                    "isLast": start + len(page) >= len(projects),
                    "values": page,
                },
            )
        if name == "tenant_info":
            return _json(200, {"cloudId": self.cloud_id})
        return None

    def _route(self, name: str, match: re.Match, query: dict, body: bytes) -> _Reply:
        jira = self.jira
        special = self._setup_route(name, match, query)
        if special is not None:
            return special

        def arg(key: str, default: str | None = None) -> str | None:
            values = query.get(key)
            return ",".join(values) if values else default

        def number(key: str, default: int) -> int:
            try:
                return int(arg(key) or default)
            except ValueError:
                return default

        if name == "issue":
            raw = jira.issue_bytes(
                match.group(1),
                expand=(arg("expand") or "").split(","),
                fields=arg("fields", "*all"),
            )
            return _errors(404, NOT_FOUND_MESSAGE) if raw is None else _Reply(200, raw)
        if name == "changelog":
            page = jira.changelog_page(
                match.group(1), number("startAt", 0), number("maxResults", 100)
            )
            return _errors(404, NOT_FOUND_MESSAGE) if page is None else _json(200, page)
        if name == "remotelink":
            links = jira.remote_links(match.group(1))
            return _errors(404, NOT_FOUND_MESSAGE) if links is None else _json(200, links)
        if name == "field":
            return _json(200, jira.fields())
        if name == "search":
            return self._search(arg, body)
        if name == "search_removed":
            return _errors(410, SEARCH_GONE_MESSAGE)
        if name == "attachment":
            meta = jira.attachment_meta(match.group(1))
            if meta is None:
                return _errors(404, "The attachment does not exist.")
            return _Reply(
                200,
                headers={"Content-Type": meta["mimeType"]},
                chunks=jira.attachment_chunks(meta["id"]),
                length=meta["size"],
            )
        if name == "myself":
            return _json(
                200,
                {
                    "accountId": "sim-api-user",
                    "emailAddress": self._api_credentials[0],
                    "displayName": "Simulator API user",
                    "active": True,
                    "timeZone": self.setup.time_zone,
                    "accountType": "atlassian",
                },
            )
        # sla, sla_info
        if match.group(1) != self.cloud_id:
            return _errors(404, "No Jira site with this cloud id.")
        if name == "sla_info":
            return _json(200, {"version": "10.0.0", "platformVersion": "1001.0.0",
                               "isLicensedForUse": True})
        page = jira.sla_page(match.group(2), number("start", 0), number("limit", 50))
        if page is None:
            return _Reply(
                404,
                orjson.dumps(
                    {
                        "errorMessage": "The request could not be found or is not a service request.",
                        "i18nErrorMessage": {
                            "i18nKey": "sd.request.error.not.found",
                            "parameters": [],
                        },
                    }
                ),
            )
        return _json(200, page)

    def _bulk(self, name: str, match: re.Match, body: bytes) -> _Reply:
        """The two bulk endpoints (and the JSM account's issue bulkfetch)."""
        status = self.faults.bulk_status
        if status in (403, 404):
            return _errors(status, "You do not have permission or this API is not available.")
        if name == "sla_issue_bulkfetch" and match.group(1) != self.cloud_id:
            return _errors(404, "No Jira site with this cloud id.")
        if name == "sla_issue_bulkfetch" and not self.setup.sla_agent:
            return _errors(403, SLA_FORBIDDEN_MESSAGE)
        try:
            request = orjson.loads(body or b"{}")
            wanted = request["issueIdsOrKeys"]
            if not isinstance(request, dict) or not isinstance(wanted, list):
                raise TypeError
            asked = [str(item) for item in wanted]
            # Issues the API account may not browse are left out, as unknown keys are.
            wanted = [key for key in asked if not self._hidden_key(key)]
            if asked and not wanted and name == "changelog_bulkfetch":
                return _json(200, {"issueChangeLogs": []})
            if name == "changelog_bulkfetch":
                page = self.jira.bulk_changelogs(
                    wanted,
                    max_results=int(request.get("maxResults") or 1000),
                    next_page_token=request.get("nextPageToken"),
                    field_ids=list(request.get("fieldIds") or ()),
                )
            else:
                page = self.jira.bulk_issues(
                    wanted,
                    fields=request.get("fields") or "*navigable",
                    expand=request.get("expand") or (),
                    sla_view=name == "sla_issue_bulkfetch",
                )
        except ValueError as exc:  # bad JSON, a bad token, too many ids
            return _errors(400, str(exc))
        except (KeyError, TypeError):
            return _errors(400, "issueIdsOrKeys must be a list of issue ids or keys.")
        return _json(200, page)

    def _search(self, arg, body: bytes) -> _Reply:
        if body:
            try:
                request = orjson.loads(body)
            except orjson.JSONDecodeError:
                return _errors(400, "The request body is not valid JSON.")
            if not isinstance(request, dict):
                return _errors(400, "The request body must be a JSON object.")
        else:
            request = {
                "jql": arg("jql", ""),
                "fields": arg("fields"),
                "maxResults": arg("maxResults"),
                "nextPageToken": arg("nextPageToken"),
                "expand": arg("expand"),
            }
        try:
            max_results = request.get("maxResults")
            max_results = int(max_results) if max_results not in (None, "") else None
            expand = request.get("expand") or ""
            raw = self.jira.search_bytes(
                request.get("jql") or "",
                request.get("fields"),
                max_results,
                request.get("nextPageToken"),
                expand.split(",") if isinstance(expand, str) else expand,
                hidden_projects=self.setup.hidden,
            )
        except JqlError as exc:
            return _errors(400, str(exc))
        except (TypeError, ValueError):
            return _errors(400, "Invalid search request.")
        if self.faults.invalid_search_key:
            raw = _with_invalid_key(raw, self.faults.invalid_search_key)
        return _Reply(200, raw)

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        request = orjson.loads(body) if body else {}
        jira = self.jira
        if (method, path) == ("POST", "/_simulator/mutate"):
            seed = request.get("seed")
            rng = random.Random(seed) if seed is not None else self._mutation_rng
            return _json(200, jira.mutate(rng).to_json())
        if (method, path) == ("GET", "/_simulator/state"):
            return _json(
                200,
                {
                    **jira.snapshot(),
                    "request_count": self.request_count,
                    "path_counts": self.path_counts,
                    "faults": asdict(self.faults),
                    "setup": asdict(self.setup),
                },
            )
        if (method, path) == ("GET", "/_simulator/keys"):
            return _json(200, {"keys": jira.keys()})
        if (method, path) == ("PUT", "/_simulator/faults"):
            known = {f.name for f in fields(Faults)}
            for name, value in request.items():
                if name in known:
                    setattr(self.faults, name, value)
            return _json(200, asdict(self.faults))
        if (method, path) == ("PUT", "/_simulator/setup"):
            known = {f.name for f in fields(SiteSetup)}
            for name, value in request.items():
                if name in known:
                    setattr(self.setup, name, tuple(value) if isinstance(value, list) else value)
            return _json(200, asdict(self.setup))
        match = re.fullmatch(r"/_simulator/issues/([^/]+)(?:/(resolve|update))?", path)
        try:
            if match and method == "POST" and match.group(2) == "resolve":
                return _json(200, jira.resolve_issue(match.group(1)).to_json())
            if match and method == "POST" and match.group(2) == "update":
                return _json(200, jira.update_issue(match.group(1), **request).to_json())
            if match and method == "DELETE" and match.group(2) is None:
                return _json(200, jira.delete_issue(match.group(1)).to_json())
        except KeyError:
            return _errors(404, NOT_FOUND_MESSAGE)
        except ValueError as exc:
            return _errors(400, str(exc))
        return _errors(404, f"No control endpoint {method} {path[:100]}")


def _int_arg(query: dict, key: str, default: int) -> int:
    try:
        return int((query.get(key) or [default])[0])
    except ValueError:
        return default


def _with_invalid_key(raw: bytes, key: str) -> bytes:
    """A search page with one more issue, a copy of its first, under an unusable key."""
    page = orjson.loads(raw)
    if page.get("issues"):
        page["issues"].append({**page["issues"][0], "key": key, "id": "1"})
    return orjson.dumps(page)


class _ConcurrencyGate:
    """Requests of one route wait until ``parties`` wait together (or the timeout passes);
    from then on the gate stays open. Proves concurrency without depending on timing."""

    def __init__(self, route: str, parties: int, timeout_s: float) -> None:
        self.route, self.parties, self.timeout_s = route, parties, timeout_s
        self.met = False
        self._open = False
        self._waiting = 0
        self._condition = threading.Condition()

    def pass_through(self, route: str) -> None:
        if route != self.route:
            return
        with self._condition:
            if self._open:
                return
            self._waiting += 1
            if self._waiting >= self.parties:
                self.met = self._open = True
                self._condition.notify_all()
                return
            if not self._condition.wait_for(lambda: self._open, timeout=self.timeout_s):
                self._open = True  # a serial client: stop holding, leave ``met`` False
                self._condition.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True
    simulator: SimulatorServer

    def __init__(self, *args, **kwargs) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Close keep-alive connections too, so a stopped server really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        if self.simulator.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SimulatedJira/1.0"
    timeout = 60  # idle keep-alive connections are dropped after a minute
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args) -> None:
        if self.server.simulator.verbose:
            super().log_message(format, *args)

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            reply = self.server.simulator.handle(method, self.path, self.headers, body)
        except Exception as exc:  # a simulator bug must still answer, not hang the client
            reply = _errors(500, f"Simulator error: {type(exc).__name__}")
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json;charset=UTF-8", **(reply.headers or {})}
        for name, value in headers.items():
            self.send_header(name, value)
        length = reply.length if reply.chunks is not None else len(reply.body)
        self.send_header("Content-Length", str(length))
        if reply.truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if method == "HEAD":
            return
        if reply.truncate:
            self._send_truncated(reply, length)
        elif reply.chunks is not None:
            for chunk in reply.chunks:
                self.wfile.write(chunk)
        else:
            self.wfile.write(reply.body)

    def _send_truncated(self, reply: _Reply, length: int) -> None:
        """Send about half of the promised bytes, then drop the connection."""
        budget = max(length // 2, 1) if length > 1 else 0
        chunks = reply.chunks if reply.chunks is not None else iter((reply.body,))
        for chunk in chunks:
            if budget <= 0:
                break
            self.wfile.write(chunk[:budget])
            budget -= len(chunk)
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_HEAD(self) -> None:
        self._serve("HEAD")
