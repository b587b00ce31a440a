"""Durable storage of a delivery: one file, which is the audit copy, the pending event and
the dedup marker at once, under three names.

The file holds the pending event's fields first, then the delivery itself (the headers of
interest and the verified body), so the sensor reads it as a pending event and an auditor
reads the whole delivery from the same bytes. One file per delivery instead of three keeps
a delivery to one inode, one write and one fsync: inode allocation and the syscalls around
it were most of the receiver's CPU.

Jira only retries what we did not acknowledge, so the order is what makes it safe:

1. The file is written in full with no name yet (see
   :func:`~jira_pipeline.storage.atomic.new_file`) and ``flock``-ed by this delivery.
2. The dedup marker (one per ``X-Atlassian-Webhook-Identifier``, hashed to a safe name) is
   a hard link to that file, made with ``link``, which fails if the marker exists:
   claiming the identifier is one atomic step, and the marker's content names the event.
   A concurrent duplicate finds the marker, waits on its lock until the first delivery is
   settled, then sees it queued: it writes an audit copy of its own (marked
   ``duplicate_of``) and is answered duplicate.
3. The file is linked into the audit log, fsynced, linked into the inbox and the inbox
   directory fsynced: only then is it acknowledged (202).

A marker counts as "already queued" only while the event it names is in the inbox or its
archive. So a crash between marker and inbox leaves a marker naming an event that does
not exist: Jira's retry takes the marker over and is queued (never lost); a crash after
the inbox link makes the retry a duplicate (never queued twice). An unnamed file never
outlives a crash (where the filesystem lacks ``O_TMPFILE``, a hidden ``.new.*.tmp`` may,
which nothing reads). Any write error removes the names this delivery made and becomes
:class:`StorageUnavailable`.

The data is fsynced before the inbox name exists, and the inbox directory after it (threads
that link at the same moment share one directory fsync). The audit and marker names survive
a process crash or restart through the page cache; a power cut may lose the newest of them,
which costs a forensic name or one duplicate run, never an event (the inbox name still
holds the whole delivery). Markers written before this layout hold only the event id as
text, or a pending event without the delivery; they are read the same way."""

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

from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.atomic import NewFile, atomic_create_bytes, new_file
from jira_pipeline.storage.inbox import PendingEvent, is_queued, marker_event_id, new_event_id
from jira_pipeline.storage.safe_paths import safe_join_under_str
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
    kept = ((name, headers.get(name)) for name in AUDITED_HEADERS)
    return {name: value[:HEADER_VALUE_MAX] for name, value in kept if value}


class DeliveryStore:
    """Writes deliveries under one data root; safe to share between threads and processes."""

    def __init__(self, root: DataRoot) -> None:
        self.root = root
        self.markers_dir = root.state_dir / "webhook_ids"
        # Plain strings, built once: pathlib's parsing showed in per-delivery profiles
        self._inbox_dir = str(root.inbox_dir)
        self._events_dir = str(root.webhook_events_dir)
        self._markers_dir = str(self.markers_dir)

    def store(
        self,
        delivery: Delivery,
        body: bytes,
        headers: Mapping[str, str],
        received: datetime | None = None,
    ) -> StoredDelivery:
        """Audit ``body`` and queue ``delivery`` unless its identifier was queued before.
        ``received`` defaults to now (tests pass a fixed receipt time)."""
        received = received or datetime.now(UTC)
        event_id = new_event_id(received, delivery.event_type)
        kept_headers = audited_headers(headers)
        identifier = kept_headers.get(IDENTIFIER_HEADER)
        event = self._pending(event_id, received, delivery)
        audit = safe_join_under_str(self._events_dir, event.file_name)
        queued = safe_join_under_str(self._inbox_dir, event.file_name)
        named: list[str] = []  # the names this delivery made, removed again on failure
        try:
            record = delivery_record(event, kept_headers, body)
            with new_file(self._inbox_dir, record, durable=False) as file:
                if identifier:
                    fcntl.flock(file.fd, fcntl.LOCK_EX)  # until settled: see module doc
                    marker = self._marker_file(identifier)
                    first = self._claim(marker, file)
                    if first:
                        duplicate = delivery_record(event, kept_headers, body, duplicate_of=first)
                        atomic_create_bytes(audit, duplicate, durable=False)
                        return StoredDelivery(event_id, duplicate_of=first)
                    named.append(marker)
                try:
                    file.link_as(audit)
                    named.append(audit)
                    os.fsync(file.fd)  # here, not in new_file: a duplicate never needs it
                    file.link_as(queued, durable=True)
                except BaseException:
                    # the marker is still locked by us, so no one relies on it yet
                    for name in named:
                        with contextlib.suppress(OSError):  # its directory may be the trouble
                            os.unlink(name)
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
            created=delivery.created,
        )

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
            first = marker_event_id(os.pread(fd, opened.st_size, 0))  # a whole delivery
            if first and is_queued(self.root, first):
                return first
            os.unlink(marker)  # we hold its lock, so nobody else is deciding about it
            return None
        finally:
            os.close(fd)  # releases the lock


def delivery_record(
    event: PendingEvent, headers: dict[str, str], body: bytes, duplicate_of: str | None = None
) -> bytes:
    """The one JSON document stored per delivery: the pending event's fields, then
    ``duplicate_of``, the kept headers and the verified body, embedded byte for byte (it
    already parsed as a JSON value, so splicing it in keeps the document valid JSON)."""
    delivery = orjson.dumps({"duplicate_of": duplicate_of, "headers": headers})
    return b"".join((orjson.dumps(event)[:-1], b",", delivery[1:-1], b',"body":', body, b"}"))
