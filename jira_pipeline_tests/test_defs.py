"""The code location loads and validates, with the shape the UI shows."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from dagster import AssetKey, DefaultSensorStatus
from dagster._core.definitions.backfill_policy import BackfillPolicyType

from jira_pipeline.definitions import defs
from jira_pipeline.defs.partitions import START_MONTH
from jira_pipeline.sandbox.processes import COMMITTED_DAGSTER_YAML, PROJECT_ROOT, venv_script
from jira_pipeline.storage.paths import check_month
from jira_pipeline.transform.schemas import SOURCE_TABLES, TABLES

MONTH_ASSETS = [
    "jira_raw_issues",
    "jira_sla_overlay",
    "jira_attachment_files",
    *(f"jira_{t}" for t in TABLES),
]


def test_definitions_load_with_lineage_groups_kinds_and_partitions():
    graph = defs.resolve_asset_graph()
    for name in MONTH_ASSETS:
        node = graph.get(AssetKey(name))
        assert node.partitions_def is not None and node.description, name
        assert node.backfill_policy.policy_type == BackfillPolicyType.MULTI_RUN
        assert node.backfill_policy.max_partitions_per_run == 1
    parents = {
        name: {k.to_user_string() for k in graph.get(AssetKey(name)).parent_keys}
        for name in MONTH_ASSETS
    }
    assert parents["jira_sla_overlay"] == {"jira_raw_issues"}
    assert parents["jira_attachment_files"] == {"jira_sla_overlay"}
    assert all(parents[f"jira_{t}"] == {"jira_attachment_files"} for t in SOURCE_TABLES)
    # derived tables hang below the tables they are computed from
    assert parents["jira_status_intervals"] == {"jira_issues", "jira_changelog"}
    assert parents["jira_issue_metrics"] == {
        "jira_issues", "jira_comments", "jira_attachments", "jira_changelog",
        "jira_status_intervals"}
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert specs["jira_raw_issues"].kinds == {"jira", "json"}
    assert specs["jira_issues"].kinds == {"parquet", "duckdb"}
    assert specs["jira_issues"].group_name == "jira_tables"
    partitions = graph.get(AssetKey("jira_issues")).partitions_def
    # keyed by month, as the month files are: the UI lists 2024-01, not 2024-01-01
    assert partitions.get_first_partition_key() == START_MONTH
    assert all(check_month(key) == key for key in partitions.get_partition_keys())


def test_sensor_schedules_and_checks_are_registered():
    sensor = defs.resolve_sensor_def("jira_webhook_sensor")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    # Below the daemon's 5 s loop: at exactly 5 s every other loop skips it (10 s ticks).
    assert sensor.minimum_interval_seconds < 5
    crons = {s.name: s.cron_schedule for s in defs.get_repository_def().schedule_defs}
    assert crons == {
        "jira_sla_poll": "*/15 * * * *",
        "jira_reconcile": "7 * * * *",
        "jira_deletion_sweep": "23 3 * * *",
        "jira_webhook_retention": "41 4 * * *",
    }
    checks = {(k.asset_key.to_user_string(), k.name)
              for k in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {("jira_issues", name) for name in (
        "unique_issue_key", "schemas_are_declared", "child_rows_reference_issues",
        "issues_match_raw_store")} | {("jira_status_intervals", "intervals_tile_exactly"),
                                      ("jira_issue_metrics", "metrics_row_per_issue")}
    job = defs.resolve_job_def("jira_month_job")
    assert job.executor_def.name == "in_process"


@pytest.mark.parametrize(
    ("command", "success"),
    [
        (["dagster", "definitions", "validate", "-w", "workspace.yaml"],
         "All code locations passed validation"),
        (["dg", "check", "defs"], "All definitions loaded successfully"),  # [tool.dg]
    ],
)
def test_cli_validation(tmp_path, command, success):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    shutil.copyfile(COMMITTED_DAGSTER_YAML, tmp_path / "dagster.yaml")
    result = subprocess.run(
        [venv_script(command[0]), *command[1:]],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert success in result.stdout + result.stderr


def test_run_retries_start_the_month_over_as_the_instance_config_says():
    """dagster.yaml's run_retries comment promises a retry from the start (ALL_STEPS)."""
    job = defs.resolve_job_def("jira_month_job")
    assert job.tags["dagster/retry_strategy"] == "ALL_STEPS"
    text = COMMITTED_DAGSTER_YAML.read_text()
    assert "retry_strategy=ALL_STEPS" in text and "from the failed step" not in text
