"""Place pending webhook events in month partitions.

An event names an issue by key, or (issue links) only by numeric ids. Its month is the UTC
month of the issue's ``created``: taken from the payload when the receiver saw it, else
from the raw store, else from a light Jira lookup. Events whose issues exist nowhere (deleted
before we ever stored them) have nothing to write and are reported as no-ops; events that
could not be placed because Jira was unreachable stay pending for the next tick."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from jira_pipeline.core.dates import month_of
from jira_pipeline.ingest.search import resolve_issue_ids
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.orchestration.jira_lookups import issue_fields
from jira_pipeline.storage.inbox import PendingEvent
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import load_issue

# Returns {issue id: key} for the ids Jira knows (missing ids: deleted or never existed).
ResolveIds = Callable[[list[str]], Mapping[str, str]]
# Returns the stored issue's month, or None when the raw store does not hold it.
MonthFromStore = Callable[[str], "str | None"]
# Returns {key: created timestamp} for the keys Jira still has.
LookupCreated = Callable[[list[str]], Mapping[str, str]]


@dataclass(frozen=True)
class MonthBatch:
    """The work of one month for one run: the issues to refresh, the events it covers."""

    month: str  # YYYY-MM, also the month's partition key
    issue_keys: tuple[str, ...]
    event_ids: tuple[str, ...]


@dataclass
class EventPlan:
    batches: dict[str, MonthBatch] = field(default_factory=dict)
    no_op_event_ids: list[str] = field(default_factory=list)
    unplaced_event_ids: list[str] = field(default_factory=list)


def plan_month_batches(
    events: Iterable[PendingEvent],
    *,
    month_from_store: MonthFromStore,
    resolve_ids: ResolveIds,
    lookup_created: LookupCreated,
    accept_month: Callable[[str], bool] = lambda month: True,
) -> EventPlan:
    """Group ``events`` by the month(s) of the issues they touch (an issue link can touch
    two months; its event then belongs to both batches and is done when both are).
    Months ``accept_month`` refuses (before the first partition) are out of scope: an
    event touching only such months is a no-op."""
    events = list(events)
    plan = EventPlan()
    keys_of, unplaced = _keys_of_events(events, resolve_ids)
    months = _months_of_keys(events, keys_of, month_from_store, lookup_created)
    keys_by_month: dict[str, set[str]] = defaultdict(set)
    events_by_month: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.event_id in unplaced:
            plan.unplaced_event_ids.append(event.event_id)
            continue
        keys = keys_of[event.event_id]
        if any(months.get(key) is _UNKNOWN for key in keys):
            plan.unplaced_event_ids.append(event.event_id)
            continue
        placed = [(key, months[key]) for key in keys if months.get(key)]
        placed = [(key, month) for key, month in placed if accept_month(month)]
        if not placed:
            plan.no_op_event_ids.append(event.event_id)
            continue
        for key, month in placed:
            keys_by_month[month].add(key)
            events_by_month[month].add(event.event_id)
    for month in sorted(keys_by_month):
        plan.batches[month] = MonthBatch(
            month=month,
            issue_keys=tuple(sorted(keys_by_month[month])),
            event_ids=tuple(sorted(events_by_month[month])),
        )
    return plan


_UNKNOWN = object()  # month lookup failed (Jira unreachable): try again next tick


def _keys_of_events(
    events: list[PendingEvent], resolve_ids: ResolveIds
) -> tuple[dict[str, list[str]], set[str]]:
    """Every event's issue keys, issue-link ids resolved. Returns (keys per event id,
    ids of events whose ids could not be resolved now)."""
    wanted = sorted({i for event in events for i in event.issue_ids})
    unplaced: set[str] = set()
    resolved: Mapping[str, str] = {}
    if wanted:
        try:
            resolved = resolve_ids(wanted)
        except Exception:  # Jira down or refusing: the id-only events wait for a later tick
            unplaced = {event.event_id for event in events if event.issue_ids}
    keys_of: dict[str, list[str]] = {}
    for event in events:
        keys = [event.issue_key] if event.issue_key else []
        keys += [resolved[i] for i in event.issue_ids if i in resolved]
        keys_of[event.event_id] = sorted(set(keys))
    return keys_of, unplaced


def _months_of_keys(
    events: list[PendingEvent],
    keys_of: Mapping[str, list[str]],
    month_from_store: MonthFromStore,
    lookup_created: LookupCreated,
) -> dict[str, object]:
    """Month of every key: payload ``created``, else raw store, else Jira. ``None`` means
    Jira no longer has the issue; ``_UNKNOWN`` means the lookup failed."""
    months: dict[str, object] = {}
    for event in events:
        if event.issue_key and event.created and event.issue_key not in months:
            try:
                months[event.issue_key] = month_of(event.created)
            except ValueError:
                continue
    missing = []
    for key in sorted({k for keys in keys_of.values() for k in keys} - months.keys()):
        stored = month_from_store(key)
        if stored:
            months[key] = stored
        else:
            missing.append(key)
    if missing:
        try:
            created = lookup_created(missing)
        except Exception:  # Jira unreachable: these events wait for a later tick
            created = None
        for key in missing:
            if created is None:
                months[key] = _UNKNOWN
            else:
                months[key] = month_of(created[key]) if created.get(key) else None
    return months


def month_from_raw_store(root: DataRoot) -> MonthFromStore:
    """Month of a stored issue (tombstones too: their rows must still be removed)."""

    def lookup(key: str) -> str | None:
        created = ((load_issue(root, key) or {}).get("fields") or {}).get("created")
        try:
            return month_of(created) if created else None
        except ValueError:
            return None

    return lookup


def jira_created_lookup(jira: JiraClient) -> LookupCreated:
    """``created`` of each key by a GET of that one field (404 → left out)."""

    def lookup(keys: list[str]) -> dict[str, str]:
        found = {}
        for key in keys:
            fields = (issue_fields(jira, key, "created") or {}).get("fields") or {}
            if fields.get("created"):
                found[key] = fields["created"]
        return found

    return lookup


def jira_id_resolver(jira: JiraClient) -> ResolveIds:
    return lambda ids: resolve_issue_ids(jira, ids)
