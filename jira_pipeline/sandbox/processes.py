"""Child processes of the demo, the end-to-end test and the freshness benchmark: each in
its own process group (a Dagster daemon or gunicorn spawns children of its own), stopped
group-wide, gracefully first."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMMITTED_DAGSTER_YAML = PROJECT_ROOT / ".dagster_home" / "dagster.yaml"
WORKSPACE_YAML = PROJECT_ROOT / "workspace.yaml"


def venv_script(name: str) -> str:
    """A console script of this interpreter's environment (``dagster``, ``jira-pipeline``)."""
    script = Path(sys.executable).with_name(name)
    return str(script) if script.exists() else name


def prepare_dagster_home(home: Path, template: Path = COMMITTED_DAGSTER_YAML) -> Path:
    """A ``DAGSTER_HOME`` using the committed instance config (SQLite under ``home``)."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if target.resolve() != template.resolve():
        shutil.copyfile(template, target)
    return home


def start_process_group(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path = PROJECT_ROOT,
) -> subprocess.Popen[bytes]:
    """Start ``args`` in a new session (its own process group), output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the whole group, SIGKILL it if it has not exited after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):  # stragglers (run workers, code servers)
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def wait_http_ok(
    url: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} was up")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not answering after {timeout:.0f} s")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
