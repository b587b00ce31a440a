"""Jira Cloud → raw JSON store → monthly Parquet tables; see README.md."""

from jira_pipeline.compiled import install_finder

install_finder()  # a compiled module older than its .py is passed over: the .py runs
