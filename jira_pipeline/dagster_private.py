"""Every private Dagster API the pipeline uses, in one place.

Dagster may change anything under ``dagster._`` in any release. Production code imports
these names from here only, and ``jira_pipeline_tests/test_dagster_private.py`` checks
their signatures and values against the installed Dagster, so an upgrade that changes one
fails that test with the name to look at, not a run at 3 a.m.

Why each is needed: the run launcher forks runs from a warm process and must run exactly
what ``dagster api execute_run`` runs (no public API does); the sensor follows a run's
automatic retries by the tags Dagster writes (no public constant names them); the sensor
daemon's loop interval is a module constant with no instance setting."""

from __future__ import annotations

from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, RUN_KEY_TAG
from dagster._serdes import ConfigurableClassData

__all__ = [
    "AUTO_RETRY_RUN_ID_TAG",
    "EXECUTE_RUN_MODULE",
    "RUN_KEY_TAG",
    "ConfigurableClassData",
    "InstanceRef",
    "JobPythonOrigin",
    "LaunchRunContext",
    "execute_run",
    "set_sensor_loop_seconds",
]

# The module of ``dagster api execute_run``: the run workers' forkserver preloads it.
EXECUTE_RUN_MODULE = "dagster._cli.api"


def execute_run(run_id: str, instance_ref: InstanceRef) -> None:
    """What ``dagster api execute_run`` does for one run, SIGTERM handling included.
    Imported when called: only run workers need the CLI modules."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._cli.utils import get_instance_for_cli
    from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers

    setup_interrupt_handlers()
    with capture_interrupts(), get_instance_for_cli(instance_ref=instance_ref) as instance:
        _execute_run_command_body(
            run_id, instance, write_stream_fn=lambda event: None, set_exit_code_on_failure=False
        )


def set_sensor_loop_seconds(seconds: int) -> None:
    """How often ``dagster-daemon``'s sensor thread wakes in this process: Dagster's
    ``MIN_INTERVAL_LOOP_TIME`` (5 s), which its loop reads on every iteration."""
    from dagster._daemon import sensor as sensor_daemon

    sensor_daemon.MIN_INTERVAL_LOOP_TIME = seconds
