"""Writing the Parquet tables for the Dagster runs, with the figures their
materializations report. The transform does the work (under each month's lock); this
module only chooses upsert or month rebuild and shapes the result."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from jira_pipeline.orchestration.month_run import MonthScope
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.month_files import MonthResult
from jira_pipeline.transform.rebuild import rebuild_month
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline.transform.upsert import upsert_issues


@dataclass
class TablesReport:
    """Per month and table: rows, bytes, path after the write; plus how long it took."""

    months: dict[str, MonthResult] = field(default_factory=dict)
    issues_touched: int = 0
    duration_s: float = 0.0

    def table_metadata(self, table: str, month: str) -> dict[str, object]:
        """Metadata of one table's materialization for ``month``."""
        result = self.months.get(month)
        path = result.paths.get(table) if result else None
        return {
            "issues_touched": self.issues_touched,
            "rows": result.rows.get(table, 0) if result else 0,
            "bytes": result.bytes.get(table, 0) if result else 0,
            "path": str(path) if path else "",
            "changed": bool(result and table in result.changed),
            "jira_requests": 0,
            "duration_s": round(self.duration_s, 3),
        }


def upsert_changed(
    root: DataRoot, keys: Iterable[str], *, dist_dir: Path | None = None
) -> TablesReport:
    """Upsert ``keys`` into whatever months they live in (maintenance jobs)."""
    started = time.monotonic()
    keys = sorted(set(keys))
    if not keys:
        return TablesReport()
    months = upsert_issues(root, keys, dist_dir=dist_dir).months
    return TablesReport(months, len(keys), time.monotonic() - started)


def write_month_tables(
    scope: MonthScope, root: DataRoot, *, dist_dir: Path | None = None
) -> TablesReport:
    """Whole-month runs rebuild the month from the raw store; webhook runs upsert their
    issues (failed ones keep their previous rows). The report always holds the scope's
    month, which the materializations describe."""
    started = time.monotonic()
    if scope.whole_month:
        months = {scope.month: rebuild_month(root, scope.month, dist_dir=dist_dir)}
    else:
        months = upsert_issues(root, scope.table_keys, dist_dir=dist_dir).months
        months.setdefault(scope.month, _as_is(root, scope.month))
    return TablesReport(
        months=months,
        issues_touched=len(scope.table_keys),
        duration_s=time.monotonic() - started,
    )


def _as_is(root: DataRoot, month: str) -> MonthResult:
    """The month's files as they are (the run wrote nothing there)."""
    result = MonthResult(month)
    for table in TABLES:
        path = root.month_file(table, month)
        exists = path.is_file()
        result.paths[table] = path if exists else None
        result.bytes[table] = path.stat().st_size if exists else 0
        result.rows[table] = pq.ParquetFile(path).metadata.num_rows if exists else 0
    return result
