"""Backfill throughput against the simulator with 50 ms of latency per request: the same
issues at ``--parallel 1`` and ``--parallel 8`` into fresh data roots.

The simulator runs in its own process, as Jira is remote (in-process it would share the
GIL with the client and measure Python, not the pipeline). The client-side rate budget is
switched off so the figure measures parallelism, not the budget."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
from pathlib import Path

from jira_pipeline.config import load_settings
from jira_pipeline.ingest.backfill import BackfillSummary, backfill
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.simulator import Faults, SimulatedJira, SimulatorServer
from jira_pipeline.storage.paths import DataRoot

ISSUES = 150
LATENCY_MS = 50
SCOPE = "project in (SUPPORT, ENG)"


def serve(issues: int, latency_ms: int, env_out, stop) -> None:
    """Child process: serve the simulated site until ``stop`` is set."""
    site = SimulatedJira(seed=7, issues=issues)
    with SimulatorServer(site, faults=Faults(latency_ms=latency_ms)) as server:
        env_out.put(server.env())
        stop.wait()


def run_once(env: dict[str, str], parallel: int) -> BackfillSummary:
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        root = DataRoot(Path(tmp))
        settings = load_settings({**env, "JIRA_DATA_ROOT": tmp})
        jira = JiraClient.from_settings(settings, root, rate_limit_per_s=0)
        sla = JsmSlaClient.from_settings(settings, root, rate_limit_per_s=0)
        summary = backfill(jira, sla, root, jql=SCOPE, parallel=parallel, progress=False)
    if summary.failed or len(summary.fetched) != summary.found:
        raise RuntimeError("\n".join(summary.lines()))
    return summary


def main(issues: int = ISSUES, latency_ms: int = LATENCY_MS) -> str:
    context = multiprocessing.get_context("spawn")
    env_out, stop = context.Queue(), context.Event()
    child = context.Process(target=serve, args=(issues, latency_ms, env_out, stop), daemon=True)
    child.start()
    try:
        env = env_out.get(timeout=120)
        serial = run_once(env, 1)
        parallel = run_once(env, 8)
    finally:
        stop.set()
        child.join(timeout=10)
    rate_1 = len(serial.fetched) / serial.seconds
    rate_8 = len(parallel.fetched) / parallel.seconds
    speedup = rate_8 / rate_1
    verdict = "meets" if speedup >= 6 else "misses"
    return (
        "## Backfill throughput (`bench_backfill`)\n\n"
        f"{issues} simulated issues (search, issue, remote links, SLA pages, attachments, "
        f"raw JSON written and fsynced), {latency_ms} ms latency per request, simulator in "
        "its own process, client rate budget off.\n\n"
        "| parallel | issues/s | requests | seconds |\n|---:|---:|---:|---:|\n"
        f"| 1 | {rate_1:.1f} | {serial.requests} | {serial.seconds:.1f} |\n"
        f"| 8 | {rate_8:.1f} | {parallel.requests} | {parallel.seconds:.1f} |\n\n"
        f"Speed-up at 8: **{speedup:.1f}×** ({verdict} the ≥ 6× target).\n\n"
        "Command: `python -m benchmarks backfill` "
        "(or `python -m benchmarks.bench_backfill --issues N --latency-ms MS`)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--issues", type=int, default=ISSUES)
    parser.add_argument("--latency-ms", type=int, default=LATENCY_MS)
    options = parser.parse_args()
    sys.stdout.write(main(options.issues, options.latency_ms) + "\n")
