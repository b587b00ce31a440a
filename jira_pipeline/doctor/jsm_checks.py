"""JSM checks: the cloud id belongs to this site, the SLA account reads SLAs through the
gateway (agent role), and which accounts see the SLA fields."""

from __future__ import annotations

from typing import Any

from jira_pipeline.config import Settings
from jira_pipeline.doctor.check import Check, fail, ok, warn
from jira_pipeline.doctor.jira_checks import ALL_TIME, problem_line
from jira_pipeline.ingest.search import and_jql
from jira_pipeline.jira.client import API, JiraClient
from jira_pipeline.jira.http import JiraError, JiraHttpError
from jira_pipeline.jira.sla import JsmSlaClient

SLA_FIELD_TYPE = "com.atlassian.servicedesk:sd-sla-field"


def check_cloud_id(client: JiraClient, settings: Settings) -> Check:
    """``/_edge/tenant_info`` on the site names its cloud id; ``JIRA_CLOUD_ID`` must match."""
    if not settings.cloud_id:
        return ok("cloud id", "JIRA_CLOUD_ID not set (no SLA account): nothing to compare")
    try:
        site_id = (client.get_json("/_edge/tenant_info") or {}).get("cloudId")
    except JiraError as exc:
        return warn("cloud id", f"/_edge/tenant_info unreadable ({exc}): JIRA_CLOUD_ID unchecked")
    if site_id != settings.cloud_id:
        return fail(
            "cloud id",
            f"JIRA_CLOUD_ID {settings.cloud_id} belongs to another site: "
            f"{settings.base_url}/_edge/tenant_info says {site_id}; set JIRA_CLOUD_ID={site_id}",
        )
    return ok("cloud id", f"JIRA_CLOUD_ID {site_id} is this site's")


def service_desk_issue(client: JiraClient, projects: list[dict], jql: str) -> str | None:
    """The key of one issue of a service-desk project in scope, if any."""
    desks = [p["key"] for p in projects if p.get("projectTypeKey") == "service_desk"]
    for desk in desks:
        body = {"jql": and_jql(jql, f"project = {desk}", ALL_TIME), "fields": ["key"], "maxResults": 1}
        page = client.decode(client.send("POST", f"{API}/search/jql", json_body=body), "search")
        if page.get("issues"):
            return page["issues"][0]["key"]
    return None


def check_sla_account(settings: Settings, key: str | None) -> tuple[Check, bool]:
    """Read one request's SLAs with the SLA account; ``(check, the account sees SLAs)``."""
    if not settings.sla_configured:
        return ok("sla account", "not configured: the SLA overlay is skipped"), False
    if key is None:
        return ok("sla account", "no service-desk issue in scope: nothing to read"), False
    client = JsmSlaClient.from_settings(settings)
    path = f"/ex/jira/{settings.cloud_id}/rest/servicedeskapi/request/{key}/sla"
    try:
        with client.session:
            page = client.get_json(path, params={"start": 0, "limit": 50})
    except JiraHttpError as exc:
        if exc.status == 404:
            return fail(
                "sla account",
                f"the gateway answered 404 for {key}: check JIRA_CLOUD_ID (and that "
                "JIRA_SLA_BASE_URL is https://api.atlassian.com)",
            ), False
        return fail("sla account", problem_line(exc)), False
    except JiraError as exc:
        return fail("sla account", problem_line(exc)), False
    count = len(page.get("values") or [])
    return ok("sla account", f"JIRA_SLA_EMAIL reads SLAs ({count} on {key})"), True


def check_sla_fields(
    client: JiraClient, field_list: list[dict[str, Any]], key: str | None, sla_account_sees: bool
) -> Check:
    """SLA fields on the site, and which accounts see their values."""
    sla_fields = [f for f in field_list if (f.get("schema") or {}).get("custom") == SLA_FIELD_TYPE]
    if not sla_fields:
        return ok("sla fields", "no JSM SLA fields on this site")
    names = ", ".join(sorted(str(f.get("name")) for f in sla_fields))
    api_sees = False
    if key is not None:
        try:
            issue = client.get_json(
                f"{API}/issue/{key}", params={"fields": ",".join(f["id"] for f in sla_fields)}
            )
            api_sees = any((issue.get("fields") or {}).get(f["id"]) for f in sla_fields)
        except JiraError:
            api_sees = False
    seen_by = [
        who
        for who, sees in (("API account (issue fields)", api_sees),
                          ("SLA account (servicedesk API)", sla_account_sees))
        if sees
    ]
    if key is None:
        return ok("sla fields", f"{names}: no service-desk issue in scope to read them on")
    if not seen_by:
        return warn(
            "sla fields",
            f"{names}: neither account sees their values on {key}; give JIRA_SLA_EMAIL "
            "(or JIRA_EMAIL) the JSM agent role, or the SLA columns stay null",
        )
    return ok("sla fields", f"{names}: visible to {' and '.join(seen_by)}")
