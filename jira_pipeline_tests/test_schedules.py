"""The maintenance jobs behind the schedules, run in-process against the simulator over
HTTP: SLA polling, hourly reconciliation (watermark), daily deletion sweep (404 only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from jira_pipeline.defs.jobs import jira_deletion_sweep_job, jira_reconcile_job, jira_sla_poll_job
from jira_pipeline.maintenance.reconcile import read_watermark, reconcile_jql, write_watermark
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import is_tombstone, load_issue
from jira_pipeline_tests.fixtures.mirror import mirror, resources_for


@pytest.fixture
def site(tmp_path):
    """A small simulated site and a data root mirroring it."""
    jira = SimulatedJira(seed=21, issues=40, start_month="2025-01", months=2)
    with SimulatorServer(jira) as server:
        root = DataRoot(tmp_path / "data")
        mirror(server.env(), root)
        yield jira, server.env(), root


def issues(root: DataRoot) -> dict[str, tuple]:
    glob = (root.parquet / "issues" / "*.parquet").as_posix()
    rows = duckdb.sql(f"SELECT issue_key, summary, status_category FROM '{glob}'").fetchall()
    return {key: (summary, category) for key, summary, category in rows}


def test_reconcile_refetches_changes_without_webhooks_and_moves_watermark(site):
    jira, env, root = site
    key = jira.keys()[3]
    jira.update_issue(key, summary="Changed while the webhook was lost")
    before = datetime.now(UTC)
    result = jira_reconcile_job.execute_in_process(resources=resources_for(env, root))
    assert result.success
    assert issues(root)[key][0] == "Changed while the webhook was lost"
    watermark = read_watermark(root)
    assert watermark is not None and watermark >= before - timedelta(seconds=1)
    events = [e for e in result.get_asset_materialization_events()]
    assert any(e.asset_key.to_user_string() == "jira_issues" for e in events)


def test_reconcile_jql_starts_an_overlap_before_the_watermark(data_root):
    now = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    first = reconcile_jql("project = SUP", None, now)  # no watermark yet: the last day
    assert "project = SUP" in first and 'updated >= "2026-03-09 12:30"' in first
    write_watermark(data_root, datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    assert reconcile_jql("", read_watermark(data_root), now) == 'updated >= "2026-03-09 09:00"'


def test_deletion_sweep_deletes_only_what_a_get_says_is_gone(site):
    jira, env, root = site
    gone = next(k for k in jira.keys() if k.startswith("SUPPORT-"))  # noqa: SIM118 (a simulator, not a dict)
    jira.delete_issue(gone)  # deleted in Jira; its webhook never came
    # Scope narrowed to SUPPORT: every ENG issue is missing from the search, but a GET
    # still returns it, so the sweep must keep it.
    result = jira_deletion_sweep_job.execute_in_process(
        resources=resources_for(env, root, jql="project = SUPPORT"))
    assert result.success
    tables = issues(root)
    assert gone not in tables and is_tombstone(load_issue(root, gone))
    eng = [k for k in jira.keys() if k.startswith("ENG-")]  # noqa: SIM118 (a simulator, not a dict)
    assert eng and all(k in tables for k in eng)
    assert not any(is_tombstone(load_issue(root, k)) for k in eng)


def test_sla_poll_heals_an_issue_resolved_behind_the_stores_back(site):
    jira, env, root = site
    candidates = [k for k in jira.keys()  # noqa: SIM118 (a simulator, not a dict)
                  if (load_issue(root, k) or {}).get("_sla")
                  and issues(root)[k][1] != "Done"]
    assert candidates
    key = candidates[0]
    jira.resolve_issue(key)
    result = jira_sla_poll_job.execute_in_process(resources=resources_for(env, root))
    assert result.success
    assert issues(root)[key][1] == "Done"
