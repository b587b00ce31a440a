"""Durable storage of a delivery: the pending event, the dedup marker and the audit copy.

Jira only retries what we did not acknowledge, so the order is what makes it safe:

1. The pending event is written in full as a file with no name yet (see
   :func:`~jira_pipeline.storage.atomic.new_file`) and ``flock``-ed by this delivery.
2. The dedup marker (one per ``X-Atlassian-Webhook-Identifier``, hashed to a safe name) is
   a hard link to that same file, made with ``link``, which fails if the marker exists:
   claiming the identifier is one atomic step, no separate marker file is created, and the
   marker's content is the pending event it names. A concurrent duplicate finds the marker,
   waits on its lock until the first delivery is settled, then sees it queued: audit,
   answer duplicate.
3. The audit copy is created, the pending event fsynced, linked into the inbox and the
   inbox directory fsynced: only then is it acknowledged (202).

A marker counts as "already queued" only while the event it names is in the inbox or its
archive. So a crash between marker and inbox leaves a marker naming an event that does
not exist: Jira's retry takes the marker over and is queued (never lost); a crash after
the inbox link makes the retry a duplicate (never queued twice). An unnamed file never
outlives a crash (where the filesystem lacks ``O_TMPFILE``, a hidden ``.new.*.tmp`` may,
which nothing reads). Any write error removes the marker and what this delivery wrote,
and becomes :class:`StorageUnavailable`.

Only the pending event pays for fsync (its data, then its directory entry; threads that
link into the inbox at the same moment share one directory fsync), which is what bounds
latency. The audit copy and the marker survive a process crash or restart through
the page cache; a power cut may lose the newest of them, which costs a forensic copy or
one duplicate run, never an event (and on ext4's default data=ordered mode the inbox
fsync commits them too). Markers written before this layout hold only the event id as
text; they are read the same way."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from jira_pipeline.storage import DataRoot, safe_join_under
from jira_pipeline.storage.atomic import NewFile, atomic_create_bytes, new_file
from jira_pipeline.storage.inbox import PendingEvent, is_queued, new_event_id
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
        # Plain strings, built once: pathlib's parsing showed in per-delivery profiles
        self._inbox_dir = str(root.inbox_dir)
        self._events_dir = str(root.webhook_events_dir)
        self._events_rel = root.webhook_events_dir.relative_to(root.root).as_posix()
        self._markers_dir = str(self.markers_dir)

    def store(self, delivery: Delivery, body: bytes, headers: Mapping[str, str]) -> StoredDelivery:
        """Audit ``body`` and queue ``delivery`` unless its identifier was queued before."""
        received = datetime.now(UTC)
        event_id = new_event_id(received, delivery.event_type)
        kept_headers = audited_headers(headers)
        identifier = kept_headers.get(IDENTIFIER_HEADER)
        event = self._pending(event_id, received, delivery)
        audit = safe_join_under(self._events_dir, event.file_name)
        queued = safe_join_under(self._inbox_dir, event.file_name)
        marker = None
        try:
            with new_file(self._inbox_dir, event.to_json(), durable=False) as pending:
                if identifier:
                    fcntl.flock(pending.fd, fcntl.LOCK_EX)  # until settled: see module doc
                    marker = self._marker_file(identifier)
                    first = self._claim(marker, pending)
                    if first:
                        marker = None  # not ours
                        self._write_audit(audit, event, kept_headers, body, first)
                        return StoredDelivery(event_id, duplicate_of=first)
                try:
                    self._write_audit(audit, event, kept_headers, body, None)
                    os.fsync(pending.fd)  # here, not in new_file: a duplicate never needs it
                    pending.link_as(queued, durable=True)
                except BaseException:
                    # the marker is still locked by us, so no one relies on it yet
                    for written in [audit] if marker is None else [audit, marker]:
                        with contextlib.suppress(OSError):  # its directory may be the trouble
                            os.unlink(written)
                    raise
                return StoredDelivery(event_id)
        except OSError as exc:
            raise StorageUnavailable(f"cannot store delivery: {exc.strerror or exc}") from exc

    def _pending(self, event_id: str, received: datetime, delivery: Delivery) -> PendingEvent:
        return PendingEvent(
            event_id=event_id,
            received_at=received.isoformat(timespec="microseconds"),
            event_type=delivery.event_type,
            issue_key=delivery.issue_key,
            issue_ids=delivery.issue_ids,
            deleted=delivery.deleted,
            created=delivery.created,
            audit_file=f"{self._events_rel}/{event_id}.json",  # the name store() audits under
        )

    @staticmethod
    def _write_audit(
        path: Path,
        event: PendingEvent,
        headers: dict[str, str],
        body: bytes,
        duplicate_of: str | None,
    ) -> None:
        """One file per delivery, never replaced. The verified body is embedded byte for
        byte: it already parsed as a JSON value, so splicing it in keeps the file valid JSON."""
        meta = orjson.dumps({
            "event_id": event.event_id,
            "received_at": event.received_at,
            "event_type": event.event_type,
            "duplicate_of": duplicate_of,
            "headers": headers,
        })
        atomic_create_bytes(path, meta[:-1] + b',"body":' + body + b"}", durable=False)

    def marker_path(self, identifier: str) -> Path:
        """Where the dedup marker of ``identifier`` lives: hashed, so any header text becomes
        a hex name that cannot leave its directory, and fanned out over 256 directories so
        none grows huge."""
        return Path(self._marker_file(identifier))

    def _marker_file(self, identifier: str) -> str:
        digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self._markers_dir}/{digest[:2]}/{digest}"

    def _claim(self, marker: str, pending: NewFile) -> str | None:
        """Make ``pending`` the marker, or return the event id an earlier delivery queued.
        A marker whose event is not queued (left by a crash) is taken over."""
        while True:
            try:
                pending.link_as(marker)
                return None
            except FileExistsError:
                pass
            first = self._settled_marker(marker)
            if first:
                return first

    def _settled_marker(self, marker: str) -> str | None:
        """Wait for the holder of an existing marker, then return the event it queued, or
        remove a marker that queued nothing (None: the caller tries again to claim it)."""
        try:
            fd = os.open(marker, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # its holder failed and removed it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            opened = os.fstat(fd)
            try:
                current = os.stat(marker)
            except FileNotFoundError:
                return None
            if (opened.st_dev, opened.st_ino) != (current.st_dev, current.st_ino):
                return None  # replaced while we waited: look at the new one
            first = marker_event_id(os.pread(fd, 1 << 16, 0))
            if first and is_queued(self.root, first):
                return first
            os.unlink(marker)  # we hold its lock, so nobody else is deciding about it
            return None
        finally:
            os.close(fd)  # releases the lock


def marker_event_id(content: bytes) -> str | None:
    """The event id a marker names: a pending event (JSON), or the bare id of older markers."""
    if content.startswith(b"{"):
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            event_id = orjson.loads(content).get("event_id")
            return event_id if isinstance(event_id, str) and event_id else None
        return None
    return content.decode("ascii", "replace").strip() or None
