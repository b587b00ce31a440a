"""Whether Jira last refused our token. Written by the Jira client on a 401, cleared on the
next success, read by the receiver's health endpoint so operators see "rotate the token"
without reading run logs. Holds no secret: only when and which credential failed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from jira_pipeline.storage.atomic import atomic_write_bytes
from jira_pipeline.storage.paths import DataRoot

ROTATE_HINTS = {
    "api": "Jira answered 401: rotate JIRA_API_TOKEN (or check JIRA_EMAIL)",
    "sla": "JSM answered 401: rotate JIRA_SLA_API_TOKEN (or check JIRA_SLA_EMAIL)",
}


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


def read_auth_state(root: DataRoot) -> dict[str, Any]:
    """``{"api": {...} | None, "sla": {...} | None}``: the last refusal of each credential."""
    state: dict[str, Any] = {}
    for credential in ROTATE_HINTS:
        try:
            state[credential] = orjson.loads(_path(root, credential).read_bytes())
        except (OSError, ValueError):
            state[credential] = None
    return state
