"""Deterministic issue generation from ``(seed, index)``.

Nothing is generated up front except a few integers per issue (created/updated instants),
so a site of 100,000 issues costs megabytes, not gigabytes: the full state of an issue is
rebuilt from its index on demand, and only mutated issues are kept (by ``SimulatedJira``).
Relations between issues (links, parent/sub-tasks) are functions of the indices that can be
inverted cheaply, so both sides of a link agree without a global table."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from jira_pipeline.sandbox.simulator import adf
from jira_pipeline.sandbox.simulator.catalog import (
    AGENTS,
    COMPONENTS,
    CUSTOMERS,
    FIELD_BY_ID,
    LABELS,
    LINK_TYPES,
    ORGANIZATIONS,
    REQUEST_TYPES,
    STATUS_BY_NAME,
    USERS,
    Project,
)

_MASK = (1 << 64) - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Id ranges: every id encodes the issue index, so an id alone finds its issue.
ISSUE_ID_BASE = 10_000
COMMENT_ID_BASE = 1_000_000  # + index * 64 + n
HISTORY_ID_BASE = 20_000_000  # + index * 512 + n
ATTACHMENT_ID_BASE = 80_000_000  # + index * 8 + n
LINK_ID_BASE = 90_000_000  # + index
REMOTE_LINK_ID_BASE = 95_000_000  # + index * 4 + n
MUTATION_ID_BASE = 900_000_000  # ids minted by mutations count up from here

LARGE_ATTACHMENT_BYTES = 52_428_800  # declared sizes above the client's 50 MB skip threshold
INLINE_CHANGELOG_CAP = 100
BULK_CHANGELOG_CAP = 40  # POST issue/bulkfetch with expand=changelog shows at most 40
REMOTE_LINK_HISTORY_SLOT = 500  # history ids + index * 512 + 500 + n: remote-link additions
_LINK_REACH = 12  # an issue links back to one of the 12 issues created before it

_SUBJECTS = (
    "Login",
    "Checkout",
    "Invoice export",
    "Mobile app",
    "SSO",
    "Search",
    "Dashboard",
    "Webhook delivery",
    "Password reset",
    "Report builder",
    "API gateway",
    "Billing",
)
_PROBLEMS = (
    "fails with 500",
    "is slow",
    "shows wrong data",
    "times out",
    "needs access",
    "crashes on start",
    "returns duplicates",
    "rejects valid input",
    "is unavailable",
)
_ODD_SUMMARIES = (
    "Ünïcödé customer name breaks the PDF: Grüße aus Zürich",
    "Outage 🔥 all regions — status page not updated",
    'Quote "marks" and <b>html</b> in summary & ampersands',
    "日本語のお客様からの問い合わせ",
)
_FILENAMES = (
    "screenshot.png",
    "debug.log",
    "export.csv",
    "report.pdf",
    "har-capture.har",
    "config.yaml",
    "stacktrace.txt",
    "photo.jpg",
)
_HOSTILE_FILENAMES = (
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "résumé naïve ñ.txt",
    "日本語のファイル.png",
    "bell\x07and\nnewline\t.txt",
    "x" * 240 + ".log",
    ".hidden",
    "CON",
    "a/b/c.txt",
    "  spaced  .pdf ",
)
_MIME = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "log": "text/plain",
    "txt": "text/plain",
    "csv": "text/csv",
    "pdf": "application/pdf",
    "har": "application/json",
    "yaml": "application/x-yaml",
}
_SD_FLOW = ("Waiting for support", "In Progress", "Waiting for customer", "Escalated")
_SW_FLOW = ("To Do", "In Progress")


def mix(*parts: int) -> int:
    """SplitMix64 over the parts: a fast, stable hash (Python's ``hash`` is salted)."""
    x = 0x9E3779B97F4A7C15
    for part in parts:
        x = ((x ^ (part & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        x ^= x >> 31
        x = (x * 0x94D049BB133111EB) & _MASK
        x ^= x >> 29
    return x


def unit(*parts: int) -> float:
    return mix(*parts) / 2**64


_ZONES: dict[int, timezone] = {}


def moment(ms: int, offset_minutes: int = 0) -> datetime:
    """Epoch milliseconds as an aware datetime in a fixed offset (exact to the millisecond)."""
    zone = _ZONES.get(offset_minutes)
    if zone is None:
        zone = _ZONES[offset_minutes] = timezone(timedelta(minutes=offset_minutes))
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, zone).replace(microsecond=millis * 1000)


def to_ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def add_months(start: datetime, months: int) -> datetime:
    total = start.month - 1 + months
    return start.replace(year=start.year + total // 12, month=total % 12 + 1)


# Salts: one per independent random decision.
(
    _S_CREATED,
    _S_UPDATED,
    _S_REPORTER,
    _S_LINK,
    _S_LINKTYPE,
    _S_SUBTASK,
    _S_STATUS,
    _S_PRIORITY,
    _S_TYPE,
    _S_SUMMARY,
    _S_STATE,
    _S_LINKDIST,
    _S_SUMMARY2,
) = range(1, 14)


@dataclass(frozen=True)
class Brief:
    """What another issue's link, parent or sub-task entry shows of an issue."""

    index: int
    id: str
    key: str
    summary: str
    status: str
    priority: str
    issuetype: str


class IssueGenerator:
    """Builds the initial state of generated issue ``index`` (0 ≤ index < count).

    Nothing is dated in the future: a window reaching past ``now_ms`` ends an hour before it
    (so only sites whose window touches the present depend on the clock)."""

    def __init__(
        self,
        seed: int,
        count: int,
        projects: tuple[Project, ...],
        window_start: datetime,
        window_end: datetime,
        now_ms: int,
    ) -> None:
        self.seed = seed
        self.count = count
        self.projects = projects
        self.now_ms = now_ms
        self.window_start_ms = to_ms(window_start)
        self.window_end_ms = max(
            min(to_ms(window_end), now_ms - 3_600_000), self.window_start_ms + 1
        )

    # --- cheap per-index facts (no full state) -------------------------------------------
    def project_of(self, index: int) -> int:
        return index % len(self.projects)

    def key_of(self, index: int) -> str:
        return f"{self.projects[self.project_of(index)].key}-{index // len(self.projects) + 1}"

    def index_of_key(self, key: str) -> int | None:
        project_key, _, number = key.rpartition("-")
        for position, project in enumerate(self.projects):
            if project.key == project_key and number.isdigit():
                index = (int(number) - 1) * len(self.projects) + position
                return index if 0 <= index < self.count and int(number) >= 1 else None
        return None

    def reporter_of(self, index: int) -> int:
        if self.projects[self.project_of(index)].type_key == "service_desk":
            pool = CUSTOMERS + AGENTS[:3] if mix(self.seed, index, _S_REPORTER) % 3 else CUSTOMERS
        else:
            pool = AGENTS
        return pool[mix(self.seed, index, _S_REPORTER, 1) % len(pool)]

    def created_ms(self, index: int) -> int:
        """Spread over the window; every 23rd issue sits just across a month boundary so
        its local month differs from its UTC month."""
        span = self.window_end_ms - self.window_start_ms
        ms = self.window_start_ms + int(
            (index + unit(self.seed, index, _S_CREATED)) * span / max(self.count, 1)
        )
        if index % 23 == 7:
            offset = USERS[self.reporter_of(index)].offset_minutes
            at = moment(ms)
            boundary = add_months(at.replace(day=1, hour=0, minute=0, second=0, microsecond=0), 1)
            if offset > 0:
                ms = to_ms(boundary) - 17 * 60_000 - index % 997
            elif offset < 0:
                ms = to_ms(boundary) + 95 * 60_000 + index % 997
        return ms

    def updated_ms(self, index: int, created_ms: int) -> int:
        hours = min(-math.log(1.0 - unit(self.seed, index, _S_UPDATED)) * 96, 2400)
        if self.is_big(index):
            hours += 24 * 45
        return max(min(created_ms + int(hours * 3_600_000) + 1_000, self.now_ms), created_ms + 1)

    def is_big(self, index: int) -> bool:
        """Issues whose changelog exceeds the inline page (so a client must page it)."""
        return index % 37 == 11

    def is_subtask(self, index: int) -> bool:
        step = len(self.projects)
        return (
            index >= step and not self.is_big(index) and unit(self.seed, index, _S_SUBTASK) < 0.12
        )

    def parent_of(self, index: int) -> int | None:
        if not self.is_subtask(index):
            return None
        step = len(self.projects)
        parent = index - step
        while self.is_subtask(parent):
            parent -= step
        return parent

    def subtasks_of(self, index: int) -> list[int]:
        if self.is_subtask(index):
            return []
        step, found, child = len(self.projects), [], index + len(self.projects)
        while child < self.count and self.is_subtask(child):
            found.append(child)
            child += step
        return found

    def outward_link(self, index: int) -> tuple[int, int, int] | None:
        """``(link id, link type position, target index)`` of the one generated link
        issue ``index`` may have (it is the outward side)."""
        if unit(self.seed, index, _S_LINK) >= 0.25:
            return None
        target = index - 1 - mix(self.seed, index, _S_LINKDIST) % _LINK_REACH
        if target < 0:
            return None
        return LINK_ID_BASE + index, mix(self.seed, index, _S_LINKTYPE) % len(LINK_TYPES), target

    def inward_links(self, index: int) -> list[tuple[int, int, int]]:
        """Generated links pointing at ``index``: ``(link id, type position, source)``."""
        found = []
        for source in range(index + 1, min(index + 1 + _LINK_REACH, self.count)):
            link = self.outward_link(source)
            if link is not None and link[2] == index:
                found.append((link[0], link[1], source))
        return found

    def brief(self, index: int) -> Brief:
        sd = self.projects[self.project_of(index)].type_key == "service_desk"
        if self.is_subtask(index):
            issuetype = "Sub-task"
        elif sd:
            issuetype = ("Service request", "Incident", "Service request")[
                mix(self.seed, index, _S_TYPE) % 3
            ]
        else:
            issuetype = ("Bug", "Task", "Story", "Bug")[mix(self.seed, index, _S_TYPE) % 4]
        roll = unit(self.seed, index, _S_STATUS)
        if self.is_big(index) or roll < 0.55:
            status = ("Resolved", "Closed")[index % 2] if sd else "Done"
        elif roll < 0.8:
            flow = _SD_FLOW if sd else _SW_FLOW
            status = flow[1 + mix(self.seed, index, _S_STATUS) % (len(flow) - 1)]
        else:
            status = _SD_FLOW[0] if sd else _SW_FLOW[0]
        priority = ("Medium", "High", "Low", "Medium", "Highest", "Lowest", "Medium")[
            mix(self.seed, index, _S_PRIORITY) % 7
        ]
        if mix(self.seed, index, _S_SUMMARY2) % 29 == 3:
            summary = _ODD_SUMMARIES[index % len(_ODD_SUMMARIES)]
        else:
            h = mix(self.seed, index, _S_SUMMARY)
            summary = f"{_SUBJECTS[h % len(_SUBJECTS)]} {_PROBLEMS[(h >> 8) % len(_PROBLEMS)]}"
        return Brief(
            index,
            str(ISSUE_ID_BASE + index),
            self.key_of(index),
            summary,
            status,
            priority,
            issuetype,
        )

    # --- full state ------------------------------------------------------------------------
    def state(self, index: int, created_ms: int, updated_ms: int) -> dict:
        """The complete initial state: plain data, URL-free (the renderer adds the site)."""
        rng = random.Random(mix(self.seed, index, _S_STATE))
        brief = self.brief(index)
        project = self.projects[self.project_of(index)]
        sd = project.type_key == "service_desk"
        reporter = self.reporter_of(index)
        assignee = (
            None
            if brief.status in ("To Do", "Waiting for support") and rng.random() < 0.7
            else rng.choice(AGENTS)
        )
        created = moment(created_ms, USERS[reporter].offset_minutes)
        state: dict = {
            "index": index,
            "id": brief.id,
            "key": brief.key,
            "project": self.project_of(index),
            "issuetype": brief.issuetype,
            "summary": brief.summary,
            "status": brief.status,
            "priority": brief.priority,
            "reporter": reporter,
            "creator": reporter,
            "assignee": assignee,
            "created": created,
            "labels": sorted(rng.sample(LABELS, rng.choice((0, 0, 1, 2)))),
            "components": sorted(rng.sample(range(len(COMPONENTS)), rng.choice((0, 1, 1, 2)))),
            "description": adf.random_doc(rng) if rng.random() < 0.92 else None,
            "environment": adf.doc(
                adf.paragraph(adf.text("Production", {"type": "strong"}), adf.text(", EU region"))
            )
            if rng.random() < 0.1
            else None,
            "estimate_s": rng.choice((3600, 14400, 28800, 57600))
            if not sd and rng.random() < 0.3
            else None,
            "duedate": None,
            "resolution": None,
            "resolutiondate": None,
            "watch_count": rng.randint(0, 4),
        }
        histories, status_times = self._histories(index, rng, state, created_ms, updated_ms)
        state["histories"] = histories
        state["comments"] = self._comments(index, rng, state, created_ms, updated_ms, sd)
        state["attachments"] = self._attachments(index, rng, created_ms, updated_ms)
        state["remote_links"] = self._remote_links(index, rng)
        state["histories"] = (
            self._remote_link_histories(index, state, created_ms, updated_ms) + histories
        )
        last_actor = histories[-1]["author"] if histories else reporter
        state["updated"] = moment(updated_ms, USERS[last_actor].offset_minutes)
        category_change = status_times[-1] if status_times else created_ms
        state["statuscategorychangedate"] = moment(category_change, USERS[reporter].offset_minutes)
        if STATUS_BY_NAME[brief.status].category == "done":
            state["resolution"] = rng.choice(
                ("Done", "Done", "Done", "Won't Do", "Duplicate", "Cannot Reproduce")
            )
            state["resolutiondate"] = moment(status_times[-1], USERS[last_actor].offset_minutes)
        if rng.random() < 0.15:
            state["duedate"] = moment(created_ms + 14 * 86_400_000).date().isoformat()
        state["custom"] = self._custom_values(index, rng, state, sd)
        state["sla"] = self._sla(index, rng, state, sd, created_ms, updated_ms)
        return state

    def new_state(
        self, index: int, key: str, project_position: int, now_ms: int, rng: random.Random
    ) -> dict:
        """A freshly created issue (a mutation): open, no history, comments or attachments."""
        project = self.projects[project_position]
        sd = project.type_key == "service_desk"
        reporter = rng.choice(CUSTOMERS if sd else AGENTS)
        created = moment(now_ms, USERS[reporter].offset_minutes)
        h = rng.getrandbits(32)
        state: dict = {
            "index": index,
            "id": str(ISSUE_ID_BASE + index),
            "key": key,
            "project": project_position,
            "issuetype": rng.choice(("Service request", "Incident") if sd else ("Bug", "Task")),
            "summary": f"{_SUBJECTS[h % len(_SUBJECTS)]} {_PROBLEMS[(h >> 8) % len(_PROBLEMS)]}",
            "status": (_SD_FLOW if sd else _SW_FLOW)[0],
            "priority": rng.choice(("Medium", "High")),
            "reporter": reporter,
            "creator": reporter,
            "assignee": rng.choice(AGENTS) if rng.random() < 0.5 else None,
            "created": created,
            "updated": created,
            "statuscategorychangedate": created,
            "labels": [],
            "components": [],
            "description": adf.random_doc(rng, (1, 3)),
            "environment": None,
            "duedate": None,
            "resolution": None,
            "resolutiondate": None,
            "watch_count": 1,
            "estimate_s": None,
            "histories": [],
            "comments": [],
            "attachments": [],
            "remote_links": [],
        }
        state["custom"] = self._custom_values(index, rng, state, sd)
        state["sla"] = (
            None
            if not sd
            else [
                {
                    "id": "1",
                    "name": "Time to resolution",
                    "goal": 48 * 3_600_000,
                    "cycles": [{"start": now_ms, "stop": None, "elapsed": 0, "paused": False}],
                },
                {
                    "id": "2",
                    "name": "Time to first response",
                    "goal": 4 * 3_600_000,
                    "cycles": [{"start": now_ms, "stop": None, "elapsed": 0, "paused": False}],
                },
            ]
        )
        return state

    def _histories(
        self, index: int, rng: random.Random, state: dict, created_ms: int, updated_ms: int
    ) -> tuple[list[dict], list[int]]:
        sd = self.projects[self.project_of(index)].type_key == "service_desk"
        flow = _SD_FLOW if sd else _SW_FLOW
        final = state["status"]
        path = [flow[0]]
        extra = rng.randint(110, 170) if self.is_big(index) else rng.randint(0, 6)
        if final != flow[0]:
            for _ in range(rng.randint(0, 2) + (extra // 4 if self.is_big(index) else 0)):
                path.append(rng.choice(flow[1:]))
            path.append(final)
        # Drop consecutive repeats: a transition always changes the status.
        path = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
        transitions = list(zip(path, path[1:], strict=False))
        count = len(transitions) + extra
        times = sorted(
            created_ms + 60_000 + int(rng.random() * max(updated_ms - created_ms - 120_000, 1))
            for _ in range(count)
        )
        if times:
            times[-1] = updated_ms
        kinds = ["status"] * len(transitions) + ["other"] * extra
        # Status changes keep their order; other changes are sprinkled between them.
        rng.shuffle(kinds)
        if transitions and kinds[-1] != "status":
            last_status = len(kinds) - 1 - kinds[::-1].index("status")
            kinds[last_status], kinds[-1] = kinds[-1], kinds[last_status]
        histories, status_times, step = [], [], 0
        for n, (kind, at) in enumerate(zip(kinds, times, strict=True)):
            author = rng.choice(AGENTS)
            if kind == "status":
                old, new = transitions[step]
                step += 1
                status_times.append(at)
                items = [
                    {
                        "field": "status",
                        "fieldtype": "jira",
                        "fieldId": "status",
                        "from": STATUS_BY_NAME[old].id,
                        "fromString": old,
                        "to": STATUS_BY_NAME[new].id,
                        "toString": new,
                    }
                ]
                if STATUS_BY_NAME[new].category == "done":
                    items.append(
                        {
                            "field": "resolution",
                            "fieldtype": "jira",
                            "fieldId": "resolution",
                            "from": None,
                            "fromString": None,
                            "to": "10000",
                            "toString": "Done",
                        }
                    )
            else:
                items = [self._random_item(rng)]
            histories.append(
                {
                    "id": str(HISTORY_ID_BASE + index * 512 + n),
                    "author": author,
                    "created": moment(at, USERS[author].offset_minutes),
                    "items": items,
                }
            )
        return histories, status_times

    @staticmethod
    def _random_item(rng: random.Random) -> dict:
        roll = rng.randrange(5)
        if roll == 0:
            old, new = rng.sample(AGENTS, 2)
            return {
                "field": "assignee",
                "fieldtype": "jira",
                "fieldId": "assignee",
                "from": USERS[old].account_id,
                "fromString": USERS[old].display_name,
                "to": USERS[new].account_id,
                "toString": USERS[new].display_name,
                "tmpFromAccountId": USERS[old].account_id,
                "tmpToAccountId": USERS[new].account_id,
            }
        if roll == 1:
            old, new = rng.sample(("Low", "Medium", "High", "Highest"), 2)
            return {
                "field": "priority",
                "fieldtype": "jira",
                "fieldId": "priority",
                "from": None,
                "fromString": old,
                "to": None,
                "toString": new,
            }
        if roll == 2:
            return {
                "field": "labels",
                "fieldtype": "jira",
                "fieldId": "labels",
                "from": None,
                "fromString": "",
                "to": None,
                "toString": rng.choice(LABELS),
            }
        if roll == 3:
            options = FIELD_BY_ID["customfield_10100"].options
            old, new = rng.sample(options, 2)
            return {
                "field": "Severity",
                "fieldtype": "custom",
                "fieldId": "customfield_10100",
                "from": None,
                "fromString": old,
                "to": None,
                "toString": new,
            }
        return {
            "field": "Rank",
            "fieldtype": "custom",
            "fieldId": "customfield_10019",
            "from": "",
            "fromString": "",
            "to": "",
            "toString": "Ranked higher",
        }

    def _comments(
        self,
        index: int,
        rng: random.Random,
        state: dict,
        created_ms: int,
        updated_ms: int,
        sd: bool,
    ) -> list[dict]:
        count = rng.randint(12, 25) if rng.random() < 0.06 else rng.choice((0, 0, 1, 1, 2, 3, 5))
        times = sorted(
            created_ms + int(rng.random() * (updated_ms - created_ms)) for _ in range(count)
        )
        comments = []
        for n, at in enumerate(times):
            author = rng.choice(AGENTS + (state["reporter"],))
            edited = at + (rng.randint(60_000, 86_400_000) if rng.random() < 0.2 else 0)
            comment = {
                "id": str(COMMENT_ID_BASE + index * 64 + n),
                "author": author,
                "update_author": author,
                "body": adf.random_doc(rng, (1, 3)),
                "created": moment(at, USERS[author].offset_minutes),
                "updated": moment(min(edited, updated_ms), USERS[author].offset_minutes),
                "jsdPublic": (rng.random() < 0.7) if sd else True,
                "visibility": None,
            }
            if rng.random() < 0.15:
                comment["visibility"] = {
                    "type": "role",
                    "value": "Administrators",
                    "identifier": "Administrators",
                }
            comments.append(comment)
        return comments

    def _attachments(
        self, index: int, rng: random.Random, created_ms: int, updated_ms: int
    ) -> list[dict]:
        count = rng.choice((0, 0, 0, 1, 1, 2, 3))
        if index % 41 == 13:
            count = max(count, 1)
        attachments = []
        for n in range(count):
            hostile = rng.random() < 0.1 or (index % 19 == 4 and n == 0)
            filename = rng.choice(_HOSTILE_FILENAMES if hostile else _FILENAMES)
            large = index % 41 == 13 and n == 0
            size = (
                LARGE_ATTACHMENT_BYTES + rng.randint(1, 30_000_000)
                if large
                else rng.randint(64, 48_000)
            )
            author = rng.choice(AGENTS + CUSTOMERS)
            at = created_ms + int(rng.random() * (updated_ms - created_ms))
            attachments.append(
                {
                    "id": str(ATTACHMENT_ID_BASE + index * 8 + n),
                    "filename": filename,
                    "author": author,
                    "created": moment(at, USERS[author].offset_minutes),
                    "size": size,
                    "mimeType": mime_type(filename),
                }
            )
        return attachments

    def _remote_link_histories(
        self, index: int, state: dict, created_ms: int, updated_ms: int
    ) -> list[dict]:
        """Jira records every remote-link change in the history (``RemoteIssueLink``); the
        generated links were added just after creation, before any other change."""
        entries, at = [], created_ms + min(30_000, max(updated_ms - created_ms, 0) // 2)
        for n, link in enumerate(state["remote_links"]):
            author = AGENTS[mix(self.seed, index, n) % len(AGENTS)]
            entries.append(
                {
                    "id": str(HISTORY_ID_BASE + index * 512 + REMOTE_LINK_HISTORY_SLOT + n),
                    "author": author,
                    "created": moment(at + n, USERS[author].offset_minutes),
                    "items": [remote_link_item(None, link)],
                }
            )
        return entries

    def _remote_links(self, index: int, rng: random.Random) -> list[dict]:
        links = []
        for n in range(rng.choice((0, 0, 0, 1, 1, 2))):
            link_id = REMOTE_LINK_ID_BASE + index * 4 + n
            if rng.random() < 0.5:
                page = 100_000 + index * 4 + n
                links.append(
                    {
                        "id": link_id,
                        "globalId": f"appId=8e1c3a4b-3f6d-3b1e-9a7c-1f2e3d4c5b6a&pageId={page}",
                        "application": {"type": "com.atlassian.confluence", "name": "Confluence"},
                        "relationship": "Wiki Page",
                        "object": {
                            "url": f"https://wiki.example.com/pages/viewpage.action?pageId={page}",
                            "title": f"Runbook: {rng.choice(_SUBJECTS)}",
                            "summary": "Troubleshooting steps for on-call engineers",
                            "icon": {
                                "url16x16": "https://wiki.example.com/images/icons/"
                                "contenttypes/page_16.png",
                                "title": "Page",
                            },
                            "status": {"resolved": False, "icon": {}},
                        },
                    }
                )
            else:
                ts = 1_700_000_000 + index * 97 + n
                links.append(
                    {
                        "id": link_id,
                        "globalId": f"slack-C04SUPPORT-{ts}",
                        "application": {"type": "com.slack", "name": "Slack"},
                        "relationship": "mentioned in",
                        "object": {
                            "url": f"https://example.slack.com/archives/C04SUPPORT/p{ts}000100",
                            "title": "#support-escalations thread",
                            "icon": {"url16x16": "https://slack.com/favicon.ico", "title": "Slack"},
                            "status": {
                                "resolved": rng.random() < 0.5,
                                "icon": {
                                    "title": "Thread",
                                    "url16x16": "https://slack.com/favicon.ico",
                                    "link": f"https://example.slack.com/archives/C04SUPPORT/"
                                    f"p{ts}000100",
                                },
                            },
                        },
                    }
                )
        return links

    def _custom_values(self, index: int, rng: random.Random, state: dict, sd: bool) -> dict:
        def maybe(probability: float, value):
            return value if rng.random() < probability else None

        def option(field_id: str, probability: float) -> int | None:
            return maybe(probability, rng.randrange(len(FIELD_BY_ID[field_id].options)))

        def options(field_id: str, probability: float) -> list[int] | None:
            count = len(FIELD_BY_ID[field_id].options)
            return maybe(
                probability, sorted(rng.sample(range(count), rng.randint(1, min(2, count))))
            )

        done = state["resolution"] is not None or STATUS_BY_NAME[state["status"]].category == "done"
        values: dict = {
            "customfield_10000": "{}",
            "customfield_10019": f"0|i{index:05x}:",
            "customfield_10021": options("customfield_10021", 0.05),
            "customfield_10100": option("customfield_10100", 0.6),
            "customfield_10101": option("customfield_10101", 0.5),
            "customfield_10102": options("customfield_10102", 0.4),
            "customfield_10103": options("customfield_10103", 0.04),
            "customfield_10104": maybe(0.25, adf.random_doc(rng, (1, 2))),
            "customfield_10105": maybe(0.2, f"https://app.example.com/accounts/{index}"),
            "customfield_10106": maybe(
                0.2, f"https://example.slack.com/archives/C04SUPPORT/p{1_700_000_000 + index}000200"
            ),
            "customfield_10107": options("customfield_10107", 0.35),
            "customfield_10108": maybe(0.3, f"contact{index}@customer.example"),
            "customfield_10109": option("customfield_10109", 0.3),
            "customfield_10110": maybe(0.25, rng.choice(AGENTS)),
            "customfield_10111": maybe(0.2, rng.choice((1.0, 2.5, 3.0, 4.0, 5.0))),
        }
        if sd:
            values["customfield_10010"] = rng.randrange(len(REQUEST_TYPES))
            values["customfield_10002"] = maybe(0.6, [rng.randrange(len(ORGANIZATIONS))])
            values["customfield_10026"] = maybe(
                0.3, sorted(rng.sample(CUSTOMERS, rng.randint(1, 2)))
            )
            if done and rng.random() < 0.4:
                values["customfield_10027"] = rng.randint(1, 5)
                values["customfield_10028"] = state["resolutiondate"] + timedelta(
                    hours=rng.randint(1, 72)
                )
        else:
            values["customfield_10016"] = maybe(0.5, float(rng.choice((1, 2, 3, 5, 8, 13))))
        return {k: v for k, v in values.items() if v is not None}

    def _sla(
        self,
        index: int,
        rng: random.Random,
        state: dict,
        sd: bool,
        created_ms: int,
        updated_ms: int,
    ) -> list[dict] | None:
        """SLA metrics: None outside the service desk; an empty list for requests with no
        SLA; else ongoing/completed cycles, some breached (negative remaining time)."""
        if not sd:
            return None
        if rng.random() < 0.08:
            return []
        done = state["resolutiondate"] is not None
        hour = 3_600_000
        first_response = {
            "id": "2",
            "name": "Time to first response",
            "goal": 4 * hour,
            "cycles": [],
        }
        if state["comments"] or done or state["status"] != "Waiting for support":
            elapsed = rng.randint(5 * 60_000, 9 * hour)
            first_response["cycles"].append(
                {
                    "start": created_ms,
                    "stop": created_ms + elapsed,
                    "elapsed": elapsed,
                    "paused": False,
                }
            )
        else:
            first_response["cycles"].append(
                {
                    "start": created_ms,
                    "stop": None,
                    "elapsed": rng.randint(hour, 30 * hour),
                    "paused": False,
                }
            )
        goal = {"Highest": 8, "High": 24, "Medium": 48}.get(state["priority"], 80) * hour
        resolution = {"id": "1", "name": "Time to resolution", "goal": goal, "cycles": []}
        start = created_ms
        end = to_ms(state["resolutiondate"]) if done else updated_ms
        if rng.random() < 0.2 and end - start > 4 * hour:  # reopened once: an earlier cycle
            wall = rng.randint(hour, (end - start) // 2)
            elapsed = min(wall, rng.randint(hour // 2, goal * 2))
            resolution["cycles"].append(
                {"start": start, "stop": start + wall, "elapsed": elapsed, "paused": False}
            )
            start += wall + (end - start - wall) // 4
        if done:
            stop = max(end, start + 60_000)
            elapsed = min(stop - start, rng.randint(hour // 2, goal * 2))
            resolution["cycles"].append(
                {"start": start, "stop": stop, "elapsed": elapsed, "paused": False}
            )
        else:
            resolution["cycles"].append(
                {
                    "start": start,
                    "stop": None,
                    "elapsed": rng.randint(hour, goal * 2),
                    "paused": state["status"] == "Waiting for customer",
                }
            )
        return [resolution, first_response]


def remote_link_item(old: dict | None, new: dict | None) -> dict:
    """The changelog item Jira writes when a remote link is added, changed or removed."""

    def text(link: dict | None) -> str | None:
        if link is None:
            return None
        return f'This issue links to "{link["object"]["title"]} ({link["application"]["name"]})"'

    return {
        "field": "RemoteIssueLink",
        "fieldtype": "jira",
        "from": None if old is None else str(old["id"]),
        "fromString": text(old),
        "to": None if new is None else str(new["id"]),
        "toString": text(new),
    }


def mime_type(filename: str) -> str:
    return _MIME.get(filename.rsplit(".", 1)[-1].lower(), "application/octet-stream")
