"""Reading the raw store for the transform: issue files (read-only), their attachment
folders, and which month each file belongs to. Unreadable files are reported, never
fatal: one bad issue must not stop a month."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import orjson

from jira_pipeline.jira.dates import month_of
from jira_pipeline.jira.keys import is_valid_issue_key, require_issue_key
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.month_index import MonthIndex, RawEntry
from jira_pipeline.transform.rows import RawIssue, issue_month

log = logging.getLogger(__name__)

# `fields.created` as the raw store writes it (orjson, two-space indent): four spaces deep.
_CREATED_AT_DEPTH_2 = b'\n    "created": "'
_HINT_BYTES = 16_384


class UnreadableRawIssue(ValueError):
    """The raw file exists but is not a JSON object (truncated, corrupt, too deep)."""


def parse_issue_bytes(data: bytes) -> dict[str, Any]:
    """orjson first (fast); the stdlib as a fallback for what orjson refuses (lone
    surrogate escapes), repaired to valid UTF-8 so Arrow accepts every string."""
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
    path = root.issues_dir / f"{key}.json"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:  # ELOOP: a symlink where an issue file should be
        raise UnreadableRawIssue(f"cannot open raw file: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        stat = os.fstat(handle.fileno())
        content = handle.read()
    data = parse_issue_bytes(content)
    files: tuple[str, ...] = ()
    if attachment_dirs is None or key in attachment_dirs:
        files = _attachment_files(root.attachments_dir / key)
    return RawIssue(
        key=key,
        data=data,
        raw_file=f"raw/jira/issues/{key}.json",
        mtime_ns=stat.st_mtime_ns,
        size=stat.st_size,
        attachment_files=files,
        attachments_dir=f"raw/jira/attachments/{key}",
    )


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
    """The month of ``fields.created`` from the first bytes of a raw file: the first
    parseable timestamp at the depth the raw store writes ``fields.created`` (Jira sends
    ``fields`` before ``renderedFields``, whose ``created`` is not ISO anyway); else the
    whole file is parsed. A hint: the rebuild checks every issue's month when it parses
    the file, and re-files an issue whose hint was wrong."""
    start = head.find(_CREATED_AT_DEPTH_2)
    while start >= 0:
        value_start = start + len(_CREATED_AT_DEPTH_2)
        value_end = head.find(b'"', value_start, value_start + 48)
        if value_end > value_start:
            with contextlib.suppress(ValueError, UnicodeDecodeError, OverflowError):
                return month_of(head[value_start:value_end].decode())
        start = head.find(_CREATED_AT_DEPTH_2, value_start)
    with open(path, "rb") as handle:
        return issue_month(parse_issue_bytes(handle.read()))


def raw_months(root: DataRoot, index: MonthIndex) -> dict[str, str | None]:
    """Month (a :func:`month_hint`) of every raw issue file (``None``: unplaceable or
    unreadable), from the index's cache where the file's mtime and size are unchanged;
    the cache is refreshed."""
    cached = index.raw_entries()
    current: dict[str, RawEntry] = {}
    changed: dict[str, RawEntry] = {}
    entries = os.scandir(root.issues_dir) if root.issues_dir.is_dir() else ()
    for entry in entries:
        key = entry.name[:-5] if entry.name.endswith(".json") else ""
        if not is_valid_issue_key(key) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        known = cached.get(key)
        if known is not None and known[1:] == (stat.st_mtime_ns, stat.st_size):
            current[key] = known
            continue
        try:
            with open(entry.path, "rb") as handle:
                month = month_hint(handle.read(_HINT_BYTES), entry.path)
        except (OSError, UnreadableRawIssue):
            log.warning("raw issue %s is not readable; skipped", key)
            month = None
        current[key] = changed[key] = (month, stat.st_mtime_ns, stat.st_size)
    if changed:
        index.put_raw(changed)
    gone = cached.keys() - current.keys()
    if gone:
        index.drop_raw(gone)
    return {key: entry[0] for key, entry in current.items()}
