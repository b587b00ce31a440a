"""The one partitioning of the pipeline: calendar months of the issues' ``created`` (UTC).

``end_offset=1`` adds the month that has not ended yet, where new tickets land. The first
month is ``JIRA_START_MONTH`` (default 2024-01), read when the code location loads."""

from __future__ import annotations

from dagster import MonthlyPartitionsDefinition

from jira_pipeline.config import deployment_settings
from jira_pipeline.storage.paths import check_month

START_MONTH = check_month(deployment_settings().start_month)

monthly_partitions = MonthlyPartitionsDefinition(start_date=f"{START_MONTH}-01", end_offset=1)


def month_of_partition(partition_key: str) -> str:
    """``YYYY-MM-01`` (partition key) → ``YYYY-MM`` (file name of the month)."""
    return check_month(partition_key)


def partition_of_month(month: str) -> str:
    return f"{check_month(month)}-01"


def is_partition_month(month: str) -> bool:
    """Whether ``month`` has a partition now (not before the start, not beyond next month)."""
    return monthly_partitions.has_partition_key(partition_of_month(month))
