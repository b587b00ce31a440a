"""The SLA overlay: JSM's SLA records merged into the stored raw JSON as ``_sla``.

Without an SLA account (``JIRA_SLA_*`` unset) there is nothing to overlay: that is a
warning in the run, not a failure, and the SLA columns stay empty."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jira_pipeline.ingest.runner import run_per_key
from jira_pipeline.jira.keys import require_issue_key
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import is_tombstone, load_issue, patch_issue

log = logging.getLogger(__name__)
NO_SLA_ACCOUNT = (
    "no JSM SLA account configured (JIRA_SLA_EMAIL, JIRA_SLA_API_TOKEN, JIRA_CLOUD_ID): "
    "SLA data not refreshed"
)


def warn_no_sla_account() -> str:
    log.warning(NO_SLA_ACCOUNT)
    return NO_SLA_ACCOUNT


def may_have_slas(issue: dict[str, Any] | None) -> bool:
    """Only service-desk projects have SLAs; asking JSM about others is a wasted 404."""
    project = ((issue or {}).get("fields") or {}).get("project") or {}
    return project.get("projectTypeKey", "service_desk") == "service_desk"


def read_slas(sla: JsmSlaClient, key: str, issue: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The SLA records of ``key``; ``[]`` when JSM has none (not a service-desk request)."""
    records = sla.get_slas(key) if may_have_slas(issue) else None
    return records if records is not None else []


@dataclass
class SlaSummary:
    overlaid: list[str] = field(default_factory=list)  # stored ``_sla`` changed
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not stored, or tombstoned
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def overlay_sla(
    keys: Iterable[str],
    sla_client: JsmSlaClient | None,
    root: DataRoot,
    *,
    parallel: int = 8,
    progress: bool = False,
) -> SlaSummary:
    """Fetch the SLAs of the stored issues ``keys`` and merge them in, under each
    issue's lock (a concurrent refetch of the issue keeps the overlay)."""
    if sla_client is None:
        return SlaSummary(warning=warn_no_sla_account())
    start = sla_client.request_count

    def step(key: str) -> str:
        stored = load_issue(root, require_issue_key(key))
        if stored is None or is_tombstone(stored):
            return "skipped"
        changed = patch_issue(root, key, sla=read_slas(sla_client, key, stored))
        return "overlaid" if changed else "unchanged"

    outcomes = run_per_key(keys, step, parallel=parallel, desc="SLA", progress=progress)
    summary = SlaSummary(failed=outcomes.failed)
    for key, status in outcomes.results.items():
        getattr(summary, status).append(key)
    summary.requests = sla_client.request_count - start
    return summary
