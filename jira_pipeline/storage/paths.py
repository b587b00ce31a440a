"""Where everything lives under ``JIRA_DATA_ROOT``. Every path built from an issue key,
event name or file name goes through :func:`safe_join_under`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jira_pipeline.jira.keys import require_issue_key
from jira_pipeline.storage.safe_paths import safe_join_under

TABLES = ("issues", "comments", "attachments", "changelog", "issuelinks", "remote_links")


@dataclass(frozen=True)
class DataRoot:
    """The data layout of DESIGN.md, rooted at one directory."""

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
        return safe_join_under(self.issues_dir, f"{require_issue_key(key)}.json")

    def issue_attachments_dir(self, key: str) -> Path:
        return safe_join_under(self.attachments_dir, require_issue_key(key))

    # parquet/jira/<table>/YYYY-MM.parquet
    @property
    def parquet(self) -> Path:
        return self.root / "parquet" / "jira"

    def table_dir(self, table: str) -> Path:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return self.parquet / table

    def month_file(self, table: str, month: str) -> Path:
        return safe_join_under(self.table_dir(table), f"{check_month(month)}.parquet")


def check_month(month: str) -> str:
    """Accept ``YYYY-MM`` (also the partition key ``YYYY-MM-01``) and return ``YYYY-MM``."""
    text = month[:7] if isinstance(month, str) else ""
    if not (
        len(text) == 7 and text[:4].isdigit() and text[4] == "-" and text[5:].isdigit()
        and text.isascii() and 1 <= int(text[5:]) <= 12
    ):
        raise ValueError(f"not a month: {month!r:.40}")
    return text
