"""``jira-pipeline transform`` and ``jira-pipeline duckdb``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jira_pipeline.config import load_settings
from jira_pipeline.storage.paths import DataRoot


def register(subparsers: argparse._SubParsersAction) -> None:
    transform = subparsers.add_parser(
        "transform", help="rebuild every Parquet table from the raw store",
        description="Rebuild parquet/jira/<table>/YYYY-MM.parquet from raw/jira/issues, "
                    "month by month (or one --month); copies changed files to JIRA_DIST_DIR.",
    )
    transform.add_argument("--month", help="rebuild only this month (YYYY-MM)")
    transform.add_argument("--no-progress", action="store_true", help="no progress bar")
    transform.set_defaults(func=run_transform)

    duck = subparsers.add_parser(
        "duckdb", help="write a ready DuckDB database: jira_* views, comments, macros",
        description="Write <data root>/jira.duckdb (and <JIRA_DIST_DIR>/jira.duckdb with "
                    "relative paths, when set): a view per table, table and column comments, "
                    "macros business_seconds, sla_compliance, daily_issue_state.",
    )
    duck.add_argument("--db", type=Path, help="database file (default: <data root>/jira.duckdb)")
    duck.add_argument("--calendar", type=Path,
                      help="business-hours calendar TOML for business_seconds "
                           "(default: jira_pipeline/analytics/business_calendar.toml)")
    duck.add_argument("--query", help="run this SQL against the views and print the result")
    duck.set_defaults(func=run_duckdb)


def run_transform(args: argparse.Namespace) -> int:
    from jira_pipeline.transform.rebuild import rebuild_all, rebuild_month

    settings = load_settings()
    root = DataRoot(settings.data_root)
    if args.month:
        result = rebuild_month(root, args.month, dist_dir=settings.dist_dir)
        print(f"{result.month}: " + ", ".join(f"{t}={n}" for t, n in result.rows.items()))
        return 0
    summary = rebuild_all(root, progress=not args.no_progress, dist_dir=settings.dist_dir)
    changed = sum(len(r.changed) for r in summary.months.values())
    print(f"{summary.issues_written} issues in {len(summary.months)} months, "
          f"{changed} files changed, {len(summary.issues_skipped)} skipped, "
          f"{summary.seconds:.1f} s")
    return 0


def run_duckdb(args: argparse.Namespace) -> int:
    import duckdb

    from jira_pipeline.analytics.database import DATABASE_NAME, load_calendar, write_database
    from jira_pipeline.transform.schemas import TABLES
    from jira_pipeline.transform.views import EXAMPLE_QUERIES

    settings = load_settings()
    root = DataRoot(settings.data_root)
    calendar = load_calendar(args.calendar) if args.calendar else load_calendar()
    db_path = write_database(root.parquet, args.db or root.root / DATABASE_NAME,
                             calendar=calendar)
    if settings.dist_dir is not None:
        dist = Path(settings.dist_dir)
        write_database(dist, dist / DATABASE_NAME, relative=True, calendar=calendar)
        print(f"also written for rsync: {dist / DATABASE_NAME} (open it from {dist})",
              file=sys.stderr)
    if args.query:
        with duckdb.connect(str(db_path), read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            cursor = con.execute(args.query)
            print("\t".join(d[0] for d in cursor.description))
            for row in cursor.fetchall():
                print("\t".join("" if x is None else str(x) for x in row))
        return 0
    views = ", ".join(f"jira_{t}" for t in TABLES)
    print(f"DuckDB database with views {views}, macros business_seconds(a, b), "
          f"sla_compliance(), daily_issue_state(day):\n  duckdb {db_path}\n")
    for title, sql in EXAMPLE_QUERIES.items():
        print(f"-- {title}{sql};\n")
    return 0
