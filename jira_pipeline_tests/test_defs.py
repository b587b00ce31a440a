"""The code location loads and validates, with the shape the UI shows; in the ``dg`` layout
autoloading finds every Dagster object of ``jira_pipeline/defs/`` exactly once, from a
checkout and from an installed copy of the package."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from dagster import AssetKey, DefaultSensorStatus, Definitions
from dagster._core.definitions.backfill_policy import BackfillPolicyType
from dagster._core.definitions.module_loaders.object_list import ALL_LOADABLE_TYPES
from dagster._core.definitions.module_loaders.utils import find_objects_in_module_of_types
from dagster.components.definitions import LazyDefinitions

import jira_pipeline.defs
from jira_pipeline.definitions import checkout_root
from jira_pipeline.defs.partitions import START_MONTH
from jira_pipeline.sandbox.processes import COMMITTED_DAGSTER_YAML, PROJECT_ROOT, venv_script
from jira_pipeline.storage.paths import check_month
from jira_pipeline.transform.schemas import SOURCE_TABLES, TABLES
from jira_pipeline_tests.fixtures.code_location import code_location, registered

MONTH_ASSETS = [
    "jira_raw_issues",
    "jira_sla_overlay",
    "jira_attachment_files",
    *(f"jira_{t}" for t in TABLES),
]

# What the hand-written definitions.py listed before the dg layout; autoloading must find
# each of them once, and nothing else.
REGISTERED = {
    "assets": ["jira_month"],  # one multi-asset: the MONTH_ASSETS
    "jobs": ["jira_deletion_sweep_job", "jira_month_job", "jira_reconcile_job",
             "jira_sla_poll_job", "jira_webhook_retention_job"],
    "schedules": ["jira_deletion_sweep", "jira_reconcile", "jira_sla_poll",
                  "jira_webhook_retention"],
    "sensors": ["jira_webhook_sensor"],
    "resources": ["data", "jira", "jsm_sla"],
    "executor": "in_process",
}


def test_autoloading_registers_each_object_of_the_old_lists_once():
    defs = code_location()
    assert registered(defs) == REGISTERED
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == set(MONTH_ASSETS)


def test_no_dagster_object_is_found_in_two_defs_modules():
    """Autoloading builds each module of defs/ on its own and merges the results: an object
    imported by name into a second module would be registered twice. Modules use each
    other's objects through the module (``jobs.jira_month_job``)."""
    found = defaultdict(list)
    for info in pkgutil.iter_modules(jira_pipeline.defs.__path__):
        module = importlib.import_module(f"jira_pipeline.defs.{info.name}")
        loadable = (*ALL_LOADABLE_TYPES, Definitions, LazyDefinitions)
        for obj in {id(o): o for o in find_objects_in_module_of_types(module, loadable)}.values():
            found[id(obj)].append(info.name)
    assert [modules for modules in found.values() if len(modules) > 1] == []
    assert len(found) == 1 + 5 + 4 + 1 + 1  # asset, jobs, schedules, sensor, deployment


def test_definitions_load_with_lineage_groups_kinds_and_partitions():
    defs = code_location()
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
    defs = code_location()
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
    job = code_location().resolve_job_def("jira_month_job")
    assert job.tags["dagster/retry_strategy"] == "ALL_STEPS"
    text = COMMITTED_DAGSTER_YAML.read_text()
    assert "retry_strategy=ALL_STEPS" in text and "from the failed step" not in text


def test_a_checkout_loads_through_load_from_defs_folder():
    """From the project folder (tests, ``dg``, workspace.yaml, the image's WORKDIR) the
    template's path is taken: pyproject.toml's [tool.dg] names this package."""
    assert checkout_root() == PROJECT_ROOT


# Run in a fresh interpreter by the test below: what the installed copy loads.
LOAD_INSTALLED = """
import json
from jira_pipeline import definitions
from jira_pipeline_tests.fixtures.code_location import registered
print(json.dumps({"file": definitions.__file__, "checkout_root": definitions.checkout_root(),
                  "registered": registered(definitions.defs())}, default=str))
"""


def installed_copy(site: Path) -> None:
    """What ``pip install .`` (non-editable: the Dockerfile) puts into site-packages: the
    package's modules and its package data (pyproject.toml: *.json, *.toml), no
    pyproject.toml above it."""
    def not_installed(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if not (Path(folder, n).is_dir() and n != "__pycache__")
                and Path(n).suffix not in (".py", ".json", ".toml")]

    shutil.copytree(PROJECT_ROOT / "jira_pipeline", site / "jira_pipeline", ignore=not_installed)


def test_an_installed_copy_outside_the_checkout_loads_the_same_definitions(tmp_path):
    """A non-editable install has no pyproject.toml with [tool.dg] above site-packages, so
    load_from_defs_folder could not find the project; definitions.py builds the same tree
    from the installed defs package. Loaded the way ``dagster api grpc --module-name
    jira_pipeline.definitions`` loads it, from a folder that is not the checkout."""
    site, cwd = tmp_path / "site", tmp_path / "cwd"
    installed_copy(site)
    cwd.mkdir()
    shutil.copyfile(COMMITTED_DAGSTER_YAML, tmp_path / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(site)}
    validate = subprocess.run(
        [venv_script("dagster"), "definitions", "validate", "--module-name",
         "jira_pipeline.definitions"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "All code locations passed validation" in validate.stdout + validate.stderr
    # The tests' helpers from the checkout, behind the copy: jira_pipeline comes from the copy
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(PROJECT_ROOT)])
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_INSTALLED],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    result = json.loads(loaded.stdout.splitlines()[-1])
    assert Path(result["file"]).parent == site / "jira_pipeline"  # the copy, not the checkout
    assert result["checkout_root"] is None
    assert result["registered"] == REGISTERED
