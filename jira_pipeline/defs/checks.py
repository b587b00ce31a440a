"""Partitioned asset checks on the month's Parquet files, evaluated at the end of every
month run, in the same step.

Four rules reported on ``jira_issues`` (the table analysts start from) and covering
the month's files: one check per rule rather than one per table keeps a webhook
run's event log short, which is most of a small run's cost. Two more guard the derived
tables, on their own assets: the status stays tile each issue's life, and each issue has
one metrics row. Unique keys and the declared
schemas are blocking: they guard what analysts query, and a failure fails the run (the
sensor retries its events, the UI shows it red). The cross-table and raw-store comparisons
warn: they point at a month to rematerialize."""

from collections.abc import Iterator

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

from jira_pipeline.defs.partitions import monthly_partitions
from jira_pipeline.orchestration.table_checks import (
    duplicate_issue_keys,
    issues_vs_raw,
    metrics_row_differences,
    orphan_child_rows,
    schema_differences,
    untiled_issues,
)
from jira_pipeline.storage.paths import DataRoot

CHECKED_ASSET = "jira_issues"
CHECKED_ASSETS = {"intervals_tile_exactly": "jira_status_intervals",
                  "metrics_row_per_issue": "jira_issue_metrics"}  # others: CHECKED_ASSET
DESCRIPTIONS = {
    "unique_issue_key": "Each issue_key appears once in the month's issues file.",
    "schemas_are_declared": "Each of the month's files has exactly its declared Arrow "
    "schema (names, order, types).",
    "child_rows_reference_issues": "Every comment, attachment, changelog, link and remote link "
    "row belongs to an issue of the same month's issues file.",
    "issues_match_raw_store": "The month's issue rows are exactly its stored, not deleted, "
    "raw issues (those the month index files under the month, each re-checked on disk; "
    "raw files never transformed show after a whole-month run).",
    "intervals_tile_exactly": "Each issue's status stays start at its created time, each "
    "ends where the next begins, only the last is open: [created, now) without gaps or "
    "overlaps.",
    "metrics_row_per_issue": "Each issue of the month has exactly one issue_metrics row, "
    "and every row has its issue.",
}
BLOCKING = {"unique_issue_key", "schemas_are_declared"}

month_check_specs = [
    AssetCheckSpec(
        name,
        asset=CHECKED_ASSETS.get(name, CHECKED_ASSET),
        description=description,
        blocking=name in BLOCKING,
        partitions_def=monthly_partitions,
    )
    for name, description in DESCRIPTIONS.items()
]


def _result(name: str, passed: bool, metadata: dict) -> AssetCheckResult:
    severity = AssetCheckSeverity.ERROR if name in BLOCKING else AssetCheckSeverity.WARN
    return AssetCheckResult(
        asset_key=CHECKED_ASSETS.get(name, CHECKED_ASSET), check_name=name, passed=passed, severity=severity,
        metadata=metadata,
    )


def evaluate_month_checks(root: DataRoot, month: str) -> Iterator[AssetCheckResult]:
    """One result per check, for ``month``."""
    duplicates = duplicate_issue_keys(root, month)
    yield _result("unique_issue_key", not duplicates,
                  {"duplicate_keys": len(duplicates), "examples": ", ".join(duplicates[:20])})
    schemas = schema_differences(root, month)
    yield _result("schemas_are_declared", not schemas,
                  {"tables_differing": len(schemas),
                   "differences": "; ".join(f"{t}: {d}" for t, d in schemas.items())})
    orphans = orphan_child_rows(root, month)
    yield _result("child_rows_reference_issues", not orphans,
                  {"orphan_rows": sum(orphans.values()),
                   "by_table": ", ".join(f"{t}: {n}" for t, n in orphans.items())})
    diff = issues_vs_raw(root, month)
    yield _result("issues_match_raw_store", not any(diff.values()),
                  {**{name: len(keys) for name, keys in diff.items()},
                   "examples": ", ".join(k for keys in diff.values() for k in keys[:5])})
    untiled = untiled_issues(root, month)
    yield _result("intervals_tile_exactly", not untiled,
                  {"issues_not_tiled": len(untiled), "examples": ", ".join(untiled[:20])})
    metrics = metrics_row_differences(root, month)
    yield _result("metrics_row_per_issue", not any(metrics.values()),
                  {**{name: len(keys) for name, keys in metrics.items()},
                   "examples": ", ".join(k for keys in metrics.values() for k in keys[:5])})


def blocking_failures(results: list[AssetCheckResult]) -> list[str]:
    """Names of the failed blocking checks."""
    return [r.check_name for r in results if not r.passed and r.check_name in BLOCKING]
