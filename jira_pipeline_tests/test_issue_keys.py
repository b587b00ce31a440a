"""Project keys with underscores (``MY_PROJ-7``, allowed by Jira's key-format rules) go
through every stage, and a key that is still invalid in a search result is skipped and
reported without failing the month."""

from __future__ import annotations

import logging

import duckdb
import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from jira_pipeline.core.dates import month_of
from jira_pipeline.core.keys import is_valid_issue_key
from jira_pipeline.defs.assets import jira_month
from jira_pipeline.defs.jobs import jira_deletion_sweep_job, jira_reconcile_job
from jira_pipeline.defs.sensors import jira_webhook_sensor
from jira_pipeline.ingest import backfill
from jira_pipeline.sandbox.simulator import Faults, SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import load_issue
from jira_pipeline_tests.fixtures.ingest import clients_for
from jira_pipeline_tests.fixtures.mirror import resources_for
from jira_pipeline_tests.fixtures.receiver import (
    TEST_SECRET,
    as_body,
    delivery_headers,
    receiver_config,
)
from webhook_receiver import create_app


@pytest.mark.parametrize("key", ["MY_PROJ-7", "A_-1", "A1_B2-99", "SUPPORT-1"])
def test_underscore_project_keys_are_valid(key) -> None:
    assert is_valid_issue_key(key)


@pytest.mark.parametrize("key", ["_PROJ-1", "1AB-2", "MY-PROJ-1", "MY_PROJ-", "my_proj-1",
                                 "MY PROJ-1", "MY_PROJ-1\n", "ÄB-1", "AB_\u0661-1"])
def test_other_shapes_stay_invalid(key) -> None:
    assert not is_valid_issue_key(key)


def parquet(root: DataRoot, sql: str) -> list[tuple]:
    return duckdb.sql(sql.replace("{parquet}", root.parquet.as_posix())).fetchall()


def test_underscore_keys_flow_from_webhook_to_parquet(tmp_path) -> None:
    site = SimulatedJira(seed=4, issues=30, projects=("MY_PROJ", "ENG"), start_month="2025-01",
                         months=2)
    key = next(k for k in site.keys() if k.startswith("MY_PROJ-"))  # noqa: SIM118
    change = site.update_issue(key, summary="Underscore keys are keys")
    root = DataRoot(tmp_path / "data")
    receiver = create_app(receiver_config(root)).test_client()
    body = as_body(change.body)
    answer = receiver.post("/webhooks/jira", data=body, headers=delivery_headers(body, TEST_SECRET))
    assert answer.status_code == 202, answer.get_data(as_text=True)

    with SimulatorServer(site) as server, DagsterInstance.ephemeral() as instance:
        resources = resources_for(server.env(), root)
        sensed = jira_webhook_sensor(build_sensor_context(instance=instance, resources=resources))
        (request,) = sensed.run_requests
        assert request.run_config["ops"]["jira_month"]["config"]["issue_keys"] == [key]
        result = materialize([jira_month], partition_key=request.partition_key,
                             run_config=request.run_config, resources=resources,
                             instance=instance)
        assert result.success
    assert load_issue(root, key)["fields"]["summary"] == "Underscore keys are keys"
    month = month_of(load_issue(root, key)["fields"]["created"])
    rows = parquet(root, f"SELECT issue_key, summary FROM '{{parquet}}/issues/{month}.parquet'")
    assert (key, "Underscore keys are keys") in rows


def test_an_invalid_key_in_search_results_is_skipped_and_reported(make_simulator, data_root,
                                                                  caplog):
    server = make_simulator(issues=40, faults=Faults(invalid_search_key="NOT A KEY"))
    site = server.jira
    jira, sla = clients_for(server, data_root)
    with caplog.at_level(logging.WARNING, logger="jira_pipeline.ingest.search"):
        summary = backfill(jira, sla, data_root, jql="project in (SUPPORT, ENG)", progress=False)
    assert summary.ok and summary.invalid_keys == ["'NOT A KEY'"], summary.lines()
    assert "skipped invalid issue key from search: 'NOT A KEY'" in summary.lines()
    logged = [r.getMessage() for r in caplog.records if r.name == "jira_pipeline.ingest.search"]
    assert "Jira search returned an invalid issue key 'NOT A KEY'; skipped" in logged
    assert summary.found == len(site.keys())

    month = month_of(site.issue_json(site.keys()[0], fields=["created"])["fields"]["created"])
    resources = resources_for(server.env(), data_root, jql="project in (SUPPORT, ENG)")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([jira_month], partition_key=month, resources=resources,
                             instance=instance)
        assert result.success
        (raw,) = [m for m in result.asset_materializations_for_node("jira_month")
                  if m.asset_key.to_user_string() == "jira_raw_issues"]
        assert raw.metadata["invalid_keys_skipped"].value == 1
        site.update_issue(site.keys()[0], summary="Changed without a webhook")  # reconcile finds it
        for job in (jira_reconcile_job, jira_deletion_sweep_job):
            run = job.execute_in_process(resources=resources, instance=instance)
            assert run.success
            (output,) = [e for e in run.all_node_events if e.event_type_value == "STEP_OUTPUT"]
            assert output.event_specific_data.metadata["invalid_keys_skipped"].value >= 1
    keys = {k for (k,) in parquet(data_root, f"SELECT issue_key FROM '{{parquet}}/issues/{month}.parquet'")}
    assert keys and all(is_valid_issue_key(k) for k in keys)
