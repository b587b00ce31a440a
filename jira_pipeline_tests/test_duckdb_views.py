"""DuckDB views over the month files: every table read back through its view with the
declared types, views over tables without files, the example queries, and the
``jira-pipeline transform`` / ``jira-pipeline duckdb`` commands."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from jira_pipeline.cli import main
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.month_files import sort_rows
from jira_pipeline.transform.schemas import SCHEMAS, TABLES
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline.transform.views import EXAMPLE_QUERIES, connect, read_table
from jira_pipeline_tests.fixtures.transform_data import (
    rich_issue,
    variant,
    write_field_list,
    write_raw,
)

SCHEMA_DOC = Path(__file__).resolve().parents[1] / "docs" / "jira_schema.md"
EXPECTED_DUCKDB_TYPES = {
    "created_at": "TIMESTAMP WITH TIME ZONE",
    "labels": "VARCHAR[]",
    "due_date": "DATE",
    "attachment_count": "BIGINT",
    "spam": "BOOLEAN",
    "first_response_breached": "BOOLEAN",
    "summary": "VARCHAR",
}


@pytest.fixture
def filled(data_root: DataRoot) -> DataRoot:
    write_field_list(data_root)
    write_raw(data_root, rich_issue())
    for number, created in ((1, "2024-01-10"), (2, "2024-02-11"), (3, "2024-02-12")):
        issue = variant(f"SUP-{number}", f"{created}T10:00:00.000+0000")
        if number == 3:  # first response still within its goal
            issue["_sla"][0]["ongoingCycle"]["breached"] = False
        write_raw(data_root, issue)
    upsert_issues(data_root, ["SUP-42", "SUP-1", "SUP-2", "SUP-3"])
    return data_root


def column_types(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {view}").fetchall()}


def test_every_table_reads_back_through_its_view(filled: DataRoot):
    con = connect(filled)
    for table in TABLES:
        via_duckdb = con.sql(f"SELECT * FROM jira_{table}").to_arrow_table()
        via_arrow = read_table(filled, table)
        assert via_duckdb.num_rows == via_arrow.num_rows > 0
        assert via_duckdb.schema.equals(SCHEMAS[table])  # types survive the round trip
        assert sort_rows(via_duckdb, table).equals(sort_rows(via_arrow, table))
    types = column_types(con, "jira_issues")
    for column, kind in EXPECTED_DUCKDB_TYPES.items():
        assert types[column] == kind
    assert con.execute(
        "SELECT count(DISTINCT strftime(created_at, '%Y-%m')) FROM jira_issues"
    ).fetchone() == (2,)
    assert con.execute(
        "SELECT list_contains(labels, 'sso') FROM jira_issues WHERE issue_key = 'SUP-42'"
    ).fetchone() == (True,)


def test_views_over_tables_without_files_are_empty_and_typed(data_root: DataRoot):
    con = connect(data_root)
    for table in TABLES:
        assert con.execute(f"SELECT count(*) FROM jira_{table}").fetchone() == (0,)
        assert list(column_types(con, f"jira_{table}")) == SCHEMAS[table].names
    assert column_types(con, "jira_issues")["created_at"] == "TIMESTAMP WITH TIME ZONE"
    for sql in EXAMPLE_QUERIES.values():
        assert con.execute(sql).fetchall() == []


def test_example_queries_answer(filled: DataRoot):
    con = connect(filled)
    results = {title: con.execute(sql).fetchall() for title, sql in EXAMPLE_QUERIES.items()}
    breaches = results["SLA breaches by month (time to first response / to resolution)"]
    # February in UTC: SUP-42 (created 1 March at +0100), SUP-2, SUP-3 (not breached)
    assert breaches == [("2024-01", 1, 1, 1), ("2024-02", 2, 3, 3)]
    links = results["Link graph: who blocks whom"]
    assert ("SUP-42", "Blocks", "outward", "ENG-12", "In Progress") in links


def test_cli_transform_then_duckdb_database(
    data_root: DataRoot, tmp_path: Path, monkeypatch, capsys
):
    monkeypatch.setenv("JIRA_DATA_ROOT", str(data_root.root))
    monkeypatch.setenv("JIRA_DIST_DIR", str(tmp_path / "dist"))
    write_field_list(data_root)
    write_raw(data_root, rich_issue())
    assert main(["transform", "--no-progress"]) == 0
    assert "1 issues in 1 months" in capsys.readouterr().out
    assert (tmp_path / "dist" / "issues" / "2024-02.parquet").is_file()
    assert main(["transform", "--month", "2024-02"]) == 0
    assert "issues=1" in capsys.readouterr().out

    db = tmp_path / "analysis.duckdb"
    assert main(["duckdb", "--db", str(db)]) == 0
    printed = capsys.readouterr().out
    assert str(db) in printed and "SLA breaches by month" in printed
    assert (tmp_path / "dist" / "jira.duckdb").is_file()  # beside JIRA_DIST_DIR too
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT issue_key, severity FROM jira_issues").fetchall() == [
            ("SUP-42", "S2 - Major")
        ]
    assert (
        main(["duckdb", "--db", str(db), "--query", "SELECT count(*) AS n FROM jira_comments"]) == 0
    )
    assert capsys.readouterr().out.splitlines() == ["n", "3"]


def test_schema_doc_queries_answer_on_the_installed_duckdb(filled: DataRoot):
    """The ```sql examples analysts copy from docs/jira_schema.md run on the DuckDB the lock
    installs, each answering with rows."""
    queries = re.findall(r"```sql\n(.*?)```", SCHEMA_DOC.read_text(), re.DOTALL)
    assert len(queries) >= 5
    con = connect(filled)
    for sql in queries:
        relation = con.sql(sql)
        first = relation.fetchone()
        assert first is not None, f"no rows from the documented query:\n{sql}"
        assert len(first) == len(relation.columns)


def test_schema_doc_lists_every_column():
    doc = SCHEMA_DOC.read_text()
    for table, schema in SCHEMAS.items():
        section = doc.split(f"## {table} — primary key", 1)[1].split("\n## ", 1)[0]
        for name in schema.names:
            assert f"`{name}`" in section, f"{table}.{name} is not documented"
