"""What a verified delivery names: the issue (key, or ids for issue-link events) and its
``created`` time (a deletion needs no flag: the run finds the issue gone in Jira). Everything here is attacker-shaped input until it
passes the shared validators; nothing unvalidated leaves this module."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from jira_pipeline.core.dates import parse_jira_datetime
from jira_pipeline.core.keys import is_valid_issue_id, is_valid_issue_key

EVENT_LABEL_MAX = 64
DEBUG_REFRESH_EVENT = "debug_refresh"
_UNSAFE_LABEL_RUN = re.compile(r"[^A-Za-z0-9_-]+")
_LINK_ID_FIELDS = ("sourceIssueId", "destinationIssueId")


class InvalidDelivery(ValueError):
    """The body cannot be queued (400). The message is fixed text, never echoed input."""


@dataclass(frozen=True)
class Delivery:
    """A validated delivery: safe to log, to name files after and to queue."""

    event_type: str  # sanitised webhookEvent label
    issue_key: str | None = None
    issue_ids: tuple[str, ...] = ()
    created: str | None = None

    def log_fields(self) -> dict[str, Any]:
        return {"event_type": self.event_type, "issue_key": self.issue_key,
                "issue_ids": list(self.issue_ids)}


def event_label(value: object) -> str:
    """``webhookEvent`` is only a label: runs outside ``[A-Za-z0-9_-]`` become ``_``, 64 max."""
    label = _UNSAFE_LABEL_RUN.sub("_", value)[:EVENT_LABEL_MAX] if isinstance(value, str) else ""
    return label or "unknown"


def parse_delivery(body: bytes) -> Delivery:
    """Validate a Jira webhook body (already signature-checked)."""
    payload = _json_object(body)
    issue = payload.get("issue", {})
    if not isinstance(issue, dict):
        raise InvalidDelivery("'issue' must be an object")
    webhook_event = payload.get("webhookEvent")
    key = issue.get("key")
    if key is None:
        key = payload.get("issue_key")
    if key is not None:
        if not is_valid_issue_key(key):
            raise InvalidDelivery("invalid issue key")
        return Delivery(
            event_type=event_label(webhook_event),
            issue_key=key,
            created=_created(issue.get("fields")),
        )
    return Delivery(event_type=event_label(webhook_event), issue_ids=_link_issue_ids(payload))


def parse_debug_refresh(body: bytes) -> Delivery:
    """``{"issue_key": "..."}`` from the debug endpoint: a refresh of one validated key."""
    key = _json_object(body).get("issue_key")
    if not is_valid_issue_key(key):
        raise InvalidDelivery("invalid issue key")
    return Delivery(event_type=DEBUG_REFRESH_EVENT, issue_key=key)


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidDelivery("empty body")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidDelivery("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidDelivery("body must be a JSON object")
    return payload


def _link_issue_ids(payload: dict[str, Any]) -> tuple[str, ...]:
    """Issue-link events name both ends by numeric id only (no key)."""
    link = payload.get("issueLink")
    if link is None:
        raise InvalidDelivery("no issue key or issue ids in the delivery")
    if not isinstance(link, dict):
        raise InvalidDelivery("'issueLink' must be an object")
    values = [link[name] for name in _LINK_ID_FIELDS if link.get(name) is not None]
    if not values:
        raise InvalidDelivery("no issue key or issue ids in the delivery")
    if not all(is_valid_issue_id(value) for value in values):
        raise InvalidDelivery("invalid issue id")
    return tuple(dict.fromkeys(str(value) for value in values))


def _created(fields: object) -> str | None:
    """The issue's ``created`` when present and parseable; otherwise the sensor looks it up."""
    created = fields.get("created") if isinstance(fields, dict) else None
    if not isinstance(created, str) or len(created) > 64 or not created.isascii():
        return None
    try:
        return created if parse_jira_datetime(created) else None
    except (ValueError, OverflowError):
        return None
