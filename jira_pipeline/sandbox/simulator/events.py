"""Jira Cloud webhook bodies (v2-shaped, as the samples show): ``/rest/api/2/`` self links,
wiki-markup text instead of ADF, trimmed ``issue.fields`` for comment events, ids only for
issue-link events, the whole issue kept in ``jira:issue_deleted``."""

from __future__ import annotations

from jira_pipeline.sandbox.simulator import adf
from jira_pipeline.sandbox.simulator.catalog import LINK_TYPES

_COMMENT_ISSUE_FIELDS = ("summary", "issuetype", "project", "assignee", "priority", "status")


def to_v2(value):
    """A v3 JSON value as the v2 API (and webhooks) show it."""
    if isinstance(value, dict):
        if value.get("type") == "doc" and "content" in value:
            return adf.to_wiki(value)
        return {k: to_v2(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_v2(v) for v in value]
    if isinstance(value, str) and "/rest/api/3/" in value:
        return value.replace("/rest/api/3/", "/rest/api/2/")
    return value


def issue_event(
    event: str, issue: dict, user: dict, changelog: dict | None, timestamp_ms: int
) -> dict:
    """``jira:issue_created|updated|deleted``; ``issue`` is the v3 issue JSON."""
    v2_issue = to_v2({k: issue[k] for k in ("id", "self", "key", "fields")})
    body: dict = {"timestamp": timestamp_ms, "webhookEvent": event}
    if event != "jira:issue_deleted":
        body["issue_event_type_name"] = event.split(":", 1)[1]
    body["user"] = to_v2(user)
    body["issue"] = v2_issue
    if changelog is not None and event != "jira:issue_deleted":
        body["changelog"] = changelog
    return body


def trimmed_issue(issue: dict) -> dict:
    fields = issue["fields"]
    return to_v2(
        {
            "id": issue["id"],
            "self": issue["self"],
            "key": issue["key"],
            "fields": {name: fields.get(name) for name in _COMMENT_ISSUE_FIELDS},
        }
    )


def comment_event(event: str, comment: dict, issue: dict, timestamp_ms: int) -> dict:
    return {
        "timestamp": timestamp_ms,
        "webhookEvent": event,
        "comment": to_v2(comment),
        "issue": trimmed_issue(issue),
        "eventType": "primaryAction",
    }


def attachment_event(event: str, attachment: dict, issue: dict, timestamp_ms: int) -> dict:
    return {
        "timestamp": timestamp_ms,
        "webhookEvent": event,
        "attachment": to_v2(attachment),
        "issue": to_v2(
            {
                "id": issue["id"],
                "self": issue["self"],
                "key": issue["key"],
                "fields": {"summary": issue["fields"].get("summary")},
            }
        ),
    }


def issuelink_event(
    event: str,
    link_id: int,
    source_id: str,
    destination_id: str,
    type_position: int,
    timestamp_ms: int,
) -> dict:
    type_id, name, inward, outward = LINK_TYPES[type_position]
    return {
        "timestamp": timestamp_ms,
        "webhookEvent": event,
        "issueLink": {
            "id": link_id,
            "sourceIssueId": int(source_id),
            "destinationIssueId": int(destination_id),
            "issueLinkType": {
                "id": int(type_id),
                "name": name,
                "outwardName": outward,
                "inwardName": inward,
                "isSubTaskLinkType": False,
                "isSystemLinkType": False,
            },
            "systemLink": False,
        },
    }
