"""Which stored issues belong to a month, for the asset checks and the deletion sweep.

Months come from the transform's per-file cache (:func:`raw_months`: re-read only files
whose mtime or size changed); whether a record is a tombstone, from the raw store."""

from __future__ import annotations

from collections import defaultdict

from jira_pipeline.storage.paths import DataRoot, check_month
from jira_pipeline.storage.raw_store import is_stored_tombstone
from jira_pipeline.transform.month_index import MonthIndex
from jira_pipeline.transform.raw_source import raw_months


def stored_keys_by_month(root: DataRoot) -> dict[str, set[str]]:
    """``{month: keys}`` of every stored issue file, tombstones included."""
    with MonthIndex(root) as index:
        months = raw_months(root, index)
    by_month: dict[str, set[str]] = defaultdict(set)
    for key, month in months.items():
        if month:
            by_month[month].add(key)
    return dict(by_month)


def live_keys_of_month(root: DataRoot, month: str) -> set[str]:
    """Keys of the stored, not tombstoned issues created in ``month``."""
    keys = stored_keys_by_month(root).get(check_month(month), set())
    return {key for key in keys if not is_stored_tombstone(root, key)}
