"""Backfill against the simulator, bulk reads versus the seed-style per-issue path:

1. throughput: 150 issues, 50 ms latency, ``--parallel 1`` and ``--parallel 8`` (budget off);
2. requests per issue, by endpoint: a 20,000-issue backfill on each path (no latency,
   budget off: the counts do not depend on either), then one ``poll-sla``;
3. wall time with Jira-like limits: 10 requests/s per endpoint and 50 ms latency, against
   the bound "busiest endpoint's requests ÷ 10/s"; 100,000 and 1,000,000 issues are
   projected from the measured requests per issue and rate.

The simulator runs in its own process, as Jira is remote (in-process it would share the
GIL with the client and measure Python, not the pipeline)."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from jira_pipeline.config import load_settings
from jira_pipeline.ingest.backfill import BackfillSummary, backfill
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.maintenance.sla_poll import poll_candidates, poll_sla
from jira_pipeline.sandbox.simulator import Faults, SimulatedJira, SimulatorServer
from jira_pipeline.storage.auth_state import auth_recorder
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import iter_issue_keys, load_issue

ISSUES = 150
LATENCY_MS = 50
COUNT_ISSUES = 20_000
WALL_ISSUES = 2_000
WALL_ISSUES_PER_ISSUE_PATH = 500
WALL_RATE_PER_S = 10.0
SCOPE = "project in (SUPPORT, ENG)"
PER_ISSUE_EXTRA = ("attachment", "remotelink")  # endpoints outside the 0.06 target


def serve(issues: int, latency_ms: int, env_out, stop) -> None:
    """Child process: serve the simulated site until ``stop`` is set. The API account
    does not see SLA values (as on most sites): the JSM account's view is read."""
    site = SimulatedJira(seed=7, issues=issues, api_sees_sla=False)
    with SimulatorServer(site, faults=Faults(latency_ms=latency_ms)) as server:
        env_out.put(server.env())
        stop.wait()


def with_site(issues: int, latency_ms: int, body: Callable[[dict[str, str]], object]):
    context = multiprocessing.get_context("spawn")
    env_out, stop = context.Queue(), context.Event()
    child = context.Process(target=serve, args=(issues, latency_ms, env_out, stop), daemon=True)
    child.start()
    try:
        return body(env_out.get(timeout=300))
    finally:
        stop.set()
        child.join(timeout=10)


def path_counts(env: dict[str, str]) -> dict[str, int]:
    """The simulator's requests per route (its control API is never counted)."""
    response = requests.get(
        f"{env['JIRA_BASE_URL']}/_simulator/state",
        auth=(env["JIRA_EMAIL"], env["JIRA_API_TOKEN"]),
        timeout=60,
    )
    response.raise_for_status()
    return response.json()["path_counts"]


@dataclass
class Run:
    summary: BackfillSummary
    counts: dict[str, int]  # requests per route during the backfill
    with_links: int = 0  # stored issues that have remote links
    poll_requests: int = 0
    poll_candidates: int = 0


def run_once(
    env: dict[str, str],
    parallel: int,
    *,
    bulk: bool = True,
    rate: float = 0,
    poll: bool = False,
) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        root = DataRoot(Path(tmp))
        settings = load_settings({**env, "JIRA_DATA_ROOT": tmp})
        jira = JiraClient.from_settings(settings, on_auth=auth_recorder(root), rate_limit_per_s=rate)
        sla = JsmSlaClient.from_settings(settings, on_auth=auth_recorder(root), rate_limit_per_s=rate)
        before = path_counts(env)
        summary = backfill(jira, sla, root, jql=SCOPE, parallel=parallel, progress=False, bulk=bulk)
        after = path_counts(env)
        run = Run(
            summary, {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
        )
        run.with_links = sum(
            1 for k in iter_issue_keys(root) if (load_issue(root, k) or {}).get("_remote_links")
        )
        if poll:
            run.poll_candidates = len(poll_candidates(root))
            run.poll_requests = poll_sla(jira, sla, root).requests
    if summary.failed or len(summary.fetched) != summary.found:
        raise RuntimeError("\n".join(summary.lines()))
    return run


def throughput_section(issues: int, latency_ms: int) -> str:
    serial, parallel = with_site(
        issues,
        latency_ms,
        lambda env: (run_once(env, 1).summary, run_once(env, 8).summary),
    )
    rate_1 = len(serial.fetched) / serial.seconds
    rate_8 = len(parallel.fetched) / parallel.seconds
    speedup = rate_8 / rate_1
    verdict = "meets" if speedup >= 6 else "misses"
    return (
        "## Backfill throughput (`bench_backfill`)\n\n"
        f"{issues} simulated issues (search, bulk issue and changelog reads, remote links, "
        f"SLA view, attachments, raw JSON written and fsynced), {latency_ms} ms latency per "
        "request, simulator in its own process, client rate budget off.\n\n"
        "| parallel | issues/s | requests | seconds |\n|---:|---:|---:|---:|\n"
        f"| 1 | {rate_1:.1f} | {serial.requests} | {serial.seconds:.1f} |\n"
        f"| 8 | {rate_8:.1f} | {parallel.requests} | {parallel.seconds:.1f} |\n\n"
        f"Speed-up at 8: **{speedup:.1f}×** ({verdict} the ≥ 6× target, which was set for "
        "the per-issue path: bulk reads make the serial run itself several times faster, "
        "leaving less to parallelise). The seed's per-issue path needed 516 requests for "
        f"these 150 issues at 4.1 and 26.9 issues/s: at 8, bulk is {rate_8 / 26.9:.1f}× "
        "that.\n"
    )


def requests_section(issues: int) -> str:
    bulk, seed = with_site(
        issues,
        0,
        lambda env: (
            run_once(env, 8, bulk=True, poll=True),
            run_once(env, 8, bulk=False),
        ),
    )
    routes = sorted(set(bulk.counts) | set(seed.counts))
    lines = [
        f"## Requests per issue, {issues:,}-issue backfill (`bench_backfill`)\n",
        "Both paths in the same run against the same simulated site (no latency, budget off: "
        "the counts depend on neither). Per-issue = the seed's path (`backfill(bulk=False)`).\n",
        "| endpoint | bulk requests | bulk per issue | per-issue requests | per-issue per issue |",
        "|---|---:|---:|---:|---:|",
    ]
    for route in routes:
        b, s = bulk.counts.get(route, 0), seed.counts.get(route, 0)
        lines.append(f"| {route} | {b:,} | {b / issues:.4f} | {s:,} | {s / issues:.4f} |")
    b_total, s_total = sum(bulk.counts.values()), sum(seed.counts.values())
    lines.append(
        f"| **all** | {b_total:,} | {b_total / issues:.3f} | {s_total:,} | {s_total / issues:.3f} |"
    )
    core = sum(v for k, v in bulk.counts.items() if k not in PER_ISSUE_EXTRA) / issues
    links = bulk.counts.get("remotelink", 0)
    poll = bulk.poll_requests / max(bulk.poll_candidates, 1)
    lines += [
        "",
        f"- besides attachments and remote links: **{core:.4f}** requests/issue "
        f"({'meets' if core <= 0.06 else 'misses'} ≤ 0.06)",
        f"- remote links: {links:,} requests for {bulk.with_links:,} issues with links = "
        f"**{links / max(bulk.with_links, 1):.2f}×** "
        f"({'meets' if links <= 1.1 * bulk.with_links else 'misses'} ≤ 1.1×)",
        f"- `poll-sla` after the backfill: {bulk.poll_requests} requests for "
        f"{bulk.poll_candidates:,} open service-desk tickets = **{poll:.4f}** per ticket "
        f"({'meets' if poll <= 0.05 else 'misses'} ≤ 0.05)",
    ]
    return "\n".join(lines) + "\n"


def heartbeat(env: dict[str, str], stop: threading.Event, every_s: float = 300) -> None:
    """Print the simulator's request counts to stderr every ``every_s`` until ``stop``:
    a run of hours shows how far it got, even if it is cut short."""
    started = time.monotonic()
    while not stop.wait(every_s):
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(path_counts(env).items()))
        print(f"[{time.monotonic() - started:,.0f} s] {counts}", file=sys.stderr, flush=True)


def wall_section(issues: int, per_issue_issues: int) -> str:
    def measure(env: dict[str, str], bulk: bool) -> Run:
        stop = threading.Event()
        threading.Thread(target=heartbeat, args=(env, stop), daemon=True).start()
        try:
            return run_once(env, 8, bulk=bulk, rate=WALL_RATE_PER_S)
        finally:
            stop.set()

    bulk = with_site(issues, LATENCY_MS, lambda env: measure(env, True))
    seed = with_site(per_issue_issues, LATENCY_MS, lambda env: measure(env, False))
    lines = [
        "## Backfill wall time at Jira-like limits (`bench_backfill`)\n",
        f"{WALL_RATE_PER_S:.0f} requests/s per endpoint (client budget), {LATENCY_MS} ms "
        "latency, simulator in its own process, `--parallel 8`. Bound = busiest endpoint's "
        f"requests ÷ {WALL_RATE_PER_S:.0f}/s. Sites not measured at their size (the "
        "per-issue path, which takes hours at 100,000 issues) are projected from the measured "
        "wall time per issue.\n",
        "| path | issues | busiest endpoint | its requests | bound s | wall s | wall ÷ bound "
        "| 100k h | 1M projected h |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run, count in (("bulk", bulk, issues), ("per-issue", seed, per_issue_issues)):
        route, busiest = max(run.counts.items(), key=lambda item: item[1])
        bound = busiest / WALL_RATE_PER_S
        ratio = run.summary.seconds / bound
        hours = {n: run.summary.seconds * n / count / 3600 for n in (100_000, 1_000_000)}
        lines.append(
            f"| {name} | {count:,} | {route} | {busiest:,} | {bound:.0f} | "
            f"{run.summary.seconds:.0f} | **{ratio:.2f}** | {hours[100_000]:.1f} | "
            f"{hours[1_000_000]:.0f} |"
        )
    for name, run in (("bulk", bulk), ("per-issue", seed)):
        split = ", ".join(f"{k} {v:,}" for k, v in sorted(run.counts.items()))
        lines.append(f"\n{name} requests by endpoint: {split}.")
    ratio = bulk.summary.seconds / (max(bulk.counts.values()) / WALL_RATE_PER_S)
    lines.append(
        f"\nBulk wall time ÷ bound: **{ratio:.2f}** "
        f"({'meets' if ratio <= 1.2 else 'misses'} the ≤ 1.2 target).\n\nAt "
        f"{WALL_RATE_PER_S:.0f} requests/s per endpoint both paths are held by one endpoint "
        "doing about one request per issue (attachment downloads for bulk, issue reads per "
        "issue), so their projected wall times are close; what bulk changes is the total "
        "(the requests-per-issue table above): every endpoint but attachments and remote "
        "links falls to about 0.01 requests per issue."
    )
    return "\n".join(lines) + "\n"


def main(
    issues: int = ISSUES,
    latency_ms: int = LATENCY_MS,
    count_issues: int = COUNT_ISSUES,
    wall_issues: int = WALL_ISSUES,
    wall_per_issue: int = WALL_ISSUES_PER_ISSUE_PATH,
) -> str:
    sections = [
        throughput_section(issues, latency_ms) if issues else "",
        requests_section(count_issues) if count_issues else "",
        wall_section(wall_issues, wall_per_issue),
    ]
    return (
        "\n".join(sections)
        + "\nCommand: `python -m benchmarks backfill` (or `python -m benchmarks.bench_backfill "
        "--issues N --latency-ms MS --count-issues N --wall-issues N --wall-per-issue N`; "
        "0 issues skips a section). "
        "The machine was shared with other engineers' work while this ran.\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--issues", type=int, default=ISSUES)
    parser.add_argument("--latency-ms", type=int, default=LATENCY_MS)
    parser.add_argument("--count-issues", type=int, default=COUNT_ISSUES)
    parser.add_argument("--wall-issues", type=int, default=WALL_ISSUES)
    parser.add_argument("--wall-per-issue", type=int, default=WALL_ISSUES_PER_ISSUE_PATH)
    options = parser.parse_args()
    sys.stdout.write(
        main(
            options.issues,
            options.latency_ms,
            options.count_issues,
            options.wall_issues,
            options.wall_per_issue,
        )
        + "\n"
    )
