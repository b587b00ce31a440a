"""The raw issue store: ``raw/jira/issues/KEY.json`` is the issue exactly as
``GET /rest/api/3/issue/KEY`` returned it, plus our own underscore keys:

- ``_remote_links``: list of remote links (``GET …/remotelink``);
- ``_sla``: the JSM SLA records (every page's ``values``); ``[]`` when JSM has none for
  the issue; absent when SLAs were never fetched (no SLA account);
- ``_fetched_at``: when we last wrote it (ISO-8601 UTC);
- ``_deleted_at``: set on a tombstone (Jira answered 404: deleted or no permission).

Every write is atomic and holds the issue's lock, and never replaces a newer stored
``fields.updated`` with an older one: webhooks and backfills race, the newest wins.
Attachment bytes live in ``raw/jira/attachments/KEY/ID_filename``."""

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

from jira_pipeline.jira.dates import parse_jira_datetime
from jira_pipeline.jira.keys import is_valid_issue_id, is_valid_issue_key, require_issue_key
from jira_pipeline.storage.atomic import atomic_write_json
from jira_pipeline.storage.locks import issue_lock
from jira_pipeline.storage.paths import DataRoot
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
    return _read_json_object(root.issue_file(key))


def _read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


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
        stored = _read_json_object(path)
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
        atomic_write_json(path, record)
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
    path = root.issue_file(key)
    with issue_lock(root, key):
        stored = _read_json_object(path)
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
        atomic_write_json(path, record)
    return True


def _without_stamp(issue: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in issue.items() if k != "_fetched_at"}


def tombstone_issue(root: DataRoot, key: str) -> bool:
    """Mark a stored issue deleted (``_deleted_at``) and remove its attachment files.
    Returns True when a tombstone was written now; an issue never stored gets none."""
    path = root.issue_file(key)
    with issue_lock(root, key):
        stored = _read_json_object(path)
        shutil.rmtree(root.issue_attachments_dir(key), ignore_errors=True)
        if stored is None or is_tombstone(stored):
            return False
        atomic_write_json(path, {**stored, "_deleted_at": now_iso()})
    return True


def iter_issue_keys(root: DataRoot) -> Iterator[str]:
    """Keys of every stored issue (tombstones included), sorted."""
    if not root.issues_dir.is_dir():
        return
    names = sorted(e.name for e in os.scandir(root.issues_dir) if e.name.endswith(".json"))
    for name in names:
        key = name[: -len(".json")]
        if is_valid_issue_key(key):
            yield key


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
