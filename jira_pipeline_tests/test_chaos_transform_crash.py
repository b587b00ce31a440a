"""Chaos 1a: SIGKILL the transform (a separate process running ``upsert_issues`` or
``rebuild_all``) at random points, many times. After every kill each Parquet file must
read back through DuckDB and hold exactly its previous or its new content; rerunning the
same operation must converge to the state an uninterrupted run produces."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline.transform.views import connect
from jira_pipeline_tests.chaos.report import ChaosReport, ChaosRow
from jira_pipeline_tests.chaos.snapshots import (
    Snapshot,
    copy_data_root,
    issues_in_two_months,
    snapshot,
    table_rows,
)
from jira_pipeline_tests.fixtures.chaos import ChaosScale
from jira_pipeline_tests.fixtures.transform_data import variant, write_field_list, write_raw

# The long version (--run-chaos) runs for minutes on a busy 2-core machine
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]

PROJECT = "CHAOS"
MONTHS = [f"2025-{m:02d}" for m in range(1, 7)]


@dataclass
class RawState:
    """The raw store as the test wrote it: what the tables must end up saying."""

    rng: random.Random
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    next_number: int = 1

    def _write(self, root: DataRoot, key: str, month: str, summary: str) -> None:
        created = (
            f"{month}-{self.rng.randint(1, 28):02d}T{self.rng.randint(0, 23):02d}:15:00.000+0000"
        )
        issue = variant(key, created, summary=summary, comments=self.rng.randint(0, 3))
        issue["_fetched_at"] = "2025-07-01T00:00:00.000+00:00"
        self.issues[key] = issue
        write_raw(root, issue)

    def create(self, root: DataRoot, count: int) -> set[str]:
        keys = set()
        for _ in range(count):
            key = f"{PROJECT}-{self.next_number}"
            self.next_number += 1
            self._write(root, key, self.rng.choice(MONTHS), f"created {key}")
            keys.add(key)
        return keys

    def mutate(self, root: DataRoot, rep: int) -> set[str]:
        """Updates, month moves, deletions and creations: the keys a webhook run would get."""
        live = sorted(k for k in self.issues if k not in self.deleted)
        changed = set()
        for key in self.rng.sample(live, max(1, len(live) // 5)):
            month = self.issues[key]["fields"]["created"][:7]
            if self.rng.random() < 0.25:
                month = self.rng.choice([m for m in MONTHS if m != month])
            self._write(root, key, month, f"rev {rep} of {key}")
            changed.add(key)
        for key in self.rng.sample(sorted(set(live) - changed), max(1, len(live) // 30)):
            tombstone = {**self.issues[key], "_deleted_at": "2025-07-02T00:00:00.000+00:00"}
            write_raw(root, tombstone)
            self.deleted.add(key)
            changed.add(key)
        return changed | self.create(root, 2)

    def visible_in_parquet(self, root: DataRoot, keys: set[str]) -> int:
        """How many of ``keys`` the issues table shows exactly as the raw store says."""
        month = "strftime(created_at AT TIME ZONE 'UTC', '%Y-%m')"
        rows = table_rows(root, "issues", f"issue_key, summary, {month}")
        by_key: dict[str, list[tuple]] = {}
        for row in rows:
            by_key.setdefault(row[0], []).append(row)
        visible = 0
        for key in keys:
            if key in self.deleted:
                visible += key not in by_key
                continue
            fields = self.issues[key]["fields"]
            expected = [(key, fields["summary"], fields["created"][:7])]
            visible += by_key.get(key) == expected
        return visible


def run_reference(
    root: DataRoot, operation: str, keys: set[str], into: Path
) -> tuple[Snapshot, float]:
    """The uninterrupted run, on a copy: the "new content" every file may show."""
    copy_data_root(root, into)
    reference = DataRoot(into)
    started = time.perf_counter()
    _run_in_process(reference, operation, keys)
    elapsed = time.perf_counter() - started
    twice = issues_in_two_months(reference)
    assert not twice, f"an uninterrupted {operation} left issues with two rows: {twice[:5]}"
    result = snapshot(reference)
    shutil.rmtree(into)
    return result, elapsed


def _run_in_process(root: DataRoot, operation: str, keys: set[str]) -> None:
    if operation == "upsert":
        upsert_issues(root, keys)
    else:
        rebuild_all(root, progress=False)


def kill_worker_at(root: DataRoot, operation: str, keys: set[str], delay: float) -> bool:
    """Start the worker, let it work ``delay`` seconds, SIGKILL it. True when the kill
    landed before it finished."""
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jira_pipeline_tests.chaos.transform_worker",
            str(root.root),
            operation,
            *sorted(keys),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        if worker.stdout.readline().strip() != b"ready":
            error = worker.stderr.read().decode(errors="replace") if worker.stderr else ""
            raise AssertionError(f"transform worker did not start: {error[-600:]}")
        worker.stdin.write(b"go\n")
        worker.stdin.flush()
        time.sleep(delay)
        worker.kill()
        worker.wait(timeout=30)
        finished = b"done" in worker.stdout.read()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    return not finished


def assert_old_or_new(root: DataRoot, before: Snapshot, after: Snapshot, rep: int) -> None:
    now = snapshot(root)  # raises if any file cannot be read back through DuckDB
    for path in set(before) | set(after) | set(now):
        assert now.get(path) in (before.get(path), after.get(path)), (
            f"repetition {rep}: {path} is neither its previous nor its new content"
        )
    con = connect(root)
    for table in TABLES:
        con.execute(f"SELECT count(*) FROM jira_{table}").fetchone()


def test_transform_sigkill_leaves_old_or_new_files_and_rerun_converges(
    tmp_path: Path, chaos_scale: ChaosScale, chaos_report: ChaosReport
) -> None:
    repetitions = chaos_scale.pick(4, 100)
    initial_issues = chaos_scale.pick(30, 150)
    root = DataRoot(tmp_path / "data")
    state = RawState(random.Random(20251))
    write_field_list(root)
    state.create(root, initial_issues)
    rebuild_all(root, progress=False)
    current = snapshot(root)

    sent = visible = mid_run_kills = runs = 0
    checked = "FAILED: did not finish"
    try:
        for rep in range(repetitions):
            runs = rep + 1
            operation = "rebuild" if rep % 3 == 2 else "upsert"
            changed = state.mutate(root, rep)
            expected, seconds = run_reference(root, operation, changed, tmp_path / f"ref{rep}")
            # every other kill within the reference duration; the rest may land after the end
            delay = state.rng.uniform(0, seconds * (1.3 if rep % 2 else 0.7))
            mid_run_kills += kill_worker_at(root, operation, changed, delay)

            assert_old_or_new(root, current, expected, rep)
            _run_in_process(root, operation, changed)  # the rerun (Dagster's retry)
            twice = issues_in_two_months(root)
            assert not twice, f"repetition {rep}: issues with two rows (stale month?): {twice[:5]}"
            assert snapshot(root) == expected, f"repetition {rep}: rerun did not converge"
            current = expected
            sent += len(changed)
            visible += state.visible_in_parquet(root, changed)

        # Everything incremental, interrupted and resumed, equals one clean full rebuild
        copy_data_root(root, tmp_path / "clean")
        clean = DataRoot(tmp_path / "clean")
        shutil.rmtree(clean.parquet)
        rebuild_all(clean, progress=False)
        assert snapshot(clean) == current
        assert state.visible_in_parquet(root, set(state.issues)) == len(state.issues)
        assert visible == sent, f"{sent - visible} changes not visible after convergence"
        assert mid_run_kills > 0, "no kill landed inside a transform run"
        checked = ("every file old-or-new via DuckDB after each kill; rerun == uninterrupted "
                   "run; final == clean rebuild")
    except AssertionError as failure:
        checked = f"FAILED: {str(failure).splitlines()[0]}"
        raise
    finally:
        chaos_report.add(
            ChaosRow(
                case="1a transform SIGKILL (upsert, rebuild)",
                runs=runs,
                faults=f"{runs} SIGKILLs at random points ({mid_run_kills} mid-run)",
                events_sent=sent,
                events_in_parquet=visible,
                lost=sent - visible,
                checked=checked,
            )
        )
