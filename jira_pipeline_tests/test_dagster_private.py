"""The private Dagster APIs behind ``jira_pipeline/dagster_private.py`` still are what the
pipeline relies on. A Dagster upgrade that changes one fails here, naming it."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import dagster

from jira_pipeline import dagster_private

PROJECT_ROOT = Path(__file__).resolve().parents[1]
UPGRADE = f"Dagster {dagster.__version__} changed a private API used by jira_pipeline/dagster_private.py"


def test_execute_run_command_body_takes_what_the_run_worker_passes():
    module = importlib.import_module(dagster_private.EXECUTE_RUN_MODULE)
    body = getattr(module, "_execute_run_command_body", None)
    assert body is not None, f"{UPGRADE}: {module.__name__}._execute_run_command_body is gone"
    parameters = list(inspect.signature(body).parameters)
    assert parameters == ["run_id", "instance", "write_stream_fn", "set_exit_code_on_failure"], (
        f"{UPGRADE}: _execute_run_command_body{inspect.signature(body)}"
    )
    from dagster._cli.utils import get_instance_for_cli
    from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers

    assert "instance_ref" in inspect.signature(get_instance_for_cli).parameters, (
        f"{UPGRADE}: get_instance_for_cli{inspect.signature(get_instance_for_cli)}"
    )
    assert callable(capture_interrupts) and callable(setup_interrupt_handlers)


def test_run_tags_the_sensor_reads_keep_their_values():
    """Dagster writes these tags on runs; the sensor finds a run's retries by them."""
    assert dagster_private.RUN_KEY_TAG == "dagster/run_key", UPGRADE
    assert dagster_private.AUTO_RETRY_RUN_ID_TAG == "dagster/auto_retry_run_id", UPGRADE


def test_the_sensor_daemon_loop_still_sleeps_by_the_constant_the_coordinator_sets():
    """``PromptRunCoordinator`` shortens the loop by setting this module constant; the loop
    must still read it at every iteration (a global, not a default argument)."""
    from dagster._daemon import sensor

    assert isinstance(getattr(sensor, "MIN_INTERVAL_LOOP_TIME", None), int), (
        f"{UPGRADE}: dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME is gone"
    )
    loop = sensor.execute_sensor_iteration_loop
    assert "MIN_INTERVAL_LOOP_TIME" in loop.__code__.co_names, (
        f"{UPGRADE}: execute_sensor_iteration_loop no longer reads MIN_INTERVAL_LOOP_TIME"
    )


def test_the_launcher_types_are_the_ones_dagster_passes():
    """``WarmRunLauncher`` reads ``context.dagster_run.job_code_origin.repository_origin``'s
    interpreter and image to decide whether a fork can run the job."""
    from dagster import DefaultRunLauncher

    context = inspect.signature(DefaultRunLauncher.launch_run).parameters["context"]
    assert context.annotation is dagster_private.LaunchRunContext, f"{UPGRADE}: {context}"
    job_origin = inspect.signature(dagster_private.JobPythonOrigin).parameters
    assert "repository_origin" in job_origin, f"{UPGRADE}: JobPythonOrigin{job_origin}"
    repository = inspect.signature(job_origin["repository_origin"].annotation).parameters
    assert {"executable_path", "container_image"} <= set(repository), (
        f"{UPGRADE}: RepositoryPythonOrigin{repository}"
    )


def test_production_code_imports_private_dagster_only_through_the_one_module():
    """``dagster._…`` imports anywhere else in the product would dodge the checks above."""
    offenders = []
    for path in sorted((PROJECT_ROOT / "jira_pipeline").rglob("*.py")) + sorted(
        (PROJECT_ROOT / "webhook_receiver").rglob("*.py")
    ):
        if path.name == "dagster_private.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(PROJECT_ROOT)}: {n}" for n in names
                          if n.startswith("dagster._")]
    assert not offenders, offenders
