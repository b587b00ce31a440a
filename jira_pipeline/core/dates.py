"""Jira timestamps (``2021-05-08T07:04:25.376+0100``) carry per-user offsets; the
pipeline files every issue under the month of its ``created`` instant in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_jira_datetime(value: str | None) -> datetime | None:
    """Parse a Jira timestamp (any offset style, or a bare date) into an aware UTC datetime."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Jira writes +0100; fromisoformat wants +01:00.
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and "T" in text:
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def month_of(created: str | datetime) -> str:
    """``YYYY-MM`` of the UTC month an issue created at ``created`` belongs to."""
    moment = created if isinstance(created, datetime) else parse_jira_datetime(created)
    if moment is None:
        raise ValueError("an issue without 'created' has no month")
    moment = moment.astimezone(UTC)
    # What strftime("%Y-%m") gives (an unpadded year, as glibc writes one below 1000), in
    # half the time: a rebuild files every raw issue under its month.
    return f"{moment.year}-{moment.month:02d}"


def format_jira_datetime(moment: datetime) -> str:
    """Format an aware datetime as Jira does: milliseconds and a ``+HHMM`` offset."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    millis = f"{moment.microsecond // 1000:03d}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + millis + moment.strftime("%z")
