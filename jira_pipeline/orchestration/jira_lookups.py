"""Light Jira lookups for orchestration decisions (which month an event belongs to,
whether an issue still exists): one GET of the named fields, not the full issue."""

from __future__ import annotations

from typing import Any

from jira_pipeline.core.keys import require_issue_key
from jira_pipeline.jira.client import JiraClient


def issue_fields(jira: JiraClient, key: str, fields: str) -> dict[str, Any] | None:
    """``GET /rest/api/3/issue/{key}?fields=…`` (comma-separated names); ``None`` on 404."""
    return jira.get_json(
        f"/rest/api/3/issue/{require_issue_key(key)}", params={"fields": fields}, not_found_ok=True
    )
