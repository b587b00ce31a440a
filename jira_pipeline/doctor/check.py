"""One line of the doctor's report, and how a list of them becomes output and an exit code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import orjson

OK, WARN, FAIL = "ok", "warn", "fail"
STATUSES = (OK, WARN, FAIL)
# Exit codes, as monitoring plugins use them: everything ok, warnings only, a failure.
EXIT_OK, EXIT_WARN, EXIT_FAIL = 0, 1, 2


@dataclass(frozen=True)
class Check:
    """``status`` ok | warn | fail; ``message`` says what was found and, unless ok, what
    to do. Never carries a secret."""

    name: str
    status: str
    message: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


def ok(name: str, message: str) -> Check:
    return Check(name, OK, message)


def warn(name: str, message: str) -> Check:
    return Check(name, WARN, message)


def fail(name: str, message: str) -> Check:
    return Check(name, FAIL, message)


def exit_code(checks: Iterable[Check]) -> int:
    """2 when any check failed, 1 when some warned, 0 when all are ok."""
    statuses = {c.status for c in checks}
    if FAIL in statuses:
        return EXIT_FAIL
    return EXIT_WARN if WARN in statuses else EXIT_OK


def as_text(checks: Iterable[Check]) -> str:
    """One line per check: ``[ok  ] name: message``."""
    return "\n".join(f"[{c.status:<4}] {c.name}: {c.message}" for c in checks)


def as_json(checks: list[Check]) -> bytes:
    """``{"status": worst, "exit_code": n, "checks": [{name, status, message}, …]}``."""
    code = exit_code(checks)
    worst = {EXIT_OK: OK, EXIT_WARN: WARN, EXIT_FAIL: FAIL}[code]
    return orjson.dumps(
        {"status": worst, "exit_code": code, "checks": [asdict(c) for c in checks]},
        option=orjson.OPT_INDENT_2,
    )
