"""The ready DuckDB database and the analyst guide: views of every table with comments,
macros that compute what they promise, a dist copy that works from its own folder, and a
guide whose numbers are what its SQL gives on the demo data."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from jira_pipeline.analytics.database import load_calendar, write_database
from jira_pipeline.sandbox.analyst_guide import GUIDE, QUESTIONS, build_demo, render
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.dist import sync_dist
from jira_pipeline.transform.schemas import SPECS, TABLES


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[DataRoot, Path]:
    root = DataRoot(tmp_path_factory.mktemp("demo"))
    return root, build_demo(root)


def test_the_guide_is_what_its_sql_gives_on_the_demo_data(demo):
    _, db_path = demo
    assert len(QUESTIONS) >= 12
    assert GUIDE.read_text() == render(db_path), (
        "docs/analyst_guide.md is stale: run python -m jira_pipeline.sandbox.analyst_guide")


def test_database_has_a_commented_view_per_table_and_working_macros(demo):
    root, db_path = demo
    with duckdb.connect(str(db_path), read_only=True) as con:
        views = dict(con.execute("SELECT view_name, comment FROM duckdb_views() "
                                 "WHERE NOT internal").fetchall())
        assert {f"jira_{t}": SPECS[t].description for t in TABLES}.items() <= views.items()
        comments = dict(con.execute(
            "SELECT column_name, comment FROM duckdb_columns() "
            "WHERE table_name = 'jira_status_intervals'").fetchall())
        assert comments == SPECS["status_intervals"].column_descriptions
        # Fri 16:00 → Mon 10:30 UTC: one hour on Friday, 1.5 on Monday
        (seconds,) = con.execute(
            "SELECT business_seconds(TIMESTAMPTZ '2025-01-03 16:00:00+00', "
            "TIMESTAMPTZ '2025-01-06 10:30:00+00')").fetchone()
        assert seconds == 9000
        # daily_issue_state == the stays open at the end of that day, counted directly
        (macro,) = con.execute("SELECT count(*) FROM daily_issue_state('2025-06-30')").fetchone()
        (direct,) = con.execute(
            "SELECT count(*) FROM jira_status_intervals WHERE status_category <> 'Done' AND "
            "entered_at < TIMESTAMPTZ '2025-07-01 00:00:00+00' AND "
            "(left_at IS NULL OR left_at >= TIMESTAMPTZ '2025-07-01 00:00:00+00')").fetchone()
        assert macro == direct > 0
        met, breached = con.execute(
            "SELECT sum(met), sum(breached) FROM sla_compliance() "
            "WHERE sla = 'time_to_resolution'").fetchone()
        assert (met, breached) == con.execute(
            "SELECT count(*) FILTER (WHERE time_to_resolution_outcome = 'met'), "
            "count(*) FILTER (WHERE time_to_resolution_outcome = 'breached') "
            "FROM jira_issue_metrics").fetchone()


def test_dist_copy_reads_relative_paths_from_its_folder(demo, tmp_path, monkeypatch):
    root, _ = demo
    dist = tmp_path / "dist"
    sync_dist(root, dist)
    db_path = write_database(dist, dist / "jira.duckdb", relative=True)
    moved = tmp_path / "elsewhere"
    os.rename(dist, moved)  # as after rsync to an analyst's machine
    monkeypatch.chdir(moved)
    with duckdb.connect(str(moved / db_path.name), read_only=True) as con:
        (issues,) = con.execute("SELECT count(*) FROM jira_issues").fetchone()
    assert issues == 400


def test_a_bad_calendar_is_refused_with_its_path(tmp_path):
    bad = tmp_path / "calendar.toml"
    bad.write_text('start = "18:00"\nend = "09:00"\n')
    with pytest.raises(ValueError, match="calendar.toml"):
        load_calendar(bad)


def test_report_command_writes_the_three_charts(demo, tmp_path, monkeypatch, capsys):
    from jira_pipeline.cli import main

    root, _ = demo
    monkeypatch.setenv("JIRA_DATA_ROOT", str(root.root))
    assert main(["report", "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out.split()
    assert [Path(p).name for p in printed] == [
        "created_vs_resolved.png", "sla_compliance.png", "time_in_status.png"]
    for path in printed:
        data = Path(path).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000
