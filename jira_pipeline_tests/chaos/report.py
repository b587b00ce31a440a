"""The table every chaos case adds a row to: printed at the end of the session and, for the
long run (``make chaos``), written to ``benchmarks/results/chaos.md`` for RESULTS.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "chaos.md"
COLUMNS = ("case", "runs", "faults injected", "events sent", "events in Parquet", "lost", "checked")


@dataclass(frozen=True)
class ChaosRow:
    """One case. ``events_in_parquet`` is None where a case stops before Parquet (receiver
    cases count the inbox instead, said in ``checked``)."""

    case: str
    runs: int
    faults: str
    events_sent: int
    events_in_parquet: int | None
    lost: int
    checked: str

    def cells(self) -> tuple[str, ...]:
        in_parquet = "—" if self.events_in_parquet is None else str(self.events_in_parquet)
        return (
            self.case,
            str(self.runs),
            self.faults,
            str(self.events_sent),
            in_parquet,
            str(self.lost),
            self.checked,
        )


@dataclass
class ChaosReport:
    long_run: bool
    rows: list[ChaosRow] = field(default_factory=list)

    def add(self, row: ChaosRow) -> None:
        self.rows.append(row)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += [
            "| " + " | ".join(c.replace("|", "/") for c in r.cells()) + " |"
            for r in sorted(self.rows, key=lambda row: row.case)
        ]
        return "\n".join(lines)

    def section(self, outcome: str) -> str:
        """The Markdown section of benchmarks/RESULTS.md (same shape as a bench section)."""
        from benchmarks.__main__ import machine_line

        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            "## Fault and load suite (chaos)\n\n"
            "Command: `make chaos` (`pytest -m chaos --run-chaos`). Every case checks that "
            "nothing acknowledged or stored is lost (`lost` must be 0); a short version of "
            "each case runs in `make test`.\n\n"
            f"{self.markdown()}\n\n"
            f"Session outcome: {outcome}.\n\n"
            f"_Run {stamp} on {machine_line()}._\n"
        )
