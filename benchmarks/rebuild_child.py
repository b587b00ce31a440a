"""A cold ``rebuild_all`` in a fresh interpreter, for the transform and scale benchmarks'
peak-RSS figures: ``python -m benchmarks.rebuild_child ROOT`` prints wall seconds, CPU
seconds (workers included), and the peak RSS in KiB of this process and of its largest
worker. A module of its own that imports only the rebuild: run from a benchmark module,
the child also held that module's imports (``bench_scale`` pulls in Dagster: +90 MiB),
which the rebuild never needs."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys
import time
from pathlib import Path

from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the rebuild's workers):
    less sensitive than wall time to other work on the host."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own_cpu_seconds() + children.ru_utime + children.ru_stime


def own_cpu_seconds() -> float:
    """CPU time of this process alone (with workers: the grouping and the writing)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def own_peak_rss_kib() -> int:
    """Peak RSS of this process's own memory: ``VmHWM`` (Linux). Not ``ru_maxrss``: the
    kernel carries the peak of the process that ran ``exec`` into it, so a child started
    by a benchmark holding 456 MiB reported 456 MiB whatever it used itself."""
    with contextlib.suppress(OSError, StopIteration), open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(root: str) -> None:
    started, cpu = time.perf_counter(), cpu_seconds()
    rebuild_all(DataRoot(Path(root)), progress=False)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    # The workers' ru_maxrss also counts this process's peak when it spawned them: small
    # (the rebuild starts its workers first), so their figure is their own.
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(wall, cpu, own_peak_rss_kib(), workers)


def run(root: Path) -> tuple[float, float, float, float]:
    """(wall s, CPU s, peak RSS MiB of the main process, of its largest worker) of a cold
    rebuild of ``root`` in a fresh interpreter."""
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.rebuild_child", str(root)],
        check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )
    wall, cpu, own_kib, worker_kib = child.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu), int(own_kib) / 1024, int(worker_kib) / 1024


if __name__ == "__main__":
    main(sys.argv[1])
