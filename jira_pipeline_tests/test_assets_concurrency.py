"""Two runs never write one month at once: the committed instance queues a second run of a
partition while one runs (tag limit), and should two overlap anyway (a maintenance job, a
run launched outside the queue) the month lock serialises their writes: nothing is lost."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import duckdb
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, materialize
from dagster._utils.tags import TagConcurrencyLimitsCounter

from jira_pipeline.core.dates import month_of
from jira_pipeline.defs.assets import jira_month
from jira_pipeline.defs.jobs import month_run_config
from jira_pipeline.sandbox.processes import COMMITTED_DAGSTER_YAML
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline_tests.fixtures.mirror import mirror, resources_for


def partition_run(partition: str, status: DagsterRunStatus) -> DagsterRun:
    return DagsterRun(job_name="jira_month_job", status=status,
                      tags={"dagster/partition": partition})


def test_committed_instance_queues_a_second_run_of_the_same_month(tmp_path):
    shutil.copyfile(COMMITTED_DAGSTER_YAML, tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert instance.run_retries_enabled and instance.run_retries_max_retries >= 1
        assert 1 <= queue.max_concurrent_runs <= 4  # a 2-core machine
    running = partition_run("2024-03", DagsterRunStatus.STARTED)
    counter = TagConcurrencyLimitsCounter(queue.tag_concurrency_limits, [running])
    assert counter.is_blocked(partition_run("2024-03", DagsterRunStatus.NOT_STARTED))
    assert not counter.is_blocked(partition_run("2024-04", DagsterRunStatus.NOT_STARTED))


def test_overlapping_runs_of_one_month_lose_no_update(tmp_path):
    jira = SimulatedJira(seed=4, issues=30, start_month="2024-03", months=1)
    with SimulatorServer(jira) as server:
        env = server.env()
        root = DataRoot(tmp_path / "data")
        mirror(env, root)
        first, second = jira.keys()[:2]
        month = month_of(jira.issue_json(first, fields=["created"])["fields"]["created"])
        jira.update_issue(first, summary="first run's change")
        jira.update_issue(second, summary="second run's change")

        def webhook_run(key: str) -> bool:
            with DagsterInstance.ephemeral() as instance:
                return materialize(
                    [jira_month], partition_key=month, instance=instance,
                    resources=resources_for(env, root),
                    run_config=month_run_config([key], [f"evt-{key}"]),
                ).success

        with ThreadPoolExecutor(2) as pool:
            assert all(pool.map(webhook_run, [first, second]))
    glob = (root.parquet / "issues" / "*.parquet").as_posix()
    summaries = dict(duckdb.sql(f"SELECT issue_key, summary FROM '{glob}'").fetchall())
    assert summaries[first] == "first run's change"
    assert summaries[second] == "second run's change"
    assert len(summaries) == len(jira.keys())
