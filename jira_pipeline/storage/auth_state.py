"""Whether Jira last refused our token, and the latest configuration problem a run hit.
The 401 state is written through the Jira clients' ``on_auth`` callback
(:func:`auth_recorder`) and cleared on the next success; the
configuration problem (one line naming the setting to change) is written by the run that
hit it and cleared by the next run whose Jira calls passed. The receiver's health endpoint
reads both, so operators see what to fix without reading run logs. Holds no secret."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from jira_pipeline.config import ROTATE_HINTS
from jira_pipeline.storage.atomic import atomic_write_bytes
from jira_pipeline.storage.paths import DataRoot


def _path(root: DataRoot, credential: str):
    if credential not in ROTATE_HINTS:
        raise ValueError(f"unknown credential {credential!r}")
    return root.state_dir / f"auth_{credential}.json"


def record_auth_failure(root: DataRoot, credential: str = "api") -> None:
    """Remember that ``credential`` ("api" or "sla") was refused."""
    state = {"failed_at": datetime.now(UTC).isoformat(), "hint": ROTATE_HINTS[credential]}
    atomic_write_bytes(_path(root, credential), orjson.dumps(state))


def clear_auth_failure(root: DataRoot, credential: str = "api") -> None:
    """Forget a past refusal once ``credential`` works again (cheap when there is none)."""
    _path(root, credential).unlink(missing_ok=True)


def auth_recorder(root: DataRoot) -> Callable[[str, bool], None]:
    """The Jira clients' ``on_auth`` callback: record a refused credential in ``root``,
    forget it once the credential is accepted again."""

    def on_auth(credential: str, refused: bool) -> None:
        if refused:
            record_auth_failure(root, credential)
        else:
            clear_auth_failure(root, credential)

    return on_auth


def read_auth_state(root: DataRoot) -> dict[str, Any]:
    """``{"api": {...} | None, "sla": {...} | None}``: the last refusal of each credential."""
    state: dict[str, Any] = {}
    for credential in ROTATE_HINTS:
        try:
            state[credential] = orjson.loads(_path(root, credential).read_bytes())
        except (OSError, ValueError):
            state[credential] = None
    return state


CONFIG_PROBLEM_FILE = "config_problem.json"


def record_config_problem(root: DataRoot, setting: str, line: str) -> None:
    """Remember the latest configuration problem (best effort: the data root itself may
    be what is unwritable)."""
    state = {"at": datetime.now(UTC).isoformat(), "setting": setting, "line": line}
    with contextlib.suppress(OSError):
        atomic_write_bytes(root.state_dir / CONFIG_PROBLEM_FILE, orjson.dumps(state))


def clear_config_problem(root: DataRoot) -> None:
    """Forget it once a run got through its Jira calls."""
    with contextlib.suppress(OSError):
        (root.state_dir / CONFIG_PROBLEM_FILE).unlink(missing_ok=True)


def read_config_problem(root: DataRoot) -> dict[str, Any] | None:
    """``{"at", "setting", "line"}`` of the latest configuration problem, or ``None``."""
    try:
        state = orjson.loads((root.state_dir / CONFIG_PROBLEM_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None
