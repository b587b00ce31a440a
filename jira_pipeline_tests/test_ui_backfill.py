"""A backfill of months launched as the Dagster UI launches it (the webserver's GraphQL
``launchPartitionBackfill`` over the month assets), carried out by a real daemon: every
table of those months in Parquet, equal to the simulated site."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, materialize
from dagster._core.execution.backfill import BulkActionStatus
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from jira_pipeline.core.dates import month_of
from jira_pipeline.defs.assets import MONTH_SPECS, jira_month
from jira_pipeline.sandbox.demo import BACKFILL_MUTATION
from jira_pipeline.sandbox.processes import WORKSPACE_YAML
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline_tests.fixtures.dagster_daemon import running_daemon, wait_for
from jira_pipeline_tests.fixtures.mirror import resources_for

MONTHS = ["2024-01", "2024-02"]


def launch(instance: DagsterInstance, months: list[str]) -> dict:
    """The UI's backfill launch: GraphQL against the workspace's code location."""
    params = {
        "assetSelection": [{"path": spec.key.path} for spec in MONTH_SPECS],
        "partitionNames": months,
        "title": "test",
    }
    with define_out_of_process_context(str(WORKSPACE_YAML), None, instance) as context:
        result = execute_dagster_graphql(context, BACKFILL_MUTATION, {"params": params})
    return result.data["launchPartitionBackfill"]


@pytest.mark.e2e
def test_months_backfilled_from_the_ui_are_in_parquet(tmp_path: Path, monkeypatch) -> None:
    site = SimulatedJira(seed=8, issues=40, start_month="2024-01", months=2)
    root = DataRoot(tmp_path / "data")
    with SimulatorServer(site) as server:
        env = {**server.env(), "JIRA_DATA_ROOT": str(root.root), "JIRA_START_MONTH": "2024-01"}
        for name, value in env.items():  # the GraphQL context's code server inherits these
            monkeypatch.setenv(name, value)
        with running_daemon(tmp_path / "dagster_home", env) as daemon:
            monkeypatch.setenv("DAGSTER_HOME", str(daemon.home))
            launched = launch(daemon.instance, MONTHS)
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
            backfill_id = launched["backfillId"]

            def ended() -> bool:
                status = daemon.instance.get_backfill(backfill_id).status
                return status not in (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING)

            assert wait_for(ended, timeout=240, interval=1), daemon.log_text()
            assert daemon.instance.get_backfill(backfill_id).status in (
                BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS
            ), daemon.log_text()
    every_key = site.keys()  # a list of the site's keys, not a mapping
    expected = sorted(
        k for k in every_key if month_of(site.issue_json(k)["fields"]["created"]) in MONTHS
    )
    for month in MONTHS:
        for table in TABLES:
            assert root.month_file(table, month).is_file(), (table, month)
    glob = os.path.join(root.parquet, "issues", "*.parquet")
    keys = [row[0] for row in duckdb.sql(f"SELECT issue_key FROM '{glob}' ORDER BY 1").fetchall()]
    assert keys == expected


def test_a_partial_selection_refreshes_the_whole_month_and_reports_the_selected(
    tmp_path: Path,
) -> None:
    """Selecting one table in the UI still runs the month's single step (every table
    written); only the selected asset and its checks are reported."""
    site = SimulatedJira(seed=8, issues=20, start_month="2024-01", months=1)
    root = DataRoot(tmp_path / "data")
    with SimulatorServer(site) as server, DagsterInstance.ephemeral() as instance:
        result = materialize(
            [jira_month], selection=["jira_issues"], partition_key="2024-01",
            instance=instance, resources=resources_for(server.env(), root),
        )
    assert result.success
    reported = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert reported == {"jira_issues"}
    checked = {e.asset_key.to_user_string() for e in result.get_asset_check_evaluations()}
    assert checked == {"jira_issues"}  # its checks ran; the other tables' were not selected
    assert all(root.month_file(table, "2024-01").is_file() for table in TABLES)
