"""Which month files hold an issue's rows, and which month each raw file belongs to.

An update may move an issue to another month (its ``created`` changed) or delete it; the
raw JSON then only tells the *new* state, so the old month must be remembered. Scanning
every month's ``issue_key`` column would make a one-issue upsert cost O(months); this
SQLite index (``parquet/jira/_index/months.sqlite``, WAL, safe across processes) answers
in about a millisecond instead.

- ``parquet_months(issue_key, month)``: a superset of the months whose files hold the
  issue's rows. A month's pairs change only under that month's lock: pairs are added
  *before* its files are written and removed *after* (:func:`write_month_indexed`), so a
  crash leaves extra pairs (a harmless extra month to clean next time), never a missing one.
- ``raw_months(issue_key, month, mtime_ns, size)``: a cache of each raw file's month,
  valid while the file's mtime and size are unchanged (month-wide rebuilds read it instead
  of parsing every raw file; the month checks ask it which raw files are of a month).

Lost or deleted, the index is rebuilt from the issues tables' ``issue_key`` columns. It
runs with ``synchronous=NORMAL``: a power cut (not a process crash) may lose its last
commits while the fsynced Parquet files survive; ``jira-pipeline transform`` repairs any
stale rows that could leave.

Copy the index only from another process (``cp -a``, a backup tool) or with SQLite's backup
API: opening and closing its files with plain file calls in a process that has it open
drops that process's POSIX locks on them (SQLite's documented "close() cancels locks"
hazard), after which another process may reset the WAL under the open connection."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jira_pipeline.storage.locks import month_lock
from jira_pipeline.storage.paths import DataRoot, check_month
from jira_pipeline.transform.month_files import MonthResult, write_month

_SCHEMA = """
CREATE TABLE IF NOT EXISTS parquet_months (
    issue_key TEXT NOT NULL, month TEXT NOT NULL, PRIMARY KEY (issue_key, month)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS parquet_months_by_month ON parquet_months (month);
CREATE TABLE IF NOT EXISTS raw_months (
    issue_key TEXT PRIMARY KEY, month TEXT, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS raw_months_by_month ON raw_months (month);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
"""
RawEntry = tuple[str | None, int, int]  # (month, mtime_ns, size)
_LOOKUP_CHUNK = 500  # keys per ``IN (...)`` lookup


def index_path(root: DataRoot) -> Path:
    return root.parquet / "_index" / "months.sqlite"


_local = threading.local()


def _connection(path: Path) -> sqlite3.Connection:
    """One connection per thread and index file, kept open: closing the last connection
    checkpoints the WAL (~10 ms, more than the rest of a one-issue upsert's index work).
    A file deleted or replaced since is noticed by its inode and reopened."""
    cache: dict[Path, tuple[int, sqlite3.Connection]] = _local.__dict__.setdefault("dbs", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    cached = cache.get(path)
    try:
        inode = path.stat().st_ino
    except FileNotFoundError:
        inode = None
    if cached is not None and cached[0] == inode:
        return cached[1]
    if cached is not None:
        cached[1].close()
    db = sqlite3.connect(path, timeout=120, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    cache[path] = (path.stat().st_ino, db)
    return db


class MonthIndex:
    """Open with ``with MonthIndex(root) as index:``; every method commits on its own."""

    def __init__(self, root: DataRoot) -> None:
        self.root = root
        self._db = _connection(index_path(root))
        self._seed_from_parquet()

    def __enter__(self) -> MonthIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        """The connection stays open for the next use (see :func:`_connection`)."""

    def _seed_from_parquet(self) -> None:
        """A new (or lost) index learns what the month files already hold, once."""
        if self._db.execute("SELECT 1 FROM meta WHERE name = 'seeded'").fetchone():
            return
        with self._transaction():
            if self._db.execute("SELECT 1 FROM meta WHERE name = 'seeded'").fetchone():
                return
            issues_dir = self.root.table_dir("issues")
            for path in sorted(issues_dir.glob("*.parquet")) if issues_dir.is_dir() else ():
                month = check_month(path.stem)
                keys = pq.read_table(path, columns=["issue_key"]).column(0).to_pylist()
                self._db.executemany("INSERT OR IGNORE INTO parquet_months VALUES (?, ?)",
                                     [(k, month) for k in keys])
            self._db.execute("INSERT INTO meta VALUES ('seeded', '1')")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- parquet_months ----------------------------------------------------------------

    def months_of(self, keys: Iterable[str]) -> dict[str, set[str]]:
        """Months that may hold rows of each key (keys never filed are absent)."""
        found: dict[str, set[str]] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, month in self._db.execute(
                f"SELECT issue_key, month FROM parquet_months WHERE issue_key IN ({marks})", chunk
            ):
                found.setdefault(key, set()).add(month)
        return found

    def keys_in_month(self, month: str) -> set[str]:
        rows = self._db.execute("SELECT issue_key FROM parquet_months WHERE month = ?", (month,))
        return {key for (key,) in rows}

    def months(self) -> set[str]:
        return {m for (m,) in self._db.execute("SELECT DISTINCT month FROM parquet_months")}

    def add_to_month(self, month: str, keys: Iterable[str]) -> None:
        """Call under the month's lock, before its files are written."""
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO parquet_months VALUES (?, ?)",
                           [(k, month) for k in keys])

    def remove_from_month(self, month: str, keys: Iterable[str]) -> None:
        """Call under the month's lock, after its files no longer hold ``keys``."""
        with self._transaction() as db:
            db.executemany("DELETE FROM parquet_months WHERE issue_key = ? AND month = ?",
                           [(k, month) for k in keys])

    # ---- raw_months --------------------------------------------------------------------

    def raw_entries(self, keys: Iterable[str]) -> dict[str, RawEntry]:
        """The cached entries of ``keys`` (asked a few hundred at a time: a whole cache
        of 1,000,000 files held as a dict took ~300 MiB of the rebuild's main process)."""
        keys, found = list(keys), {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start:start + _LOOKUP_CHUNK]
            rows = self._db.execute(
                "SELECT issue_key, month, mtime_ns, size FROM raw_months WHERE issue_key IN "
                f"({', '.join('?' * len(chunk))})", chunk)
            found.update((key, (month, mtime_ns, size)) for key, month, mtime_ns, size in rows)
        return found

    def raw_keys(self) -> Iterator[str]:
        """Every cached raw file's key, streamed."""
        for (key,) in self._db.execute("SELECT issue_key FROM raw_months"):
            yield key

    def raw_entries_of_month(self, month: str) -> dict[str, RawEntry]:
        """The cached raw files of ``month`` (``raw_months_by_month``: no scan of a
        1,000,000-row table per month run)."""
        rows = self._db.execute(
            "SELECT issue_key, month, mtime_ns, size FROM raw_months WHERE month = ?", (month,))
        return {key: (month, mtime_ns, size) for key, month, mtime_ns, size in rows}

    def put_raw(self, entries: dict[str, RawEntry]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO raw_months VALUES (?, ?, ?, ?)",
                           [(k, *entry) for k, entry in entries.items()])

    def drop_raw(self, keys: Iterable[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM raw_months WHERE issue_key = ?", [(k,) for k in keys])


def write_month_indexed(index: MonthIndex, month: str, tables: Mapping[str, pa.Table], *,
                        incoming: set[str], drop_keys: set[str] | None,
                        presorted: bool = False) -> MonthResult:
    """:func:`write_month` under the month's lock, keeping the index's promise: the pairs
    of ``incoming`` (the issues ``tables`` hold) are added before the files are written,
    and those of the dropped rows (``drop_keys``; ``None``: every row of the month) that
    did not come back are removed after. ``presorted``: see :func:`write_month`."""
    with month_lock(index.root, month):
        index.add_to_month(month, incoming)
        dropped = index.keys_in_month(month) if drop_keys is None else drop_keys
        result = write_month(index.root, month, tables, drop_keys=drop_keys,
                             presorted=presorted)
        index.remove_from_month(month, dropped - incoming)
    return result
