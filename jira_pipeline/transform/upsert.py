"""Incremental upsert: re-transform some issues from the raw store into their month files.

For each affected month (the issue's month now, plus every month the index says may still
hold its rows) its files are read, the issues' rows replaced, and written back under
the month's lock. So an issue whose ``created`` moved leaves nothing behind in its old
month, and a deleted (tombstoned or vanished) issue disappears from every table."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jira_pipeline.core.keys import require_issue_key
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import FIELD_LIST_FILE, load_field_list
from jira_pipeline.transform.dist import sync_dist
from jira_pipeline.transform.field_map import ResolvedFields, resolve
from jira_pipeline.transform.month_files import MonthResult
from jira_pipeline.transform.month_index import MonthIndex, RawEntry, write_month_indexed
from jira_pipeline.transform.raw_source import UnreadableRawIssue, raw_version, read_raw_issue
from jira_pipeline.transform.rows import (
    Rows,
    add_issue_rows,
    empty_rows,
    is_deleted,
    issue_month,
    to_tables,
)


@dataclass
class UpsertSummary:
    months: dict[str, MonthResult] = field(default_factory=dict)
    issues_written: int = 0
    issues_removed: int = 0  # deleted issues whose rows were removed
    issues_skipped: list[str] = field(default_factory=list)  # unreadable or without created


def resolve_site_fields(root: DataRoot) -> ResolvedFields | None:
    """Mapped columns resolved through the cached ``/field`` list (``None`` if uncached);
    remembered while that file's mtime and size stay the same."""
    try:
        stat = (root.state_dir / FIELD_LIST_FILE).stat()
    except FileNotFoundError:
        return None
    return _resolved(root, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _resolved(root: DataRoot, mtime_ns: int, size: int) -> ResolvedFields | None:
    field_list = load_field_list(root)
    return resolve(field_list) if field_list else None


# Re-applies of issues whose raw file changed while they were being written, at most
REAPPLY_ROUNDS = 3


def upsert_issues(
    root: DataRoot, keys: Iterable[str], *, dist_dir: Path | None = None
) -> UpsertSummary:
    """Bring every table up to date with the raw store for ``keys``."""
    return apply_issues(root, keys, dist_dir=dist_dir)


def apply_issues(
    root: DataRoot,
    keys: Iterable[str],
    *,
    replace_months: frozenset[str] = frozenset(),
    dist_dir: Path | None = None,
) -> UpsertSummary:
    """Upsert ``keys``; the files of ``replace_months`` are rewritten from ``keys`` alone
    (every other row in them is dropped): the month-wide rebuild."""
    summary = UpsertSummary()
    keys = sorted({require_issue_key(k) for k in keys})
    versions = _apply_once(root, keys, summary, replace_months)
    written, removed = summary.issues_written, summary.issues_removed
    for _ in range(REAPPLY_ROUNDS):
        # Rows are built outside the month locks: a writer that saved a newer raw file
        # after our read may have upserted it before our write landed. Its version is
        # applied again, so the tables never keep the older one.
        changed = [k for k, version in versions.items() if raw_version(root, k) != version]
        if not changed:
            break
        versions = _apply_once(root, changed, summary, frozenset())
    summary.issues_written, summary.issues_removed = written, removed  # first pass counts
    summary.issues_skipped = sorted(set(summary.issues_skipped))
    if dist_dir is not None:
        sync_dist(root, dist_dir, months=summary.months)
    return summary


def _apply_once(
    root: DataRoot, keys: list[str], summary: UpsertSummary, replace_months: frozenset[str]
) -> dict[str, tuple[int, int, int] | None]:
    """One read-and-write pass of :func:`apply_issues`; returns the raw version read of
    every key (``None``: no file)."""
    resolved = resolve_site_fields(root)
    rows_by_month: dict[str, Rows] = {}
    placed: dict[str, str] = {}
    raw_seen: dict[str, RawEntry] = {}
    versions: dict[str, tuple[int, int, int] | None] = {}
    missing: list[str] = []
    for key in keys:
        try:
            issue = read_raw_issue(root, key)
        except UnreadableRawIssue:
            summary.issues_skipped.append(key)
            continue
        if issue is None:
            missing.append(key)
            versions[key] = None
            continue
        versions[key] = issue.version
        month = issue_month(issue.data)
        raw_seen[key] = (month, issue.mtime_ns, issue.size)
        if is_deleted(issue.data):
            continue
        if month is None:
            summary.issues_skipped.append(key)
            continue
        placed[key] = month
        add_issue_rows(rows_by_month.setdefault(month, empty_rows()), issue, resolved)
    skipped = set(summary.issues_skipped)  # unreadable: their rows stay as they are
    touched = [k for k in [*raw_seen, *missing] if k not in skipped]

    with MonthIndex(root) as index:
        index.put_raw(raw_seen)
        index.drop_raw(missing)
        old = index.months_of(touched)
        months = set(placed.values()).union(*old.values(), replace_months)
        for month in sorted(months):
            incoming = {k for k, m in placed.items() if m == month}
            mine = {k for k in touched if month in old.get(k, ())} | incoming
            tables = to_tables(rows_by_month.get(month) or empty_rows())
            summary.months[month] = write_month_indexed(
                index, month, tables, incoming=incoming,
                drop_keys=None if month in replace_months else mine,
            )
    summary.issues_written = len(placed)
    summary.issues_removed = sum(1 for k in touched if k not in placed and old.get(k))
    return versions
