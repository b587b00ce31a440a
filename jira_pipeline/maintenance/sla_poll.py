"""SLA polling: SLA clocks run between webhooks, so open issues with SLA data get their
SLA records and ``status``/``resolution``/``resolutiondate``/``updated`` refreshed on a
schedule, 100 issues per request (the JSM account's bulk view carries both; search and
``/sla`` per issue only where that view is unavailable). When Jira is ahead of the store (resolved, or changed since we stored it: a
lost webhook), the issue is healed by a full refetch.

Each issue ends ``updated`` (stored JSON changed), ``healed`` (refetched), ``skipped``
(nothing changed, or Jira no longer returns it) or ``failed``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from jira_pipeline.ingest.fetch import refresh_issue
from jira_pipeline.ingest.runner import run_per_key
from jira_pipeline.ingest.search import keys_jql
from jira_pipeline.ingest.sla_overlay import (
    STATUS_FIELDS,
    SlaReader,
    read_slas,
    warn_no_sla_account,
)
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient, slas_from_fields
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import (
    is_tombstone,
    issue_updated,
    iter_issue_keys,
    load_issue,
    patch_issue,
)

log = logging.getLogger(__name__)
POLL_FIELDS = STATUS_FIELDS
SEARCH_BATCH = 100


@dataclass
class PollSummary:
    updated: list[str] = field(default_factory=list)
    healed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # why each key ended as it did
    dry_run: bool = False
    requests: int = 0
    seconds: float = 0.0
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def changed_keys(self) -> list[str]:
        """Keys whose raw JSON changed (would change, in a dry run): transform these."""
        return sorted(self.updated + self.healed)

    def lines(self, verbose: bool = False) -> list[str]:
        mode = " (dry run: nothing written)" if self.dry_run else ""
        lines = [
            f"poll-sla{mode}: {len(self.updated)} updated, {len(self.healed)} healed, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed; "
            f"{self.requests} requests in {self.seconds:.1f} s"
        ]
        if verbose:
            lines += [f"{key}: {reason}" for key, reason in sorted(self.reasons.items())]
        lines += [f"FAILED {key}: {reason}" for key, reason in sorted(self.failed.items())]
        if self.warning:
            lines.append(f"warning: {self.warning}")
        return lines


def is_done(issue: dict[str, Any] | None) -> bool:
    status = ((issue or {}).get("fields") or {}).get("status") or {}
    return (status.get("statusCategory") or {}).get("key") == "done"


def poll_candidates(root: DataRoot) -> list[str]:
    """Stored issues that are open, not tombstoned, and have SLA records."""
    keys = []
    for key in iter_issue_keys(root):
        stored = load_issue(root, key)
        if stored and not is_tombstone(stored) and not is_done(stored) and stored.get("_sla"):
            keys.append(key)
    return keys


def current_fields(jira: JiraClient, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The polled fields of ``keys`` as Jira has them now, by batched search."""
    found: dict[str, dict[str, Any]] = {}
    for offset in range(0, len(keys), SEARCH_BATCH):
        batch = keys[offset : offset + SEARCH_BATCH]
        wanted = set(batch)
        for issue in jira.iter_search_jql(keys_jql(batch), fields=POLL_FIELDS):
            if issue.get("key") in wanted:
                found[issue["key"]] = issue.get("fields") or {}
    return found


def poll_sla(
    jira: JiraClient,
    sla: JsmSlaClient | None,
    root: DataRoot,
    *,
    dry_run: bool = False,
    parallel: int = 8,
    progress: bool = False,
) -> PollSummary:
    """Refresh the SLA overlay and status fields of open SLA-bearing issues; heal the
    ones Jira has moved past. ``dry_run`` reads Jira but writes nothing."""
    if sla is None:
        return PollSummary(dry_run=dry_run, warning=warn_no_sla_account())
    started = time.monotonic()
    start_requests = jira.request_count + sla.request_count
    keys = poll_candidates(root)
    reader = SlaReader(jira, sla, root)
    view = reader.jsm_view(keys)  # status and SLA values, 100 issues per request
    current = {**current_fields(jira, [k for k in keys if k not in view]), **view}

    def step(key: str) -> tuple[str, str]:
        fresh = current.get(key)
        if fresh is None:
            return "skipped", "not returned by Jira (deleted or no permission)"
        stored = load_issue(root, key)
        jira_updated, stored_updated = issue_updated({"fields": fresh}), issue_updated(stored)
        if is_done({"fields": fresh}) and not is_done(stored):
            reason = "resolved in Jira, open in the store: refetched"
        elif jira_updated and stored_updated and jira_updated > stored_updated:
            reason = "changed in Jira since stored: refetched"
        else:
            fields = {name: fresh.get(name) for name in POLL_FIELDS}
            records = (
                slas_from_fields(fresh, reader.field_ids)
                if key in view
                else read_slas(sla, key, stored)
            )
            changed = patch_issue(root, key, fields=fields, sla=records, dry_run=dry_run)
            return ("updated", "SLA or status changed") if changed else ("skipped", "unchanged")
        if not dry_run and refresh_issue(key, jira, sla, root).status == "deleted":
            reason = "deleted in Jira meanwhile: tombstoned"
        return "healed", reason

    outcomes = run_per_key(keys, step, parallel=parallel, desc="poll-sla", progress=progress)
    summary = PollSummary(dry_run=dry_run, failed=outcomes.failed)
    for key, (status, reason) in sorted(outcomes.results.items()):
        getattr(summary, status).append(key)
        summary.reasons[key] = reason
    summary.requests = jira.request_count + sla.request_count - start_requests
    summary.seconds = time.monotonic() - started
    return summary
