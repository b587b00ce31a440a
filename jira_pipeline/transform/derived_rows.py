"""An issue's rows of the derived tables (``status_intervals``, ``issue_metrics``),
computed from the rows just built for it: its issues row, changelog, comment and
attachment rows, and its SLA records.

Being functions of one issue's rows, they are filed in the issue's month, written in the
same step and under the same month lock as its other rows, and come out identical from the
upsert and the rebuild. Nothing depends on the wall clock: clocks of an open issue stop at
``as_of``, the moment its raw file was fetched.

Status categories: the issue's current status carries its category
(``fields.status.statusCategory``), changelog items only a status name and id. A status
seen in the changelog gets the current status's category when it is the same status
(by id, else by name); else ``Done`` when the same changelog entry set a resolution;
else the category of Jira's and JSM's default statuses of that name; else ``To Do`` for
the issue's first status and ``In Progress`` for later ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jira_pipeline.core.dates import parse_jira_datetime
from jira_pipeline.transform.field_map import sla_outcome, sla_values

TO_DO, IN_PROGRESS, DONE = "To Do", "In Progress", "Done"
# Jira's and JSM's default workflow statuses, for statuses not seen as the current one.
DEFAULT_CATEGORIES = {
    **dict.fromkeys(("to do", "open", "new", "backlog", "reopened", "selected for development",
                     "waiting for support", "waiting for triage", "pending"), TO_DO),
    **dict.fromkeys(("in progress", "in review", "under review", "waiting for customer",
                     "waiting for approval", "escalated", "work in progress",
                     "awaiting implementation", "implementing"), IN_PROGRESS),
    **dict.fromkeys(("done", "closed", "resolved", "canceled", "cancelled", "declined",
                     "completed", "rejected"), DONE),
}
_SECOND = timedelta(seconds=1)
_C_ID, _C_ACCOUNT, _C_NAME = 0, 3, 5  # changelog row columns (see schemas.py)
_C_FIELD, _C_FIELD_ID, _C_FROM, _C_FROM_ID, _C_TO, _C_TO_ID, _C_AT = 6, 7, 9, 10, 11, 12, 13
_M_CREATED, _M_PUBLIC, _M_AUTHOR = 6, 9, 2  # comment row columns
_A_SIZE = 4  # attachment row column


def parse_moment(value: Any) -> datetime | None:
    """A Jira timestamp string as an aware UTC datetime; ``None`` when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return parse_jira_datetime(value)
    except (ValueError, TypeError, OverflowError):
        return None


class _Event:
    """One changelog entry of the issue: its moment and the items it changed."""

    __slots__ = ("change_id", "at", "text", "account", "name", "status", "assignee",
                 "resolution")

    def __init__(self, change_id: str, at: datetime, text: str, account: str | None,
                 name: str | None) -> None:
        self.change_id, self.at, self.text = change_id, at, text
        self.account, self.name = account, name
        self.status: tuple | None = None  # (from name, from id, to name, to id)
        self.assignee: tuple | None = None  # (from id, from name, to id, to name)
        self.resolution: tuple | None = None  # (from, to)


def _events(changelog: list[tuple], created: datetime, created_text: str) -> list[_Event]:
    """The entries that change status, assignee or resolution, in time order; moments are
    clamped so that none lies before ``created`` or before an earlier entry."""
    by_id: dict[str, _Event] = {}
    order: list[_Event] = []
    for row in changelog:
        field = row[_C_FIELD_ID] or row[_C_FIELD]
        if field not in ("status", "assignee", "resolution"):
            continue
        event = by_id.get(row[_C_ID])
        if event is None:
            at = parse_moment(row[_C_AT])
            if at is None:
                continue
            event = _Event(row[_C_ID], at, row[_C_AT], row[_C_ACCOUNT], row[_C_NAME])
            by_id[row[_C_ID]] = event
            order.append(event)
        if field == "status":
            event.status = (row[_C_FROM], row[_C_FROM_ID], row[_C_TO], row[_C_TO_ID])
        elif field == "assignee":
            event.assignee = (row[_C_FROM_ID], row[_C_FROM], row[_C_TO_ID], row[_C_TO])
        else:
            event.resolution = (row[_C_FROM_ID] or row[_C_FROM], row[_C_TO_ID] or row[_C_TO])
    order.sort(key=lambda e: (e.at, len(e.change_id), e.change_id))  # ids numerically
    last_at, last_text = created, created_text
    for event in order:
        if event.at < last_at:
            event.at, event.text = last_at, last_text
        last_at, last_text = event.at, event.text
    return order


def _category(name: str | None, status_id: str | None, issue: dict[str, Any],
              resolved_here: bool, first: bool) -> str:
    current = issue["status"]
    if (name is not None and current is not None and name.casefold() == current.casefold()
            and issue["status_category"]):
        return issue["status_category"]
    if resolved_here:
        return DONE
    known = DEFAULT_CATEGORIES.get((name or "").strip().casefold())
    if known:
        return known
    return TO_DO if first else IN_PROGRESS


def add_derived_rows(rows: dict[str, list], issue: dict[str, Any], changelog: list[tuple],
                     comments: list[tuple], attachments: list[tuple],
                     sla_records: list[tuple[str, Any]]) -> None:
    """Append the issue's ``status_intervals`` rows and its ``issue_metrics`` row.
    ``issue`` is its issues row, the lists its child rows; an issue without a readable
    ``created`` gets none (it is not filed under a month either)."""
    created_text = issue["created_at"]
    created = parse_moment(created_text)
    if created is None:
        return
    key = issue["issue_key"]
    events = _events(changelog, created, created_text)
    stays = _stays(issue, events, created_text)
    as_of, as_of_text = created, created_text  # the latest of created, the changes, the fetch
    if events and events[-1].at > as_of:
        as_of, as_of_text = events[-1].at, events[-1].text
    synced = parse_moment(issue["_synced_at"])
    if synced is not None and synced >= as_of:
        as_of, as_of_text = synced, issue["_synced_at"]

    in_category = dict.fromkeys((TO_DO, IN_PROGRESS, DONE), timedelta(0))
    reopens = 0
    out = rows["status_intervals"]
    seen_done = False
    for index, stay in enumerate(stays):
        name, status_id, category, at, text, assignee, by = stay
        nxt = stays[index + 1] if index + 1 < len(stays) else None
        left = nxt[3] if nxt else None
        reopen = seen_done and category != DONE
        reopens += reopen
        seen_done = seen_done or category == DONE
        if category in in_category:
            in_category[category] += (left or as_of) - at
        out.append((
            key, index, name, status_id, category, text, nxt[4] if nxt else None,
            (left - at) // _SECOND if left else None, assignee[0], assignee[1], by[0], by[1],
            reopen,
        ))

    assigned = _assignments(issue, events)
    first_assigned = next((t for t, who in assigned if who[0] or who[1]), None)
    last_assigned = next((t for t, who in reversed(assigned) if who[0] or who[1]), None)
    people = {who[0] or who[1] for _, who in assigned if who[0] or who[1]}
    resolved = [e.text for e in events if e.resolution and e.resolution[1]]
    if not resolved and issue["resolved_at"]:
        resolved = [issue["resolved_at"]]
    resolved_at = parse_moment(issue["resolved_at"])
    open_until = resolved_at if resolved_at is not None else as_of
    reporter = issue["reporter_account_id"]
    responses = [(parse_moment(c[_M_CREATED]), c[_M_CREATED]) for c in comments
                 if c[_M_PUBLIC] and (reporter is None or c[_M_AUTHOR] != reporter)]
    responses = [r for r in responses if r[0] is not None]
    public = sum(1 for c in comments if c[_M_PUBLIC])
    sla_columns: list[Any] = []
    for _, record in sla_records:
        _, goal, elapsed, _ = sla_values(record)
        sla_columns += [sla_outcome(record), _seconds(goal), _seconds(elapsed)]
    rows["issue_metrics"].append((
        key, created_text, as_of_text,
        min(responses)[1] if responses else None,
        first_assigned, last_assigned, len(people),
        resolved[0] if resolved else None, resolved[-1] if resolved else None,
        reopens, max(open_until - created, timedelta(0)) // _SECOND,
        in_category[TO_DO] // _SECOND, in_category[IN_PROGRESS] // _SECOND,
        in_category[DONE] // _SECOND,
        *sla_columns,
        public, len(comments) - public,
        sum(a[_A_SIZE] or 0 for a in attachments),
    ))


def _seconds(millis: int | None) -> int | None:
    return None if millis is None else millis // 1000


def _stays(issue: dict[str, Any], events: list[_Event], created_text: str) -> list[tuple]:
    """(status, status id, category, entered moment, entered text, assignee, entered by)
    of every stay, in order."""
    changes = [e for e in events if e.status]
    assignee = _initial_assignee(issue, events)
    stays: list[tuple] = []
    creator = (issue["creator_account_id"], issue["creator_name"])
    created = parse_moment(created_text)
    if changes and changes[0].status[0] is None and changes[0].status[1] is None:
        initial = None  # the first change sets the status the issue was created in
    elif changes:
        initial = (changes[0].status[0], changes[0].status[1])
    else:
        initial = (issue["status"], None)
    if initial is not None:
        category = _category(initial[0], initial[1], issue, False, True)
        stays.append((*initial, category, created, created_text, assignee, creator))
    for event in events:
        if event.assignee:
            assignee = (event.assignee[2], event.assignee[3])
        if not event.status:
            continue
        _, _, name, status_id = event.status
        resolved_here = bool(event.resolution and event.resolution[1])
        category = _category(name, status_id, issue, resolved_here, not stays)
        at, text = (event.at, event.text) if stays else (created, created_text)
        by = (event.account, event.name)
        stays.append((name, status_id, category, at, text, assignee, by))
    return stays


def _initial_assignee(issue: dict[str, Any], events: list[_Event]) -> tuple:
    """The assignee at creation: the ``from`` of the first assignee change, else the
    current assignee."""
    first = next((e.assignee for e in events if e.assignee), None)
    if first is not None:
        return (first[0], first[1])
    return (issue["assignee_account_id"], issue["assignee_name"])


def _assignments(issue: dict[str, Any], events: list[_Event]) -> list[tuple]:
    """(moment text, (account id, name)) of every assignment, the one at creation first."""
    found = [(issue["created_at"], _initial_assignee(issue, events))]
    found += [(e.text, (e.assignee[2], e.assignee[3])) for e in events if e.assignee]
    return found
