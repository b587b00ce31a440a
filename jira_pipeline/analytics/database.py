"""The ready DuckDB database: a ``jira_*`` view per table of the registry, table and
column comments, and macros for the common cuts.

Written whole to a temporary file and renamed over the target, so an analyst never opens
a half-written database. Views next to the Parquet tree read absolute paths; the copy
beside ``JIRA_DIST_DIR`` reads paths relative to that folder (open it from there), so it
keeps working after rsync to another machine."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path

import duckdb

from jira_pipeline.storage.atomic import atomic_path
from jira_pipeline.transform.month_files import months_in
from jira_pipeline.transform.schemas import SPECS, TABLE_SPECS
from jira_pipeline.transform.views import VIEW_PREFIX, empty_select, sql_literal

DEFAULT_CALENDAR = Path(__file__).with_name("business_calendar.toml")
DATABASE_NAME = "jira.duckdb"


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str
    workdays: tuple[int, ...]
    start: time
    end: time
    holidays: tuple[date, ...]


def load_calendar(path: Path = DEFAULT_CALENDAR) -> BusinessCalendar:
    """Read and check a calendar file (a clear error for a bad value, never a wrong macro)."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    try:
        calendar = BusinessCalendar(
            timezone=str(data.get("timezone", "UTC")),
            workdays=tuple(int(d) for d in data.get("workdays", [1, 2, 3, 4, 5])),
            start=time.fromisoformat(data.get("start", "09:00")),
            end=time.fromisoformat(data.get("end", "17:00")),
            holidays=tuple(date.fromisoformat(str(d)) for d in data.get("holidays", [])),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not all(1 <= d <= 7 for d in calendar.workdays) or calendar.start >= calendar.end:
        raise ValueError(f"{path}: workdays must be 1..7 and start before end")
    return calendar


def macros_sql(calendar: BusinessCalendar) -> list[str]:
    """``business_seconds(a, b)``, ``sla_compliance()``, ``daily_issue_state(day)``."""
    workdays = ", ".join(str(d) for d in calendar.workdays) or "0"
    holidays = ", ".join(f"DATE {sql_literal(d.isoformat())}" for d in calendar.holidays)
    tz = sql_literal(calendar.timezone)
    start_s = calendar.start.hour * 3600 + calendar.start.minute * 60
    end_s = calendar.end.hour * 3600 + calendar.end.minute * 60
    return [
        # working seconds between two instants, counted in the calendar's local time
        f"""CREATE OR REPLACE MACRO business_seconds(a, b) AS (
            SELECT coalesce(sum(greatest(0,
                       least(epoch(timezone({tz}, b)), epoch(d) + {end_s})
                     - greatest(epoch(timezone({tz}, a)), epoch(d) + {start_s}))), 0)::BIGINT
            FROM range(date_trunc('day', timezone({tz}, a)), timezone({tz}, b),
                       INTERVAL 1 DAY) t(d)
            WHERE isodow(d) IN ({workdays})
              {f"AND CAST(d AS DATE) NOT IN ({holidays})" if holidays else ""})""",
        f"""CREATE OR REPLACE MACRO sla_compliance() AS TABLE
            SELECT strftime(i.created_at, '%Y-%m') AS month, i.priority, s.sla,
                   count(*) FILTER (WHERE s.outcome = 'met') AS met,
                   count(*) FILTER (WHERE s.outcome = 'breached') AS breached,
                   count(*) FILTER (WHERE s.outcome = 'running') AS running,
                   round(100.0 * count(*) FILTER (WHERE s.outcome = 'met')
                         / nullif(count(*) FILTER (WHERE s.outcome <> 'running'), 0), 1)
                       AS compliance_pct
            FROM {VIEW_PREFIX}issues i JOIN (
                {" UNION ALL ".join(
                    f"SELECT issue_key, {sql_literal(prefix)} AS sla, {prefix}_outcome AS outcome "
                    f"FROM {VIEW_PREFIX}issue_metrics WHERE {prefix}_outcome IS NOT NULL"
                    for prefix in _sla_prefixes())}
            ) s USING (issue_key)
            GROUP BY ALL ORDER BY month, priority, sla""",
        # the open issues at the end of `day` (UTC), with the status they were in then
        f"""CREATE OR REPLACE MACRO daily_issue_state(day) AS TABLE
            SELECT CAST(day AS DATE) AS day, s.issue_key, s.status, s.status_category,
                   s.assignee_name, i.priority, i.project_key, i.issue_type,
                   date_diff('day', CAST(i.created_at AS DATE), CAST(day AS DATE)) AS age_days
            FROM {VIEW_PREFIX}status_intervals s JOIN {VIEW_PREFIX}issues i USING (issue_key)
            WHERE s.entered_at < CAST(day AS DATE) + INTERVAL 1 DAY
              AND (s.left_at IS NULL OR s.left_at >= CAST(day AS DATE) + INTERVAL 1 DAY)
              AND s.status_category <> 'Done'""",
    ]


def _sla_prefixes() -> list[str]:
    names = SPECS["issue_metrics"].schema.names
    return [n.removesuffix("_outcome") for n in names if n.endswith("_outcome")]


def write_database(parquet_dir: Path, db_path: Path, *, relative: bool = False,
                   calendar: BusinessCalendar | None = None) -> Path:
    """Write ``db_path``: views over ``parquet_dir/<table>/*.parquet`` (paths relative to
    ``db_path``'s folder when ``relative``), comments and macros."""
    calendar = calendar or load_calendar()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(db_path) as tmp:
        os.unlink(tmp)  # DuckDB creates its own file (an empty one is not a database)
        with duckdb.connect(str(tmp)) as con:
            con.execute("SET TimeZone = 'UTC'")
            if relative:  # views are checked as they are created: resolve from the folder
                con.execute(f"SET file_search_path = {sql_literal(str(parquet_dir))}")
            for spec in TABLE_SPECS:
                directory = parquet_dir / spec.name
                if months_in(directory):
                    glob = (Path(spec.name) if relative else directory) / "*.parquet"
                    body = f"SELECT * FROM read_parquet({sql_literal(glob.as_posix())})"
                else:
                    body = empty_select(spec.schema)
                view = f"{VIEW_PREFIX}{spec.name}"
                con.execute(f"CREATE VIEW {view} AS {body}")
                con.execute(f"COMMENT ON VIEW {view} IS {sql_literal(spec.description)}")
                for column, text in spec.column_descriptions.items():
                    con.execute(f'COMMENT ON COLUMN {view}."{column}" IS {sql_literal(text)}')
            for sql in macros_sql(calendar):
                con.execute(sql)
    return db_path
