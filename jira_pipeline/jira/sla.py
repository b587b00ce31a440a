"""Jira Service Management SLAs, read with a separate account (``JIRA_SLA_EMAIL`` /
``JIRA_SLA_API_TOKEN``) through the Atlassian API gateway:
``{JIRA_SLA_BASE_URL}/ex/jira/{JIRA_CLOUD_ID}/rest/servicedeskapi/request/{key}/sla``."""

from __future__ import annotations

import re
from typing import Any

from jira_pipeline.config import Settings
from jira_pipeline.jira.http import ApiClient, JiraError
from jira_pipeline.jira.keys import require_issue_key
from jira_pipeline.storage.paths import DataRoot

SLA_PAGE_SIZE = 50
_CLOUD_ID = re.compile(r"[A-Za-z0-9-]{1,64}\Z", re.ASCII)


class JsmSlaClient(ApiClient):
    """Reads every SLA page of a request. A 401 blames ``JIRA_SLA_API_TOKEN``."""

    credential = "sla"

    def __init__(
        self, base_url: str, cloud_id: str, email: str, api_token: str, **kwargs: Any
    ) -> None:
        if not _CLOUD_ID.match(cloud_id or ""):
            raise JiraError(f"invalid JIRA_CLOUD_ID: {cloud_id!r:.80}")
        super().__init__(base_url, email, api_token, **kwargs)
        self.cloud_id = cloud_id

    @classmethod
    def from_settings(
        cls, settings: Settings, root: DataRoot | None = None, **kwargs: Any
    ) -> JsmSlaClient | None:
        """``None`` when no SLA account is configured: callers warn and carry on."""
        if not settings.sla_configured:
            return None
        return cls(
            settings.sla_url,
            settings.cloud_id,
            settings.sla_email,
            settings.sla_api_token,
            root=root,
            **kwargs,
        )

    def get_slas(self, key: str) -> list[dict[str, Any]] | None:
        """All SLA records of ``key`` (every page), or ``None`` when JSM answers 404
        (not a service-desk request, or not visible to the SLA account)."""
        path = f"/ex/jira/{self.cloud_id}/rest/servicedeskapi/request/{require_issue_key(key)}/sla"
        records: list[dict[str, Any]] = []
        while True:
            params = {"start": len(records), "limit": SLA_PAGE_SIZE}
            page = self.get_json(path, params=params, not_found_ok=True)
            if page is None:
                return None
            values = page.get("values") or []
            records.extend(values)
            if page.get("isLastPage", True) or not values:
                return records
