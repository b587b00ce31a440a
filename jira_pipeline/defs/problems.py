"""Runs end on a configuration problem with one line naming the setting to change (the
Dagster run's failure message), recorded for the receiver's health endpoint; retrying
would not help, so the run is not retried."""

from __future__ import annotations

from pathlib import Path

from dagster import Failure

from jira_pipeline.config_problems import config_problem
from jira_pipeline.storage.auth_state import record_config_problem
from jira_pipeline.storage.paths import DataRoot


def fail_on_config_problem(exc: BaseException, root: DataRoot, dist_dir: Path | None = None) -> None:
    """Raise ``Failure(that line, allow_retries=False)`` when ``exc`` is a configuration
    problem; return (so the caller re-raises ``exc``) when it is anything else."""
    paths = {"JIRA_DIST_DIR": dist_dir} if dist_dir else {}
    paths["JIRA_DATA_ROOT"] = root.root
    problem = config_problem(exc, paths)
    if problem is None:
        return
    record_config_problem(root, problem.setting, problem.line)
    raise Failure(description=problem.line, allow_retries=False) from exc
