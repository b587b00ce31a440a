"""The HTTP layer shared by the Jira and JSM clients: one ``requests.Session`` per client,
retries by urllib3's ``Retry`` (not a hand-written loop) and requests-per-second budgets
that every thread of the process draws from, so ``--parallel 16`` cannot outrun Jira's
rate limits. Jira Cloud applies its burst limits per tenant, endpoint and HTTP method, so
there is one budget per (method, endpoint template) of a site: attachment downloads,
remote links and bulk reads do not starve each other.

Retried: 429 (waiting ``Retry-After`` or ``X-RateLimit-Reset``), 5xx, connection and read
errors, with exponential backoff plus jitter, a bounded number of times. Never retried:
other 4xx (a 401 or 404 will not change by asking again)."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from jira_pipeline.config import ROTATE_HINTS, check_jira_url

log = logging.getLogger(__name__)
# Told (credential, refused) on a 401 and on the first success after one: the caller
# decides where that is recorded (the data root, for the receiver's health endpoint).
AuthListener = Callable[[str, bool], None]
DEFAULT_RATE_LIMIT_PER_S = 25.0
RATE_LIMIT_ENV = "JIRA_RATE_LIMIT_PER_S"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_DECIMAL_SECONDS = re.compile(r"\s*[0-9]+(\.[0-9]+)?\s*\Z")
_EPOCH_THRESHOLD_S = 1_000_000_000  # a bigger number is a Unix time, not a delay
_VARIABLE_SEGMENT = re.compile(r"(?<=/)(?!3(?:/|\Z))[^/]*[0-9][^/]*")  # keys, ids, cloud ids


class JiraError(RuntimeError):
    """Jira (or JSM) could not give us what we asked for; the message says why."""


class JiraAuthError(JiraError):
    """Jira answered 401: the token was revoked or expired and must be rotated.
    ``credential`` says which ("api" or "sla", see auth_state)."""

    def __init__(self, message: str, credential: str = "api") -> None:
        super().__init__(message)
        self.credential = credential


class JiraHttpError(JiraError):
    """Jira answered an error status other than 401 that retries did not clear (400 JQL,
    403, 404 …); ``status`` and ``path`` let callers name the setting to fix, or fall back
    (a bulk endpoint's 403/404)."""

    def __init__(self, message: str, status: int, path: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.path = path
        self.detail = detail  # Jira's own error text, when the body had one


class BulkUnavailable(JiraError):
    """A bulk endpoint answered 404 or 403 (older site, missing permission): read the
    issues one by one instead."""


class JiraResponseError(JiraError):
    """A response arrived but its body is unusable (truncated, not JSON, wrong size)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on one request."""

    total: int = 8
    backoff_factor: float = 0.5  # waits 0, 1, 2, 4 … s (urllib3: the first retry is at once)
    backoff_max: float = 60.0
    backoff_jitter: float = 0.5
    retry_after_max: float = 120.0  # never sleep longer than this on one Retry-After


class RateBudget:
    """Token bucket: at most ``rate_per_s`` requests per second on average, bursts of
    ``burst``. Thread-safe; waiting happens outside the lock."""

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is free; returns the seconds waited."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate_per_s)
            self._stamp = now
            self._tokens -= 1.0  # may go negative: later callers queue behind this one
            wait = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)
        return wait


_BUDGETS: dict[tuple[str, float, str], RateBudget] = {}
_SITE_BUDGETS: dict[tuple[str, float], EndpointBudgets] = {}
_BUDGETS_LOCK = threading.Lock()
_BULK_LOCK = threading.Lock()


def endpoint_of(method: str, url: str) -> str:
    """``GET /rest/api/3/issue/{}/remotelink``: the method and path with keys and ids
    blanked, the unit Jira's burst limits (and our budgets) apply to."""
    return f"{method.upper()} {_VARIABLE_SEGMENT.sub('{}', urlsplit(url).path)}"


def shared_rate_budget(
    base_url: str, rate_per_s: float | None, endpoint: str = ""
) -> RateBudget | None:
    """The process-wide budget for one endpoint of one host (clients of the same site
    share it). ``None`` means the default (``JIRA_RATE_LIMIT_PER_S`` or 25/s per
    endpoint); ``0`` means unlimited."""
    if rate_per_s is None:
        rate_per_s = float(os.environ.get(RATE_LIMIT_ENV) or DEFAULT_RATE_LIMIT_PER_S)
    if rate_per_s <= 0:
        return None
    key = (urlsplit(base_url).netloc.lower(), float(rate_per_s), endpoint)
    with _BUDGETS_LOCK:
        if key not in _BUDGETS:
            _BUDGETS[key] = RateBudget(rate_per_s)
        return _BUDGETS[key]


class EndpointBudgets:
    """The budgets of one site, one per (method, endpoint template), made on first use."""

    def __init__(self, base_url: str, rate_per_s: float) -> None:
        self.base_url, self.rate_per_s = base_url, rate_per_s

    def for_request(self, method: str, url: str) -> RateBudget | None:
        return shared_rate_budget(self.base_url, self.rate_per_s, endpoint_of(method, url))


def site_budgets(base_url: str, rate_per_s: float | None) -> EndpointBudgets | None:
    """The process-wide :class:`EndpointBudgets` of one host (``None``: unlimited)."""
    if rate_per_s is None:
        rate_per_s = float(os.environ.get(RATE_LIMIT_ENV) or DEFAULT_RATE_LIMIT_PER_S)
    if rate_per_s <= 0:
        return None
    key = (urlsplit(base_url).netloc.lower(), float(rate_per_s))
    with _BUDGETS_LOCK:
        if key not in _SITE_BUDGETS:
            _SITE_BUDGETS[key] = EndpointBudgets(base_url, float(rate_per_s))
        return _SITE_BUDGETS[key]


class RequestMeter:
    """Counts every attempt (retries included) and draws each from its endpoint's budget
    (``budget`` is one budget for everything, or the site's per-endpoint budgets)."""

    def __init__(self, budget: RateBudget | EndpointBudgets | None) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.retry_wait_s = 0.0

    def before_attempt(self, method: str = "GET", url: str = "") -> None:
        budget = self.budget
        if isinstance(budget, EndpointBudgets):
            budget = budget.for_request(method, url)
        if budget is not None:
            budget.acquire()
        with self._lock:
            self.requests += 1

    def after_retry_wait(self, seconds: float) -> None:
        with self._lock:
            self.retries += 1
            self.retry_wait_s += seconds


class JiraRetry(Retry):
    """urllib3 ``Retry`` that also understands ``X-RateLimit-Reset`` and fractional
    ``Retry-After``, and reports each retry (and its wait) to a :class:`RequestMeter`."""

    def __init__(self, *args, meter: RequestMeter | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.meter = meter
        self.endpoint = ("GET", "")  # the request being retried: its budget pays

    def new(self, **kw) -> JiraRetry:
        kw.setdefault("meter", self.meter)
        return super().new(**kw)

    def increment(self, method=None, url=None, *args, **kwargs) -> JiraRetry:
        retry = super().increment(method, url, *args, **kwargs)
        retry.endpoint = (method or "GET", url or "")
        return retry

    def parse_retry_after(self, retry_after: str) -> float:
        if _DECIMAL_SECONDS.match(retry_after):
            return min(max(float(retry_after), 0.0), self.retry_after_max)
        return super().parse_retry_after(retry_after)

    def get_retry_after(self, response) -> float | None:
        seconds = super().get_retry_after(response)
        if seconds is None:
            seconds = _seconds_until_reset(response.headers.get("X-RateLimit-Reset"))
            if seconds is not None:
                seconds = min(seconds, self.retry_after_max)
        return seconds

    def sleep(self, response=None) -> None:
        started = time.monotonic()
        super().sleep(response)
        if self.meter is not None:
            self.meter.after_retry_wait(time.monotonic() - started)
            self.meter.before_attempt(*self.endpoint)


def _seconds_until_reset(value: str | None) -> float | None:
    """``X-RateLimit-Reset`` as Jira sends it (an ISO-8601 instant) or as seconds/epoch."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        if _DECIMAL_SECONDS.match(text):
            number = float(text)
            return max(0.0, number - time.time() if number > _EPOCH_THRESHOLD_S else number)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class MeteredAdapter(HTTPAdapter):
    """Draws the first attempt of every request from the budget (retries draw in
    :meth:`JiraRetry.sleep`)."""

    def __init__(self, meter: RequestMeter, **kwargs) -> None:
        self.meter = meter
        super().__init__(**kwargs)

    def send(self, request, *args, **kwargs):
        self.meter.before_attempt(request.method or "GET", request.url or "")
        return super().send(request, *args, **kwargs)


def build_session(
    base_url: str,
    auth: tuple[str, str],
    meter: RequestMeter,
    retry: RetryPolicy | None = None,
    *,
    pool_size: int = 64,
) -> requests.Session:
    """A session with Basic auth, JSON headers, and the retrying, metered adapter.
    POST is retried too: the only POSTs we send are reads (``search/jql``, bulkfetch).

    Proxy and CA-bundle settings are read from the environment once, here, instead of on
    every request (``trust_env`` rescans ``os.environ`` per request: ~1.5 ms of CPU)."""
    policy = retry or RetryPolicy()
    retries = JiraRetry(
        total=policy.total,
        connect=policy.total,
        read=policy.total,
        status=policy.total,
        allowed_methods=frozenset({"GET", "POST"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        backoff_jitter=policy.backoff_jitter,
        retry_after_max=policy.retry_after_max,
        respect_retry_after_header=True,
        raise_on_status=False,
        meter=meter,
    )
    adapter = MeteredAdapter(meter, max_retries=retries, pool_connections=4, pool_maxsize=pool_size)
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    session.trust_env = False
    session.auth = auth
    session.headers.update({"Accept": "application/json", "User-Agent": "jira-pipeline"})
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class ApiClient:
    """Base of the Jira and JSM clients: builds URLs on one base, sends through the
    retrying session, turns failures into :class:`JiraError` with a message worth
    reading, and tells ``on_auth`` when its credential is refused or accepted again."""

    credential = "api"  # which token a 401 blames: "api" or "sla" (see auth_state)

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        on_auth: AuthListener | None = None,
        retry: RetryPolicy | None = None,
        rate_limit_per_s: float | None = None,
        timeout: float | tuple[float, float] = (5, 60),
    ) -> None:
        self.base_url = check_jira_url(base_url, "base URL")
        self._on_auth = on_auth
        self.timeout = timeout
        self.meter = RequestMeter(site_budgets(self.base_url, rate_limit_per_s))
        self.session = build_session(self.base_url, (email, api_token), self.meter, retry)
        self._auth_known_good = False
        self.bulk_available = True  # False once a bulk endpoint answered 404/403

    @property
    def request_count(self) -> int:
        """HTTP attempts so far, retries included."""
        return self.meter.requests

    def close(self) -> None:
        self.session.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        stream: bool = False,
        not_found_ok: bool = False,
    ) -> requests.Response | None:
        """Send one request (retried by the adapter). ``None`` for a tolerated 404."""
        label = f"{method} {path}"
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                stream=stream,
                timeout=self.timeout,
            )
        except requests.exceptions.ChunkedEncodingError as exc:
            raise JiraResponseError(f"{label}: truncated response body ({exc})") from exc
        except requests.RequestException as exc:
            raise JiraError(f"{label}: {type(exc).__name__} after retries: {exc}") from exc
        if response.status_code == 401:
            response.close()
            self._auth_failed()
            raise JiraAuthError(f"{ROTATE_HINTS[self.credential]} ({label})", self.credential)
        if response.status_code == 404 and not_found_ok:
            response.close()
            self._auth_succeeded()
            return None
        if response.status_code >= 400:
            status, detail = response.status_code, _error_detail(response)
            response.close()
            raise JiraHttpError(f"{label}: HTTP {status}{detail}", status, path,
                                detail.removeprefix(": "))
        self._auth_succeeded()
        return response

    def post_bulk(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one bulk read. A 404 or 403 raises :class:`BulkUnavailable`, is logged
        once, and later bulk reads of this client raise it without asking again."""
        if not self.bulk_available:
            raise BulkUnavailable(f"POST {path}: bulk reads unavailable on this site")
        try:
            page = self.decode(self.send("POST", path, json_body=body), f"POST {path}")
        except JiraHttpError as exc:
            if exc.status in (403, 404):
                with _BULK_LOCK:  # concurrent readers may all see the 404: say it once
                    first, self.bulk_available = self.bulk_available, False
                if first:
                    log.warning("%s; reading issues one by one instead", exc)
                raise BulkUnavailable(str(exc)) from exc
            raise
        if not isinstance(page, dict):
            raise JiraResponseError(f"POST {path}: body is not a JSON object")
        return page

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET ``path`` and decode JSON; ``None`` for a tolerated 404."""
        return self.decode(self.send("GET", path, **kwargs), f"GET {path}")

    @staticmethod
    def decode(response: requests.Response | None, label: str) -> Any:
        if response is None:
            return None
        try:
            return orjson.loads(response.content)
        except requests.exceptions.ChunkedEncodingError as exc:
            raise JiraResponseError(f"{label}: truncated response body ({exc})") from exc
        except orjson.JSONDecodeError as exc:
            raise JiraResponseError(
                f"{label}: response body is not valid JSON (truncated? "
                f"{len(response.content)} bytes received)"
            ) from exc

    def _auth_failed(self) -> None:
        self._auth_known_good = False
        if self._on_auth is not None:
            self._on_auth(self.credential, True)

    def _auth_succeeded(self) -> None:
        if not self._auth_known_good:
            self._auth_known_good = True
            if self._on_auth is not None:
                self._on_auth(self.credential, False)


def _error_detail(response: requests.Response) -> str:
    """Jira's own error text (``errorMessages``/``errors``), short, for the message."""
    try:
        body = orjson.loads(response.content)
    except (orjson.JSONDecodeError, requests.RequestException):
        return ""
    if not isinstance(body, dict):
        return ""
    messages = list(body.get("errorMessages") or [])
    if isinstance(body.get("errorMessage"), str):  # JSM's shape
        messages.append(body["errorMessage"])
    messages += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
    text = "; ".join(str(m) for m in messages)
    return f": {text[:300]}" if text else ""
