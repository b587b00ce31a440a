"""Jira Service Management SLAs, read with a separate account (``JIRA_SLA_EMAIL`` /
``JIRA_SLA_API_TOKEN``) through the Atlassian API gateway:
``{JIRA_SLA_BASE_URL}/ex/jira/{JIRA_CLOUD_ID}/rest/servicedeskapi/request/{key}/sla``."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from jira_pipeline.config import Settings
from jira_pipeline.core.keys import is_valid_issue_key, require_issue_key
from jira_pipeline.jira.http import ApiClient, BulkUnavailable, JiraError, JiraHttpError

SLA_PAGE_SIZE = 50
SLA_FIELD_TYPE = "com.atlassian.servicedesk:sd-sla-field"
BULK_ISSUES = 100
# JSM's runtime info: answers on every site the gateway knows, whatever the account's roles
SITE_INFO_PATH = "/rest/servicedeskapi/info"
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
        self._site_known = False
        self._site_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, **kwargs: Any
    ) -> JsmSlaClient | None:
        """``None`` when no SLA account is configured: callers warn and carry on."""
        if not settings.sla_configured:
            return None
        return cls(
            settings.sla_url,
            settings.cloud_id,
            settings.sla_email,
            settings.sla_api_token,
            **kwargs,
        )

    def bulk_view(self, keys: Iterable[str], fields: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``fields`` of up to 100 issues as the JSM account sees them (its view carries
        the SLA field values), by key; issues it cannot see are absent. A 404/403 raises
        ``BulkUnavailable``."""
        wanted = [require_issue_key(k) for k in keys]
        if len(wanted) > BULK_ISSUES:
            raise ValueError(f"at most {BULK_ISSUES} issues per bulkfetch")
        path = f"/ex/jira/{self.cloud_id}/rest/api/3/issue/bulkfetch"
        try:
            page = self.post_bulk(path, {"issueIdsOrKeys": wanted, "fields": list(fields)})
        except BulkUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, JiraHttpError) and cause.status == 404:
                self.require_known_site()
            raise
        return {
            issue["key"]: issue.get("fields") or {}
            for issue in page.get("issues") or []
            if isinstance(issue, dict) and is_valid_issue_key(issue.get("key"))
        }

    def require_known_site(self) -> None:
        """After a 404 at the gateway, ask once whether it knows ``JIRA_CLOUD_ID`` at all.
        Under a cloud id of another site every path answers 404, which would otherwise read
        as "no SLAs" for every request (and overwrite the stored ones with nothing); here it
        raises :class:`JiraHttpError` (404 at the gateway: a configuration problem naming
        ``JIRA_CLOUD_ID``) instead."""
        with self._site_lock:
            if not self._site_known:
                self.get_json(f"/ex/jira/{self.cloud_id}{SITE_INFO_PATH}")
                self._site_known = True

    def get_slas(self, key: str) -> list[dict[str, Any]] | None:
        """All SLA records of ``key`` (every page), or ``None`` when JSM answers 404
        (not a service-desk request, or not visible to the SLA account)."""
        path = f"/ex/jira/{self.cloud_id}/rest/servicedeskapi/request/{require_issue_key(key)}/sla"
        records: list[dict[str, Any]] = []
        while True:
            params = {"start": len(records), "limit": SLA_PAGE_SIZE}
            page = self.get_json(path, params=params, not_found_ok=True)
            if page is None:
                self.require_known_site()
                return None
            values = page.get("values") or []
            records.extend(values)
            if page.get("isLastPage", True) or not values:
                return records


def sla_field_ids(field_list: Iterable[dict[str, Any]]) -> list[str]:
    """Ids of the JSM SLA fields (``sd-sla-field``), in the field list's order."""
    return [
        str(f["id"])
        for f in field_list
        if isinstance(f, dict) and (f.get("schema") or {}).get("custom") == SLA_FIELD_TYPE
    ]


def slas_from_fields(fields: dict[str, Any], field_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The SLA records an issue's SLA field values hold, as ``/request/{key}/sla`` lists
    them (same cycles; the field adds only ``slaDisplayFormat``)."""
    records = []
    for field_id in field_ids:
        value = fields.get(field_id)
        if isinstance(value, dict):
            records.append({k: v for k, v in value.items() if k != "slaDisplayFormat"})
    return records
