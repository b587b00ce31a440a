"""The data-quality rules behind the partitioned asset checks, on one month's Parquet
files: what analysts rely on when they query the tables.

Each function returns the problems found (empty = pass) so the check can show them."""

from __future__ import annotations

from collections import Counter

import pyarrow.parquet as pq

from jira_pipeline.orchestration.stored_issues import live_keys_of_month
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.schemas import SCHEMAS, TABLES

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
    """``{table: rows}`` of child rows whose ``issue_key`` is not in the month's issues."""
    keys = set(_issue_keys(root, month))
    orphans = {}
    for table in tables:
        path = root.month_file(table, month)
        if not path.is_file():
            continue
        column = pq.read_table(path, columns=["issue_key"]).column("issue_key")
        count = sum(1 for key in column.to_pylist() if key not in keys)
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
