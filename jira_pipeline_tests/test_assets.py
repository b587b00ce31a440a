"""The month assets materialized in-process against the simulator over real HTTP, the
Parquet files read back with DuckDB: a whole month (UI / backfill path), then a run handed
issue keys (webhook path) with an update and a deletion."""

from __future__ import annotations

import duckdb
import pytest
from dagster import DagsterInstance, materialize

from jira_pipeline.core.dates import month_of
from jira_pipeline.defs.assets import jira_month
from jira_pipeline.defs.jobs import month_run_config
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline_tests.fixtures.mirror import resources_for

MONTH = "2024-02"


@pytest.fixture(scope="module")
def simulated():
    jira = SimulatedJira(seed=11, issues=60, start_month="2024-01", months=3)
    with SimulatorServer(jira) as server:
        yield jira, server


def month_keys(jira: SimulatedJira, month: str) -> set[str]:
    return {
        k
        for k in jira.keys()  # noqa: SIM118 (a simulator, not a dict)
        if month_of(jira.issue_json(k, fields=["created"])["fields"]["created"]) == month
    }


def query(root: DataRoot, sql: str) -> list[tuple]:
    glob = root.parquet.as_posix()
    return duckdb.sql(sql.replace("{parquet}", glob)).fetchall()


def materialization(result, asset: str) -> dict:
    (event,) = [
        m
        for m in result.asset_materializations_for_node("jira_month")
        if m.asset_key.to_user_string() == asset
    ]
    return event.metadata


def run(root, server, instance, config=None):
    return materialize(
        [jira_month],
        partition_key=MONTH,
        resources=resources_for(server.env(), root),
        instance=instance,
        run_config=config,
    )


def test_whole_month_then_webhook_keys(simulated, data_root):
    jira, server = simulated
    expected = month_keys(jira, MONTH)
    assert len(expected) > 5
    with DagsterInstance.ephemeral() as instance:
        result = run(data_root, server, instance)
        assert result.success
        rows = query(data_root, "SELECT issue_key FROM '{parquet}/issues/2024-02.parquet'")
        assert {key for (key,) in rows} == expected
        meta = materialization(result, "jira_raw_issues")
        assert meta["issues_touched"].value == len(expected) and meta["jira_requests"].value > 0
        issues_meta = materialization(result, "jira_issues")
        assert issues_meta["rows"].value == len(expected) and issues_meta["bytes"].value > 0
        # the derived tables are materialized in the same run, and their checks ran
        assert materialization(result, "jira_issue_metrics")["rows"].value == len(expected)
        assert materialization(result, "jira_status_intervals")["rows"].value >= len(expected)
        checked = {(e.asset_key.to_user_string(), e.check_name)
                   for e in result.get_asset_check_evaluations()}
        assert {("jira_status_intervals", "intervals_tile_exactly"),
                ("jira_issue_metrics", "metrics_row_per_issue")} <= checked
        assert all(e.passed for e in result.get_asset_check_evaluations())
        comments = query(data_root, "SELECT count(*) FROM '{parquet}/comments/2024-02.parquet'")
        assert comments[0][0] > 0

        updated, deleted = sorted(expected)[:2]
        jira.update_issue(updated, summary="Changed by a webhook test")
        jira.delete_issue(deleted)
        result = run(
            data_root, server, instance, month_run_config([updated, deleted], ["evt-1", "evt-2"])
        )
        assert result.success
        meta = materialization(result, "jira_raw_issues")
        assert meta["issues_touched"].value == 2 and meta["deleted"].value == 1
        rows = dict(
            query(data_root, "SELECT issue_key, summary FROM '{parquet}/issues/2024-02.parquet'")
        )
        assert rows[updated] == "Changed by a webhook test"
        assert deleted not in rows and set(rows) == expected - {deleted}
        metrics = query(data_root, "SELECT issue_key FROM '{parquet}/issue_metrics/2024-02.parquet'")
        assert {key for (key,) in metrics} == expected - {deleted}  # upserted with the rest
        orphans = query(
            data_root,
            "SELECT count(*) FROM '{parquet}/comments/2024-02.parquet' "
            f"WHERE issue_key = '{deleted}'",
        )
        assert orphans[0][0] == 0
        assert all(e.passed for e in result.get_asset_check_evaluations())
