"""Hourly reconciliation: webhooks are at-least-once in theory and sometimes never in
practice, so the issues Jira changed since the last reconciliation are searched and the
ones the store does not have current are refetched.

JQL date literals are read in the API account's time zone (up to ±14 h from UTC), so the
search starts a day before the watermark. The overlap costs search pages only: issues whose
stored ``updated`` matches are skipped by the backfill. The watermark moves only when every
issue was refreshed, so a failed hour is searched again next time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from jira_pipeline.ingest.backfill import BackfillSummary, backfill
from jira_pipeline.ingest.search import and_jql
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.atomic import atomic_write_bytes
from jira_pipeline.storage.paths import DataRoot

WATERMARK_FILE = "reconcile_watermark.json"
RECONCILE_OVERLAP = timedelta(days=1)


def read_watermark(root: DataRoot) -> datetime | None:
    """When the last fully successful reconciliation started (UTC), if any."""
    try:
        raw = orjson.loads((root.state_dir / WATERMARK_FILE).read_bytes())
        return datetime.fromisoformat(raw["started_at"]).astimezone(UTC)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_watermark(root: DataRoot, started_at: datetime) -> None:
    atomic_write_bytes(
        root.state_dir / WATERMARK_FILE,
        orjson.dumps({"started_at": started_at.astimezone(UTC).isoformat()}),
    )


def reconcile_jql(scope_jql: str, watermark: datetime | None, now: datetime) -> str:
    """``updated >=`` the watermark (or now, on the first run) minus the overlap."""
    since = (watermark or now) - RECONCILE_OVERLAP
    return and_jql(scope_jql, f'updated >= "{since.astimezone(UTC):%Y-%m-%d %H:%M}"')


def reconcile(
    jira: JiraClient,
    sla: JsmSlaClient | None,
    root: DataRoot,
    *,
    scope_jql: str = "",
    now: datetime | None = None,
) -> BackfillSummary:
    """Refetch what changed in Jira since the watermark; move the watermark on success.
    The caller upserts ``fetched + deleted`` into the tables."""
    started = now or datetime.now(UTC)
    jql = reconcile_jql(scope_jql, read_watermark(root), started)
    summary = backfill(jira, sla, root, jql=jql, progress=False)
    if summary.ok:
        write_watermark(root, started)
    return summary
