"""What one month partition's run does, step by step, as plain functions.

A run is handed issue keys (webhook path: just those) or none (the whole month from Jira,
which is what a UI materialization or a backfill does). The steps pass a
:class:`MonthScope` along: the month, the keys in play, whether it is the whole month, and
the keys that failed so far (later steps skip them; the run fails at the end so the
sensor retries their events, while every other issue of the batch is still written)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from jira_pipeline.core.keys import is_valid_issue_key, require_issue_key
from jira_pipeline.ingest.attachments import AttachmentSummary, download_attachments
from jira_pipeline.ingest.fetch import FetchSummary, fetch_issues
from jira_pipeline.ingest.search import search_month_keys
from jira_pipeline.ingest.sla_overlay import SlaSummary, overlay_sla
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.paths import DataRoot, check_month
from jira_pipeline.storage.raw_store import (
    FIELD_LIST_FILE,
    is_tombstone,
    load_issue,
    save_field_list,
)


@dataclass(frozen=True)
class MonthScope:
    """The issues one month run works on, handed from step to step."""

    month: str
    issue_keys: tuple[str, ...]
    whole_month: bool
    failed: dict[str, str] = field(default_factory=dict)  # key -> reason, first failure kept
    # Issues linked to the ones above (any month): their issuelinks rows show the linked
    # issue's summary and status, so they are refetched and rewritten too.
    neighbour_keys: tuple[str, ...] = ()
    # Keys in the month's search results that are not issue keys: skipped, and reported.
    invalid_search_keys: tuple[str, ...] = ()

    @property
    def live_keys(self) -> list[str]:
        """Keys still worth the next step (not failed so far)."""
        return [k for k in self.issue_keys if k not in self.failed]

    @property
    def table_keys(self) -> list[str]:
        """Keys whose rows the tables step rewrites."""
        return sorted(set(self.live_keys) | {k for k in self.neighbour_keys if k not in self.failed})

    def with_failures(self, failed: dict[str, str]) -> MonthScope:
        return replace(self, failed={**failed, **self.failed})


@dataclass
class StepReport:
    """Figures every materialization reports."""

    issues_touched: int
    jira_requests: int
    duration_s: float
    path: Path
    bytes: int
    counts: dict[str, int]

    def metadata(self) -> dict[str, object]:
        return {
            "issues_touched": self.issues_touched,
            "jira_requests": self.jira_requests,
            "duration_s": round(self.duration_s, 3),
            "path": str(self.path),
            "bytes": self.bytes,
            **self.counts,
        }


FIELD_LIST_MAX_AGE_S = 24 * 3600


def refresh_field_list(jira: JiraClient, root: DataRoot) -> bool:
    """Cache ``GET /field`` (custom field names → columns) when missing or a day old, so
    a new site custom field reaches the tables without anyone remembering to refresh."""
    path = root.state_dir / FIELD_LIST_FILE
    try:
        if time.time() - path.stat().st_mtime < FIELD_LIST_MAX_AGE_S:
            return False
    except FileNotFoundError:
        pass
    save_field_list(root, jira.get_fields())
    return True


def _partners(issue: dict | None) -> set[str]:
    """Keys of the issues ``issue`` links to, either way."""
    return {_linked_key(link) for link in _links(issue)} - {None}


def _links(issue: dict | None) -> list[dict]:
    links = ((issue or {}).get("fields") or {}).get("issuelinks") or []
    return [link for link in links if isinstance(link, dict)]


def _other_end(link: dict) -> dict:
    """The linked issue as a link shows it (``inwardIssue`` or ``outwardIssue``)."""
    other = link.get("inwardIssue") or link.get("outwardIssue")
    return other if isinstance(other, dict) else {}


def _linked_key(link: dict) -> str | None:
    key = _other_end(link).get("key")
    return key if is_valid_issue_key(key) else None


def _shown(fields: object) -> tuple:
    """What a partner's issuelinks row shows of a linked issue: summary, status, priority."""
    fields = fields if isinstance(fields, dict) else {}
    return (
        fields.get("summary"),
        (fields.get("status") or {}).get("name"),
        (fields.get("priority") or {}).get("name"),
    )


def _shows_current(partner_key: str, partner: dict, key: str, issue: dict) -> bool:
    """Whether ``partner``'s stored links agree with the stored ``issue`` (``key``): no link
    to it when it is deleted or no longer links back, else a link showing its current
    summary, status and priority."""
    towards = [link for link in _links(partner) if _linked_key(link) == key]
    if is_tombstone(issue) or partner_key not in _partners(issue):
        return not towards
    mine = _shown(issue.get("fields"))
    return bool(towards) and all(_shown(_other_end(link).get("fields")) == mine for link in towards)


def link_partners(root: DataRoot, keys: Iterable[str]) -> dict[str, set[str]]:
    """``{key: partners}`` of the stored issues, taken before a fetch: a link removed by the
    fetch still names the partner whose rows show it."""
    return {key: _partners(load_issue(root, key)) for key in keys}


def stale_partners(
    root: DataRoot, keys: Iterable[str], earlier: dict[str, set[str]] | None = None
) -> set[str]:
    """Stored link partners (now, or ``earlier``) of the stored ``keys`` whose own stored
    copy shows them differently: a changed summary, status or priority, a link that came or
    went, or a deleted issue (Jira removes its links without a webhook for the partner).

    Judged from the raw store as it is, not from what a fetch changed: when refetching a
    partner fails and the run is retried, the retry finds the same partners stale again."""
    keys = set(keys)
    stale = set()
    for key in sorted(keys):
        issue = load_issue(root, key)
        if issue is None:
            continue
        for name in (_partners(issue) | (earlier or {}).get(key, set())) - keys - stale:
            partner = load_issue(root, name)
            live = partner is not None and not is_tombstone(partner)
            if live and not _shows_current(name, partner, key, issue):
                stale.add(name)
    return stale


def _raw_bytes(root: DataRoot, keys: Iterable[str]) -> int:
    total = 0
    for key in keys:
        try:
            total += root.issue_file(key).stat().st_size
        except OSError:
            continue
    return total


def fetch_month_issues(
    month: str,
    issue_keys: Iterable[str],
    jira: JiraClient,
    root: DataRoot,
    *,
    scope_jql: str = "",
    parallel: int = 8,
) -> tuple[MonthScope, FetchSummary, StepReport]:
    """Step 1: GET the issues into the raw store (a 404 tombstones). No keys → every
    issue Jira has for the month within ``scope_jql``."""
    started = time.monotonic()
    month = check_month(month)
    keys = sorted({require_issue_key(k) for k in issue_keys})
    whole_month = not keys
    search_requests = jira.request_count
    refresh_field_list(jira, root)
    invalid: list[str] = []
    if whole_month:
        keys = sorted(search_month_keys(jira, month, scope_jql, invalid))
    search_requests = jira.request_count - search_requests
    earlier = {} if whole_month else link_partners(root, keys)
    summary = fetch_issues(keys, jira, root, parallel=parallel)
    neighbours: list[str] = []
    if not whole_month:  # partners showing an old summary, status, link or a deleted issue
        neighbours = sorted(stale_partners(root, keys, earlier))
        linked = fetch_issues(neighbours, jira, root, parallel=parallel)
        summary.failed.update(linked.failed)
        summary.requests += linked.requests
    scope = MonthScope(
        month,
        tuple(keys),
        whole_month,
        neighbour_keys=tuple(neighbours),
        invalid_search_keys=tuple(invalid),
    )
    scope = scope.with_failures(summary.failed)
    report = StepReport(
        issues_touched=len(keys),
        jira_requests=summary.requests + search_requests,
        duration_s=time.monotonic() - started,
        path=root.issues_dir,
        bytes=_raw_bytes(root, keys),
        counts={
            "linked_refetched": len(neighbours),
            "fetched": len(summary.fetched),
            "deleted": len(summary.deleted),
            "skipped_older": len(summary.skipped_older),
            "failed": len(summary.failed),
            "invalid_keys_skipped": len(invalid),
        },
    )
    return scope, summary, report


def overlay_month_sla(
    scope: MonthScope, sla: JsmSlaClient | None, root: DataRoot
) -> tuple[MonthScope, SlaSummary, StepReport]:
    """Step 2: merge the JSM SLA records into the stored issues (skipped, with a warning,
    when no SLA account is configured)."""
    started = time.monotonic()
    keys = scope.live_keys
    summary = overlay_sla(keys, sla, root)
    report = StepReport(
        issues_touched=len(keys),
        jira_requests=summary.requests,
        duration_s=time.monotonic() - started,
        path=root.issues_dir,
        bytes=_raw_bytes(root, summary.overlaid),
        counts={
            "overlaid": len(summary.overlaid),
            "unchanged": len(summary.unchanged),
            "skipped": len(summary.skipped),
            "failed": len(summary.failed),
        },
    )
    return scope.with_failures(summary.failed), summary, report


def sync_month_attachments(
    scope: MonthScope, jira: JiraClient, root: DataRoot
) -> tuple[MonthScope, AttachmentSummary, StepReport]:
    """Step 3: bring each issue's attachment files in line with its attachment list."""
    started = time.monotonic()
    keys = scope.live_keys
    summary = download_attachments(keys, jira, root)
    size = 0
    for key in keys:
        folder = root.issue_attachments_dir(key)
        if folder.is_dir():
            size += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    report = StepReport(
        issues_touched=len(keys),
        jira_requests=summary.requests,
        duration_s=time.monotonic() - started,
        path=root.attachments_dir,
        bytes=size,
        counts={
            "downloaded": summary.downloaded,
            "present": summary.present,
            "oversize": len(summary.oversize),
            "removed": summary.removed,
            "failed": len(summary.failed),
        },
    )
    return scope.with_failures(summary.failed), summary, report


def describe_failures(failed: dict[str, str], limit: int = 20) -> str:
    """A readable, bounded list of per-issue failures for the run's error message."""
    lines = [f"{key}: {reason}" for key, reason in sorted(failed.items())[:limit]]
    more = len(failed) - limit
    return "\n".join(lines + ([f"… and {more} more"] if more > 0 else []))
