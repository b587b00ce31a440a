"""The SLA overlay: JSM's SLA records merged into the stored raw JSON as ``_sla``.

Without an SLA account (``JIRA_SLA_*`` unset) there is nothing to overlay: that is a
warning in the run, not a failure, and the SLA columns stay empty."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jira_pipeline.core.keys import is_valid_issue_key, require_issue_key
from jira_pipeline.ingest.runner import run_per_key
from jira_pipeline.jira.client import BULK_ISSUES, BulkUnavailable, JiraClient
from jira_pipeline.jira.sla import JsmSlaClient, sla_field_ids, slas_from_fields
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import (
    is_tombstone,
    load_field_list,
    load_issue,
    patch_issue,
    save_field_list,
)

log = logging.getLogger(__name__)
STATUS_FIELDS = ("status", "resolution", "resolutiondate", "updated")
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


def issue_field_list(jira: JiraClient | None, root: DataRoot) -> list[dict[str, Any]]:
    """The cached field list (``GET /field`` once when the store has none and there is
    a client to ask; else empty)."""
    fields = load_field_list(root)
    if fields is None and jira is not None:
        fields = jira.get_fields()
        save_field_list(root, fields)
    return fields or []


class SlaReader:
    """SLA records for many issues at once, with the fewest requests: none for issues
    outside the service desk or whose own JSON carries SLA values, none either for
    issues of a project where the API account has been shown SLA values (its empty SLA
    fields then mean no SLA, not "not shown"), one JSM bulk view per 100 others, and
    ``/request/{key}/sla`` only for issues that view leaves out."""

    def __init__(self, jira: JiraClient | None, sla: JsmSlaClient | None, root: DataRoot) -> None:
        self.jira, self.sla, self.root = jira, sla, root
        self._field_ids: list[str] | None = None
        self._lock = threading.Lock()
        self._projects_shown: set[str] = set()  # the API account saw SLA values there

    @property
    def field_ids(self) -> list[str]:
        with self._lock:
            if self._field_ids is None:
                self._field_ids = sla_field_ids(issue_field_list(self.jira, self.root))
            return self._field_ids

    def records(self, issues: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]] | None]:
        """``{key: SLA records}`` (``None`` for every key without an SLA account: keep
        the stored overlay)."""
        if self.sla is None:
            return {issue["key"]: None for issue in issues}
        found: dict[str, list[dict[str, Any]] | None] = {}
        ask = []
        ids = self.field_ids
        shown = {i["key"]: _project_key(i) for i in issues
                 if any((i.get("fields") or {}).get(f) is not None for f in ids)}
        with self._lock:
            self._projects_shown |= set(shown.values()) - {None}
            projects_shown = set(self._projects_shown)
        for issue in issues:
            fields = issue.get("fields") or {}
            if not may_have_slas(issue):
                found[issue["key"]] = []
            elif issue["key"] in shown or _project_key(issue) in projects_shown:
                found[issue["key"]] = slas_from_fields(fields, ids)
            else:
                ask.append(issue)
        for view_key, fields in self.jsm_view([i["key"] for i in ask]).items():
            found[view_key] = slas_from_fields(fields, ids)
        for issue in ask:
            if issue["key"] not in found:
                found[issue["key"]] = read_slas(self.sla, issue["key"], issue)
        return found

    def jsm_view(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """SLA and status fields of ``keys`` as the JSM account sees them, 100 a request;
        ``{}`` when there are no SLA fields or the site has no bulk endpoint."""
        if self.sla is None or not keys or not self.field_ids:
            return {}
        view: dict[str, dict[str, Any]] = {}
        for offset in range(0, len(keys), BULK_ISSUES):
            try:
                view.update(
                    self.sla.bulk_view(
                        keys[offset : offset + BULK_ISSUES], [*self.field_ids, *STATUS_FIELDS]
                    )
                )
            except BulkUnavailable:
                return view
        return view


def _project_key(issue: dict[str, Any]) -> str | None:
    return (((issue.get("fields") or {}).get("project")) or {}).get("key")


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
    reader = SlaReader(None, sla_client, root)
    known: dict[str, list[dict[str, Any]] | None] = {}
    batch: list[dict[str, Any]] = []
    for key in dict.fromkeys(keys):  # SLA values of the stored issues, 100 per request
        stored = load_issue(root, key) if is_valid_issue_key(key) else None
        if stored is not None and not is_tombstone(stored):
            batch.append(stored)
        if len(batch) == BULK_ISSUES:
            known.update(reader.records(batch))
            batch = []
    known.update(reader.records(batch) if batch else {})

    def step(key: str) -> str:
        stored = load_issue(root, require_issue_key(key))
        if stored is None or is_tombstone(stored):
            return "skipped"
        records = known.get(key)
        if records is None:  # stored after the bulk read above
            records = read_slas(sla_client, key, stored)
        changed = patch_issue(root, key, sla=records)
        return "overlaid" if changed else "unchanged"

    outcomes = run_per_key(keys, step, parallel=parallel, desc="SLA", progress=progress)
    summary = SlaSummary(failed=outcomes.failed)
    for key, status in outcomes.results.items():
        getattr(summary, status).append(key)
    summary.requests = sla_client.request_count - start
    return summary
