"""Chaos 2: colliding writers. A webhook-driven refresh, SLA polling and a forced backfill
run at the same time, as three processes, over the same few months, after the simulated
site changed (and some tickets were resolved behind the store's back). No row may be lost
or duplicated, the tables must equal a full rebuild from the raw store, and they must show
exactly what the simulator serves."""

from __future__ import annotations

import multiprocessing
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline_tests.chaos.report import ChaosReport, ChaosRow
from jira_pipeline_tests.chaos.site import (
    differences,
    explain,
    mutation_keys,
    simulator_state,
    site_env,
    table_state,
    visible_changes,
)
from jira_pipeline_tests.chaos.snapshots import snapshot
from jira_pipeline_tests.chaos.writers import run_writer
from jira_pipeline_tests.fixtures.chaos import ChaosScale
from jira_pipeline_tests.fixtures.mirror import mirror

# The long version (--run-chaos) runs for minutes on a busy 2-core machine
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]

WRITERS = ("webhook", "sla", "backfill")


def test_colliding_writers_lose_and_duplicate_nothing(
    tmp_path: Path,
    chaos_scale: ChaosScale,
    chaos_report: ChaosReport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JIRA_RATE_LIMIT_PER_S", "0")  # the simulator is local: no budget
    rounds = chaos_scale.pick(1, 8)
    per_round = chaos_scale.pick(15, 60)
    # Few months, many issues each: every writer touches every month
    site = SimulatedJira(seed=5, issues=chaos_scale.pick(30, 120), start_month="2024-01", months=3)
    rng = random.Random(9)
    root = DataRoot(tmp_path / "data")
    sent = visible = month_writes = 0
    with (
        SimulatorServer(site) as server,
        ProcessPoolExecutor(len(WRITERS), mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        env = site_env(server, root)
        mirror(env, root)
        for round_number in range(rounds):
            mutations = [site.mutate(rng) for _ in range(per_round)]
            live = site.keys()
            open_issues = [
                k
                for k in live
                if site.issue_json(k, fields=["status"])["fields"]["status"]["statusCategory"][
                    "key"
                ]
                != "done"
            ]
            resolved = [site.resolve_issue(k) for k in rng.sample(open_issues, 3)]
            keys = sorted(mutation_keys(site, mutations))

            futures = [pool.submit(run_writer, kind, env, str(root.root), keys) for kind in WRITERS]
            results = [future.result(timeout=600) for future in futures]
            for result in results:
                assert result["failed"] == {}, result
                month_writes += result["month_writes"]

            expected = simulator_state(site)
            actual = table_state(root)
            wrong = differences(expected, actual)
            assert not wrong, f"round {round_number}: {explain(expected, actual, wrong)}"
            clean = DataRoot(tmp_path / f"rebuild{round_number}")
            shutil.copytree(root.raw, clean.raw)
            rebuild_all(clean, progress=False)
            assert snapshot(clean) == snapshot(root), "incremental tables differ from a rebuild"
            shutil.rmtree(clean.root)

            sent += len(mutations) + len(resolved)
            visible += visible_changes(site, mutations + resolved, expected, actual)

    assert visible == sent
    chaos_report.add(
        ChaosRow(
            case="2 colliding writers (webhook + SLA poll + backfill)",
            runs=rounds,
            faults=f"3 concurrent writer processes per round, {month_writes} month rewrites",
            events_sent=sent,
            events_in_parquet=visible,
            lost=sent - visible,
            checked="tables == simulator (keys, summary, updated, status, comment/attachment/link "
            "ids, no duplicate rows) and == full rebuild",
        )
    )
