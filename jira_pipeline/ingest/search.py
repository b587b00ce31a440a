"""Which issues to fetch: JQL helpers, the keys of a UTC month, and ids → keys.

Time zones: JQL date literals are read in the time zone of the Jira account running the
query (its profile setting), not UTC, so a query with a UTC month's bounds would be exact
only for an account set to UTC. :func:`search_month_keys` does not depend on that: it
widens the range by a day on both sides (offsets are within ±14 h) and keeps the issues
whose ``created`` falls in the month in UTC."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from jira_pipeline.core.dates import month_of
from jira_pipeline.core.keys import is_valid_issue_id, is_valid_issue_key, require_issue_key
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.storage.paths import check_month

log = logging.getLogger(__name__)

_ORDER_BY = re.compile(r"(?:^|\s)order\s+by\s", re.IGNORECASE)
_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""")
_OR = re.compile(r"\bor\b", re.IGNORECASE)


def _needs_parentheses(clause: str) -> bool:
    """Only a clause with a top-level-looking ``OR`` changes meaning under ``AND`` (which
    binds tighter); the rest stay bare, which is also all the simulator's JQL accepts."""
    return bool(_OR.search(_QUOTED.sub('""', clause)))


def and_jql(*clauses: str) -> str:
    """AND the non-empty clauses (parenthesised where an ``OR`` needs it); an ``ORDER BY``
    of any clause moves to the end, the only place JQL allows it."""
    parts: list[str] = []
    order = ""
    for clause in clauses:
        text = (clause or "").strip()
        match = _ORDER_BY.search(text)
        if match:
            order = order or text[match.start() :].strip()
            text = text[: match.start()].strip()
        if text:
            parts.append(text)
    if len(parts) > 1:
        parts = [f"({p})" if _needs_parentheses(p) else p for p in parts]
    return " ".join(p for p in (" AND ".join(parts), order) if p)


def _month_start(month: str) -> date:
    return date.fromisoformat(f"{check_month(month)}-01")


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def created_between_jql(start: date, end: date) -> str:
    return f'created >= "{start:%Y-%m-%d} 00:00" AND created < "{end:%Y-%m-%d} 00:00"'


def since_jql(month: str, scope_jql: str = "") -> str:
    """Issues created in ``month`` or later, within ``scope_jql``."""
    return and_jql(scope_jql, f'created >= "{_month_start(month):%Y-%m-%d} 00:00"')


def valid_issues(
    issues: Iterable[dict[str, Any]], invalid: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The search results whose key is a valid issue key. Any other is skipped, logged and
    appended (shortened, as ``repr``) to ``invalid`` for the caller's summary: one odd
    key must never fail a whole month."""
    for issue in issues:
        key = issue.get("key")
        if is_valid_issue_key(key):
            yield issue
            continue
        shown = repr(key)[:60]
        log.warning("Jira search returned an invalid issue key %s; skipped", shown)
        if invalid is not None:
            invalid.append(shown)


def search_month_keys(
    jira: JiraClient, month: str, scope_jql: str = "", invalid: list[str] | None = None
) -> list[str]:
    """Keys of the issues whose ``created`` is in ``month`` in UTC, whatever the time
    zone of the API account (the query is a day wider; the filter is exact). Invalid keys
    are skipped and reported in ``invalid``."""
    first = _month_start(month)
    wide = created_between_jql(first - timedelta(days=1), _next_month(first) + timedelta(days=1))
    wanted = check_month(month)
    found = jira.iter_search_jql(and_jql(scope_jql, wide), fields=("key", "created"))
    return [
        issue["key"]
        for issue in valid_issues(found, invalid)
        if month_of((issue.get("fields") or {}).get("created") or "") == wanted
    ]


def keys_jql(keys: Iterable[str]) -> str:
    """``key in (…)`` for validated keys (safe to embed: keys are ``[A-Z0-9_-]`` only)."""
    return f"key in ({', '.join(require_issue_key(k) for k in keys)})"


def resolve_issue_ids(jira: JiraClient, ids: Iterable[str | int]) -> dict[str, str]:
    """``{id: key}`` for the numeric issue ids Jira still knows (link webhooks carry
    ids only). Invalid ids raise before any request; unknown ids are left out."""
    wanted = [str(i) for i in dict.fromkeys(ids)]
    for issue_id in wanted:
        if not is_valid_issue_id(issue_id):
            raise ValueError(f"invalid Jira issue id: {issue_id!r:.40}")
    resolved = {}
    for issue_id in wanted:
        key = jira.get_issue_key(issue_id)
        if key is not None:
            resolved[issue_id] = key
    return resolved
