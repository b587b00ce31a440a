"""The committed instance's run launcher: runs are forks of a warm process (not fresh
interpreters), they execute and end exactly like ``dagster api execute_run`` runs, and an
operator can still terminate them. Real instance, real code server, real processes."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget

from jira_pipeline.instance.run_launcher import PID_TAG, WarmRunLauncher, runs_in_this_interpreter
from jira_pipeline.sandbox.processes import COMMITTED_DAGSTER_YAML, PROJECT_ROOT
from jira_pipeline_tests.fixtures import launcher_jobs
from jira_pipeline_tests.fixtures.dagster_daemon import wait_for

LOCATION = "launcher_jobs"


@pytest.fixture(scope="module")
def launcher_env(tmp_path_factory) -> Iterator[tuple[DagsterInstance, WorkspaceProcessContext]]:
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copyfile(COMMITTED_DAGSTER_YAML, home / "dagster.yaml")
    target = ModuleTarget(
        module_name="jira_pipeline_tests.fixtures.launcher_jobs",
        attribute="defs",
        working_directory=str(PROJECT_ROOT),
        location_name=LOCATION,
    )
    with (
        DagsterInstance.from_config(str(home)) as instance,
        WorkspaceProcessContext(instance, target) as context,
    ):
        yield instance, context


def launch(instance: DagsterInstance, context: WorkspaceProcessContext, job) -> str:
    workspace = context.create_request_context()
    remote_job = (
        workspace.get_code_location(LOCATION).get_repository("__repository__")
        .get_full_job(job.name)
    )
    run = instance.create_run_for_job(
        job_def=job,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )
    instance.launch_run(run.run_id, workspace)
    return run.run_id


def status_of(instance: DagsterInstance, run_id: str) -> DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def test_run_is_a_fork_of_the_warm_server_and_succeeds(launcher_env):
    instance, context = launcher_env
    assert isinstance(instance.run_launcher, WarmRunLauncher)
    run_id = launch(instance, context, launcher_jobs.quick_job)
    assert wait_for(lambda: instance.get_run_by_id(run_id).is_finished, timeout=120)
    assert status_of(instance, run_id) == DagsterRunStatus.SUCCESS
    worker_pid = int(instance.get_run_by_id(run_id).tags[PID_TAG])
    assert worker_pid != os.getpid()
    messages = [(e.dagster_event and e.dagster_event.message) or e.user_message
                for e in instance.all_logs(run_id)]
    assert f"Started process for run (pid: {worker_pid})." in messages
    assert f"op ran in pid {worker_pid}" in messages  # in-process execution in that worker


def test_terminate_cancels_a_running_run(launcher_env):
    instance, context = launcher_env
    run_id = launch(instance, context, launcher_jobs.endless_job)
    assert wait_for(
        lambda: any(e.dagster_event and e.dagster_event.event_type == DagsterEventType.STEP_START
                    for e in instance.all_logs(run_id)),
        timeout=120,
    )
    assert instance.run_launcher.terminate(run_id)
    assert wait_for(lambda: instance.get_run_by_id(run_id).is_finished, timeout=60)
    assert status_of(instance, run_id) == DagsterRunStatus.CANCELED
    assert not instance.run_launcher.terminate(run_id)  # finished: nothing to terminate


def test_origin_of_another_interpreter_goes_through_the_code_server():
    def origin(executable: str, image: str | None = None) -> JobPythonOrigin:
        pointer = ModuleCodePointer(LOCATION, "defs", working_directory=None)
        repository = RepositoryPythonOrigin(executable, pointer, container_image=image)
        return JobPythonOrigin("any_job", repository)

    assert runs_in_this_interpreter(origin(sys.executable))
    assert not runs_in_this_interpreter(origin("/opt/other-venv/bin/python"))
    assert not runs_in_this_interpreter(origin(sys.executable, image="jira-pipeline:1"))
