"""Checks against the Jira site with the API account: credentials and time zone, the JQL
scope and the projects it can browse, the field mapping, bulk endpoints, attachments."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jira_pipeline.config_problems import config_problem
from jira_pipeline.core.dates import month_of
from jira_pipeline.doctor.check import Check, fail, ok, warn
from jira_pipeline.ingest.search import and_jql
from jira_pipeline.jira.client import API, JiraClient
from jira_pipeline.jira.http import JiraAuthError, JiraError, JiraHttpError
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import iter_issue_files
from jira_pipeline.transform.field_map import MAPPING, FieldMapping, _norm

UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Universal", "Zulu", "Etc/Zulu"})
ALL_TIME = 'created >= "1970-01-01 00:00"'  # search/jql refuses unbounded queries
COUNT_PAGE = 5000  # Jira's page size for id/key-only searches
MAX_COUNT_PAGES = 50  # count at most 250 000 issues, then say "at least"
_PROJECT_CLAUSE = re.compile(
    r"""\bproject\s*(?:=|\bin\b)\s*(\([^)]*\)|"[^"]*"|'[^']*'|[^\s()]+)""", re.IGNORECASE
)


@dataclass
class ScopeSurvey:
    """What ``JIRA_JQL`` covers on this site."""

    count: int = 0
    capped: bool = False
    projects: Counter[str] = field(default_factory=Counter)
    first_month: str | None = None
    last_month: str | None = None
    newest: dict[str, Any] | None = None  # {"key", "id", "created"} of the latest-updated issue


def problem_line(exc: JiraError) -> str:
    """The one-line configuration problem, or Jira's own message."""
    problem = config_problem(exc)
    return problem.line if problem else str(exc)


def check_credentials(client: JiraClient) -> tuple[Check, dict[str, Any] | None]:
    """``/myself`` answers with the configured account."""
    try:
        myself = client.get_json(f"{API}/myself")
    except JiraAuthError:
        return fail(
            "api credentials",
            "Jira answered 401: set JIRA_API_TOKEN to a valid API token of JIRA_EMAIL "
            "(id.atlassian.com → Security → API tokens) and check JIRA_EMAIL",
        ), None
    except JiraError as exc:
        return fail("api credentials", f"{exc}: check JIRA_BASE_URL / JIRA_DOMAIN"), None
    name = myself.get("displayName") or myself.get("accountId") or "?"
    return ok("api credentials", f"authenticated as {name} ({myself.get('accountType', '?')})"), myself


def check_time_zone(myself: dict[str, Any]) -> Check:
    """JQL dates are read in the account's zone; month ranges assume UTC."""
    zone = myself.get("timeZone") or "unknown"
    if zone in UTC_ZONES:
        return ok("time zone", f"account time zone {zone}")
    return warn(
        "time zone",
        f"account time zone is {zone}, not UTC: Jira reads JQL dates in it, so month-bounded "
        "searches (SLA poll, reconcile) are shifted by its offset near month borders; set "
        "JIRA_EMAIL's profile time zone to UTC (Profile → Account settings)",
    )


def named_projects(jql: str) -> list[str]:
    """Project keys/names a JQL names in ``project = X`` / ``project in (A, B)``."""
    names: list[str] = []
    for match in _PROJECT_CLAUSE.finditer(jql or ""):
        for part in match.group(1).strip("()").split(","):
            part = part.strip().strip("\"'").strip()
            if part:
                names.append(part)
    return names


def browsable_projects(client: JiraClient) -> list[dict[str, Any]]:
    """Every project the API account can browse (``project/search``, all pages)."""
    projects: list[dict[str, Any]] = []
    while True:
        page = client.get_json(
            f"{API}/project/search", params={"startAt": len(projects), "maxResults": 50}
        )
        values = page.get("values") or []
        projects.extend(values)
        if page.get("isLast", True) or not values:
            return projects


def _first(client: JiraClient, jql: str, order: str, fields: list[str]) -> dict | None:
    body = {"jql": and_jql(f"ORDER BY {order}", jql, ALL_TIME), "fields": fields, "maxResults": 1}
    page = client.decode(client.send("POST", f"{API}/search/jql", json_body=body), "search")
    issues = page.get("issues") or []
    return issues[0] if issues else None


def survey_scope(client: JiraClient, jql: str) -> ScopeSurvey:
    """Count the issues in scope (ids only, big pages) and find the oldest and newest.
    Raises :class:`JiraHttpError` (400) when Jira rejects the JQL."""
    survey = ScopeSurvey()
    oldest = _first(client, jql, "created ASC", ["created"])
    if oldest is None:
        return survey
    newest = _first(client, jql, "created DESC", ["created"])
    latest = _first(client, jql, "updated DESC", ["created"]) or oldest
    survey.first_month = month_of(oldest["fields"]["created"])
    survey.last_month = month_of((newest or oldest)["fields"]["created"])
    survey.newest = {
        "key": latest["key"],
        "id": latest["id"],
        "created": latest["fields"]["created"],
    }
    for number, issue in enumerate(
        client.iter_search_jql(and_jql(jql, ALL_TIME), ("key",), page_size=COUNT_PAGE)
    ):
        if number >= COUNT_PAGE * MAX_COUNT_PAGES:
            survey.capped = True
            break
        survey.count += 1
        survey.projects[str(issue.get("key", "")).rsplit("-", 1)[0]] += 1
    return survey


def check_scope(survey: ScopeSurvey, jql: str) -> Check:
    if survey.count == 0:
        return fail(
            "scope",
            f"JIRA_JQL {jql or '(unset)'} matches no issue the account can see: widen "
            "JIRA_JQL, or grant JIRA_EMAIL 'Browse projects' on the projects it names",
        )
    count = f"{'at least ' if survey.capped else ''}{survey.count}"
    projects = ", ".join(f"{k} {n}" for k, n in sorted(survey.projects.items()))
    return ok("scope", f"{count} issues in {len(survey.projects)} projects ({projects})")


def _months_between(first: str, last: str) -> int:
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7]) + 1


def check_months(survey: ScopeSurvey, start_month: str) -> Check:
    """Months the scope spans vs ``JIRA_START_MONTH`` (where backfills begin)."""
    first, last = survey.first_month, survey.last_month
    if first is None or last is None:
        return warn("months", "no issue in scope: nothing to compare JIRA_START_MONTH with")
    spanned = f"issues created {first} … {last} ({_months_between(first, last)} months)"
    if start_month > last:
        return fail(
            "months",
            f"{spanned}, but JIRA_START_MONTH {start_month} is after all of them: set "
            f"JIRA_START_MONTH to {first} (or the first month you want)",
        )
    if start_month > first:
        return ok(
            "months",
            f"{spanned}; JIRA_START_MONTH {start_month} leaves the "
            f"{_months_between(first, start_month) - 1} months before it out (set it to "
            f"{first} to mirror everything)",
        )
    return ok("months", f"{spanned}; JIRA_START_MONTH {start_month} covers them all")


def _stored_projects(root: DataRoot) -> Counter[str]:
    """Projects of the issues already in the raw store (key prefix → records), in either
    of its layouts."""
    found: Counter[str] = Counter()
    try:
        for key, _ in iter_issue_files(root):
            found[key.rsplit("-", 1)[0]] += 1
    except OSError:
        pass
    return found


def check_project_access(
    projects: list[dict[str, Any]], jql: str, root: DataRoot
) -> Check:
    """Projects in scope the account cannot browse: named in ``JIRA_JQL``, or with issues
    already in the raw store (a refresh would read their 404s as deletions)."""
    known = {
        value.lower()
        for p in projects
        for value in (p.get("key"), p.get("name"), p.get("id"))
        if isinstance(value, str)
    }
    hidden_named = [n for n in named_projects(jql) if n.lower() not in known]
    stored = _stored_projects(root)
    hidden_stored = sorted(k for k in stored if k.lower() not in known)
    keys = ", ".join(sorted(str(p.get("key")) for p in projects)) or "none"
    if hidden_named or hidden_stored:
        parts = []
        if hidden_named:
            parts.append(f"{', '.join(hidden_named)} (named in JIRA_JQL)")
        if hidden_stored:
            parts.append(
                ", ".join(f"{k} ({stored[k]} issues in the raw store)" for k in hidden_stored)
            )
        return fail(
            "project access",
            f"JIRA_EMAIL cannot browse {'; '.join(parts)}: Jira hides their issues (404) and "
            "a refresh would tombstone them; grant the account 'Browse projects' there (a "
            "project role or group), or remove them from JIRA_JQL. It browses: " + keys,
        )
    return ok("project access", f"the account browses {len(projects)} projects: {keys}")


def _candidates(field_list: list[dict], name: str | None, custom_type: str | None) -> list[str]:
    """Field ids a mapping entry could mean (the rule of ``field_map._pick``)."""
    named = [f["id"] for f in field_list if name and _norm(f.get("name")) == _norm(name)]
    if not custom_type:
        return named
    schema_types = {
        f["id"]: {(f.get("schema") or {}).get("custom"), (f.get("schema") or {}).get("type")}
        for f in field_list
    }
    typed = [i for i, types in schema_types.items() if custom_type in types]
    return typed if len(typed) <= 1 else [i for i in typed if i in named]


def check_fields(client: JiraClient, mapping: FieldMapping = MAPPING) -> tuple[Check, list[dict]]:
    """``/field`` readable, and each mapped column resolves to exactly one field."""
    try:
        field_list = [f for f in client.get_fields() if isinstance(f, dict) and f.get("id")]
    except JiraError as exc:
        return fail("fields", f"GET /rest/api/3/field failed: {problem_line(exc)}"), []
    specs = [(c.column, c.field, c.custom_type) for c in mapping.columns]
    specs += [(s.prefix, s.field, s.custom_type) for s in mapping.slas]
    unresolved, ambiguous = [], []
    for column, name, custom_type in specs:
        found = _candidates(field_list, name, custom_type)
        if not found:
            unresolved.append(f"{column} ({name or custom_type})")
        elif len(found) > 1:
            ambiguous.append(f"{column} ({', '.join(found)})")
    resolved = len(specs) - len(unresolved) - len(ambiguous)
    summary = f"{len(field_list)} fields on the site; {resolved} of {len(specs)} mapped columns resolve"
    if unresolved or ambiguous:
        details = []
        if unresolved:
            details.append(f"unresolved (stay null): {', '.join(unresolved)}")
        if ambiguous:
            details.append(f"ambiguous (first id used): {', '.join(ambiguous)}")
        return warn(
            "fields",
            f"{summary}; {'; '.join(details)}: edit field names/types in "
            "jira_pipeline/transform/field_mapping.toml to this site's",
        ), field_list
    return ok("fields", f"{summary} to exactly one field"), field_list


def check_bulk_endpoints(client: JiraClient, key: str) -> Check:
    """``POST /issue/bulkfetch`` with one key: 200 means bulk fetching, 403/404/405 the
    per-issue fallback (one GET per issue: slower on large sites, same result)."""
    body = {"issueIdsOrKeys": [key], "fields": ["key"]}
    try:
        client.send("POST", f"{API}/issue/bulkfetch", json_body=body)
    except JiraHttpError as exc:
        if exc.status in (403, 404, 405):
            return warn(
                "bulk endpoints",
                f"POST /rest/api/3/issue/bulkfetch answered {exc.status}: per-issue fallback "
                "in use (one request per issue; fine for small sites)",
            )
        return fail("bulk endpoints", problem_line(exc))
    except JiraError as exc:
        return fail("bulk endpoints", str(exc))
    return ok("bulk endpoints", "POST /rest/api/3/issue/bulkfetch available")


def check_attachments(client: JiraClient, jql: str) -> Check:
    """Download one attachment of an issue in scope ('Browse projects' is enough)."""
    body = {
        "jql": and_jql("ORDER BY updated DESC", jql, ALL_TIME),
        "fields": ["attachment"],
        "maxResults": 50,
    }
    try:
        page = client.decode(client.send("POST", f"{API}/search/jql", json_body=body), "search")
        attachment = next(
            (
                a
                for issue in page.get("issues") or []
                for a in (issue.get("fields") or {}).get("attachment") or []
                if int(a.get("size") or 0) <= 10 * 1024 * 1024
            ),
            None,
        )
        if attachment is None:
            return warn(
                "attachments",
                "no attachment (≤ 10 MB) on the 50 latest issues in scope: download not tried",
            )
        size = int(attachment.get("size") or 0)
        with open(os.devnull, "wb") as sink:
            client.stream_attachment(attachment.get("id"), size, sink)
    except JiraError as exc:
        return fail(
            "attachments",
            f"{problem_line(exc)}: attachment downloads need 'Browse projects' for JIRA_EMAIL",
        )
    return ok("attachments", f"downloaded attachment {attachment.get('id')} ({size} bytes)")
