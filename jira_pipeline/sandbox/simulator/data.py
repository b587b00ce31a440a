"""The simulated site's state: generated issues plus the mutations applied since.

Issues are rebuilt from ``(seed, index)`` on demand (see ``generate.py``); an issue is kept
in memory only once something changed it. All public methods hold one lock, so the threaded
server and an in-process webhook sender can share an instance."""

from __future__ import annotations

import base64
import json
import random
import threading
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from jira_pipeline.sandbox.simulator import adf, events
from jira_pipeline.sandbox.simulator.catalog import (
    AGENTS,
    FIELD_BY_ID,
    FIELDS,
    ISSUE_FIELDS,
    LINK_TYPES,
    STATUS_BY_NAME,
    USERS,
    make_project,
)
from jira_pipeline.sandbox.simulator.generate import (
    ATTACHMENT_ID_BASE,
    BULK_CHANGELOG_CAP,
    INLINE_CHANGELOG_CAP,
    ISSUE_ID_BASE,
    MUTATION_ID_BASE,
    Brief,
    IssueGenerator,
    add_months,
    mime_type,
    mix,
    moment,
    remote_link_item,
    to_ms,
)
from jira_pipeline.sandbox.simulator.jql import JqlError, Query, parse_jql
from jira_pipeline.sandbox.simulator.render import IssueRenderer

SLA_FIELD_IDS = frozenset(f.id for f in ISSUE_FIELDS if f.kind == "sla")
BULK_ISSUES_MAX = 100  # POST issue/bulkfetch: issueIdsOrKeys per request
BULK_CHANGELOG_ISSUES_MAX = 1000  # POST changelog/bulkfetch: issueIdsOrKeys per request
BULK_CHANGELOG_MAX_RESULTS = 10_000
SEARCH_MAX_RESULTS = 100  # Jira caps full-field search pages at 100 …
SEARCH_MAX_RESULTS_IDS = 5000  # … and id/key-only pages at 5000
CHANGELOG_MAX_RESULTS = 100
_CHUNK = 65_536
_STATE_CACHE_SIZE = 512  # recently generated states: an issue is read by several endpoints
_SEARCH_CACHE_SIZE = 16  # recent searches' matches (paged through), 8 bytes per match
_MAGIC = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff\xe0",
    "application/pdf": b"%PDF-1.7\n",
}
_EVENT_WEIGHTS = {
    "jira:issue_created": 10,
    "jira:issue_updated": 30,
    "jira:issue_deleted": 3,
    "comment_created": 20,
    "comment_updated": 8,
    "comment_deleted": 4,
    "attachment_created": 8,
    "attachment_deleted": 4,
    "issuelink_created": 8,
    "issuelink_deleted": 5,
}


@dataclass(frozen=True)
class Mutation:
    """One change applied to the site, and the webhook Jira would send for it."""

    event: str
    body: dict
    issue_key: str | None = None
    issue_id: str | None = None
    linked_issue_ids: tuple[str, str] | None = None  # issuelink events: (source, destination)

    @property
    def target(self) -> str:
        if self.issue_key:
            return self.issue_key
        source, destination = self.linked_issue_ids or ("?", "?")
        return f"{source}->{destination}"

    def to_json(self) -> dict:
        return {
            "event": self.event,
            "body": self.body,
            "issue_key": self.issue_key,
            "issue_id": self.issue_id,
            "linked_issue_ids": list(self.linked_issue_ids) if self.linked_issue_ids else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> Mutation:
        ids = data.get("linked_issue_ids")
        return cls(
            data["event"],
            data["body"],
            data.get("issue_key"),
            data.get("issue_id"),
            tuple(ids) if ids else None,
        )


class SimulatedJira:
    """In-memory Jira Cloud site; same seed and arguments → byte-identical JSON."""

    def __init__(
        self,
        seed: int = 0,
        issues: int = 200,
        projects: Sequence[str] = ("SUPPORT", "ENG"),
        base_url: str = "",
        *,
        start_month: str = "2024-01",
        months: int = 24,
        api_sees_sla: bool = True,
    ) -> None:
        if not projects:
            raise ValueError("at least one project is needed")
        self.seed = seed
        self.projects = tuple(
            make_project(i, key.strip().upper()) for i, key in enumerate(projects)
        )
        year, month = (int(part) for part in start_month.split("-")[:2])
        window_start = datetime(year, month, 1, tzinfo=UTC)
        self._gen = IssueGenerator(
            seed,
            issues,
            self.projects,
            window_start,
            add_months(window_start, months),
            to_ms(datetime.now(UTC)),
        )
        self._renderer = IssueRenderer(base_url.rstrip("/"), self.projects)
        self._lock = threading.RLock()
        step = len(self.projects)
        # One machine word per issue and column (arrays, not lists of int objects): a
        # 1,000,000-issue site costs 32 MB here; issue bodies are generated when served.
        self._project = array("q", (i % step for i in range(issues)))
        self._number = array("q", (i // step + 1 for i in range(issues)))
        self._created_ms = array("q", (self._gen.created_ms(i) for i in range(issues)))
        self._updated_ms = array(
            "q", (self._gen.updated_ms(i, c) for i, c in enumerate(self._created_ms)))
        self._alive = bytearray(b"\x01") * issues
        self._states: dict[int, dict] = {}  # materialised (mutated or created) issues
        self._state_cache: OrderedDict[int, dict] = OrderedDict()
        self._created_keys: dict[str, int] = {}
        self._next_number = [(issues - p + step - 1) // step + 1 for p in range(step)]
        self._links: dict[int, tuple[int, int, int]] = {}  # added: id → (type, source, target)
        self._links_of: dict[int, list[int]] = {}
        self._removed_links: set[int] = set()
        self._attachment_owner: dict[int, int] = {}
        self._next_id = MUTATION_ID_BASE
        self._search_cache: OrderedDict[tuple, array[int]] = OrderedDict()
        self.version = 0  # bumped by every mutation
        self.api_sees_sla = api_sees_sla  # SLA field values in the API account's issue JSON
        self.issue_error_keys: set[str] = set()  # keys bulkfetch reports in issueErrors
        self._moved_keys: dict[str, int] = {}  # new key of a moved issue → its index

    # --- identity ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._renderer.base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._renderer.base_url = value.rstrip("/")

    def _key(self, index: int) -> str:
        return f"{self.projects[self._project[index]].key}-{self._number[index]}"

    def _index(self, key_or_id: str | int) -> int | None:
        """Index of a live issue by key (any case) or numeric id."""
        text = str(key_or_id).strip()
        if text.isdigit():
            index = int(text) - ISSUE_ID_BASE
        else:
            text = text.upper()
            index = self._created_keys.get(text)
            if index is None:
                index = self._moved_keys.get(text)
            if index is None:
                index = self._gen.index_of_key(text)
        if index is None or not 0 <= index < len(self._alive) or not self._alive[index]:
            return None
        return index

    def keys(self) -> list[str]:
        with self._lock:
            return [self._key(i) for i in range(len(self._alive)) if self._alive[i]]

    def issue_id_to_key(self, issue_id: str | int) -> str | None:
        """Key of the issue with this id, also for deleted issues (webhooks name those)."""
        with self._lock:
            text = str(issue_id).strip()
            if not text.isdigit():
                return None
            index = int(text) - ISSUE_ID_BASE
            return self._key(index) if 0 <= index < len(self._alive) else None

    def is_alive(self, key: str) -> bool:
        with self._lock:
            return self._index(key) is not None

    # --- state access --------------------------------------------------------------------------
    def _state(self, index: int) -> dict:
        state = self._states.get(index)
        if state is not None:
            return state
        state = self._state_cache.get(index)
        if state is None:
            state = self._gen.state(index, self._created_ms[index], self._updated_ms[index])
            self._state_cache[index] = state
            if len(self._state_cache) > _STATE_CACHE_SIZE:
                self._state_cache.popitem(last=False)
        else:
            self._state_cache.move_to_end(index)
        return state

    def _materialize(self, index: int) -> dict:
        if index not in self._states:
            self._states[index] = self._state(index)
            self._state_cache.pop(index, None)
        return self._states[index]

    def _brief(self, index: int) -> Brief | None:
        if not 0 <= index < len(self._alive) or not self._alive[index]:
            return None
        state = self._states.get(index)
        if state is None:
            return self._gen.brief(index)
        return Brief(
            index,
            state["id"],
            state["key"],
            state["summary"],
            state["status"],
            state["priority"],
            state["issuetype"],
        )

    def _link_entries(self, index: int) -> list[dict]:
        render, entries = self._renderer, []
        if index < self._gen.count:
            outward = self._gen.outward_link(index)
            if outward is not None and outward[0] not in self._removed_links:
                other = self._brief(outward[2])
                if other is not None:
                    entries.append(render.link(outward[0], outward[1], other, outward=True))
            for link_id, type_position, source in self._gen.inward_links(index):
                other = self._brief(source)
                if link_id not in self._removed_links and other is not None:
                    entries.append(render.link(link_id, type_position, other, outward=False))
        for link_id in self._links_of.get(index, ()):
            type_position, source, target = self._links[link_id]
            other = self._brief(target if source == index else source)
            if link_id not in self._removed_links and other is not None:
                entries.append(render.link(link_id, type_position, other, source == index))
        return entries

    def _render(
        self,
        index: int,
        expand: Iterable[str] = (),
        wanted: set[str] | None = None,
        *,
        changelog_cap: int = INLINE_CHANGELOG_CAP,
        sla_visible: bool = True,
    ) -> dict:
        state = self._state(index)
        parent = subtasks = None
        if index < self._gen.count:
            parent_index = self._gen.parent_of(index)
            parent = self._brief(parent_index) if parent_index is not None else None
            subtasks = [b for b in map(self._brief, self._gen.subtasks_of(index)) if b]
        need_links = wanted is None or "issuelinks" in wanted
        body = self._renderer.issue(
            state,
            self._link_entries(index) if need_links else [],
            parent,
            subtasks or [],
            expand,
            wanted,
            changelog_cap,
        )
        if not sla_visible:  # JSM shows SLA values to agents only, not to the API account
            for field_id in SLA_FIELD_IDS & body["fields"].keys():
                body["fields"][field_id] = None
        return body

    # --- read API ------------------------------------------------------------------------------
    def issue_json(
        self, key: str, *, expand: Iterable[str] = frozenset(), fields: str | Sequence[str] = "*all"
    ) -> dict | None:
        """What ``GET /rest/api/3/issue/{key}`` returns, or None for an unknown key."""
        raw = self.issue_bytes(key, expand=expand, fields=fields)
        return None if raw is None else orjson.loads(raw)

    def issue_bytes(
        self, key: str, *, expand: Iterable[str] = frozenset(), fields: str | Sequence[str] = "*all"
    ) -> bytes | None:
        """:meth:`issue_json` serialised (the server's path: no copy of the document)."""
        with self._lock:
            index = self._index(key)
            if index is None:
                return None
            return orjson.dumps(
                self._render(
                    index,
                    _expand_set(expand),
                    _wanted_fields(fields),
                    sla_visible=self.api_sees_sla,
                )
            )

    def changelog_page(
        self, key: str, start_at: int = 0, max_results: int = CHANGELOG_MAX_RESULTS
    ) -> dict | None:
        with self._lock:
            index = self._index(key)
            if index is None:
                return None
            max_results = min(max(int(max_results), 1), CHANGELOG_MAX_RESULTS)
            return _detached(
                self._renderer.changelog_page(
                    self._state(index), max(int(start_at), 0), max_results
                )
            )

    def remote_links(self, key: str) -> list | None:
        with self._lock:
            index = self._index(key)
            if index is None:
                return None
            state = self._state(index)
            return _detached(
                [self._renderer.remote_link(state, link) for link in state["remote_links"]]
            )

    def sla_page(self, key: str, start: int = 0, limit: int = 50) -> dict | None:
        """The JSM SLA page, or None when the issue is unknown or not a service request."""
        with self._lock:
            index = self._index(key)
            if index is None:
                return None
            state = self._state(index)
            if state["sla"] is None:
                return None
            return _detached(
                self._renderer.sla_page(state, max(int(start), 0), min(max(int(limit), 1), 100))
            )

    # --- bulk reads ------------------------------------------------------------------------
    def bulk_issues(
        self,
        ids_or_keys: Sequence[str],
        *,
        fields: str | Sequence[str] = "*navigable",
        expand: Iterable[str] = (),
        sla_view: bool = False,
    ) -> dict:
        """``POST /rest/api/3/issue/bulkfetch``: the issues found, in ascending id order
        (unknown keys are left out, as on Cloud), at most 40 changelog entries each;
        keys in :attr:`issue_error_keys` come back in ``issueErrors``. ``sla_view`` is
        the JSM account's view (SLA field values shown)."""
        if len(ids_or_keys) > BULK_ISSUES_MAX:
            raise ValueError(f"At most {BULK_ISSUES_MAX} issues can be requested at once.")
        wanted, expand_set = _wanted_fields(fields), _expand_set(expand)
        with self._lock:
            indexes = sorted({i for i in map(self._index, ids_or_keys) if i is not None})
            issues, errors = [], []
            for index in indexes:
                if self._key(index) in self.issue_error_keys:
                    errors.append(
                        {
                            "id": str(ISSUE_ID_BASE + index),
                            "errorMessage": "Retry the request: the issue could not be loaded.",
                        }
                    )
                    continue
                issues.append(
                    self._render(
                        index,
                        expand_set,
                        wanted,
                        changelog_cap=BULK_CHANGELOG_CAP,
                        sla_visible=sla_view or self.api_sees_sla,
                    )
                )
            return _detached(
                {"expand": ",".join(sorted(expand_set)), "issues": issues, "issueErrors": errors}
            )

    def bulk_changelogs(
        self,
        ids_or_keys: Sequence[str],
        *,
        max_results: int = 1000,
        next_page_token: str | None = None,
        field_ids: Sequence[str] = (),
    ) -> dict:
        """``POST /rest/api/3/changelog/bulkfetch``: every history entry of the issues, oldest
        first (ties by issue id), ``max_results`` entries a page, grouped per issue."""
        if not 1 <= len(ids_or_keys) <= BULK_CHANGELOG_ISSUES_MAX:
            raise ValueError(f"Request 1 to {BULK_CHANGELOG_ISSUES_MAX} issue ids or keys.")
        size = min(max(int(max_results), 1), BULK_CHANGELOG_MAX_RESULTS)
        scope = ",".join(ids_or_keys) + "|" + ",".join(field_ids)
        offset = _decode_token(next_page_token, scope) if next_page_token else 0
        wanted = set(field_ids)
        with self._lock:
            indexes = sorted({i for i in map(self._index, ids_or_keys) if i is not None})
            entries = []
            for index in indexes:
                for n, history in enumerate(self._state(index)["histories"]):
                    if wanted and not any(
                        wanted & {item.get("fieldId"), item.get("field")}
                        for item in history["items"]
                    ):
                        continue
                    entries.append((history["created"], index, n, history))
            entries.sort(key=lambda e: e[:3])
            page = entries[offset : offset + size]
            grouped: dict[int, list[dict]] = {}
            for _, index, _, history in page:
                grouped.setdefault(index, []).append(self._renderer.history(history))
            body: dict = {
                "issueChangeLogs": [
                    {"issueId": str(ISSUE_ID_BASE + i), "changeHistories": grouped[i]}
                    for i in sorted(grouped)
                ]
            }
            if offset + len(page) < len(entries):
                body["nextPageToken"] = _encode_token(offset + len(page), scope)
            return _detached(body)

    def fields(self) -> list:
        return [f.to_json() for f in FIELDS]

    def project_list(self, hidden_projects: frozenset[str] = frozenset()) -> list[dict]:
        """The projects ``GET /rest/api/3/project/search`` lists (browsable ones only)."""
        return [
            self._renderer.project(position)
            for position, project in enumerate(self.projects)
            if project.key not in hidden_projects
        ]

    # --- attachments -----------------------------------------------------------------------
    def _attachment(self, attachment_id: str | int) -> tuple[dict, dict] | None:
        text = str(attachment_id).strip()
        if not text.isdigit():
            return None
        number = int(text)
        if number >= MUTATION_ID_BASE:
            index = self._attachment_owner.get(number)
        elif number >= ATTACHMENT_ID_BASE:
            index = (number - ATTACHMENT_ID_BASE) // 8
        else:
            return None
        if index is None or not 0 <= index < len(self._alive) or not self._alive[index]:
            return None
        state = self._state(index)
        for att in state["attachments"]:
            if att["id"] == text:
                return state, att
        return None

    def attachment_meta(self, attachment_id: str | int) -> dict | None:
        """``{"id", "filename", "size", "mimeType", "issue_key"}`` of a live attachment."""
        with self._lock:
            found = self._attachment(attachment_id)
            if found is None:
                return None
            state, att = found
            return {
                "id": att["id"],
                "filename": att["filename"],
                "size": att["size"],
                "mimeType": att["mimeType"],
                "issue_key": state["key"],
            }

    def attachment_chunks(self, attachment_id: str | int) -> Iterator[bytes] | None:
        """The attachment's bytes in chunks (large ones are streamed, never held whole)."""
        meta = self.attachment_meta(attachment_id)
        if meta is None:
            return None
        return _payload_chunks(mix(self.seed, int(meta["id"])), meta["size"], meta["mimeType"])

    def attachment_bytes(self, attachment_id: str | int) -> bytes | None:
        chunks = self.attachment_chunks(attachment_id)
        return None if chunks is None else b"".join(chunks)

    # --- search --------------------------------------------------------------------------------
    def search(
        self,
        jql: str,
        fields: str | Sequence[str] | None = None,
        max_results: int | None = None,
        next_page_token: str | None = None,
        expand: Iterable[str] = (),
    ) -> dict:
        """``POST /rest/api/3/search/jql``. Raises :class:`JqlError` for a query outside the
        supported subset or a bad token (the server answers 400)."""
        return orjson.loads(self.search_bytes(jql, fields, max_results, next_page_token, expand))

    def search_bytes(
        self,
        jql: str,
        fields: str | Sequence[str] | None = None,
        max_results: int | None = None,
        next_page_token: str | None = None,
        expand: Iterable[str] = (),
        hidden_projects: frozenset[str] = frozenset(),
    ) -> bytes:
        """:meth:`search` serialised. ``hidden_projects``: keys the searching account may not
        browse; as on Jira, their issues are left out and naming one is a JQL error."""
        query = parse_jql(jql or "")
        field_list = _field_list(fields)
        ids_only = all(f in ("id", "key") for f in field_list)
        cap = SEARCH_MAX_RESULTS_IDS if ids_only else SEARCH_MAX_RESULTS
        size = min(max(int(max_results if max_results is not None else 50), 1), cap)
        offset = _decode_token(next_page_token, jql or "") if next_page_token else 0
        with self._lock:
            matches = self._matching(query, hidden_projects)
            page = matches[offset : offset + size]
            if ids_only:
                issues = [
                    {"id": str(ISSUE_ID_BASE + i)}
                    | (
                        {
                            "key": self._key(i),
                            "self": f"{self.base_url}/rest/api/3/issue/{ISSUE_ID_BASE + i}",
                        }
                        if "key" in field_list
                        else {}
                    )
                    for i in page
                ]
            else:
                wanted = _wanted_fields(field_list)
                issues = [
                    self._render(i, _expand_set(expand), wanted, sla_visible=self.api_sees_sla)
                    for i in page
                ]
            body: dict = {"issues": issues, "isLast": offset + len(page) >= len(matches)}
            if not body["isLast"]:
                body["nextPageToken"] = _encode_token(offset + len(page), jql or "")
            return orjson.dumps(body)

    def cache_sizes(self) -> dict[str, int]:
        """Entries in each cache, against its bound (``*_max``): serving issues, however
        many, never grows them past it. ``materialised`` counts only issues changed or
        created through the simulator's mutation API."""
        with self._lock:
            return {
                "states": len(self._state_cache), "states_max": _STATE_CACHE_SIZE,
                "searches": len(self._search_cache), "searches_max": _SEARCH_CACHE_SIZE,
                "materialised": len(self._states),
            }

    def _matching(self, query: Query, hidden: frozenset[str] = frozenset()) -> array[int]:
        cache_key = (query, self.version, hidden)
        cached = self._search_cache.get(cache_key)
        if cached is not None:
            self._search_cache.move_to_end(cache_key)
            return cached
        candidates: Iterable[int] = range(len(self._alive))
        for condition in query.conditions:
            if condition.field == "key":
                wanted = {self._index(v) for v in condition.values} - {None}
                candidates = [i for i in candidates if i in wanted]
            elif condition.field == "project":
                positions = {self._project_position(v, hidden) for v in condition.values}
                candidates = [i for i in candidates if self._project[i] in positions]
            else:
                candidates = _filter_dates(
                    candidates,
                    condition,
                    self._created_ms if condition.field == "created" else self._updated_ms,
                )
        result = [
            i
            for i in candidates
            if self._alive[i] and self.projects[self._project[i]].key not in hidden
        ]
        result.sort()
        for field, descending in reversed(query.order or (("key", False),)):
            if field == "key":
                result.sort(
                    key=lambda i: (self.projects[self._project[i]].key, self._number[i]),
                    reverse=descending,
                )
            else:
                values = self._created_ms if field == "created" else self._updated_ms
                result.sort(key=values.__getitem__, reverse=descending)
        matches = self._search_cache[cache_key] = array("q", result)
        while len(self._search_cache) > _SEARCH_CACHE_SIZE:
            self._search_cache.popitem(last=False)
        return matches

    def _project_position(self, value: str, hidden: frozenset[str] = frozenset()) -> int:
        wanted = value.strip().lower()
        for position, project in enumerate(self.projects):
            if project.key in hidden:
                continue
            if wanted in (project.key.lower(), project.name.lower(), project.id):
                return position
        raise JqlError(f"The value '{value}' does not exist for the field 'project'.")

    # --- mutations -------------------------------------------------------------------------
    def _now_ms(self, index: int | None = None) -> int:
        now = to_ms(datetime.now(UTC))
        if index is not None:
            now = max(now, self._updated_ms[index] + 1)
        return now

    def _touch(self, index: int, actor: int, now_ms: int) -> dict:
        state = self._materialize(index)
        state["updated"] = moment(now_ms, USERS[actor].offset_minutes)
        self._updated_ms[index] = now_ms
        self.version += 1
        return state

    def _mint_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _add_history(self, state: dict, actor: int, now_ms: int, items: list[dict]) -> dict:
        history = {
            "id": str(self._mint_id()),
            "author": actor,
            "created": moment(now_ms, USERS[actor].offset_minutes),
            "items": items,
        }
        state["histories"].append(history)
        return {"id": history["id"], "items": [dict(i) for i in items]}

    def _pick(self, rng: random.Random, predicate=None) -> int | None:
        """A random live issue satisfying ``predicate``, or None when none turns up."""
        total = len(self._alive)
        for _ in range(200 if total else 0):
            index = rng.randrange(total)
            if self._alive[index] and (predicate is None or predicate(index)):
                return index
        return None

    def _issue_body(
        self, event: str, index: int, actor: int, changelog: dict | None, now_ms: int
    ) -> Mutation:
        issue = self._render(index)
        body = events.issue_event(event, issue, self._renderer.user(actor), changelog, now_ms)
        return Mutation(event, body, issue["key"], issue["id"])

    def mutate(self, rng: random.Random) -> Mutation:
        """Apply one random change and return the webhook Jira would send for it."""
        with self._lock:
            event = rng.choices(list(_EVENT_WEIGHTS), weights=list(_EVENT_WEIGHTS.values()))[0]
            handler = getattr(self, "_mutate_" + event.removeprefix("jira:"))
            return handler(rng)

    def _mutate_issue_created(self, rng: random.Random) -> Mutation:
        position = rng.randrange(len(self.projects))
        index = len(self._alive)
        number = self._next_number[position]
        self._next_number[position] += 1
        key = f"{self.projects[position].key}-{number}"
        now = self._now_ms()
        state = self._gen.new_state(index, key, position, now, rng)
        self._project.append(position)
        self._number.append(number)
        self._created_ms.append(now)
        self._updated_ms.append(now)
        self._alive.append(1)
        self._states[index] = state
        self._created_keys[key] = index
        self.version += 1
        items = [
            {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": None,
                "fromString": None,
                "to": STATUS_BY_NAME[state["status"]].id,
                "toString": state["status"],
            }
        ]
        if state["assignee"] is not None:
            assignee = USERS[state["assignee"]]
            items.append(
                {
                    "field": "assignee",
                    "fieldtype": "jira",
                    "fieldId": "assignee",
                    "from": None,
                    "fromString": None,
                    "to": assignee.account_id,
                    "toString": assignee.display_name,
                    "tmpFromAccountId": None,
                    "tmpToAccountId": assignee.account_id,
                }
            )
        changelog = {"id": str(self._mint_id()), "items": items}
        return self._issue_body("jira:issue_created", index, state["reporter"], changelog, now)

    def _mutate_issue_updated(self, rng: random.Random) -> Mutation:
        index = self._pick(rng)
        if index is None:
            return self._mutate_issue_created(rng)
        choice = rng.randrange(5)
        if choice == 0:
            changes = {
                "summary": f"{self._state(index)['summary'].split(' [')[0]} "
                f"[{rng.choice(('updated', 'customer replied', 'escalated'))}]"
            }
        elif choice == 1:
            changes = {"priority": rng.choice(("Highest", "High", "Medium", "Low"))}
        elif choice == 2:
            changes = {"assignee": USERS[rng.choice(AGENTS)].account_id}
        elif choice == 3:
            options = FIELD_BY_ID["customfield_10100"].options
            changes = {"customfield_10100": rng.choice(options)}
        else:
            sd = self.projects[self._project[index]].type_key == "service_desk"
            status = self._state(index)["status"]
            flow = (
                ("Waiting for support", "In Progress", "Waiting for customer", "Resolved")
                if sd
                else ("To Do", "In Progress", "Done")
            )
            changes = {"status": rng.choice([s for s in flow if s != status])}
        return self._update(index, rng.choice(AGENTS), changes)

    def _mutate_issue_deleted(self, rng: random.Random) -> Mutation:
        index = self._pick(rng)
        if index is None:
            return self._mutate_issue_created(rng)
        return self._delete(index, rng.choice(AGENTS))

    def _mutate_comment_created(self, rng: random.Random) -> Mutation:
        index = self._pick(rng)
        if index is None:
            return self._mutate_issue_created(rng)
        actor = rng.choice(AGENTS)
        now = self._now_ms(index)
        state = self._touch(index, actor, now)
        at = moment(now, USERS[actor].offset_minutes)
        comment = {
            "id": str(self._mint_id()),
            "author": actor,
            "update_author": actor,
            "body": adf.random_doc(rng, (1, 2)),
            "created": at,
            "updated": at,
            "jsdPublic": rng.random() < 0.7,
            "visibility": None,
        }
        state["comments"].append(comment)
        return self._comment_body("comment_created", index, state, comment, now)

    def _comment_body(
        self, event: str, index: int, state: dict, comment: dict, now: int
    ) -> Mutation:
        body = events.comment_event(
            event, self._renderer.comment(state, comment), self._render(index), now
        )
        return Mutation(event, body, state["key"], state["id"])

    def _mutate_comment_updated(self, rng: random.Random) -> Mutation:
        index = self._pick(rng, lambda i: bool(self._state(i)["comments"]))
        if index is None:
            return self._mutate_comment_created(rng)
        actor = rng.choice(AGENTS)
        now = self._now_ms(index)
        state = self._touch(index, actor, now)
        comment = rng.choice(state["comments"])
        comment["body"] = adf.doc(
            *comment["body"]["content"],
            adf.paragraph(
                adf.text(f"Edit: {rng.choice(('typo fixed', 'added logs', 'clarified steps'))}.")
            ),
        )
        comment["updated"] = moment(now, USERS[actor].offset_minutes)
        comment["update_author"] = actor
        return self._comment_body("comment_updated", index, state, comment, now)

    def _mutate_comment_deleted(self, rng: random.Random) -> Mutation:
        index = self._pick(rng, lambda i: bool(self._state(i)["comments"]))
        if index is None:
            return self._mutate_comment_created(rng)
        actor = rng.choice(AGENTS)
        now = self._now_ms(index)
        state = self._touch(index, actor, now)
        comment = state["comments"].pop(rng.randrange(len(state["comments"])))
        return self._comment_body("comment_deleted", index, state, comment, now)

    def _mutate_attachment_created(self, rng: random.Random) -> Mutation:
        index = self._pick(rng)
        if index is None:
            return self._mutate_issue_created(rng)
        actor = rng.choice(AGENTS)
        now = self._now_ms(index)
        state = self._touch(index, actor, now)
        attachment_id = self._mint_id()
        filename = rng.choice(
            ("screenshot-2.png", "logs.txt", "trace.har", "../../evil.sh", "Ünïcödé.pdf")
        )
        att = {
            "id": str(attachment_id),
            "filename": filename,
            "author": actor,
            "created": moment(now, USERS[actor].offset_minutes),
            "size": rng.randint(100, 20_000),
            "mimeType": mime_type(filename),
        }
        state["attachments"].append(att)
        self._attachment_owner[attachment_id] = index
        self._add_history(
            state,
            actor,
            now,
            [
                {
                    "field": "Attachment",
                    "fieldtype": "jira",
                    "fieldId": "attachment",
                    "from": None,
                    "fromString": None,
                    "to": att["id"],
                    "toString": filename,
                }
            ],
        )
        return self._attachment_body("attachment_created", index, state, att, now)

    def _attachment_body(
        self, event: str, index: int, state: dict, att: dict, now: int
    ) -> Mutation:
        body = events.attachment_event(
            event, self._renderer.attachment(att), self._render(index), now
        )
        return Mutation(event, body, state["key"], state["id"])

    def _mutate_attachment_deleted(self, rng: random.Random) -> Mutation:
        index = self._pick(rng, lambda i: bool(self._state(i)["attachments"]))
        if index is None:
            return self._mutate_attachment_created(rng)
        actor = rng.choice(AGENTS)
        now = self._now_ms(index)
        state = self._touch(index, actor, now)
        att = state["attachments"].pop(rng.randrange(len(state["attachments"])))
        self._add_history(
            state,
            actor,
            now,
            [
                {
                    "field": "Attachment",
                    "fieldtype": "jira",
                    "fieldId": "attachment",
                    "from": att["id"],
                    "fromString": att["filename"],
                    "to": None,
                    "toString": None,
                }
            ],
        )
        return self._attachment_body("attachment_deleted", index, state, att, now)

    def _mutate_issuelink_created(self, rng: random.Random) -> Mutation:
        source = self._pick(rng)
        target = self._pick(rng, lambda i: i != source)
        if source is None or target is None:
            return self._mutate_issue_created(rng)
        link_id, type_position = self._mint_id(), rng.randrange(len(LINK_TYPES))
        self._links[link_id] = (type_position, source, target)
        self._links_of.setdefault(source, []).append(link_id)
        self._links_of.setdefault(target, []).append(link_id)
        return self._link_body("issuelink_created", link_id, type_position, source, target)

    def _link_body(
        self, event: str, link_id: int, type_position: int, source: int, target: int
    ) -> Mutation:
        actor = AGENTS[link_id % len(AGENTS)]
        now = max(self._now_ms(source), self._now_ms(target))
        for index in (source, target):
            self._touch(index, actor, now)
        source_id, target_id = str(ISSUE_ID_BASE + source), str(ISSUE_ID_BASE + target)
        body = events.issuelink_event(event, link_id, source_id, target_id, type_position, now)
        return Mutation(event, body, None, None, (source_id, target_id))

    def _mutate_issuelink_deleted(self, rng: random.Random) -> Mutation:
        index = self._pick(rng, lambda i: bool(self._link_entries(i)))
        if index is None:
            return self._mutate_issuelink_created(rng)
        entry = rng.choice(self._link_entries(index))
        link_id = int(entry["id"])
        other = int(entry.get("outwardIssue", entry.get("inwardIssue"))["id"]) - ISSUE_ID_BASE
        source, target = (index, other) if "outwardIssue" in entry else (other, index)
        self._removed_links.add(link_id)
        type_position = next(p for p, t in enumerate(LINK_TYPES) if t[0] == entry["type"]["id"])
        return self._link_body("issuelink_deleted", link_id, type_position, source, target)

    # --- explicit changes (tests, demo) ----------------------------------------------------------
    def _require(self, key: str) -> int:
        index = self._index(key)
        if index is None:
            raise KeyError(f"no such issue: {key!r:.40}")
        return index

    def add_remote_link(self, key: str, title: str = "Incident review") -> Mutation:
        """Link a web page to the issue; the history records it (``RemoteIssueLink``)."""
        with self._lock:
            index = self._require(key)
            now = self._now_ms(index)
            state = self._touch(index, AGENTS[0], now)
            link_id = self._mint_id()
            link = {
                "id": link_id,
                "globalId": f"system=https://status.example.com/{link_id}",
                "application": {"type": "com.example.status", "name": "Status page"},
                "relationship": "links to",
                "object": {
                    "url": f"https://status.example.com/incidents/{link_id}",
                    "title": title,
                    "icon": {},
                    "status": {"resolved": False, "icon": {}},
                },
            }
            state["remote_links"].append(link)
            changelog = self._add_history(state, AGENTS[0], now, [remote_link_item(None, link)])
            return self._issue_body("jira:issue_updated", index, AGENTS[0], changelog, now)

    def remove_remote_link(self, key: str) -> Mutation:
        """Remove the issue's newest remote link (recorded in the history too)."""
        with self._lock:
            index = self._require(key)
            if not self._state(index)["remote_links"]:
                raise ValueError(f"{key} has no remote links")
            now = self._now_ms(index)
            state = self._touch(index, AGENTS[0], now)
            link = state["remote_links"].pop()
            changelog = self._add_history(state, AGENTS[0], now, [remote_link_item(link, None)])
            return self._issue_body("jira:issue_updated", index, AGENTS[0], changelog, now)

    def move_issue(self, key: str, project_key: str) -> Mutation:
        """Move the issue to another project: it gets the next key there; the old key still
        finds it (as on Cloud, which follows moved keys)."""
        with self._lock:
            index = self._require(key)
            position = self._project_position(project_key)
            old_key, old_project = self._key(index), self.projects[self._project[index]]
            now = self._now_ms(index)
            state = self._touch(index, AGENTS[0], now)
            number = self._next_number[position]
            self._next_number[position] += 1
            self._project[index], self._number[index] = position, number
            state["key"], state["project"] = self._key(index), position
            self._moved_keys[state["key"]] = index
            new_project = self.projects[position]
            items = [
                {
                    "field": "Key",
                    "fieldtype": "jira",
                    "from": None,
                    "fromString": old_key,
                    "to": None,
                    "toString": state["key"],
                },
                {
                    "field": "project",
                    "fieldtype": "jira",
                    "fieldId": "project",
                    "from": old_project.id,
                    "fromString": old_project.name,
                    "to": new_project.id,
                    "toString": new_project.name,
                },
            ]
            changelog = self._add_history(state, AGENTS[0], now, items)
            return self._issue_body("jira:issue_updated", index, AGENTS[0], changelog, now)

    def update_issue(self, key: str, **changes) -> Mutation:
        """Change fields (summary, priority, status, assignee (accountId or None), labels,
        duedate, description (text or ADF), or a custom field id) and record the history."""
        with self._lock:
            return self._update(self._require(key), AGENTS[0], changes)

    def resolve_issue(self, key: str) -> Mutation:
        """Move the issue to its done status with resolution Done (no webhook is sent)."""
        with self._lock:
            index = self._require(key)
            sd = self.projects[self._project[index]].type_key == "service_desk"
            return self._update(index, AGENTS[0], {"status": "Resolved" if sd else "Done"})

    def delete_issue(self, key: str) -> Mutation:
        with self._lock:
            return self._delete(self._require(key), AGENTS[0])

    def _delete(self, index: int, actor: int) -> Mutation:
        mutation = self._issue_body("jira:issue_deleted", index, actor, None, self._now_ms(index))
        self._alive[index] = 0
        self.version += 1
        return mutation

    def _update(self, index: int, actor: int, changes: dict) -> Mutation:
        now = self._now_ms(index)
        state = self._touch(index, actor, now)
        items = []
        for name, value in changes.items():
            items.extend(self._apply_change(state, name, value, now))
        changelog = self._add_history(state, actor, now, items)
        return self._issue_body("jira:issue_updated", index, actor, changelog, now)

    def _apply_change(self, state: dict, name: str, value, now: int) -> list[dict]:
        def item(
            field: str, field_id: str, old, new, fieldtype: str = "jira", old_id=None, new_id=None
        ) -> dict:
            return {
                "field": field,
                "fieldtype": fieldtype,
                "fieldId": field_id,
                "from": old_id,
                "fromString": None if old is None else str(old),
                "to": new_id,
                "toString": None if new is None else str(new),
            }

        if name == "status":
            if value not in STATUS_BY_NAME:
                raise ValueError(f"unknown status {value!r}")
            old = state["status"]
            state["status"] = value
            at = moment(now, USERS[state["reporter"]].offset_minutes)
            items = [
                item(
                    "status",
                    "status",
                    old,
                    value,
                    old_id=STATUS_BY_NAME[old].id,
                    new_id=STATUS_BY_NAME[value].id,
                )
            ]
            was_done = STATUS_BY_NAME[old].category == "done"
            is_done = STATUS_BY_NAME[value].category == "done"
            if was_done != is_done:
                state["statuscategorychangedate"] = at
            if is_done and not was_done:
                state["resolution"], state["resolutiondate"] = "Done", at
                items.append(item("resolution", "resolution", None, "Done", new_id="10000"))
                for metric in state["sla"] or ():
                    for cycle in metric["cycles"]:
                        if cycle["stop"] is None:
                            cycle["stop"] = max(now, cycle["start"] + 1)
            elif was_done and not is_done:
                items.append(item("resolution", "resolution", state["resolution"], None))
                state["resolution"], state["resolutiondate"] = None, None
            return items
        if name == "assignee":
            old = state["assignee"]
            new = (
                None
                if value is None
                else next((i for i, u in enumerate(USERS) if value in (u.account_id, i)), None)
            )
            if value is not None and new is None:
                raise ValueError("unknown assignee")
            state["assignee"] = new
            old_id = None if old is None else USERS[old].account_id
            new_id = None if new is None else USERS[new].account_id
            return [
                item(
                    "assignee",
                    "assignee",
                    None if old is None else USERS[old].display_name,
                    None if new is None else USERS[new].display_name,
                    old_id=old_id,
                    new_id=new_id,
                )
                | {"tmpFromAccountId": old_id, "tmpToAccountId": new_id}
            ]
        if name == "description":
            state["description"] = adf.plain_doc(value) if isinstance(value, str) else value
            return [item("description", "description", None, adf.to_wiki(state["description"]))]
        if name in ("summary", "priority", "labels", "duedate"):
            old = state[name]
            state[name] = list(value) if name == "labels" else value
            show = (lambda v: " ".join(v)) if name == "labels" else (lambda v: v)
            return [item(name, name, show(old) if old is not None else None, show(value))]
        field = FIELD_BY_ID.get(name)
        if field is None or not field.custom or field not in ISSUE_FIELDS:
            raise ValueError(f"the simulator cannot change field {name!r}")
        old = state["custom"].get(name)
        if field.kind == "option" and isinstance(value, str):
            new_value = field.options.index(value)
            old_text = field.options[old] if old is not None else None
        else:
            new_value, old_text = value, old
        if new_value is None:
            state["custom"].pop(name, None)
        else:
            state["custom"][name] = new_value
        return [item(field.name, name, old_text, value, fieldtype="custom")]

    def snapshot(self) -> dict:
        """A summary of what changed, for the control API and tests."""
        with self._lock:
            total = len(self._alive)
            return {
                "version": self.version,
                "generated": self._gen.count,
                "live": sum(self._alive),
                "deleted": [self._key(i) for i in range(total) if not self._alive[i]],
                "created": [self._key(i) for i in range(self._gen.count, total)],
                "changed": sorted(self._key(i) for i in self._states),
            }


def _detached(value):
    """A deep copy (rendered documents share users and ADF bodies with the state)."""
    return orjson.loads(orjson.dumps(value))


def _filter_dates(candidates: Iterable[int], condition, values: list[int]) -> list[int]:
    bound = condition.instant_ms
    op = condition.op
    if op == "=":
        width = 86_400_000 if condition.whole_day else 60_000
        return [i for i in candidates if bound <= values[i] < bound + width]
    if op == ">=":
        return [i for i in candidates if values[i] >= bound]
    if op == ">":
        return [i for i in candidates if values[i] > bound]
    if op == "<=":
        return [i for i in candidates if values[i] <= bound]
    return [i for i in candidates if values[i] < bound]


def _expand_set(expand: Iterable[str] | str | None) -> set[str]:
    if not expand:
        return set()
    if isinstance(expand, str):
        expand = expand.split(",")
    return {part.strip() for part in expand if part.strip()}


def _field_list(fields: str | Sequence[str] | None) -> list[str]:
    if fields is None:
        return ["id"]  # the enhanced search returns ids only unless asked for more
    if isinstance(fields, str):
        fields = fields.split(",")
    return [f.strip() for f in fields if f and f.strip()] or ["id"]


def _wanted_fields(fields: str | Sequence[str] | None) -> set[str] | None:
    """Field ids to include, or None for all (``*all`` / ``*navigable``)."""
    names = _field_list(fields if fields is not None else "*all")
    all_ids = {f.id for f in ISSUE_FIELDS}
    wanted: set[str] = set()
    everything = False
    for name in names:
        if name in ("*all", "*navigable"):
            everything = True
        elif not name.startswith("-"):
            wanted.add(name)
    excluded = {name[1:] for name in names if name.startswith("-")}
    if everything:
        return None if not excluded else all_ids - excluded
    return (wanted & all_ids) - excluded


def _encode_token(offset: int, jql: str) -> str:
    raw = json.dumps({"o": offset, "q": zlib.crc32(jql.encode())}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, jql: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] != zlib.crc32(jql.encode()) or int(data["o"]) < 0:
            raise ValueError
        return int(data["o"])
    except (ValueError, KeyError, TypeError):
        raise JqlError("The nextPageToken is invalid or belongs to another query.") from None


def _payload_chunks(seed: int, size: int, mime: str) -> Iterator[bytes]:
    """Deterministic attachment bytes: text for text types, random bytes with the right magic
    number otherwise; one 64 KiB block repeated for big files so streaming costs no memory."""
    rng = random.Random(seed)
    if mime.startswith("text/") or mime in ("application/json", "application/x-yaml"):
        lines = (
            f"{n:06d} {rng.choice(('INFO', 'WARN', 'ERROR'))} request {rng.getrandbits(32):08x}"
            f" took {rng.randint(1, 900)} ms\n"
            for n in range(10**9)
        )
        block = bytearray()
        for line in lines:
            block += line.encode()
            if len(block) >= min(size, _CHUNK):
                break
        block = bytes(block)
    else:
        block = (_MAGIC.get(mime, b"") + rng.randbytes(min(size, _CHUNK)))[
            : max(min(size, _CHUNK), 1)
        ]
    sent = 0
    while sent < size:
        piece = block[: size - sent]
        sent += len(piece)
        yield piece
