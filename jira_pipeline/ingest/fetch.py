"""Fetching issues into the raw store. One issue is one unit of work: GET the issue
(complete changelog), its remote links and, with an SLA account, its SLAs; store all of
it in one atomic write; then sync its attachment files. A 404 tombstones the issue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from jira_pipeline.ingest.attachments import (
    AttachmentCounts,
    AttachmentError,
    sync_issue_attachments,
)
from jira_pipeline.ingest.runner import Outcomes, run_per_key
from jira_pipeline.ingest.sla_overlay import read_slas, warn_no_sla_account
from jira_pipeline.jira.client import DEFAULT_MAX_ATTACHMENT_BYTES, JiraClient
from jira_pipeline.jira.keys import require_issue_key
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import save_issue, tombstone_issue


@dataclass(frozen=True)
class IssueResult:
    """``fetched`` (stored), ``older`` (Jira's copy is older than ours: kept ours) or
    ``deleted`` (404: tombstoned)."""

    status: str
    attachments: AttachmentCounts | None = None


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
    links = jira.get_remote_links(key)
    records = read_slas(sla, key, issue) if sla is not None else None
    if not save_issue(root, issue, remote_links=links, sla=records, force=force).written:
        return IssueResult("older")
    counts = None
    if attachments:
        counts = sync_issue_attachments(key, issue, jira, root, max_bytes=max_bytes)
        if counts.errors:
            raise AttachmentError("; ".join(counts.errors))
    return IssueResult("fetched", counts)


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


def fetch_issues(
    keys: Iterable[str],
    jira: JiraClient,
    root: DataRoot,
    *,
    force: bool = False,
    parallel: int = 8,
    progress: bool = False,
) -> FetchSummary:
    """GET each issue (+ remote links) and store it; the stored SLA overlay is kept.
    ``force`` writes even over a stored copy that claims to be newer."""
    start = jira.request_count
    outcomes = run_per_key(
        keys,
        lambda key: refresh_issue(key, jira, None, root, force=force, attachments=False),
        parallel=parallel,
        desc="issues",
        progress=progress,
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
) -> RefreshSummary:
    """Issue, remote links, SLA overlay and attachment files for each key, as one unit
    per issue (so a killed run never leaves an issue that looks complete but is not)."""
    summary = RefreshSummary(warning=None if sla is not None else warn_no_sla_account())
    start = jira.request_count + (sla.request_count if sla else 0)
    outcomes = run_per_key(
        keys,
        lambda key: refresh_issue(
            key, jira, sla, root, force=force, attachments=attachments, max_bytes=max_bytes
        ),
        parallel=parallel,
        desc="issues",
        progress=progress,
    )
    _sort(outcomes, summary)
    for result in outcomes.results.values():
        if result.attachments is not None:
            summary.attachments.add(result.attachments)
    summary.requests = jira.request_count + (sla.request_count if sla else 0) - start
    return summary
