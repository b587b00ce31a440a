"""Where everything lives under ``JIRA_DATA_ROOT``. Every path built from an issue key,
event name or file name goes through :func:`safe_join_under`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jira_pipeline.core.keys import require_issue_key
from jira_pipeline.storage.safe_paths import safe_join_under

ISSUE_SUFFIX = ".json.zst"
LEGACY_ISSUE_SUFFIX = ".json"
ISSUES_PER_BUCKET = 1000  # issue files per folder: 1,000,000 never sit in one directory
# Table names come from the table registry (jira_pipeline.transform.schemas); here only
# their shape is checked, so this bottom layer never imports the transform.
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class DataRoot:
    """The data layout of README.md ("Data layout"), rooted at one directory."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    # raw/jira/...
    @property
    def raw(self) -> Path:
        return self.root / "raw" / "jira"

    @property
    def issues_dir(self) -> Path:
        return self.raw / "issues"

    @property
    def attachments_dir(self) -> Path:
        return self.raw / "attachments"

    @property
    def webhook_events_dir(self) -> Path:
        return self.raw / "webhook_events"

    @property
    def inbox_dir(self) -> Path:
        return self.raw / "inbox"

    @property
    def state_dir(self) -> Path:
        """Small bookkeeping files: field cache, watermarks, webhook dedup markers."""
        return self.raw / "state"

    @property
    def locks_dir(self) -> Path:
        return self.root / ".locks"

    def issue_file(self, key: str) -> Path:
        """Where the raw store writes ``key``: ``issues/PROJECT/BUCKET/KEY.json.zst``."""
        return safe_join_under(self.issues_dir, *issue_file_parts(require_issue_key(key)))

    def legacy_issue_file(self, key: str) -> Path:
        """Where stores written before the sharded layout kept ``key``: ``issues/KEY.json``
        (read, and replaced by the next write)."""
        return safe_join_under(self.issues_dir, f"{require_issue_key(key)}{LEGACY_ISSUE_SUFFIX}")

    def issue_attachments_dir(self, key: str) -> Path:
        return safe_join_under(self.attachments_dir, require_issue_key(key))

    # parquet/jira/<table>/YYYY-MM.parquet
    @property
    def parquet(self) -> Path:
        return self.root / "parquet" / "jira"

    def table_dir(self, table: str) -> Path:
        if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
            raise ValueError(f"not a table name: {table!r:.40}")
        return self.parquet / table

    def month_file(self, table: str, month: str) -> Path:
        return safe_join_under(self.table_dir(table), f"{check_month(month)}.parquet")


def issue_file_parts(key: str) -> tuple[str, str, str]:
    """(project, bucket, file name) of a *validated* key: ``SUP-12345`` lives in
    ``SUP/12/SUP-12345.json.zst``; the key alone says where, so no index is needed."""
    project, number = key.rsplit("-", 1)
    return project, str(int(number) // ISSUES_PER_BUCKET), f"{key}{ISSUE_SUFFIX}"


def check_month(month: str) -> str:
    """Accept ``YYYY-MM`` (the month partition key; also a longer date) and return ``YYYY-MM``."""
    text = month[:7] if isinstance(month, str) else ""
    if not (
        len(text) == 7 and text[:4].isdigit() and text[4] == "-" and text[5:].isdigit()
        and text.isascii() and 1 <= int(text[5:]) <= 12
    ):
        raise ValueError(f"not a month: {month!r:.40}")
    return text
