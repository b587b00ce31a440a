"""Jira Cloud REST v3: the few calls the pipeline needs. Every issue key is validated
before a URL is built from it; attachment ids likewise, and attachment bytes are fetched
by id from our own site, never from the ``content`` URL in the payload."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import requests

from jira_pipeline.config import Settings
from jira_pipeline.core.keys import is_valid_issue_id, is_valid_issue_key, require_issue_key
from jira_pipeline.jira.http import (
    ApiClient,
    BulkUnavailable,
    JiraAuthError,
    JiraError,
    JiraResponseError,
    RetryPolicy,
)

__all__ = [
    "BulkUnavailable",
    "JiraAuthError",
    "JiraClient",
    "JiraError",
    "JiraResponseError",
    "RetryPolicy",
]

API = "/rest/api/3"
ISSUE_EXPAND = "renderedFields,changelog"
PAGE_SIZE = 100
BULK_ISSUES = 100  # issue/bulkfetch: issues per request
BULK_CHANGELOG_ISSUES = 1000  # changelog/bulkfetch: issues per request
BULK_CHANGELOG_PAGE = 1000  # changelog/bulkfetch: history entries per page
_CHUNK = 64 * 1024


def complete_changelog(issue: dict[str, Any], histories: list[dict[str, Any]]) -> None:
    """Replace the issue's capped inline changelog with every entry, in the shape the raw
    store has always kept (``startAt`` 0, ``maxResults`` = ``total`` = all of them)."""
    issue["changelog"].update(
        {
            "histories": histories,
            "startAt": 0,
            "maxResults": len(histories),
            "total": len(histories),
        }
    )


def changelog_is_capped(issue: dict[str, Any]) -> bool:
    changelog = issue.get("changelog")
    if not isinstance(changelog, dict):
        return False
    return int(changelog.get("total") or 0) > len(changelog.get("histories") or [])


class JiraClient(ApiClient):
    """Basic-auth client for one Jira Cloud site (``JIRA_BASE_URL`` or ``https://$JIRA_DOMAIN``)."""

    credential = "api"

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> JiraClient:
        if not (settings.base_url and settings.email and settings.api_token):
            raise JiraError(
                "Jira is not configured: set JIRA_BASE_URL (or JIRA_DOMAIN), JIRA_EMAIL "
                "and JIRA_API_TOKEN"
            )
        return cls(settings.base_url, settings.email, settings.api_token, **kwargs)

    def get_issue(self, key: str) -> dict[str, Any] | None:
        """The full issue (all fields, rendered fields, complete changelog), or ``None``
        when Jira answers 404: deleted, or not visible to our account."""
        path = f"{API}/issue/{require_issue_key(key)}"
        issue = self.get_json(
            path, params={"expand": ISSUE_EXPAND, "fields": "*all"}, not_found_ok=True
        )
        if issue is None:
            return None
        if not isinstance(issue, dict) or not is_valid_issue_key(issue.get("key")):
            raise JiraResponseError(f"GET {path}: body is not issue {key}")
        if changelog_is_capped(issue):  # a moved issue answers under its new key
            complete_changelog(issue, self.get_changelog(issue["key"]))
        return issue

    def bulk_fetch_issues(self, keys: Iterable[str]) -> list[dict[str, Any]]:
        """Up to 100 issues in one request (all fields, rendered fields, at most 40
        changelog entries each: see :meth:`bulk_changelogs`). Issues Jira does not return
        (deleted, no permission, moved, or listed in ``issueErrors``) are simply absent."""
        wanted = [require_issue_key(k) for k in keys]
        if len(wanted) > BULK_ISSUES:
            raise ValueError(f"at most {BULK_ISSUES} issues per bulkfetch")
        body = {
            "issueIdsOrKeys": wanted,
            "fields": ["*all"],
            "expand": ISSUE_EXPAND.split(","),
            "fieldsByKeys": False,
        }
        page = self.post_bulk(f"{API}/issue/bulkfetch", body)
        issues = page.get("issues") or []
        return [i for i in issues if isinstance(i, dict) and is_valid_issue_key(i.get("key"))]

    def bulk_changelogs(self, issue_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Every changelog entry of up to 1,000 issues, by issue id, in Jira's order,
        following ``nextPageToken``."""
        ids = [str(i) for i in issue_ids]
        if len(ids) > BULK_CHANGELOG_ISSUES:
            raise ValueError(f"at most {BULK_CHANGELOG_ISSUES} issues per changelog bulkfetch")
        found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        body: dict[str, Any] = {"issueIdsOrKeys": ids, "maxResults": BULK_CHANGELOG_PAGE}
        seen_tokens: set[str] = set()
        path = f"{API}/changelog/bulkfetch"
        while True:
            page = self.post_bulk(path, body)
            for entry in page.get("issueChangeLogs") or []:
                found.setdefault(str(entry.get("issueId")), []).extend(
                    entry.get("changeHistories") or []
                )
            token = page.get("nextPageToken")
            if not token:
                return found
            if token in seen_tokens:
                raise JiraResponseError(f"POST {path}: nextPageToken repeats; stopping")
            seen_tokens.add(token)
            body["nextPageToken"] = token

    def get_changelog(self, key: str) -> list[dict[str, Any]]:
        """Every changelog entry of an issue, following the ``startAt`` pages."""
        path = f"{API}/issue/{require_issue_key(key)}/changelog"
        entries: list[dict[str, Any]] = []
        while True:
            page = self.get_json(path, params={"startAt": len(entries), "maxResults": PAGE_SIZE})
            values = page.get("values") or []
            entries.extend(values)
            if page.get("isLast", True) or not values:
                return entries

    def get_remote_links(self, key: str) -> list[dict[str, Any]]:
        path = f"{API}/issue/{require_issue_key(key)}/remotelink"
        links = self.get_json(path, not_found_ok=True)
        return list(links) if isinstance(links, list) else []

    def iter_search_jql(
        self, jql: str, fields: Iterable[str] = ("id", "key"), *, page_size: int = PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Every issue matching ``jql`` (``POST search/jql``), following ``nextPageToken``
        until ``isLast``; there is no ``total`` to trust."""
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": page_size}
        seen_tokens: set[str] = set()
        while True:
            path = f"{API}/search/jql"
            page = self.decode(self.send("POST", path, json_body=body), f"POST {path}")
            yield from page.get("issues") or []
            token = page.get("nextPageToken")
            if page.get("isLast", not token) or not token:
                return
            if token in seen_tokens:
                raise JiraResponseError(f"POST {path}: nextPageToken repeats; stopping")
            seen_tokens.add(token)
            body["nextPageToken"] = token

    def get_issue_key(self, issue_id: str | int) -> str | None:
        """The key of a numeric issue id (webhooks for links carry ids only), or ``None``."""
        if not is_valid_issue_id(issue_id):
            raise ValueError(f"invalid Jira issue id: {issue_id!r:.40}")
        issue = self.get_json(
            f"{API}/issue/{issue_id}", params={"fields": "key"}, not_found_ok=True
        )
        return require_issue_key(issue["key"]) if issue else None

    def get_fields(self) -> list[dict[str, Any]]:
        return list(self.get_json(f"{API}/field"))

    def stream_attachment(self, attachment_id: object, declared: int, sink: BinaryIO) -> str:
        """Stream the bytes of attachment ``attachment_id`` (by id, from this site, never
        from a payload's URL) into ``sink``; returns their sha256. A body that is not
        ``declared`` bytes long raises :class:`JiraResponseError`: the caller discards
        what was written."""
        if not is_valid_issue_id(attachment_id):
            raise ValueError(f"invalid attachment id: {attachment_id!r:.40}")
        path = f"{API}/attachment/content/{attachment_id}"
        response = self.send("GET", path, stream=True)
        digest = hashlib.sha256()
        written = 0
        with response:
            try:
                for chunk in response.iter_content(_CHUNK):
                    written += len(chunk)
                    if written > declared:
                        raise JiraResponseError(f"GET {path}: body larger than declared")
                    digest.update(chunk)
                    sink.write(chunk)
            except requests.RequestException as exc:
                raise JiraResponseError(
                    f"GET {path}: truncated body after {written} of {declared} bytes"
                ) from exc
        if written != declared:
            raise JiraResponseError(f"GET {path}: got {written} bytes, Jira declared {declared}")
        return digest.hexdigest()
