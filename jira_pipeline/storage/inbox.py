"""Pending webhook events: the hand-off between the receiver and the Dagster sensor.

One JSON file per accepted delivery in ``raw/jira/inbox/``: the pending event's fields
(below), then the delivery itself (the same file is the delivery's audit copy). Its one
writer, ``webhook_receiver/store.py``, writes it atomically and fsynced before answering
202; the sensor reads it; it is moved to ``inbox/archive/YYYY-MM-DD/`` only after the run
that covered it succeeded."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from jira_pipeline.core.keys import is_valid_issue_id, is_valid_issue_key
from jira_pipeline.storage.atomic import fsync_dir
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.safe_paths import safe_join_under

# Event ids (and so inbox file names) start with the UTC receive time in this format.
EVENT_ID_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True)
class PendingEvent:
    """What the sensor needs to know of one delivery; never the body itself."""

    event_id: str
    received_at: str  # ISO-8601 UTC with microseconds
    event_type: str  # sanitised webhookEvent label
    issue_key: str | None = None
    issue_ids: tuple[str, ...] = field(default_factory=tuple)
    created: str | None = None  # the issue's `created`, when the body had it

    def __post_init__(self) -> None:
        if self.issue_key is not None and not is_valid_issue_key(self.issue_key):
            raise ValueError("invalid issue key in pending event")
        if not all(is_valid_issue_id(i) for i in self.issue_ids):
            raise ValueError("invalid issue id in pending event")
        if self.issue_key is None and not self.issue_ids:
            raise ValueError("a pending event names an issue key or issue ids")

    @property
    def file_name(self) -> str:
        return f"{self.event_id}.json"

    def to_json(self) -> bytes:
        return orjson.dumps(self)  # orjson serialises dataclasses natively, 50x faster than asdict

    @classmethod
    def from_json(cls, data: bytes) -> PendingEvent:
        raw = orjson.loads(data)
        raw["issue_ids"] = tuple(str(i) for i in raw.get("issue_ids") or ())
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__ if k in raw})


def new_event_id(now: datetime | None = None, label: str = "event") -> str:
    """Sortable, collision-free id: UTC time with microseconds, the label, a random suffix."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment.strftime(EVENT_ID_TIME_FORMAT)}_{label}_{secrets.token_hex(6)}"


def list_pending(root: DataRoot, limit: int | None = None) -> list[tuple[Path, PendingEvent]]:
    """Every readable pending event (the oldest ``limit`` of them), oldest first. Unreadable
    files are skipped, not deleted. Only the files returned are read: a receiver's inbox
    file holds the whole delivery, so a long backlog is not parsed on every sensor tick."""
    if not root.inbox_dir.is_dir():
        return []
    with os.scandir(root.inbox_dir) as entries:
        names = sorted(entry.name for entry in entries if _is_pending(entry))
    events = []
    for name in names:
        if limit is not None and len(events) >= limit:
            break
        path = root.inbox_dir / name
        try:
            events.append((path, PendingEvent.from_json(path.read_bytes())))
        except (OSError, ValueError, TypeError):
            continue
    return events


def _is_pending(entry: os.DirEntry[str]) -> bool:
    """A finished pending event: ``*.json``, not a hidden temp file, not the archive."""
    return entry.name.endswith(".json") and not entry.name.startswith(".") and entry.is_file()


def pending_summary(root: DataRoot, now: datetime | None = None) -> tuple[int, float | None]:
    """How many events wait in the inbox and the age in seconds of the oldest, read from the
    file names alone (no file is opened) so a health check stays cheap on a long backlog.
    Raises ``OSError`` when the inbox exists but cannot be listed."""
    if not root.inbox_dir.exists():
        return 0, None
    count, oldest = 0, None
    with os.scandir(root.inbox_dir) as entries:
        for entry in entries:
            if _is_pending(entry):
                count += 1
                oldest = entry if oldest is None or entry.name < oldest.name else oldest
    if oldest is None:
        return 0, None
    try:
        received = datetime.strptime(oldest.name.split("_", 1)[0], EVENT_ID_TIME_FORMAT)
        received_ts = received.replace(tzinfo=UTC).timestamp()
    except ValueError:  # not named by new_event_id: fall back to when it was written
        received_ts = oldest.stat().st_mtime
    age = (now or datetime.now(UTC)).timestamp() - received_ts
    return count, max(age, 0.0)


def is_queued(root: DataRoot, event_id: str) -> bool:
    """Whether ``event_id`` is in the inbox or was archived (its run succeeded). Used on the
    rare retry of an already-seen delivery, so a glob over the archive days is fine."""
    try:
        name = safe_join_under(root.inbox_dir, f"{event_id}.json").name
    except ValueError:
        return False
    if (root.inbox_dir / name).exists():
        return True
    archive = root.inbox_dir / "archive"
    return archive.is_dir() and any(archive.glob(f"*/{name}"))


def archive_pending(root: DataRoot, event_ids: list[str] | set[str]) -> int:
    """Move covered events to ``inbox/archive/<day>/``; returns how many were moved."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    archive = root.inbox_dir / "archive" / day
    archive.mkdir(parents=True, exist_ok=True)
    moved = 0
    for event_id in event_ids:
        source = safe_join_under(root.inbox_dir, f"{event_id}.json")
        try:
            os.replace(source, archive / source.name)
            moved += 1
        except FileNotFoundError:
            continue
    if moved:
        fsync_dir(root.inbox_dir)
    return moved


def marker_event_id(content: bytes) -> str | None:
    """The event id a marker names: a delivery record or pending event (JSON), or the bare
    id of older markers."""
    if content.startswith(b"{"):
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            event_id = orjson.loads(content).get("event_id")
            return event_id if isinstance(event_id, str) and event_id else None
        return None
    return content.decode("ascii", "replace").strip() or None
