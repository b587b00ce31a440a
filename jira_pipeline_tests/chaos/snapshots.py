"""What the tables hold, file by file, read back through DuckDB: a fingerprint of each
month file's rows, so "old content", "new content" and "anything else" can be told apart
after a crash without depending on byte-identical Parquet encoding."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import duckdb

from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.schemas import TABLES

Snapshot = dict[str, str]  # "table/YYYY-MM.parquet" -> fingerprint of its rows


def month_files(root: DataRoot) -> list[Path]:
    """Every published month file (temp files of an interrupted write are dot-files)."""
    return sorted(
        path
        for table in TABLES
        if root.table_dir(table).is_dir()
        for path in root.table_dir(table).glob("[0-9]*.parquet")
    )


def copy_data_root(root: DataRoot, into: Path) -> None:
    """Copy the whole data root (month index included) from a child process. Opening and
    closing the index's SQLite files in this process would drop the POSIX locks its own
    open index connection holds on them (SQLite's documented "close() cancels locks"
    hazard), and another process could then reset the WAL under that connection."""
    subprocess.run(["cp", "-a", str(root.root), str(into)], check=True)


_FINGERPRINTS: dict[tuple[str, int, int, int], str] = {}


def fingerprint(path: Path) -> str:
    """Hash of the file's rows in a canonical order; raises if DuckDB cannot read it.
    Remembered per (path, inode, mtime, size): an atomic replace makes a new inode, so a
    file that was rewritten is always read again."""
    stat = path.stat()
    identity = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if identity not in _FINGERPRINTS:
        rows = duckdb.sql(
            f"SELECT * FROM read_parquet('{path.as_posix()}') ORDER BY ALL"
        ).fetchall()
        _FINGERPRINTS[identity] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return _FINGERPRINTS[identity]


def snapshot(root: DataRoot) -> Snapshot:
    return {
        path.relative_to(root.parquet).as_posix(): fingerprint(path) for path in month_files(root)
    }


def table_rows(root: DataRoot, table: str, columns: str = "*") -> list[tuple]:
    """All rows of one table across months, through DuckDB, in a canonical order."""
    files = [p for p in month_files(root) if p.parent.name == table]
    if not files:
        return []
    globbed = (root.table_dir(table) / "[0-9]*.parquet").as_posix()
    return duckdb.sql(f"SELECT {columns} FROM read_parquet('{globbed}') ORDER BY ALL").fetchall()


def issues_in_two_months(root: DataRoot) -> list[str]:
    """Issue keys with more than one row in the issues table (a stale row left in an old
    month, or a duplicated row)."""
    if not any(p.parent.name == "issues" for p in month_files(root)):
        return []
    globbed = (root.table_dir("issues") / "[0-9]*.parquet").as_posix()
    return [key for (key,) in duckdb.sql(
        f"SELECT issue_key FROM read_parquet('{globbed}') GROUP BY issue_key "
        "HAVING count(*) > 1 ORDER BY issue_key"
    ).fetchall()]
