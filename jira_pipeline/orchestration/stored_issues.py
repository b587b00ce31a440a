"""Which stored issues belong to a month, for the asset checks and the deletion sweep.

Months come from the transform's per-file cache (:func:`raw_months`: re-read only files
whose mtime or size changed); whether a record is a tombstone, from its header."""

from __future__ import annotations

from jira_pipeline.storage.paths import DataRoot, check_month
from jira_pipeline.transform.month_index import MonthIndex
from jira_pipeline.transform.raw_source import indexed_month_keys, raw_months


def stored_keys_by_month(root: DataRoot) -> dict[str, set[str]]:
    """``{month: keys}`` of every stored issue file, tombstones included."""
    with MonthIndex(root) as index:
        months = raw_months(root, index)
    return {month: set(keys) for month, keys in months.items() if month}


def live_keys_of_month(root: DataRoot, month: str) -> set[str]:
    """Keys of the stored, not tombstoned issues created in ``month``, among the raw files
    the month index knows (:func:`indexed_month_keys`: every month run asks this, and
    listing a 1,000,000-file store each time cost most of a webhook's freshness)."""
    with MonthIndex(root) as index:
        keys = indexed_month_keys(root, index, check_month(month))
    return {key for key, tombstone in keys.items() if not tombstone}
