"""``WarmRunLauncher``: the instance's run launcher, a ``DefaultRunLauncher`` that starts each
run in a process forked from a warm server instead of a fresh interpreter.

Why: webhook freshness is a few seconds of work behind a run start, and the stock launcher
asks the code server to *spawn* a Python that imports Dagster and the instance's storage
(SQLAlchemy, alembic) again before the run can begin: ~3 s of CPU on this 2-core box, far
more wall time when it is busy. Here a ``multiprocessing`` forkserver imports them and the
heavy third-party libraries once (``preload_modules`` plus the instance's own classes);
each run is a fork of it that runs exactly what ``dagster api execute_run`` runs. The
project's own code is *not* preloaded: every run imports the code location afresh, so a
reloaded or redeployed location never runs stale code.

Runs whose code location uses another interpreter than the daemon's are launched the stock
way (through the code server), and so are terminations of runs started that way."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DefaultRunLauncher, Field

from jira_pipeline.dagster_private import (
    EXECUTE_RUN_MODULE,
    ConfigurableClassData,
    JobPythonOrigin,
    LaunchRunContext,
    execute_run,
)

PID_TAG = "jira/run_worker_pid"
HOST_TAG = "jira/run_worker_host"
# "__main__": the daemon's own entry script, which a forked child would otherwise re-import.
DEFAULT_PRELOAD = ("__main__", "dagster")


class WarmRunLauncher(DefaultRunLauncher):
    """Forks runs from a forkserver that has ``preload_modules`` imported."""

    def __init__(
        self,
        preload_modules: Sequence[str] = DEFAULT_PRELOAD,
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self.preload_modules = list(preload_modules)
        self._forkserver: Any = None  # the multiprocessing context, started on first launch

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "preload_modules": Field(
                [str],
                is_required=False,
                default_value=list(DEFAULT_PRELOAD),
                description="Modules the forkserver imports once for every run: Dagster and "
                "third-party libraries, not the code location (runs import it afresh).",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> WarmRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None or not runs_in_this_interpreter(origin):
            super().launch_run(context)
            return
        if self._forkserver is None:
            self._forkserver = multiprocessing.get_context("forkserver")
            self._forkserver.set_forkserver_preload(self._modules_to_preload())
        worker = self._forkserver.Process(
            target=execute_run,  # what `dagster api execute_run` does, SIGTERM included
            args=(run.run_id, self._instance.get_ref()),
            name=f"dagster-run-{run.run_id}",
        )
        worker.start()
        self._instance.add_run_tags(
            run.run_id, {PID_TAG: str(worker.pid), HOST_TAG: socket.gethostname()}
        )
        self._run_ids.add(run.run_id)

    def _modules_to_preload(self) -> list[str]:
        """The configured modules, plus what every run worker imports before its run starts:
        the ``dagster api execute_run`` code and this instance's storage, launcher and
        compute-log classes (importing SQLAlchemy and alembic is most of an instance's cost)."""
        instance = self._instance
        parts = (
            instance.run_storage,
            instance.event_log_storage,
            instance.schedule_storage,
            instance.compute_log_manager,
            instance.run_coordinator,
            self,
        )
        modules = [*self.preload_modules, EXECUTE_RUN_MODULE]
        modules += [type(part).__module__ for part in parts if part is not None]
        return list(dict.fromkeys(modules))

    def terminate(self, run_id: str) -> bool:
        """SIGTERM the run's worker (it reports the run canceled), as container launchers do."""
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if run is None or PID_TAG not in run.tags:
            return super().terminate(run_id)
        if run.is_finished or run.tags.get(HOST_TAG) != socket.gethostname():
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(int(run.tags[PID_TAG]), signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True


def runs_in_this_interpreter(origin: JobPythonOrigin) -> bool:
    """Whether a fork of this process can run ``origin`` (same Python, no container)."""
    repository = origin.repository_origin
    return repository.executable_path == sys.executable and repository.container_image is None

