"""Everything that pulls from Jira into the raw store, as plain functions returning small
summaries: the Dagster assets and the ``jira-pipeline`` commands both call these."""

from jira_pipeline.ingest.attachments import AttachmentSummary, download_attachments
from jira_pipeline.ingest.backfill import BackfillSummary, backfill
from jira_pipeline.ingest.fetch import (
    FetchSummary,
    RefreshSummary,
    fetch_issues,
    refresh_issue,
    refresh_issues,
)
from jira_pipeline.ingest.search import (
    resolve_issue_ids,
    search_month_keys,
)
from jira_pipeline.ingest.sla_overlay import SlaSummary, overlay_sla

__all__ = [
    "AttachmentSummary",
    "BackfillSummary",
    "FetchSummary",
    "RefreshSummary",
    "SlaSummary",
    "backfill",
    "download_attachments",
    "fetch_issues",
    "overlay_sla",
    "refresh_issue",
    "refresh_issues",
    "resolve_issue_ids",
    "search_month_keys",
]
