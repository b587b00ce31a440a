"""Reading the raw store for the transform: issue files (read-only), their attachment
folders, and which month each file belongs to. Unreadable files are reported, never
fatal: one bad issue must not stop a month."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from jira_pipeline.core.keys import require_issue_key
from jira_pipeline.storage.paths import LEGACY_ISSUE_SUFFIX, DataRoot, issue_file_parts
from jira_pipeline.storage.raw_format import (
    CREATED_FIRST,
    HEADER_READ_BYTES,
    UnreadableRecord,
    is_compressed,
    record_header,
    record_json,
)
from jira_pipeline.storage.raw_store import iter_issue_files
from jira_pipeline.transform.rows import RawIssue, created_month, is_deleted, issue_month

if TYPE_CHECKING:  # a rebuild's worker processes read raw files but never the index
    from jira_pipeline.transform.month_index import MonthIndex, RawEntry

# How raw_months maps file_month over paths: the builtin ``map``, or a process pool's.
FileMapper = Callable[[Callable[[str], tuple[str | None, bool]], list[str]],
                      Iterable[tuple[str | None, bool]]]

log = logging.getLogger(__name__)

# `fields.created` in records written before compression (orjson, two-space indent):
# four spaces deep. Compressed records start `fields` with it (raw_format.CREATED_FIRST).
_CREATED_AT_DEPTH_2 = b'\n    "created": "'
_HINT_BYTES = 16_384


class UnreadableRawIssue(ValueError):
    """The raw file exists but is not a JSON object (truncated, corrupt, too deep)."""


def parse_issue_bytes(data: bytes) -> dict[str, Any]:
    """A stored record's bytes (either format) parsed: orjson first (fast); the stdlib as
    a fallback for what orjson refuses (lone surrogate escapes), repaired to valid UTF-8
    so Arrow accepts every string."""
    try:
        data = record_json(data)
    except UnreadableRecord as exc:
        raise UnreadableRawIssue(str(exc)) from None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            text = json.dumps(json.loads(data), ensure_ascii=False)
            parsed = orjson.loads(text.encode("utf-8", "replace"))
        except (ValueError, RecursionError) as exc:
            raise UnreadableRawIssue(str(exc)[:200]) from None
    if not isinstance(parsed, dict):
        raise UnreadableRawIssue("not a JSON object")
    return parsed


def read_raw_issue(root: DataRoot, key: str, *,
                   attachment_dirs: frozenset[str] | None = None) -> RawIssue | None:
    """The stored issue ``key`` (tombstones included); ``None`` when there is no file.
    Raises :class:`UnreadableRawIssue` for a file that does not parse.

    Paths are built from the validated key without resolving symlinks (a per-file
    ``realpath`` costs more than parsing the file); instead the issue file is opened with
    ``O_NOFOLLOW`` and symlinked attachment folders are ignored. A bulk caller passes
    ``attachment_dirs`` (see :func:`attachment_dirs`) to skip folders that do not exist."""
    require_issue_key(key)
    for relative in _issue_paths(key):
        try:
            fd = os.open(f"{_issues_dir(root)}/{relative}", os.O_RDONLY | os.O_NOFOLLOW)
            break
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # ELOOP: a symlink where an issue file should be
            raise UnreadableRawIssue(f"cannot open raw file: {exc.strerror}") from None
    else:
        return None
    try:
        stat = os.fstat(fd)
        content = _read_all(fd, stat.st_size)
    finally:
        os.close(fd)
    data = parse_issue_bytes(content)
    files: tuple[str, ...] = ()
    if attachment_dirs is None or key in attachment_dirs:
        files = _attachment_files(root.attachments_dir / key)
    return RawIssue(
        key=key,
        data=data,
        raw_file=f"raw/jira/issues/{relative}",
        mtime_ns=stat.st_mtime_ns,
        size=stat.st_size,
        attachment_files=files,
        attachments_dir=f"raw/jira/attachments/{key}",
        inode=stat.st_ino,
    )


def raw_version(root: DataRoot, key: str) -> tuple[int, int, int] | None:
    """(inode, mtime, size) of the raw file ``key`` now (``None``: no file): every save
    replaces the file, so a new version has a new inode even within one mtime tick."""
    found = _stat_raw_file(root, key)
    if found is None:
        return None
    stat = found[1]
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _stat_raw_file(root: DataRoot, key: str) -> tuple[str, os.stat_result] | None:
    """(path, ``lstat``) of the file holding ``key``'s record now (``None``: none)."""
    for relative in _issue_paths(key):
        path = f"{_issues_dir(root)}/{relative}"
        try:
            return path, os.stat(path, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None


def _issue_paths(key: str) -> tuple[str, str]:
    """Where ``key``'s record may be, under the issues folder, in the order the raw store
    reads them: the sharded file, then the earlier layout's ``KEY.json``."""
    return "/".join(issue_file_parts(key)), f"{key}{LEGACY_ISSUE_SUFFIX}"


@functools.lru_cache(maxsize=16)
def _issues_dir(root: DataRoot) -> str:
    """``root.issues_dir`` as text, built once (pathlib joins cost more per file than
    the rest of opening it)."""
    return os.fspath(root.issues_dir)


def _read_all(fd: int, size: int) -> bytes:
    """The whole file behind ``fd`` without a buffered file object: one ``read`` of its
    known ``size``, then until end of file (in case it grew meanwhile)."""
    parts = [os.read(fd, size + 1)]
    while parts[-1]:
        parts.append(os.read(fd, 1 << 16))
    return parts[0] if len(parts) == 2 else b"".join(parts)


def _read_head(path: str) -> bytes:
    """The first bytes of a raw record, as JSON text (plain system calls: a Python file
    object costs as much as the read, and a cold rebuild reads every raw file's head).
    A compressed record with a ``RECORD_HEADER`` gives its ``fields.created`` without
    being decompressed (as the JSON text that starts such a record's ``fields``); one
    without is read and decompressed whole (a few KB); a plain one is read up to
    ``_HINT_BYTES``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        head = os.read(fd, _HINT_BYTES)
        if not is_compressed(head):
            return head
        created = (record_header(head) or {}).get("created")
        if isinstance(created, str):
            return CREATED_FIRST + orjson.dumps(created)[1:]
        return record_json(_read_all_from(fd, head))
    except UnreadableRecord as exc:
        raise UnreadableRawIssue(str(exc)) from None
    finally:
        os.close(fd)


def _read_all_from(fd: int, head: bytes) -> bytes:
    """``head`` plus the rest of the file behind ``fd``."""
    parts = [head]
    while len(parts[-1]):
        parts.append(os.read(fd, 1 << 16))
    return head if len(parts) == 2 else b"".join(parts)


def _attachment_files(folder: Path) -> tuple[str, ...]:
    try:
        if folder.is_symlink():
            return ()
        return tuple(sorted(e.name for e in os.scandir(folder)
                            if e.is_file(follow_symlinks=False)))
    except (FileNotFoundError, NotADirectoryError):
        return ()


def attachment_dirs(root: DataRoot) -> frozenset[str]:
    """Issue keys that have an attachment folder (one listing instead of one per issue)."""
    if not root.attachments_dir.is_dir():
        return frozenset()
    return frozenset(e.name for e in os.scandir(root.attachments_dir)
                     if e.is_dir(follow_symlinks=False))


def month_hint(head: bytes, path: str) -> str | None:
    """The month of ``fields.created`` from the first bytes of a raw record (JSON text):
    where the raw store puts ``fields.created`` (first in ``fields``); in a record of the
    earlier, indented format the first parseable timestamp at its depth (Jira sends
    ``fields`` before ``renderedFields``, whose ``created`` is not ISO anyway); else the
    whole file is parsed. A hint: the rebuild checks every issue's month when it parses
    the file, and re-files an issue whose hint was wrong."""
    start = head.find(CREATED_FIRST, 0, 4096)
    if start >= 0:
        value_start = start + len(CREATED_FIRST)
        value_end = head.find(b'"', value_start, value_start + 48)
        with contextlib.suppress(ValueError, UnicodeDecodeError, OverflowError):
            return created_month(head[value_start:value_end].decode())
    start = head.find(_CREATED_AT_DEPTH_2)
    while start >= 0:
        value_start = start + len(_CREATED_AT_DEPTH_2)
        value_end = head.find(b'"', value_start, value_start + 48)
        if value_end > value_start:
            with contextlib.suppress(ValueError, UnicodeDecodeError, OverflowError):
                return created_month(head[value_start:value_end].decode())
        start = head.find(_CREATED_AT_DEPTH_2, value_start)
    with open(path, "rb") as handle:
        return issue_month(parse_issue_bytes(handle.read()))


def raw_months(root: DataRoot, index: MonthIndex, *,
               map_files: FileMapper = map) -> dict[str | None, list[str]]:
    """Keys of every raw issue file by month (a :func:`month_hint`; ``None``: unplaceable
    or unreadable), from the index's cache where the file's mtime and size are unchanged;
    the cache is refreshed. Grouped here, since every caller groups: a list slot per key
    instead of a dict entry (~100 bytes a file at 1,000,000 files). The other files' heads are read through ``map_files`` (a
    rebuild passes its worker pool's ``map``: a cold store has 1,000,000 heads to read).

    The files are taken ``_MONTHS_BATCH`` at a time (the next batch listed while the pool
    reads the heads of the one before), so what this process holds besides the answer is
    one batch's paths and stats, not the whole store's: at 1,000,000 files that was
    most of the rebuild's main-process peak. The cache is asked for each batch's keys
    too, not loaded whole (a warm 1,000,000-file rebuild's main process: 400 → 240 MiB)."""
    months: dict[str | None, list[str]] = {}
    pending: tuple[list[_Found], Iterator[tuple[str | None, bool]]] | None = None
    files = iter_issue_files(root)
    while batch := list(itertools.islice(files, _MONTHS_BATCH)):
        found: list[_Found] = []
        cached = index.raw_entries(key for key, _ in batch)
        for key, entry in batch:
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            known = cached.get(key)
            if known is not None and known[1:] != (stat.st_mtime_ns, stat.st_size):
                known = None
            found.append((key, known, entry.path, stat.st_mtime_ns, stat.st_size))
        del batch
        hints = iter(map_files(file_month, [f[2] for f in found if f[1] is None]))
        if pending is not None:
            _settle(index, *pending, months)
        pending = found, hints
    if pending is not None:
        _settle(index, *pending, months)
    seen = set(itertools.chain.from_iterable(months.values()))
    gone = [key for key in index.raw_keys() if key not in seen]
    if gone:  # files gone since they were cached
        index.drop_raw(gone)
    return months


_MONTHS_BATCH = 20_000
_Found = tuple[str, "RawEntry | None", str, int, int]  # key, cached entry, path, mtime, size


def _settle(index: MonthIndex, found: list[_Found], hints: Iterator[tuple[str | None, bool]],
            months: dict[str | None, list[str]]) -> None:
    """One batch of :func:`raw_months`: keys of ``found`` into ``months`` (the heads read
    in ``hints``, in order, for the files the cache did not know), cache refreshed."""
    changed: dict[str, RawEntry] = {}
    for key, known, _, mtime_ns, size in found:
        if known is None:
            month, readable = next(hints)
            if not readable:
                log.warning("raw issue %s is not readable; skipped", key)
            changed[key] = (month, mtime_ns, size)
        else:
            month = known[0]
        months.setdefault(month, []).append(key)
    if changed:
        index.put_raw(changed)


def indexed_month_keys(root: DataRoot, index: MonthIndex, month: str) -> dict[str, bool]:
    """``{key: is a tombstone}`` of the raw files of ``month`` as the index's cache has
    them (every file the pipeline wrote and transformed, or rebuilt from), each
    re-checked: a file whose mtime or size changed has its month read again, a vanished
    one is dropped; the cache is refreshed. A raw file the cache never saw (placed by
    hand, not yet transformed) is not found here: :func:`raw_months` lists the whole
    store for that, which costs seconds per call at 1,000,000 files, too much for every
    month run. Tombstones are told by the record header (:func:`_is_tombstone_file`)."""
    keys: dict[str, bool] = {}
    changed: dict[str, RawEntry] = {}
    gone: list[str] = []
    for key, (_, mtime_ns, size) in index.raw_entries_of_month(month).items():
        found = _stat_raw_file(root, key)
        if found is None:
            gone.append(key)
            continue
        path, stat = found
        if (stat.st_mtime_ns, stat.st_size) != (mtime_ns, size):
            now, readable = file_month(path)
            if not readable:
                log.warning("raw issue %s is not readable; skipped", key)
            changed[key] = (now, stat.st_mtime_ns, stat.st_size)
            if now != month:
                continue
        keys[key] = _is_tombstone_file(path)
    if changed:
        index.put_raw(changed)
    if gone:
        index.drop_raw(gone)
    return keys


def _is_tombstone_file(path: str) -> bool:
    """Whether the record at ``path`` is a tombstone, from its header's first bytes (a
    record without a header is parsed; an unreadable one is not a tombstone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        head = os.read(fd, HEADER_READ_BYTES)
        header = record_header(head)
        if header is not None:
            return bool(header.get("deleted"))
        return is_deleted(parse_issue_bytes(_read_all_from(fd, head)))
    except (OSError, UnreadableRawIssue):
        return False
    finally:
        os.close(fd)


def file_month(path: str) -> tuple[str | None, bool]:
    """(:func:`month_hint` of the raw file at ``path``, whether it was readable); a
    module-level function, so worker processes can run it."""
    try:
        return month_hint(_read_head(path), path), True
    except (OSError, UnreadableRawIssue):
        return None, False
