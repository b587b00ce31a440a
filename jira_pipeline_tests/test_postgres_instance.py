"""The sensor-to-Parquet flow with Dagster's storage on a real PostgreSQL server, configured
by the very file an operator deploys (``deploy/postgres/dagster.yaml``): webhooks accepted by
the receiver become pending events, ``jira_webhook_sensor`` evaluated on the Postgres-backed
instance requests month runs, the runs execute and write Parquet (read back with DuckDB),
the sensor then archives the events, and the runs are rows in PostgreSQL."""

from __future__ import annotations

import random
import shutil
import uuid
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from jira_pipeline.core.dates import month_of
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage.inbox import list_pending
from jira_pipeline_tests.chaos.dagster_flow import SensorDriver
from jira_pipeline_tests.chaos.site import (
    differences,
    mutation_keys,
    simulator_state,
    table_state,
)
from jira_pipeline_tests.fixtures.mirror import resources_for
from jira_pipeline_tests.fixtures.postgres import PostgresDatabase, requires_postgres
from jira_pipeline_tests.fixtures.receiver import ReceiverClient

pytestmark = requires_postgres()

DEPLOYED_INSTANCE_YAML = (
    Path(__file__).resolve().parents[1] / "deploy" / "postgres" / "dagster.yaml"
)


def test_webhooks_to_parquet_with_dagster_storage_on_postgres(
    postgres_database: PostgresDatabase,
    receiver_client: ReceiverClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in postgres_database.dagster_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JIRA_RATE_LIMIT_PER_S", "0")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOYED_INSTANCE_YAML, home / "dagster.yaml")
    root = receiver_client.data_root
    site = SimulatedJira(seed=21, issues=30, start_month="2024-01", months=3)
    rng = random.Random(3)

    with SimulatorServer(site) as server, DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        # Dagster opens a Postgres connection per event: keep to two month runs
        months: dict[str, list[str]] = {}
        live = site.keys()
        for key in live:
            created = site.issue_json(key, fields=["created"])["fields"]["created"]
            months.setdefault(month_of(created), []).append(key)
        picked = [key for month in sorted(months)[:2] for key in rng.sample(months[month], 2)]
        mutations = [site.update_issue(key, summary=f"edited {key}") for key in picked]
        mutations.append(site.delete_issue(picked[-1]))
        for mutation in mutations:
            response = receiver_client.post(mutation.body, identifier=str(uuid.uuid4()))
            assert response.status_code == 202, response.get_json()
        assert len(list_pending(root)) == len(mutations)

        driver = SensorDriver(instance, resources_for(server.env(), root))
        requests = driver.tick()
        assert requests, "the sensor requested no run"
        for request in requests:
            assert driver.execute(request), f"run for {request.partition_key} failed"
        assert driver.tick() == []  # runs succeeded: events archived, nothing new
        assert list_pending(root) == []

        touched = mutation_keys(site, mutations)
        expected = {k: v for k, v in simulator_state(site).items() if k in touched}
        actual = {k: v for k, v in table_state(root).items() if k in touched}
        assert differences(expected, actual) == []
        assert expected, "no touched issue is alive: the check would prove nothing"

        runs = instance.get_runs()
        assert len(runs) == len(requests)
        assert all(run.status == DagsterRunStatus.SUCCESS for run in runs)

    with psycopg2.connect(postgres_database.url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT run_id, status, partition FROM runs")
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        )
        (materializations,) = cursor.fetchone()
    assert sorted(run_id for run_id, _, _ in rows) == sorted(run.run_id for run in runs)
    assert {status for _, status, _ in rows} == {"SUCCESS"}
    assert {partition for _, _, partition in rows} == {r.partition_key for r in requests}
    assert materializations >= len(requests) * 6  # a materialization per table and month run, at least
