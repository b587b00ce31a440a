"""The raw issue store: one record per issue, ``raw/jira/issues/PROJECT/BUCKET/KEY.json.zst``
(:meth:`DataRoot.issue_file`; the format is :mod:`raw_format`'s), is the issue exactly as
``GET /rest/api/3/issue/KEY`` returned it, plus our own underscore keys:

- ``_remote_links``: list of remote links (``GET …/remotelink``);
- ``_sla``: the JSM SLA records (every page's ``values``); ``[]`` when JSM has none for
  the issue; absent when SLAs were never fetched (no SLA account);
- ``_fetched_at``: when we last wrote it (ISO-8601 UTC);
- ``_deleted_at``: set on a tombstone (Jira answered 404: deleted or no permission).

Every write is atomic and holds the issue's lock, and never replaces a newer stored
``fields.updated`` with an older one: webhooks and backfills race, the newest wins.
Attachment bytes live in ``raw/jira/attachments/KEY/ID_filename``.

Records of the earlier layout (``raw/jira/issues/KEY.json``, plain JSON) are read as
they are; the next write of the issue (or ``jira-pipeline raw migrate``) replaces them.
Everything that reads raw records goes through this module (or :mod:`raw_format`)."""

from __future__ import annotations

import os
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from jira_pipeline.core.dates import parse_jira_datetime
from jira_pipeline.core.keys import is_valid_issue_id, is_valid_issue_key, require_issue_key
from jira_pipeline.storage.atomic import atomic_write_bytes, atomic_write_json
from jira_pipeline.storage.locks import issue_lock
from jira_pipeline.storage.paths import (
    ISSUE_SUFFIX,
    LEGACY_ISSUE_SUFFIX,
    DataRoot,
    issue_file_parts,
)
from jira_pipeline.storage.raw_format import (
    HEADER_READ_BYTES,
    UnreadableRecord,
    encode_record,
    record_header,
    record_json,
)
from jira_pipeline.storage.safe_paths import safe_join_under

FIELD_LIST_FILE = "fields.json"
MAX_ATTACHMENT_NAME_BYTES = 180  # plus "ID_" stays well under the 255-byte NAME_MAX
_MAX_EXTENSION_CHARS = 16
_SAFE_PUNCTUATION = frozenset("._-+()[]@,=~ ")


@dataclass(frozen=True)
class SaveResult:
    """What :func:`save_issue` did: ``written``, or skipped because the stored copy is newer."""

    written: bool
    skipped_older: bool
    path: Path


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def load_issue(root: DataRoot, key: str) -> dict[str, Any] | None:
    """The stored issue (tombstones included), or ``None`` when absent or unreadable
    (an unreadable file is simply fetched again)."""
    try:
        data = orjson.loads(read_record_json(root, key) or b"null")
    except (orjson.JSONDecodeError, UnreadableRecord):
        return None
    return data if isinstance(data, dict) else None


def read_record_json(root: DataRoot, key: str) -> bytes | None:
    """The stored record of ``key`` as JSON text, in either layout (``None``: none);
    :class:`UnreadableRecord` for a corrupt compressed file."""
    path = stored_issue_file(root, key)
    if path is None:
        return None
    try:
        return record_json(path.read_bytes())
    except FileNotFoundError:  # replaced or migrated between the look and the read
        return read_record_json(root, key) if path.suffix == LEGACY_ISSUE_SUFFIX else None


def stored_issue_file(root: DataRoot, key: str) -> Path | None:
    """The file holding ``key``'s record now: the current layout's, else an earlier
    layout's (``None``: neither exists)."""
    for path in (root.issue_file(key), root.legacy_issue_file(key)):
        if path.is_file():
            return path
    return None


def _write_record(root: DataRoot, key: str, record: dict[str, Any]) -> None:
    """Replace ``key``'s record atomically (hold its lock); an earlier layout's file goes
    only after the new one is in place, and readers look for the new one first."""
    atomic_write_bytes(root.issue_file(key), encode_record(record))
    root.legacy_issue_file(key).unlink(missing_ok=True)


def issue_updated(issue: dict[str, Any] | None) -> datetime | None:
    """``fields.updated`` as an aware datetime (``None`` when missing)."""
    fields = (issue or {}).get("fields") or {}
    return parse_jira_datetime(fields.get("updated"))


def is_tombstone(issue: dict[str, Any] | None) -> bool:
    return bool(issue and issue.get("_deleted_at"))


def _is_older(candidate: dict[str, Any], stored: dict[str, Any] | None) -> bool:
    if stored is None or is_tombstone(stored):
        return False
    new, old = issue_updated(candidate), issue_updated(stored)
    return new is not None and old is not None and new < old


def save_issue(
    root: DataRoot,
    issue: dict[str, Any],
    *,
    remote_links: list[Any] | None = None,
    sla: list[Any] | None = None,
    force: bool = False,
) -> SaveResult:
    """Store ``issue`` with its overlays. ``remote_links``/``sla`` of ``None`` keep the
    stored ones (a refetch does not forget the SLA overlay). ``force`` writes even over a
    newer stored copy."""
    key = require_issue_key(issue.get("key"))
    path = root.issue_file(key)
    with issue_lock(root, key):
        stored = load_issue(root, key)
        if not force and _is_older(issue, stored):
            return SaveResult(written=False, skipped_older=True, path=path)
        record = {k: v for k, v in issue.items() if not k.startswith("_")}
        kept = stored if stored and not is_tombstone(stored) else {}
        record["_remote_links"] = (
            list(remote_links) if remote_links is not None else kept.get("_remote_links", [])
        )
        if sla is not None:
            record["_sla"] = list(sla)
        elif "_sla" in kept:
            record["_sla"] = kept["_sla"]
        record["_fetched_at"] = now_iso()
        _write_record(root, key, record)
    return SaveResult(written=True, skipped_older=False, path=path)


def patch_issue(
    root: DataRoot,
    key: str,
    *,
    fields: dict[str, Any] | None = None,
    sla: list[Any] | None = None,
    dry_run: bool = False,
) -> bool:
    """Overlay some ``fields`` and/or the SLA records on the stored issue, under its lock.
    Fields older than the stored ``updated`` are ignored. Returns True when the stored
    JSON changed, or would change with ``dry_run`` (``_fetched_at`` aside); nothing is
    written otherwise."""
    with issue_lock(root, key):
        stored = load_issue(root, key)
        if stored is None or is_tombstone(stored):
            return False
        record = dict(stored)
        if fields and not _is_older({"fields": fields}, stored):
            record["fields"] = {**(stored.get("fields") or {}), **fields}
        if sla is not None:
            record["_sla"] = list(sla)
        if _without_stamp(record) == _without_stamp(stored):
            return False
        if dry_run:
            return True
        record["_fetched_at"] = now_iso()
        _write_record(root, key, record)
    return True


def _without_stamp(issue: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in issue.items() if k != "_fetched_at"}


def tombstone_issue(root: DataRoot, key: str) -> bool:
    """Mark a stored issue deleted (``_deleted_at``) and remove its attachment files.
    Returns True when a tombstone was written now; an issue never stored gets none."""
    with issue_lock(root, key):
        stored = load_issue(root, key)
        shutil.rmtree(root.issue_attachments_dir(key), ignore_errors=True)
        if stored is None or is_tombstone(stored):
            return False
        _write_record(root, key, {**stored, "_deleted_at": now_iso()})
    return True


def is_stored_tombstone(root: DataRoot, key: str) -> bool:
    """Whether ``key``'s stored record is a tombstone (an absent or unreadable one is not):
    from the record's header where it has one (the month checks ask this of every issue
    of a month: ~44,000 decompressed and parsed records otherwise), else the record."""
    path = stored_issue_file(root, key)
    if path is None:
        return False
    try:
        with open(path, "rb") as handle:
            header = record_header(handle.read(HEADER_READ_BYTES))
    except FileNotFoundError:  # replaced or migrated between the look and the read
        header = None
    if header is None:
        return is_tombstone(load_issue(root, key))
    return bool(header.get("deleted"))


def iter_issue_keys(root: DataRoot) -> Iterator[str]:
    """Keys of every stored issue (tombstones included), sorted."""
    yield from sorted(key for key, _ in iter_issue_files(root))


def iter_issue_files(root: DataRoot) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(key, directory entry) of every stored record file, in no particular order: the
    sharded ``PROJECT/BUCKET/KEY.json.zst`` files, then the earlier layout's ``KEY.json``
    files whose key has no sharded file. Temp files, symlinks and names that are not
    where their key belongs are skipped. One pass, memory bounded by the earlier
    layout's files only (1,000,000 issues are listed without holding them)."""
    legacy: dict[str, os.DirEntry[str]] = {}
    try:
        top = list(os.scandir(root.issues_dir))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in top:
        if entry.name.endswith(LEGACY_ISSUE_SUFFIX):
            key = entry.name[: -len(LEGACY_ISSUE_SUFFIX)]
            if is_valid_issue_key(key) and entry.is_file(follow_symlinks=False):
                legacy[key] = entry
        elif entry.is_dir(follow_symlinks=False):
            for key, found in _project_files(entry):
                legacy.pop(key, None)
                yield key, found
    yield from legacy.items()


def _project_files(project: os.DirEntry[str]) -> Iterator[tuple[str, os.DirEntry[str]]]:
    with os.scandir(project.path) as buckets:
        for bucket in buckets:
            if not bucket.is_dir(follow_symlinks=False):
                continue
            with os.scandir(bucket.path) as files:
                for entry in files:
                    key = entry.name[: -len(ISSUE_SUFFIX)]
                    if (entry.name.endswith(ISSUE_SUFFIX) and is_valid_issue_key(key)
                            and issue_file_parts(key)[:2] == (project.name, bucket.name)
                            and entry.is_file(follow_symlinks=False)):
                        yield key, entry


def migrate_issue_files(root: DataRoot) -> int:
    """Rewrite every record still in the earlier layout (``issues/KEY.json``) in the
    current one, each under its issue's lock; returns how many. Unreadable files are left
    where they are (a later fetch replaces them). Safe to rerun or interrupt."""
    moved = 0
    earlier = [key for key, entry in iter_issue_files(root)
               if not entry.name.endswith(ISSUE_SUFFIX)]
    for key in earlier:
        with issue_lock(root, key):
            stored = load_issue(root, key)
            if stored is not None and root.legacy_issue_file(key).exists():
                _write_record(root, key, stored)
                moved += 1
    return moved


def save_field_list(root: DataRoot, fields: list[dict[str, Any]]) -> Path:
    """Cache ``GET /rest/api/3/field`` (custom field names for the transform)."""
    return atomic_write_json(root.state_dir / FIELD_LIST_FILE, list(fields))


def load_field_list(root: DataRoot) -> list[dict[str, Any]] | None:
    try:
        data = orjson.loads((root.state_dir / FIELD_LIST_FILE).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, list) else None


def sanitize_file_name(filename: object) -> str:
    """A file name from Jira, made harmless: last path component only, NFKC-normalised,
    control characters dropped, anything but letters, digits and a few punctuation marks
    replaced by ``_``, no leading dots, at most :data:`MAX_ATTACHMENT_NAME_BYTES` bytes
    (the extension survives the cut)."""
    text = unicodedata.normalize("NFKC", filename if isinstance(filename, str) else "")
    text = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    kept = []
    for char in text:
        if unicodedata.category(char).startswith("C"):
            continue
        kept.append(char if char.isalnum() or char in _SAFE_PUNCTUATION else "_")
    name = "".join(kept).strip(" ").lstrip(".").strip(" ")
    return _cap_bytes(name) or "attachment"


def _cap_bytes(name: str) -> str:
    if len(name.encode()) <= MAX_ATTACHMENT_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXTENSION_CHARS:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = MAX_ATTACHMENT_NAME_BYTES - len(suffix.encode())
    return stem.encode()[:budget].decode(errors="ignore") + suffix


def attachment_file_name(attachment_id: object, filename: object) -> str:
    """``ID_filename`` with a validated numeric id and a sanitised name."""
    if not is_valid_issue_id(attachment_id):
        raise ValueError(f"invalid attachment id: {attachment_id!r:.40}")
    return f"{attachment_id}_{sanitize_file_name(filename)}"


def attachment_path(root: DataRoot, key: str, attachment_id: object, filename: object) -> Path:
    """Where one attachment's bytes live; always inside ``attachments/KEY/``."""
    return safe_join_under(
        root.issue_attachments_dir(key), attachment_file_name(attachment_id, filename)
    )


def remove_attachments_except(root: DataRoot, key: str, keep: Iterable[Path]) -> list[Path]:
    """Delete the files of attachments no longer on the issue, and temp files a killed
    download left behind; returns what was removed. Hold the issue's lock (a live
    download's temp file must not vanish under it)."""
    folder = root.issue_attachments_dir(key)
    if not folder.is_dir():
        return []
    wanted = {Path(p).name for p in keep}
    removed = []
    for entry in os.scandir(folder):
        if entry.is_file() and entry.name not in wanted:
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed
