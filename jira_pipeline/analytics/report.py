"""``jira-pipeline report --out DIR``: PNG charts from the derived tables (matplotlib,
Agg backend: no display, no system packages): weekly created vs resolved, SLA compliance
by month, time-in-status distribution."""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

from jira_pipeline.config import load_settings
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.views import connect

CHARTS = ("created_vs_resolved.png", "sla_compliance.png", "time_in_status.png")


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report", help="write PNG charts from the derived tables",
        description="Weekly created vs resolved, SLA compliance by month, time in status.",
    )
    report.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    written = write_report(DataRoot(load_settings().data_root), args.out)
    for path in written:
        print(path)
    return 0


def write_report(root: DataRoot, out: Path) -> list[Path]:
    """The three charts of ``root``'s tables into ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    with connect(root) as con:
        figures = [_created_vs_resolved(con, plt), _sla_compliance(con, plt),
                   _time_in_status(con, plt)]
    paths = []
    for name, figure in zip(CHARTS, figures, strict=True):
        figure.tight_layout()
        figure.savefig(out / name, dpi=72, metadata={"Software": None})
        plt.close(figure)
        paths.append(out / name)
    return paths


def _created_vs_resolved(con: duckdb.DuckDBPyConnection, plt):  # noqa: ANN001, ANN202
    rows = con.execute("""
        WITH c AS (SELECT date_trunc('week', created_at) AS week, count(*) AS n
                   FROM jira_issues GROUP BY 1),
             r AS (SELECT date_trunc('week', resolved_at) AS week, count(*) AS n
                   FROM jira_issues WHERE resolved_at IS NOT NULL GROUP BY 1)
        SELECT week, coalesce(c.n, 0), coalesce(r.n, 0) FROM c FULL JOIN r USING (week)
        ORDER BY week""").fetchall()
    figure, axis = plt.subplots(figsize=(8, 3.2))
    axis.plot([r[0] for r in rows], [r[1] for r in rows], label="created")
    axis.plot([r[0] for r in rows], [r[2] for r in rows], label="resolved")
    axis.set_title("Issues created vs resolved per week")
    axis.legend()
    return figure


def _sla_compliance(con: duckdb.DuckDBPyConnection, plt):  # noqa: ANN001, ANN202
    rows = con.execute("""
        SELECT strftime(i.created_at, '%Y-%m') AS month,
               100.0 * count(*) FILTER (WHERE first_response_outcome = 'met')
                 / nullif(count(*) FILTER (WHERE first_response_outcome IN ('met', 'breached')), 0),
               100.0 * count(*) FILTER (WHERE time_to_resolution_outcome = 'met')
                 / nullif(count(*) FILTER (WHERE time_to_resolution_outcome IN ('met', 'breached')), 0)
        FROM jira_issue_metrics m JOIN jira_issues i USING (issue_key)
        GROUP BY ALL ORDER BY month""").fetchall()
    figure, axis = plt.subplots(figsize=(8, 3.2))
    axis.plot([r[0] for r in rows], [r[1] for r in rows], marker="o", label="first response")
    axis.plot([r[0] for r in rows], [r[2] for r in rows], marker="o", label="time to resolution")
    axis.set_ylim(0, 100)
    axis.set_ylabel("% met")
    axis.set_title("SLA compliance by created month")
    axis.tick_params(axis="x", labelrotation=45)
    axis.legend()
    return figure


def _time_in_status(con: duckdb.DuckDBPyConnection, plt):  # noqa: ANN001, ANN202
    rows = con.execute("""
        SELECT status, list(duration_seconds / 3600.0 ORDER BY duration_seconds)
        FROM jira_status_intervals WHERE duration_seconds IS NOT NULL
        GROUP BY status ORDER BY median(duration_seconds) DESC""").fetchall()
    figure, axis = plt.subplots(figsize=(8, 3.6))
    if rows:
        axis.boxplot([r[1] for r in rows], orientation="horizontal", showfliers=False)
        axis.set_yticks(range(1, len(rows) + 1), [r[0] for r in rows])
    axis.set_xlabel("hours per stay (finished stays)")
    axis.set_title("Time in status")
    return figure
