"""The committed instance's run coordinator: Dagster's run queue with the instance's
settings, and a daemon that evaluates due sensors every second instead of every 5 s."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, QueuedRunCoordinator
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus
from dagster._daemon import sensor as sensor_daemon

from jira_pipeline.instance.run_coordinator import PromptRunCoordinator
from jira_pipeline.sandbox.processes import COMMITTED_DAGSTER_YAML


@pytest.fixture
def stock_sensor_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster's 5 s loop before the test, restored after it (the setting is process-wide)."""
    monkeypatch.setattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME", 5)


def test_the_daemon_of_the_committed_instance_ticks_sensors_every_second(
    tmp_path: Path, stock_sensor_loop: None
) -> None:
    shutil.copyfile(COMMITTED_DAGSTER_YAML, tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        # what dagster-daemon asks first, before any daemon thread starts
        daemons = instance.get_required_daemon_types()
        coordinator = instance.run_coordinator
        assert "QUEUED_RUN_COORDINATOR" in daemons and "SENSOR" in daemons
        assert isinstance(coordinator, PromptRunCoordinator)
        assert isinstance(coordinator, QueuedRunCoordinator)  # the daemon dequeues its runs
        assert coordinator.dequeue_interval_seconds == 1
        assert coordinator.sensor_loop_seconds == 1
        # a tick a second: the skipped ones are kept a day, not Dagster's 7
        retention = instance.get_tick_retention_settings(InstigatorType.SENSOR)
        assert retention[TickStatus.SKIPPED] == 1 and retention[TickStatus.SUCCESS] == -1
    assert sensor_daemon.MIN_INTERVAL_LOOP_TIME == 1


def test_the_queue_settings_reach_dagsters_coordinator(stock_sensor_loop: None) -> None:
    coordinator = PromptRunCoordinator.from_config_value(
        None, {"sensor_loop_seconds": 2, "dequeue_interval_seconds": 3,
               "max_concurrent_runs": 7, "dequeue_num_workers": 2}
    )
    assert coordinator.dequeue_interval_seconds == 3
    assert coordinator.get_run_queue_config().max_concurrent_runs == 7
    assert sensor_daemon.MIN_INTERVAL_LOOP_TIME == 2


def test_a_loop_shorter_than_a_second_is_refused(stock_sensor_loop: None) -> None:
    """0 would have the daemon's sensor thread spin without sleeping."""
    with pytest.raises(ValueError, match="sensor_loop_seconds"):
        PromptRunCoordinator.from_config_value(None, {"sensor_loop_seconds": 0})
    assert sensor_daemon.MIN_INTERVAL_LOOP_TIME == 5
