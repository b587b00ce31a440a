"""Dagster: a durable ``DAGSTER_HOME``, the daemon heartbeating, the webhook sensor and the
schedules running. Reads the instance only; never starts or changes anything."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from dagster import DagsterInstance

from jira_pipeline.doctor.check import Check, fail, ok

HEARTBEAT_FRESH_S = 120
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def check_dagster_home(env: Mapping[str, str]) -> tuple[Check, Path | None]:
    home = (env.get("DAGSTER_HOME") or "").strip()
    if not home:
        return fail(
            "dagster home",
            "DAGSTER_HOME is not set: Dagster keeps runs, sensor cursors and schedules in a "
            "temporary instance that vanishes; set it to a durable directory with dagster.yaml",
        ), None
    path = Path(home).resolve()
    temp_roots = {Path(tempfile.gettempdir()).resolve(), *(Path(d) for d in TEMP_DIRS)}
    if any(path.is_relative_to(t) for t in temp_roots):
        return fail(
            "dagster home",
            f"DAGSTER_HOME {path} is in a temporary directory: runs and sensor cursors are "
            "lost on reboot; point DAGSTER_HOME at a durable directory",
        ), None
    if not (path / "dagster.yaml").is_file():
        return fail(
            "dagster home",
            f"DAGSTER_HOME {path} has no dagster.yaml: copy .dagster_home/dagster.yaml there",
        ), None
    return ok("dagster home", f"DAGSTER_HOME {path}"), path


def check_daemon(instance: DagsterInstance, now: float | None = None) -> Check:
    """Every daemon the instance needs has a fresh heartbeat."""
    now = time.time() if now is None else now
    beats = instance.get_daemon_heartbeats()
    required = list(instance.get_required_daemon_types())
    stale = [
        t for t in required if t not in beats or now - beats[t].timestamp > HEARTBEAT_FRESH_S
    ]
    if stale:
        return fail(
            "dagster daemon",
            f"no heartbeat in {HEARTBEAT_FRESH_S} s from {', '.join(stale)}: start "
            "`dagster-daemon run -w workspace.yaml` with this DAGSTER_HOME",
        )
    return ok("dagster daemon", f"heartbeating: {', '.join(required)}")


def check_automation(instance: DagsterInstance, daemon_ok: bool) -> Check:
    """The sensor and schedules of the code: stored state, or their default (running)."""
    from jira_pipeline.definitions import defs

    code = defs()  # the lazy @definitions of the dg layout: autoloads jira_pipeline/defs/
    states = {s.instigator_name: s for s in instance.all_instigator_state()}
    declared = [(s.name, s.default_status.value) for s in [*code.sensors, *code.schedules]]
    stopped = []
    for name, default in declared:
        state = states.get(name)
        running = state.is_running if state is not None else default == "RUNNING"
        if not running:
            stopped.append(name)
    names = ", ".join(n for n, _ in declared)
    if stopped:
        return fail(
            "sensor and schedules",
            f"stopped: {', '.join(stopped)}: turn them on in the Dagster UI (Automation)",
        )
    if not daemon_ok:
        return fail("sensor and schedules", f"{names} are on but no daemon runs them")
    return ok("sensor and schedules", f"running: {names}")
