"""Retention of the receiver's copies of signed deliveries.

Every accepted delivery is one file under up to three names (see ``webhook_receiver/store.py``):
the audit copy (``raw/jira/webhook_events/``), the inbox entry (``raw/jira/inbox/``, moved to
``inbox/archive/<day>/`` once its run succeeded) and the dedup marker
(``raw/jira/state/webhook_ids/<xx>/<sha256>``). Each name holds the whole signed body, which
replays as a valid delivery for as long as it exists, so the names are removed after a
retention period. A delivery still pending in the inbox is never touched, under any name:
the inbox entry is the only record of work not yet done, and its marker is what keeps
Jira's retries of it from being queued twice.

Only regular files in those fixed folders are removed; a folder that resolves outside the
data root (a symlink) is skipped and reported, and nothing is followed out of it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from jira_pipeline.storage.inbox import marker_event_id
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.safe_paths import UnsafePathError, safe_join_under_str

DEFAULT_RETENTION_DAYS = 30
SECONDS_PER_DAY = 86400
MARKERS_FOLDER = ("raw", "jira", "state", "webhook_ids")


@dataclass
class PruneSummary:
    """What one pass removed and kept; ``skipped`` names folders refused as unsafe."""

    audit_copies: int = 0
    archived_events: int = 0
    markers: int = 0
    kept_pending: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return self.audit_copies + self.archived_events + self.markers

    def line(self) -> str:
        text = (f"removed {self.audit_copies} audit copies, {self.archived_events} archived "
                f"events, {self.markers} dedup markers; kept {self.kept_pending} still pending")
        return text + (f"; skipped unsafe folders: {', '.join(self.skipped)}" if self.skipped else "")


def prune_webhook_copies(
    root: DataRoot, older_than_days: int = DEFAULT_RETENTION_DAYS, now: float | None = None
) -> PruneSummary:
    """Remove audit copies, archived inbox events and dedup markers last written more than
    ``older_than_days`` days before ``now`` (epoch seconds), keeping every name of an event
    still pending in the inbox. Safe to run while the receiver and the sensor work: what is
    pending is read first, and anything written later is younger than the cut-off."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) \
            or older_than_days < 1:
        raise ValueError(f"retention must be a whole number of days >= 1, not {older_than_days!r}")
    cutoff = (time.time() if now is None else now) - older_than_days * SECONDS_PER_DAY
    summary = PruneSummary()
    inbox = _folder(root, ("raw", "jira", "inbox"), summary)
    pending_ids, pending_inodes = _pending(inbox)

    def keep(entry: os.DirEntry[str], event_id: str | None) -> bool:
        status = entry.stat(follow_symlinks=False)
        if (status.st_dev, status.st_ino) in pending_inodes or event_id in pending_ids:
            summary.kept_pending += 1
            return True
        return status.st_mtime >= cutoff

    for entry in _files(_folder(root, ("raw", "jira", "webhook_events"), summary)):
        if not keep(entry, entry.name.removesuffix(".json")):
            summary.audit_copies += _unlink(entry.path)
    archive = _folder(root, ("raw", "jira", "inbox", "archive"), summary)
    for day in _subfolders(archive):
        for entry in _files(day):
            if not keep(entry, entry.name.removesuffix(".json")):
                summary.archived_events += _unlink(entry.path)
        with contextlib.suppress(OSError):
            os.rmdir(day)  # only once empty; a day being archived into right now stays
    for fan_out in _subfolders(_folder(root, MARKERS_FOLDER, summary)):
        for entry in _files(fan_out):
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                summary.markers += _remove_marker(entry, pending_ids, pending_inodes, summary)
    return summary


def _folder(root: DataRoot, parts: tuple[str, ...], summary: PruneSummary) -> str | None:
    """``parts`` under the data root, or None (noted in ``summary``) if it resolves outside."""
    try:
        return safe_join_under_str(root.root, *parts)
    except UnsafePathError:
        summary.skipped.append("/".join(parts))
        return None


def _pending(inbox: str | None) -> tuple[set[str], set[tuple[int, int]]]:
    """Event ids and inodes of the inbox's pending entries (an audit copy or marker of the
    same delivery is the same inode)."""
    ids, inodes = set(), set()
    for entry in _files(inbox):
        if entry.name.endswith(".json"):
            status = entry.stat(follow_symlinks=False)
            ids.add(entry.name.removesuffix(".json"))
            inodes.add((status.st_dev, status.st_ino))
    return ids, inodes


def _entries(folder: str | None) -> Iterator[os.DirEntry[str]]:
    if folder is None:
        return
    try:
        with os.scandir(folder) as entries:
            yield from list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return


def _files(folder: str | None) -> Iterator[os.DirEntry[str]]:
    """Regular files of ``folder``, never through a symlink, never hidden temp files."""
    for entry in _entries(folder):
        if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
            yield entry


def _subfolders(folder: str | None) -> Iterator[str]:
    for entry in _entries(folder):
        if entry.is_dir(follow_symlinks=False):
            yield entry.path


def _unlink(path: str) -> int:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return 0  # removed meanwhile (archived, or by another pass)
    return 1


def _remove_marker(
    entry: os.DirEntry[str], pending_ids: set[str], pending_inodes: set[tuple[int, int]],
    summary: PruneSummary,
) -> int:
    """Remove an old marker unless its event is pending or a delivery holds its lock (the
    receiver decides about a marker under ``flock``; so does this, so neither removes a
    marker the other is reading)."""
    try:
        fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # a delivery is deciding about it right now
        opened = os.fstat(fd)
        try:
            current = os.stat(entry.path, follow_symlinks=False)
        except FileNotFoundError:
            return 0
        identity = (opened.st_dev, opened.st_ino)
        if identity != (current.st_dev, current.st_ino):
            return 0  # replaced meanwhile: a fresh marker
        if identity in pending_inodes or (
            marker_event_id(os.pread(fd, opened.st_size, 0)) in pending_ids  # older layouts
        ):
            summary.kept_pending += 1
            return 0
        return _unlink(entry.path)
    finally:
        os.close(fd)
