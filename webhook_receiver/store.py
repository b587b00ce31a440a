"""Durable storage of a delivery: the audit copy, the dedup marker and the pending event.

Order matters because Jira only retries what we did not acknowledge:

1. Lock the delivery's dedup marker (one file per ``X-Atlassian-Webhook-Identifier``, hashed
   to a safe name, ``flock``-ed so every gunicorn worker and thread sees one owner). A
   marker with content means an earlier delivery was already queued: audit, answer duplicate.
2. Write the audit copy (atomic), then the event id into the marker, then the pending
   event (atomic and fsynced: the one write whose loss would lose the event).
3. A marker naming an event counts as "already queued" only while that event is in the
   inbox or its archive.

So a crash between marker and pending event leaves a marker naming an event that does not
exist: Jira's retry is queued (never lost), and a crash after the pending event makes the
retry a duplicate (never queued twice). A concurrent duplicate waits on the lock and then
sees the content. Any write error clears the marker, removes what this delivery wrote and
becomes :class:`StorageUnavailable`.

Only the pending event pays for fsync (two: file and directory), which is what bounds the
request rate. The audit copy and the marker survive a process crash or restart through
the page cache; a power cut may lose the newest of them, which costs a forensic copy or
one duplicate run, never an event (and on ext4's default data=ordered mode the inbox
fsync commits them too)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from jira_pipeline.storage import DataRoot, atomic_write_bytes, safe_join_under
from jira_pipeline.storage.atomic import FILE_MODE
from jira_pipeline.storage.inbox import PendingEvent, is_queued, new_event_id, write_pending
from webhook_receiver.payload import Delivery

IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"
AUDITED_HEADERS = (IDENTIFIER_HEADER, "X-Atlassian-Webhook-Retry", "X-Atlassian-Webhook-Flow")
HEADER_VALUE_MAX = 256


class StorageUnavailable(Exception):
    """The data root refused a write (full, read-only, not a directory…): answer 503 so
    Jira retries later instead of acknowledging an event that was not stored."""


@dataclass(frozen=True)
class StoredDelivery:
    event_id: str
    duplicate_of: str | None = None  # event id of the delivery that was queued first


def audited_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The delivery headers worth keeping (never the signature), capped in length."""
    return {name: headers[name][:HEADER_VALUE_MAX] for name in AUDITED_HEADERS if headers.get(name)}


class DeliveryStore:
    """Writes deliveries under one data root; safe to share between threads and processes."""

    def __init__(self, root: DataRoot) -> None:
        self.root = root
        self.markers_dir = root.state_dir / "webhook_ids"

    def store(self, delivery: Delivery, body: bytes, headers: Mapping[str, str]) -> StoredDelivery:
        """Audit ``body`` and queue ``delivery`` unless its identifier was queued before."""
        received = datetime.now(UTC)
        event_id = new_event_id(received, delivery.event_type)
        kept_headers = audited_headers(headers)
        try:
            with self._dedup_marker(kept_headers.get(IDENTIFIER_HEADER)) as marker:
                first = marker.queued_event_id()
                if first and not is_queued(self.root, first):
                    first = None  # a crash came between marker and pending event
                audit = self._write_audit(event_id, received, delivery, kept_headers, body, first)
                if first:
                    return StoredDelivery(event_id, duplicate_of=first)
                try:
                    marker.record(event_id)
                    write_pending(self.root, self._pending(event_id, received, delivery, audit))
                except BaseException:
                    marker.clear()
                    audit.unlink(missing_ok=True)
                    raise
                return StoredDelivery(event_id)
        except OSError as exc:
            raise StorageUnavailable(f"cannot store delivery: {exc.strerror or exc}") from exc

    def _pending(
        self, event_id: str, received: datetime, delivery: Delivery, audit: Path
    ) -> PendingEvent:
        return PendingEvent(
            event_id=event_id,
            received_at=received.isoformat(timespec="microseconds"),
            event_type=delivery.event_type,
            issue_key=delivery.issue_key,
            issue_ids=delivery.issue_ids,
            deleted=delivery.deleted,
            created=delivery.created,
            audit_file=audit.relative_to(self.root.root).as_posix(),
        )

    def _write_audit(
        self,
        event_id: str,
        received: datetime,
        delivery: Delivery,
        headers: dict[str, str],
        body: bytes,
        duplicate_of: str | None,
    ) -> Path:
        """One file per delivery. The verified body is embedded byte for byte: it already
        parsed as a JSON value, so splicing it in keeps the file valid JSON."""
        meta = orjson.dumps({
            "event_id": event_id,
            "received_at": received.isoformat(timespec="microseconds"),
            "event_type": delivery.event_type,
            "duplicate_of": duplicate_of,
            "headers": headers,
        })
        path = safe_join_under(self.root.webhook_events_dir, f"{event_id}.json")
        return atomic_write_bytes(path, meta[:-1] + b',"body":' + body + b"}", durable=False)

    def marker_path(self, identifier: str) -> Path:
        """Where the dedup marker of ``identifier`` lives: hashed, so any header text becomes
        a hex name that cannot leave its directory, and fanned out over 256 directories so
        none grows huge."""
        digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()
        return self.markers_dir / digest[:2] / digest

    @contextlib.contextmanager
    def _dedup_marker(self, identifier: str | None) -> Iterator[_Marker]:
        if not identifier:
            yield _Marker(None)
            return
        path = self.marker_path(identifier)
        fd = _open_locked(path)
        marker = _Marker(fd)
        try:
            yield marker
        finally:
            try:
                if not marker.queued_event_id():
                    path.unlink(missing_ok=True)  # still locked: no other holder of this inode
            finally:
                os.close(fd)  # releases the lock


class _Marker:
    """An exclusively locked marker file (or none, when the delivery has no identifier)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def queued_event_id(self) -> str | None:
        if self.fd is None:
            return None
        return os.pread(self.fd, 256, 0).decode("ascii", "replace") or None

    def record(self, event_id: str) -> None:
        """Name the event about to be queued (before it is: see the module docstring)."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, event_id.encode("ascii"), 0)

    def clear(self) -> None:
        """Forget a recorded event that was not queued after all (best effort)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)


def _open_locked(path: Path) -> int:
    """Open (creating) ``path`` and hold ``flock(LOCK_EX)`` on it. Retries when the file was
    unlinked by its previous holder while we waited, so two holders never see two inodes."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            opened, current = os.fstat(fd), os.stat(path)
            if (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino):
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
