"""The data-quality rules behind the partitioned asset checks, on one month's Parquet
files: what analysts rely on when they query the tables.

Each function returns the problems found (empty = pass) so the check can show them."""

from __future__ import annotations

from collections import Counter

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jira_pipeline.orchestration.stored_issues import live_keys_of_month
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.schemas import SCHEMAS, TABLES
from jira_pipeline.transform.views import sql_literal

CHILD_TABLES = tuple(t for t in TABLES if t != "issues")


def _issue_keys(root: DataRoot, month: str) -> list[str]:
    path = root.month_file("issues", month)
    if not path.is_file():
        return []
    return pq.read_table(path, columns=["issue_key"]).column("issue_key").to_pylist()


def duplicate_issue_keys(root: DataRoot, month: str) -> list[str]:
    """Issue keys that appear more than once in the month's issues file."""
    return sorted(k for k, n in Counter(_issue_keys(root, month)).items() if n > 1)


def schema_differences(
    root: DataRoot, month: str, tables: tuple[str, ...] = TABLES
) -> dict[str, str]:
    """``{table: difference}`` for month files whose schema is not the declared one."""
    problems = {}
    for table in tables:
        path = root.month_file(table, month)
        if not path.is_file():
            continue
        actual = pq.read_schema(path)
        expected = SCHEMAS[table]
        if actual.equals(expected, check_metadata=False):
            continue
        missing = [f.name for f in expected if actual.get_field_index(f.name) < 0]
        extra = [f.name for f in actual if expected.get_field_index(f.name) < 0]
        retyped = [
            f"{f.name}: {actual.field(f.name).type} != {f.type}"
            for f in expected
            if actual.get_field_index(f.name) >= 0 and actual.field(f.name).type != f.type
        ]
        problems[table] = "; ".join(
            part
            for part in (
                f"missing {missing}" if missing else "",
                f"unexpected {extra}" if extra else "",
                ", ".join(retyped),
                "" if missing or extra or retyped else "column order differs",
            )
            if part
        )
    return problems


def orphan_child_rows(
    root: DataRoot, month: str, tables: tuple[str, ...] = CHILD_TABLES
) -> dict[str, int]:
    """``{table: rows}`` of child rows whose ``issue_key`` is not in the month's issues
    (counted in Arrow: a month of 44,000 issues has hundreds of thousands of child rows)."""
    path = root.month_file("issues", month)
    keys = (pq.read_table(path, columns=["issue_key"]).column(0).combine_chunks()
            if path.is_file() else pa.array([], pa.string()))
    orphans = {}
    for table in tables:
        path = root.month_file(table, month)
        if not path.is_file():
            continue
        column = pq.read_table(path, columns=["issue_key"]).column("issue_key")
        count = len(column) - pc.sum(pc.is_in(column, value_set=keys)).as_py() if len(column) else 0
        if count:
            orphans[table] = count
    return orphans


def issues_vs_raw(root: DataRoot, month: str) -> dict[str, list[str]]:
    """Differences between the month's issue keys in the table and its stored, not
    tombstoned raw issues. Empty lists = equal."""
    raw = live_keys_of_month(root, month)
    rows = set(_issue_keys(root, month))
    return {
        "missing_from_table": sorted(raw - rows),
        "not_in_raw_store": sorted(rows - raw),
    }


def untiled_issues(root: DataRoot, month: str) -> list[str]:
    """Issues of the month whose ``status_intervals`` do not tile [created, now) exactly:
    the first stay starts at ``created``, each ends where the next starts, only the last
    is open, stays are numbered 0, 1, … and durations match; also an issue with none."""
    issues, intervals = root.month_file("issues", month), root.month_file("status_intervals", month)
    if not issues.is_file():
        return []
    if not intervals.is_file():
        return sorted(_issue_keys(root, month))
    with duckdb.connect() as con:
        rows = con.execute(f"""
            WITH s AS (
                SELECT *, lead(entered_at) OVER w AS next_entered, row_number() OVER w - 1 AS position
                FROM read_parquet({sql_literal(str(intervals))})
                WINDOW w AS (PARTITION BY issue_key ORDER BY stay_index))
            SELECT i.issue_key FROM read_parquet({sql_literal(str(issues))}) i
            LEFT JOIN s USING (issue_key)
            GROUP BY i.issue_key, i.created_at
            HAVING count(s.issue_key) = 0
                OR bool_or(s.position = 0 AND s.entered_at IS DISTINCT FROM i.created_at)
                OR bool_or(s.stay_index <> s.position)
                OR bool_or(s.left_at IS DISTINCT FROM s.next_entered)
                OR bool_or(s.left_at < s.entered_at)
                OR bool_or(s.duration_seconds IS DISTINCT FROM
                           (epoch_us(s.left_at) - epoch_us(s.entered_at)) // 1000000)
            ORDER BY 1""").fetchall()
    return [key for (key,) in rows]


def metrics_row_differences(root: DataRoot, month: str) -> dict[str, list[str]]:
    """Issues of the month without exactly one ``issue_metrics`` row, and metrics rows of
    no issue of the month. Empty lists = one row per issue."""
    keys = Counter(_issue_keys(root, month))
    path = root.month_file("issue_metrics", month)
    metrics = Counter(pq.read_table(path, columns=["issue_key"]).column(0).to_pylist()
                      if path.is_file() else [])
    return {
        "issues_without_one_row": sorted(k for k in keys if metrics[k] != 1),
        "rows_of_no_issue": sorted(k for k in metrics if k not in keys),
    }
