"""One machine, 1,000,000 issues (issue 13). Not part of ``make bench``: it writes ~7 GB
and runs for about an hour. ``python -m benchmarks scale``.

1. A 1,000,000-issue raw store: 20,000 simulated issues (seed 11, 24 months ending this
   month, renderedFields + changelog + remote links + SLA, as the raw store keeps them),
   each written 50 times under its own key and id (``BIGA-n``, ``BIGA-n+10000``, …) through
   the raw store's encoding: 1,000,000 distinct files, ~41,700 issues per month. Reported:
   bytes on disk per issue (``st_blocks`` of every file and folder) against the earlier
   format (indented JSON, one folder) computed from the same issues.
2. ``rebuild_all`` of the 1,000,000 issues, cold, in a fresh process: wall and CPU time,
   peak RSS of the main process and of the largest worker.
3. Rebuild cost per issue, new format against the earlier one: the same 20,000 issues as
   indented ``KEY.json`` files (read by the same code, which still reads that layout) and
   as compressed records, cold rebuilds interleaved, CPU seconds per issue.
4. ``upsert_issues`` of one changed issue into a ~41,700-issue month of that store: p50.
5. Freshness on that store: simulated Jira (600 issues in the store's last 12 months),
   receiver and ``dagster-daemon`` as in ``bench_freshness``; webhook 202 → new summary
   visible in DuckDB, p50 of single events.

Times are wall clock on a shared 2-core machine; CPU seconds are given beside them."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from benchmarks import rebuild_child
from benchmarks.bench_freshness import breakdown, single_events
from benchmarks.bench_transform import best, timed_rebuild
from jira_pipeline.sandbox.demo import demo_months
from jira_pipeline.sandbox.demo_data import simulated_record
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_format import encode_record, record_json
from jira_pipeline.storage.raw_store import load_issue, save_field_list, save_issue
from jira_pipeline.transform.rows import created_month
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline_tests.fixtures.dagster_daemon import running_daemon
from jira_pipeline_tests.fixtures.mirror import SCOPE, mirror
from jira_pipeline_tests.fixtures.receiver import running_receiver

SAMPLE_ISSUES = int(os.environ.get("BENCH_SCALE_SAMPLE", "20000"))
COPIES = int(os.environ.get("BENCH_SCALE_COPIES", "50"))  # 50 × 20,000 = 1,000,000
PROJECTS = ("BIGA", "BIGB")  # not the freshness simulator's SUPPORT / ENG
NUMBER_STRIDE = SAMPLE_ISSUES // len(PROJECTS)
ID_STRIDE = 10_000_000
UPSERT_SAMPLES = 25
FRESHNESS_EVENTS = int(os.environ.get("BENCH_FRESHNESS_SINGLE", "20"))
REPEATS = 2


def sample_records(window_start: str) -> list[bytes]:
    """The 20,000 simulated issues as the raw store's records hold them (its encoded
    bytes: ~120 MB in memory, one parsed copy at a time while the store is written)."""
    sim = SimulatedJira(seed=11, issues=SAMPLE_ISSUES, projects=PROJECTS,
                        start_month=window_start, months=24)
    return [encode_record(simulated_record(sim, key)) for key in sim.keys()]  # noqa: SIM118


def copy_of(record: dict, copy: int) -> dict:
    """``record`` as a distinct issue: key number and id moved by ``copy`` strides."""
    project, number = record["key"].rsplit("-", 1)
    key = f"{project}-{int(number) + copy * NUMBER_STRIDE}"
    return {**record, "key": key, "id": str(int(record["id"]) + copy * ID_STRIDE)}


def write_store(root: DataRoot, records: list[bytes], copies: int) -> int:
    """Every record ``copies`` times, encoded as the raw store does; returns the count."""
    count = 0
    for data in records:
        record = orjson.loads(record_json(data))
        for copy in range(copies):
            issue = copy_of(record, copy)
            path = root.issue_file(issue["key"])
            try:
                path.write_bytes(encode_record(issue))
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(encode_record(issue))
            count += 1
    return count


def write_earlier_format(root: DataRoot, records: list[bytes]) -> None:
    """The same issues as the store kept them before: indented JSON, ``issues/KEY.json``."""
    root.issues_dir.mkdir(parents=True, exist_ok=True)
    for data in records:
        record = orjson.loads(record_json(data))
        (root.issues_dir / f"{record['key']}.json").write_bytes(
            orjson.dumps(record, option=orjson.OPT_INDENT_2))


def disk_bytes(folder: Path) -> tuple[int, int, int]:
    """(bytes allocated on disk, apparent bytes, files) of everything under ``folder``."""
    allocated = apparent = files = 0
    for path, _, names in os.walk(folder):
        allocated += os.lstat(path).st_blocks * 512
        for name in names:
            stat = os.lstat(os.path.join(path, name))
            allocated += stat.st_blocks * 512
            apparent += stat.st_size
            files += 1
    return allocated, apparent, files


def earlier_format_bytes(records: list[bytes]) -> float:
    """Bytes per issue on disk (4 KiB blocks) of the same issues as indented JSON."""
    total = 0
    for data in records:
        size = len(orjson.dumps(orjson.loads(record_json(data)), option=orjson.OPT_INDENT_2))
        total += -(-size // 4096) * 4096
    return total / len(records)


def upsert_latencies(root: DataRoot, keys: list[str]) -> list[float]:
    """Change one issue's summary through the raw store (untimed), time its upsert."""
    timings = []
    for round_number in range(UPSERT_SAMPLES):
        issue = load_issue(root, keys[(round_number * 7919) % len(keys)])
        issue["fields"]["summary"] = f"scale upsert {round_number}"
        save_issue(root, issue, force=True)
        started = time.perf_counter()
        upsert_issues(root, [issue["key"]])
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> str:
    window = demo_months(24, datetime.now(UTC))
    freshness_months = window[-12:]
    loads = {"start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench_scale_", dir="/var/tmp") as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        records = sample_records(window[0])
        sample_s = time.perf_counter() - started
        old_bytes = earlier_format_bytes(records)

        # 3. per-issue rebuild cost, earlier vs new format, same 20,000 issues
        earlier, newer = DataRoot(base / "earlier"), DataRoot(base / "newer")
        write_earlier_format(earlier, records)
        write_store(newer, records, 1)
        for root in (earlier, newer):
            save_field_list(root, SimulatedJira(seed=11, issues=1).fields())
        runs: dict[str, list[tuple[float, ...]]] = {"earlier": [], "newer": []}
        for _ in range(REPEATS):
            runs["earlier"].append(timed_rebuild(earlier, workers=None))
            runs["newer"].append(timed_rebuild(newer, workers=None))
        (old_wall, old_cpu, _), (new_wall, new_cpu, _) = best(runs["earlier"]), best(runs["newer"])
        shutil.rmtree(earlier.root)
        shutil.rmtree(newer.root)

        # 1. the 1,000,000-issue store, in the data root the freshness stack will use
        jira = SimulatedJira(seed=3, issues=600, start_month=freshness_months[0], months=12)
        with SimulatorServer(jira) as server:
            env = {**server.env(), "JIRA_START_MONTH": freshness_months[0], "JIRA_JQL": SCOPE}
            root = DataRoot(base / "data")
            mirror(env, root)
            started = time.perf_counter()
            stored = write_store(root, records, COPIES)
            write_s = time.perf_counter() - started
            del records
            allocated, apparent, files = disk_bytes(root.issues_dir)
            loads["rebuild"] = os.getloadavg()[0]

            # 2. cold rebuild of everything, fresh process
            rebuild_wall, rebuild_cpu, own_mib, worker_mib = rebuild_child.run(root.root)
            workers = min(os.cpu_count() or 1, 4)
            rss_total = own_mib + workers * worker_mib
            # and again, warm: every month's files and the raw-file cache now exist
            warm_wall, _, warm_own_mib, warm_worker_mib = rebuild_child.run(root.root)
            warm_total = warm_own_mib + workers * warm_worker_mib

            # 4. upsert into a ~41,700-issue month
            from jira_pipeline.orchestration.stored_issues import stored_keys_by_month

            month_keys = max(stored_keys_by_month(root).values(), key=len)
            month_size = len(month_keys)
            month = created_month(load_issue(root, min(month_keys))["fields"]["created"])
            month_keys = sorted(k for k in month_keys if k.startswith(PROJECTS))
            loads["upsert"] = os.getloadavg()[0]
            upserts = upsert_latencies(root, month_keys)

            # 5. freshness with the whole stack on that store
            loads["freshness"] = os.getloadavg()[0]
            with (
                running_receiver(root) as receiver,
                running_daemon(base / "dagster_home",
                               {**env, "JIRA_DATA_ROOT": str(root.root)}) as daemon,
            ):
                single_events(jira, receiver, root, daemon.instance, 1)  # warm-up
                timings = single_events(jira, receiver, root, daemon.instance, FRESHNESS_EVENTS)
                latencies = [t.latency for t in timings]

    per_issue = allocated / stored
    upsert_p50, fresh_p50 = statistics.median(upserts), statistics.median(latencies)
    slower = (new_cpu / old_cpu - 1) * 100

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    return "\n".join([
        "## One machine, 1,000,000 issues (issue 13)",
        "",
        f"Store: {stored:,} distinct raw records ({SAMPLE_ISSUES:,} simulated issues, seed "
        f"11, 24 months {window[0]}…{window[-1]}, each written {COPIES}× under its own key "
        f"and id; {files:,} files incl. the freshness mirror), ~{month_size:,} issues in the "
        f"largest month. Sample generated in {sample_s:.0f} s, store written in "
        f"{write_s:.0f} s. 1-minute load average (shared machine, other engineers' work "
        "included): " + ", ".join(f"{k} {v:.1f}" for k, v in loads.items()) + ".",
        "",
        "| Measure | Result | Target |",
        "|---|---|---|",
        f"| Raw store on disk per issue (files + folders, `st_blocks`) | **{per_issue / 1000:.1f} "
        f"KB** ({apparent / stored / 1000:.1f} KB apparent); earlier format (indented JSON): "
        f"{old_bytes / 1000:.1f} KB | ≤ 12 KB: {verdict(per_issue <= 12_000)} |",
        f"| Rebuild CPU per issue, {SAMPLE_ISSUES:,} issues, default workers, best of "
        f"{REPEATS}: compressed / earlier format | {new_cpu / SAMPLE_ISSUES * 1000:.3f} ms / "
        f"{old_cpu / SAMPLE_ISSUES * 1000:.3f} ms = **{slower:+.1f}%** (wall {new_wall:.1f} s / "
        f"{old_wall:.1f} s) | ≤ +10%: {verdict(slower <= 10)} |",
        f"| `rebuild_all` of {stored:,} issues, cold, fresh process | **{rebuild_wall / 60:.1f} "
        f"min** ({stored / rebuild_wall:,.0f} issues/s; CPU {rebuild_cpu:,.0f} s) "
        f"| ≤ 10 min: {verdict(rebuild_wall <= 600)} |",
        f"| Peak RSS of that rebuild: main / largest worker (sum with {workers} workers) "
        f"| {own_mib:,.0f} MiB / {worker_mib:,.0f} MiB (**≤ {rss_total:,.0f} MiB**) "
        f"| ≤ 1,536 MiB: {verdict(rss_total <= 1536)} |",
        f"| The same rebuild again, warm (every file present, so compared; cache filled): "
        f"wall / peak RSS main / largest worker | {warm_wall / 60:.1f} min / "
        f"{warm_own_mib:,.0f} MiB / {warm_worker_mib:,.0f} MiB (**≤ {warm_total:,.0f} MiB**) "
        f"| ≤ 10 min, ≤ 1,536 MiB: {verdict(warm_wall <= 600 and warm_total <= 1536)} |",
        f"| Upsert of 1 issue into the {month_size:,}-issue month {month}: p50 / p95 "
        f"| **{upsert_p50:.0f} ms** / {statistics.quantiles(upserts, n=20)[-1]:.0f} ms "
        f"| p50 ≤ 300 ms: {verdict(upsert_p50 <= 300)} |",
        f"| Freshness on that store (webhook 202 → DuckDB), n={len(latencies)}: p50 / max "
        f"| **{fresh_p50:.1f} s** / {max(latencies):.1f} s | p50 ≤ 5 s: {verdict(fresh_p50 <= 5)} |",
        f"| Its steps, p50 after the 202: run requested by the sensor / run started / row "
        f"visible | {breakdown(timings)} | |",
        "",
        "Command: `python -m benchmarks scale` (`BENCH_SCALE_SAMPLE`, `BENCH_SCALE_COPIES` "
        "for a smaller store).",
    ])


if __name__ == "__main__":
    print(main())
