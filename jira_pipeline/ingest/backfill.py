"""Backfill: everything the scope JQL matches, into the raw store. Idempotent and
resumable: an issue whose stored copy is complete (same ``updated`` as Jira's search
result, SLA overlay present when there is an SLA account, attachments on disk) is
skipped, so a run killed half-way is finished by simply running it again."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from jira_pipeline.core.dates import parse_jira_datetime
from jira_pipeline.ingest.attachments import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    AttachmentCounts,
    attachments_complete,
)
from jira_pipeline.ingest.fetch import refresh_issues
from jira_pipeline.ingest.search import since_jql, valid_issues
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import is_tombstone, issue_updated, load_issue


@dataclass
class BackfillSummary:
    jql: str
    found: int = 0
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already current
    skipped_older: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    invalid_keys: list[str] = field(default_factory=list)  # in search results, skipped
    attachments: AttachmentCounts = field(default_factory=AttachmentCounts)
    requests: int = 0
    seconds: float = 0.0
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        """The human summary the CLI prints."""
        rate = len(self.fetched) / self.seconds if self.seconds else 0.0
        lines = [
            f"backfill of {self.jql!r}: {self.found} found, {len(self.fetched)} fetched, "
            f"{len(self.skipped)} skipped (current), {len(self.skipped_older)} kept (ours "
            f"newer), {len(self.deleted)} deleted, {len(self.failed)} failed",
            f"attachments: {self.attachments.downloaded} downloaded, "
            f"{self.attachments.present} present, {len(self.attachments.oversize)} over the "
            f"cap, {self.attachments.removed} removed",
            f"{self.requests} requests in {self.seconds:.1f} s ({rate:.1f} issues/s)",
        ]
        lines += [f"over the cap: {item}" for item in self.attachments.oversize]
        lines += [f"FAILED {key}: {reason}" for key, reason in sorted(self.failed.items())]
        lines += [f"skipped invalid issue key from search: {key}" for key in self.invalid_keys]
        if self.warning:
            lines.append(f"warning: {self.warning}")
        return lines


def is_current(
    stored: dict[str, Any] | None,
    updated: str | None,
    *,
    need_sla: bool,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    root: DataRoot,
) -> bool:
    """True when the stored issue needs no fetch: same ``updated`` as Jira says, and
    complete (SLA overlay when expected, attachment files present)."""
    if stored is None or is_tombstone(stored):
        return False
    fresh = parse_jira_datetime(updated)
    if fresh is None or issue_updated(stored) != fresh:
        return False
    if need_sla and "_sla" not in stored:
        return False
    return attachments_complete(root, stored, max_bytes=max_bytes)


def backfill(
    jira: JiraClient,
    sla: JsmSlaClient | None,
    root: DataRoot,
    *,
    jql: str,
    parallel: int = 8,
    since: str | None = None,
    force: bool = False,
    progress: bool = True,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    bulk: bool = True,
) -> BackfillSummary:
    """Fetch every issue ``jql`` matches (created in ``since`` = ``YYYY-MM`` or later)
    that is not already current in the store (all of them with ``force``); ``bulk=False``
    reads them one by one, as the seed did."""
    if not jql.strip():
        raise ValueError(
            "backfill needs a scope: set JIRA_JQL or pass --jql (Jira refuses unbounded searches)"
        )
    query = since_jql(since, jql) if since else jql
    started = time.monotonic()
    start_requests = jira.request_count + (sla.request_count if sla else 0)
    summary = BackfillSummary(jql=query)
    listing: dict[str, str | None] = {}
    found = valid_issues(jira.iter_search_jql(query, fields=("updated",)), summary.invalid_keys)
    for issue in tqdm(found, desc="searching", unit="issue", disable=not progress):
        listing[issue["key"]] = (issue.get("fields") or {}).get("updated")
    summary.found = len(listing)
    stale = []
    for key, updated in listing.items():
        current = not force and is_current(
            load_issue(root, key),
            updated,
            need_sla=sla is not None,
            max_bytes=max_bytes,
            root=root,
        )
        (summary.skipped if current else stale).append(key)
    result = refresh_issues(
        stale,
        jira,
        sla,
        root,
        parallel=parallel,
        max_bytes=max_bytes,
        progress=progress,
        bulk=bulk,
        recheck_links=force,
    )
    summary.fetched, summary.skipped_older = result.fetched, result.skipped_older
    summary.deleted, summary.attachments = result.deleted, result.attachments
    summary.failed.update(result.failed)
    summary.warning = result.warning
    summary.requests = jira.request_count + (sla.request_count if sla else 0) - start_requests
    summary.seconds = time.monotonic() - started
    return summary
