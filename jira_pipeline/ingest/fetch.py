"""Fetching issues into the raw store. One issue is one unit of work: the issue (complete
changelog), its remote links and, with an SLA account, its SLAs, stored in one atomic
write; then its attachment files. A 404 tombstones the issue; a key Jira answers under
another key (the issue moved projects) is tombstoned and the issue stored under its new
key. Many issues are read in bulk (``ingest.bulk``); ``bulk=False`` is the per-issue path
(``GET /issue/{key}``, ``/remotelink``, ``/sla`` each), which stores the same records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from jira_pipeline.core.keys import require_issue_key
from jira_pipeline.ingest.attachments import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    AttachmentCounts,
    AttachmentError,
    sync_issue_attachments,
)
from jira_pipeline.ingest.bulk import refresh_in_bulk
from jira_pipeline.ingest.runner import Outcomes, run_per_key
from jira_pipeline.ingest.sla_overlay import read_slas, warn_no_sla_account
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import save_issue, tombstone_issue


@dataclass(frozen=True)
class IssueResult:
    """``fetched`` (stored), ``older`` (Jira's copy is older than ours: kept ours) or
    ``deleted`` (404, or moved to ``moved_to``: tombstoned)."""

    status: str
    attachments: AttachmentCounts | None = None
    moved_to: str | None = None


def store_issue(
    root: DataRoot,
    issue: dict,
    links: list | None,
    records: list | None,
    *,
    force: bool = False,
) -> IssueResult:
    """One atomic write of the issue with its overlays (``None`` keeps the stored one)."""
    if not save_issue(root, issue, remote_links=links, sla=records, force=force).written:
        return IssueResult("older")
    return IssueResult("fetched")


def sync_files(
    key: str, issue: dict, jira: JiraClient, root: DataRoot, max_bytes: int
) -> IssueResult:
    """The attachment files of a stored issue; any failure raises (the issue is retried)."""
    counts = sync_issue_attachments(key, issue, jira, root, max_bytes=max_bytes)
    if counts.errors:
        raise AttachmentError("; ".join(counts.errors))
    return IssueResult("fetched", counts)


def refresh_issue(
    key: str,
    jira: JiraClient,
    sla: JsmSlaClient | None,
    root: DataRoot,
    *,
    force: bool = False,
    attachments: bool = True,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> IssueResult:
    """Fetch and store one issue with its overlays (and attachments). Raises on failure;
    nothing half-done is left that a later run would mistake for complete."""
    key = require_issue_key(key)
    issue = jira.get_issue(key)
    if issue is None:
        tombstone_issue(root, key)
        return IssueResult("deleted")
    current = issue["key"]
    links = jira.get_remote_links(current)
    records = read_slas(sla, current, issue) if sla is not None else None
    result = store_issue(root, issue, links, records, force=force)
    if result.status == "fetched" and attachments:
        result = sync_files(current, issue, jira, root, max_bytes)
    if current != key:  # moved: the old key is gone from Jira
        tombstone_issue(root, key)
        return IssueResult("deleted", result.attachments, moved_to=current)
    return result


@dataclass
class FetchSummary:
    fetched: list[str] = field(default_factory=list)
    skipped_older: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # 404: deleted or no permission
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def changed_keys(self) -> list[str]:
        """Keys whose raw JSON was (re)written or tombstoned: what the transform upserts."""
        return sorted(self.fetched + self.deleted)


@dataclass
class RefreshSummary(FetchSummary):
    attachments: AttachmentCounts = field(default_factory=AttachmentCounts)
    warning: str | None = None


def _sort(outcomes: Outcomes[IssueResult], summary: FetchSummary) -> None:
    summary.failed.update(outcomes.failed)
    buckets = {
        "fetched": summary.fetched,
        "older": summary.skipped_older,
        "deleted": summary.deleted,
    }
    for key, result in sorted(outcomes.results.items()):
        buckets[result.status].append(key)
        if result.moved_to is not None:
            summary.fetched.append(result.moved_to)
    summary.fetched[:] = sorted(set(summary.fetched))


def fetch_issues(
    keys: Iterable[str],
    jira: JiraClient,
    root: DataRoot,
    *,
    force: bool = False,
    parallel: int = 8,
    progress: bool = False,
    bulk: bool = True,
) -> FetchSummary:
    """Read each issue (+ remote links) and store it; the stored SLA overlay is kept.
    ``force`` writes even over a stored copy that claims to be newer."""
    start = jira.request_count
    outcomes = _read(
        keys,
        jira,
        None,
        root,
        force=force,
        attachments=False,
        max_bytes=DEFAULT_MAX_ATTACHMENT_BYTES,
        parallel=parallel,
        progress=progress,
        bulk=bulk,
    )
    summary = FetchSummary()
    _sort(outcomes, summary)
    summary.requests = jira.request_count - start
    return summary


def refresh_issues(
    keys: Iterable[str],
    jira: JiraClient,
    sla: JsmSlaClient | None,
    root: DataRoot,
    *,
    parallel: int = 8,
    force: bool = False,
    attachments: bool = True,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    progress: bool = False,
    bulk: bool = True,
    recheck_links: bool = False,
) -> RefreshSummary:
    """Issue, remote links, SLA overlay and attachment files for each key, as one unit
    per issue (so a killed run never leaves an issue that looks complete but is not).
    ``recheck_links`` reads the remote links of every issue that ever had any."""
    summary = RefreshSummary(warning=None if sla is not None else warn_no_sla_account())
    start = jira.request_count + (sla.request_count if sla else 0)
    outcomes = _read(
        keys,
        jira,
        sla,
        root,
        force=force,
        attachments=attachments,
        max_bytes=max_bytes,
        parallel=parallel,
        progress=progress,
        bulk=bulk,
        recheck_links=recheck_links,
    )
    _sort(outcomes, summary)
    for result in outcomes.results.values():
        if result.attachments is not None:
            summary.attachments.add(result.attachments)
    summary.requests = jira.request_count + (sla.request_count if sla else 0) - start
    return summary


def _read(
    keys: Iterable[str],
    jira: JiraClient,
    sla: JsmSlaClient | None,
    root: DataRoot,
    *,
    force: bool,
    attachments: bool,
    max_bytes: int,
    parallel: int,
    progress: bool,
    bulk: bool,
    recheck_links: bool = False,
) -> Outcomes[IssueResult]:
    """Every key through the bulk path (``bulk``) or the per-issue path."""

    def one_by_one(key: str) -> IssueResult:
        return refresh_issue(
            key, jira, sla, root, force=force, attachments=attachments, max_bytes=max_bytes
        )

    if not bulk:
        return run_per_key(keys, one_by_one, parallel=parallel, desc="issues", progress=progress)
    return refresh_in_bulk(
        keys,
        jira,
        sla,
        root,
        per_issue=one_by_one,
        store=lambda key, issue, links, records: store_issue(
            root, issue, links, records, force=force
        ),
        attach=(lambda key, issue, _: sync_files(key, issue, jira, root, max_bytes))
        if attachments
        else None,
        recheck_links=recheck_links,
        parallel=parallel,
        progress=progress,
    )
