"""Cross-process locks (``filelock``) for the two read-modify-write units: one issue's raw
JSON and one month's Parquet files. Lock files live under ``<root>/.locks``."""

from __future__ import annotations

from filelock import FileLock

from jira_pipeline.core.keys import require_issue_key
from jira_pipeline.storage.paths import DataRoot, check_month


def issue_lock(root: DataRoot, key: str, timeout: float = 120) -> FileLock:
    """Lock held while one issue's raw JSON (and attachments) are rewritten."""
    path = root.locks_dir / "issues" / f"{require_issue_key(key)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, timeout=timeout)


def month_lock(root: DataRoot, month: str, timeout: float = 600) -> FileLock:
    """Lock held while the Parquet files of one month are read, merged and replaced."""
    path = root.locks_dir / "months" / f"{check_month(month)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, timeout=timeout)
