"""Run the benchmarks and collect their sections into benchmarks/RESULTS.md.

``python -m benchmarks`` runs every ``bench_*.py`` but the long ones (``scale``: run it
by name); ``python -m benchmarks receiver`` only ``bench_receiver.py``. Each section is also kept in ``benchmarks/results/<name>.md`` so a
partial run keeps the other figures."""

from __future__ import annotations

import importlib
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
LONG_RUNNING = frozenset({"scale"})  # an hour and ~7 GB: only when named


def machine_line() -> str:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main(argv: list[str]) -> int:
    names = argv or sorted(name for p in HERE.glob("bench_*.py")
                           if (name := p.stem.removeprefix("bench_")) not in LONG_RUNNING)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    for name in names:
        print(f"== bench {name}", flush=True)
        section = importlib.import_module(f"benchmarks.bench_{name}").main()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = f"{section.rstrip()}\n\n_Run {stamp} on {machine_line()}._\n"
        (results / f"{name}.md").write_text(text)
        print(text, flush=True)
    collect_results()
    return 0


def collect_results() -> None:
    """Rewrite RESULTS.md from every section in ``results/`` (benches and ``make chaos``)."""
    sections = [p.read_text() for p in sorted((HERE / "results").glob("*.md"))]
    header = (
        "# Benchmark results\n\nProduced by `make bench` (`python -m benchmarks`); one "
        "section per `benchmarks/bench_*.py`, each with the machine it ran on.\n\n"
    )
    (HERE / "RESULTS.md").write_text(header + "\n".join(sections))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
