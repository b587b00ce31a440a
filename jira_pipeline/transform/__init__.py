"""Raw issue JSON → the monthly Parquet tables, and DuckDB views over them.

Plain functions, no Dagster or HTTP: ``upsert.upsert_issues`` (incremental, per month
under its lock), ``rebuild.rebuild_month`` / ``rebuild.rebuild_all`` (from the raw store),
``views.connect`` (DuckDB), ``schemas.SCHEMAS`` / ``schemas.KEYS``. Column reference:
``docs/jira_schema.md``."""
