"""daily_issue_state at 1,000,000 issues (issue 16): the macro over status_intervals
against a materialized table of one row per open issue per day.

Synthetic derived tables written as Parquet by DuckDB: 1,000,000 issues created uniformly
over two years, 3 stays each (To Do, In Progress, Done), 10% never leave In Progress.
Measured: "backlog on a date by priority" through the macro; building the table for the
two years (rows, bytes, seconds); the same question on the table."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import duckdb

ISSUES = 1_000_000


def main() -> str:
    with tempfile.TemporaryDirectory(prefix="bench_daily_") as tmp, duckdb.connect() as con:
        base = Path(tmp)
        con.execute("SET TimeZone = 'UTC'; SET threads = 2; SET memory_limit = '3GB'")
        con.execute(f"""CREATE TABLE s AS
            WITH i AS (SELECT n, TIMESTAMPTZ '2024-01-01 00:00:00+00'
                              + to_seconds((hash(n) % 63072000)::BIGINT) AS created,
                              to_seconds((hash(n + 1) % 864000)::BIGINT) AS wait,
                              to_seconds((hash(n + 2) % 1728000)::BIGINT) AS work
                       FROM range({ISSUES}) t(n))
            SELECT 'K-' || n AS issue_key, 0 AS stay_index, 'To Do' AS status,
                   'To Do' AS status_category, created AS entered_at,
                   created + wait AS left_at, 'agent' || n % 20 AS assignee_name FROM i
            UNION ALL SELECT 'K-' || n, 1, 'In Progress', 'In Progress', created + wait,
                   CASE WHEN n % 10 = 0 THEN NULL ELSE created + wait + work END,
                   'agent' || n % 20 FROM i
            UNION ALL SELECT 'K-' || n, 2, 'Done', 'Done', created + wait + work, NULL,
                   'agent' || n % 20 FROM i WHERE n % 10 <> 0""")
        con.execute(f"""COPY s TO '{base}/status_intervals.parquet'""")
        con.execute(f"""COPY (SELECT 'K-' || n AS issue_key,
                       ['Low', 'Medium', 'High'][1 + n % 3] AS priority,
                       min(entered_at) AS created_at FROM range({ISSUES}) t(n)
                       JOIN s ON s.issue_key = 'K-' || n GROUP BY ALL)
                    TO '{base}/issues.parquet'""")
        con.execute("DROP TABLE s")
        con.execute(f"CREATE VIEW jira_status_intervals AS SELECT * FROM '{base}/status_intervals.parquet'")
        con.execute(f"CREATE VIEW jira_issues AS SELECT * FROM '{base}/issues.parquet'")
        con.execute("""CREATE MACRO daily_issue_state(day) AS TABLE
            SELECT CAST(day AS DATE) AS day, s.issue_key, s.status, s.status_category,
                   s.assignee_name, i.priority
            FROM jira_status_intervals s JOIN jira_issues i USING (issue_key)
            WHERE s.entered_at < CAST(day AS DATE) + INTERVAL 1 DAY
              AND (s.left_at IS NULL OR s.left_at >= CAST(day AS DATE) + INTERVAL 1 DAY)
              AND s.status_category <> 'Done'""")
        question = "SELECT priority, count(*) FROM {} GROUP BY ALL ORDER BY 1"
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            con.execute(question.format("daily_issue_state('2025-06-30')")).fetchall()
            timings.append(time.perf_counter() - started)
        macro_s = min(timings)

        started = time.perf_counter()
        con.execute(f"""COPY (
            SELECT CAST(d AS DATE) AS day, s.issue_key, s.status, s.status_category,
                   s.assignee_name, i.priority
            FROM range(TIMESTAMPTZ '2024-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 00:00:00+00',
                       INTERVAL 1 DAY) t(d)
            JOIN jira_status_intervals s ON s.entered_at < d + INTERVAL 1 DAY
                 AND (s.left_at IS NULL OR s.left_at >= d + INTERVAL 1 DAY)
            JOIN jira_issues i USING (issue_key) WHERE s.status_category <> 'Done')
            TO '{base}/daily.parquet'""")
        build_s = time.perf_counter() - started
        (rows,) = con.execute(f"SELECT count(*) FROM '{base}/daily.parquet'").fetchall()[0]
        table_mib = (base / "daily.parquet").stat().st_size / 2**20
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            con.execute(question.format(
                f"'{base}/daily.parquet' WHERE day = DATE '2025-06-30'")).fetchall()
            timings.append(time.perf_counter() - started)
        table_s = min(timings)
    lines = [
        "## daily_issue_state at 1,000,000 issues (issue 16)",
        "",
        "| Measure | Macro over status_intervals | Materialized daily table |",
        "|---|---|---|",
        f"| Backlog on one date by priority (best of 3) | **{macro_s:.2f} s** | {table_s:.2f} s |",
        f"| Build / storage for two years | nothing to build | {build_s:.0f} s, "
        f"{rows:,} rows, {table_mib:,.0f} MiB, to rebuild as days pass |",
        "",
        "Choice: the macro. The table answers one date no faster to speak of, yet holds a row per open issue "
        "per day, must grow every day (it depends on the build date, so rebuild == upsert "
        "could not hold) and costs the build above; the macro costs one range join per query.",
        "",
        "Command: `python -m benchmarks daily_state` (synthetic derived tables, DuckDB only)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
