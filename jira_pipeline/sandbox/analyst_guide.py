"""docs/analyst_guide.md: service-desk questions, their SQL, and the result each gives on
the demo data. The document is generated here (``python -m jira_pipeline.sandbox.analyst_guide``)
and a test regenerates it and compares, so its numbers cannot drift from the SQL."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb

from jira_pipeline.analytics.database import DATABASE_NAME, write_database
from jira_pipeline.sandbox.demo_data import write_simulated_raw_store
from jira_pipeline.sandbox.simulator.data import SimulatedJira
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "analyst_guide.md"
DEMO = {"seed": 0, "issues": 400, "start_month": "2025-01", "months": 12}
MAX_ROWS = 12

# Every ORDER BY ends in columns that make the order total: the test compares the guide byte
# for byte, and ties would come back in any order.
QUESTIONS: list[tuple[str, str]] = [
    ("Median time to first response by priority, per month (hours)", """
SELECT strftime(i.created_at, '%Y-%m') AS month, i.priority,
       round(median(epoch(m.first_response_at - m.created_at)) / 3600, 1) AS median_hours,
       count(*) AS answered
FROM jira_issue_metrics m JOIN jira_issues i USING (issue_key)
WHERE m.first_response_at IS NOT NULL
GROUP BY ALL ORDER BY month DESC, priority LIMIT 8"""),
    ("SLA breach rate trend (time to resolution)", """
SELECT strftime(i.created_at, '%Y-%m') AS month,
       count(*) FILTER (WHERE time_to_resolution_outcome = 'breached') AS breached,
       count(*) FILTER (WHERE time_to_resolution_outcome IS NOT NULL) AS with_sla,
       round(100.0 * breached / nullif(with_sla, 0), 1) AS breach_pct
FROM jira_issue_metrics m JOIN jira_issues i USING (issue_key)
GROUP BY ALL ORDER BY month"""),
    ("SLA compliance by month and priority (macro)", """
SELECT * FROM sla_compliance() WHERE sla = 'first_response' ORDER BY month DESC, priority
LIMIT 8"""),
    ("Tickets reopened more than once", """
SELECT issue_key, reopen_count FROM jira_issue_metrics WHERE reopen_count > 1
ORDER BY reopen_count DESC, issue_key"""),
    ("Time spent per status for resolved tickets (median hours)", """
SELECT s.status, s.status_category, count(*) AS stays,
       round(median(s.duration_seconds) / 3600, 1) AS median_hours
FROM jira_status_intervals s JOIN jira_issues i USING (issue_key)
WHERE i.resolved_at IS NOT NULL AND s.left_at IS NOT NULL
GROUP BY ALL ORDER BY median_hours DESC, s.status"""),
    ("Backlog age buckets of open tickets (as of their last fetch)", """
SELECT CASE WHEN age < 7 THEN '0-6 days' WHEN age < 30 THEN '7-29 days'
            WHEN age < 90 THEN '30-89 days' ELSE '90+ days' END AS bucket, count(*) AS issues
FROM (SELECT date_diff('day', m.created_at, m.as_of) AS age FROM jira_issue_metrics m
      JOIN jira_issues i USING (issue_key) WHERE i.status_category <> 'Done')
GROUP BY ALL ORDER BY min(age)"""),
    ("Backlog on a given day by priority (daily_issue_state macro)", """
SELECT priority, count(*) AS open_issues, round(avg(age_days), 1) AS avg_age_days
FROM daily_issue_state('2025-09-30') GROUP BY ALL ORDER BY open_issues DESC, priority"""),
    ("Top components by volume", """
SELECT component, count(*) AS issues
FROM (SELECT unnest(components) AS component FROM jira_issues)
GROUP BY ALL ORDER BY issues DESC, component LIMIT 8"""),
    ("Assignee load over time: open tickets per assignee at quarter ends", """
SELECT day, assignee_name, count(*) AS open_issues
FROM (SELECT * FROM daily_issue_state('2025-06-30') UNION ALL
      SELECT * FROM daily_issue_state('2025-09-30'))
WHERE assignee_name IS NOT NULL
GROUP BY ALL ORDER BY day, open_issues DESC, assignee_name LIMIT 10"""),
    ("Issues linked to a Confluence page", """
SELECT r.issue_key, r.title, r.url FROM jira_remote_links r
WHERE r.application_type = 'com.atlassian.confluence' OR r.url LIKE '%/wiki/%'
ORDER BY r.issue_key LIMIT 8"""),
    ("Tickets whose attachments exceed 1 MB in total", """
SELECT issue_key, round(attachment_bytes / 1048576, 2) AS mb
FROM jira_issue_metrics WHERE attachment_bytes > 1048576
ORDER BY attachment_bytes DESC, issue_key LIMIT 8"""),
    ("Comment export for sentiment analysis (issue, author, public flag, text)", """
SELECT issue_key, author_name, public, left(body, 50) AS text
FROM jira_comments ORDER BY created_at, comment_id LIMIT 5"""),
    ("Who had the ticket: assignments and time to first assignment (hours)", """
SELECT assignee_count, count(*) AS issues,
       round(median(epoch(first_assigned_at - created_at)) / 3600, 1) AS median_hours_to_assign
FROM jira_issue_metrics GROUP BY ALL ORDER BY assignee_count"""),
    ("Business hours to resolution (Mon-Fri 09-17 UTC calendar), by issue type", """
SELECT i.issue_type, count(*) AS resolved,
       round(median(business_seconds(i.created_at, i.resolved_at)) / 3600, 1)
           AS median_business_hours
FROM jira_issues i WHERE i.resolved_at IS NOT NULL GROUP BY ALL ORDER BY resolved DESC, i.issue_type"""),
]

INTRO = """# Analyst guide: service-desk questions answered

Each question below is one query against the ready DuckDB database that
`jira-pipeline duckdb` writes (`<data root>/jira.duckdb`, and `<JIRA_DIST_DIR>/jira.duckdb`
for rsync copies: open that one from its folder). The database has a `jira_<table>` view
per table (with table and column comments: `SELECT * FROM duckdb_columns()`), and macros:

- `business_seconds(a, b)`: working seconds between two timestamps by the calendar file
  (`jira_pipeline/analytics/business_calendar.toml`; another with `--calendar FILE`);
- `sla_compliance()`: met / breached / running and compliance % per month, priority, SLA;
- `daily_issue_state(day)`: every issue open at the end of `day` with its status, category,
  assignee (at the start of its stay), priority, project, type and age. A macro rather than
  a table: a table would hold one row per open issue per day, rewritten daily, and would
  depend on the date it was built; the macro reads `status_intervals` and costs one range
  join per query.

The derived tables `status_intervals` and `issue_metrics` are described in
[jira_schema.md](jira_schema.md#derived-tables). Results below are computed on the demo data
(simulator seed 0, 400 issues over 12 months from 2025-01, fetched 2026-01-01) by
`python -m jira_pipeline.sandbox.analyst_guide`; a test regenerates this file and compares.
Charts: `jira-pipeline report --out DIR`.

![Weekly created vs resolved](img/created_vs_resolved.png)
![SLA compliance by month](img/sla_compliance.png)
![Time in status](img/time_in_status.png)
"""


def build_demo(root: DataRoot) -> Path:
    """The demo raw store, its tables and its database; returns the database path."""
    write_simulated_raw_store(root, SimulatedJira(**DEMO))
    rebuild_all(root, progress=False, workers=1)
    return write_database(root.parquet, root.root / DATABASE_NAME)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render(db_path: Path) -> str:
    parts = [INTRO]
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        for number, (title, sql) in enumerate(QUESTIONS, start=1):
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            parts.append(f"\n## {number}. {title}\n\n```sql{sql};\n```\n")
            parts.append("| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n")
            for row in rows[:MAX_ROWS]:
                parts.append("| " + " | ".join(_cell(v) for v in row) + " |\n")
            if not rows:
                parts.append("| " + " | ".join("(no rows)" for _ in names) + " |\n")
    return "".join(parts)


def generate() -> str:
    with tempfile.TemporaryDirectory(prefix="analyst_guide_") as tmp:
        return render(build_demo(DataRoot(Path(tmp))))


def write_guide_and_charts() -> None:
    """docs/analyst_guide.md and the charts it shows (docs/img), from one demo store."""
    from jira_pipeline.analytics.report import write_report

    with tempfile.TemporaryDirectory(prefix="analyst_guide_") as tmp:
        root = DataRoot(Path(tmp))
        GUIDE.write_text(render(build_demo(root)))
        write_report(root, GUIDE.parent / "img")


if __name__ == "__main__":
    write_guide_and_charts()
    sys.exit(0)
