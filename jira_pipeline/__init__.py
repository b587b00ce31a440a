"""Jira Cloud → raw JSON store → monthly Parquet tables; see README.md."""

from jira_pipeline.compiled import check_compiled

check_compiled()
