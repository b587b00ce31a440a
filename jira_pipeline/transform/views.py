"""DuckDB views over the month files, for analysts and for checks.

``jira_<table>`` reads ``parquet/jira/<table>/*.parquet``. DuckDB refuses a glob that
matches nothing, so a table without files yet gets a typed, empty ``SELECT`` built from
its schema instead; :func:`connect` recreates the views each time, so a database file
picks up new tables the next time it is opened through here."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.month_files import months_in, read_parquet
from jira_pipeline.transform.schemas import SCHEMAS, TABLES

VIEW_PREFIX = "jira_"

EXAMPLE_QUERIES: dict[str, str] = {
    "Issues per month and status category": """
SELECT strftime(created_at, '%Y-%m') AS month, status_category, count(*) AS issues
FROM jira_issues GROUP BY ALL ORDER BY month, status_category""",
    "SLA breaches by month (time to first response / to resolution)": """
SELECT strftime(created_at, '%Y-%m') AS month,
       count(*) FILTER (WHERE first_response_breached) AS first_response_breaches,
       count(*) FILTER (WHERE time_to_resolution_breached) AS resolution_breaches,
       count(*) FILTER (WHERE time_to_resolution_breached IS NOT NULL) AS with_sla
FROM jira_issues GROUP BY ALL ORDER BY month""",
    "Comment volume per month, public vs internal": """
SELECT strftime(created_at, '%Y-%m') AS month, public, count(*) AS comments
FROM jira_comments GROUP BY ALL ORDER BY month, public""",
    "Link graph: who blocks whom": """
SELECT l.issue_key, l.link_type, l.direction, l.linked_issue_key, l.linked_issue_status
FROM jira_issuelinks l ORDER BY l.issue_key, l.link_id""",
    "Time spent per status change (changelog)": """
SELECT issue_key, to_value AS status, changed_at,
       lead(changed_at) OVER (PARTITION BY issue_key ORDER BY changed_at) - changed_at AS time_in
FROM jira_changelog WHERE field_id = 'status' ORDER BY issue_key, changed_at""",
}

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN",
    pa.float64(): "DOUBLE", pa.date32(): "DATE", pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.list_(pa.string()): "VARCHAR[]",
}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def empty_select(schema: pa.Schema) -> str:
    columns = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[f.type]}) AS {_quote(f.name)}"
                        for f in schema)
    return f"SELECT {columns} WHERE false"


def view_sql(root: DataRoot, table: str) -> str:
    directory = root.table_dir(table)
    if not months_in(directory):
        return empty_select(SCHEMAS[table])
    glob = (directory / "*.parquet").as_posix()
    return f"SELECT * FROM read_parquet({sql_literal(glob)})"


def connect(root: DataRoot, db_path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (in memory, or the database file ``db_path``) in UTC, with the
    ``jira_*`` views of every table (re)created."""
    con = duckdb.connect(str(db_path) if db_path else ":memory:")
    con.execute("SET TimeZone = 'UTC'")  # months and dates as the tables file them: UTC
    for table in TABLES:
        con.execute(f"CREATE OR REPLACE VIEW {VIEW_PREFIX}{table} AS {view_sql(root, table)}")
    return con


def read_table(root: DataRoot, table: str) -> pa.Table:
    """Every month file of ``table`` concatenated in month order (typed, possibly empty)."""
    directory = root.table_dir(table)
    parts = [read_parquet(directory / f"{m}.parquet") for m in sorted(months_in(directory))]
    return pa.concat_tables(parts) if parts else SCHEMAS[table].empty_table()
