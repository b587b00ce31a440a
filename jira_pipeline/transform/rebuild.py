"""Full and month-wide rebuilds of the tables from the raw store.

The raw files are first grouped by month (cached per file by mtime and size in the month
index; a cold file costs a byte scan for ``fields.created``, not a parse), then each month
is built and written on its own, so memory is bounded by the largest months whatever the
store's size. Months are independent, so large rebuilds build and write them in worker
processes (started first, so their start-up overlaps the grouping), largest first, so
that no worker is left with a big month at the end while the others idle. Rows come from
the same functions as the incremental upsert and files are sorted by primary key, so
both paths give identical tables."""

from __future__ import annotations

import contextlib
import functools
import itertools
import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from jira_pipeline.storage.paths import DataRoot, check_month
from jira_pipeline.storage.raw_store import iter_issue_files
from jira_pipeline.transform.dist import sync_dist
from jira_pipeline.transform.field_map import ResolvedFields
from jira_pipeline.transform.month_build import (
    WrittenMonth,
    rebuild_month_files,
    start_worker,
    warm_up,
    without_cyclic_gc,
)
from jira_pipeline.transform.month_files import MonthResult, months_in
from jira_pipeline.transform.month_index import MonthIndex
from jira_pipeline.transform.raw_source import raw_months
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline.transform.upsert import UpsertSummary, apply_issues, resolve_site_fields

PARALLEL_FROM_ISSUES = 5_000  # below this, starting worker processes costs more than it saves


@dataclass
class RebuildSummary(UpsertSummary):
    seconds: float = 0.0


def rebuild_month(root: DataRoot, month: str, *, dist_dir: Path | None = None) -> MonthResult:
    """Rewrite one month's files from every raw issue created in that month (and
    re-file issues the month held that now belong elsewhere, or were deleted)."""
    month = check_month(month)
    with MonthIndex(root) as index:
        keys = set(raw_months(root, index).get(month, ()))
        keys |= index.keys_in_month(month)
    summary = apply_issues(root, keys, replace_months=frozenset({month}), dist_dir=dist_dir)
    return summary.months[month]


def rebuild_all(
    root: DataRoot, *, progress: bool = True, dist_dir: Path | None = None,
    workers: int | None = None, tables: tuple[str, ...] = TABLES,
) -> RebuildSummary:
    """Rebuild every month file from the raw store, month by month. ``workers`` processes
    build and write months in parallel (default: one per CPU, at most 4, and one for small
    stores), each holding one month at a time. ``tables``: every table (the benchmark
    measures the rebuild without the derived ones; the others' files are then removed)."""
    with without_cyclic_gc():
        began = time.perf_counter()
        summary = RebuildSummary()
        _rebuild_months(root, summary, progress=progress, workers=workers, tables=tables)
        if dist_dir is not None:
            sync_dist(root, dist_dir)
        summary.seconds = time.perf_counter() - began
        return summary


def _rebuild_months(root: DataRoot, summary: RebuildSummary, *, progress: bool,
                    workers: int | None, tables: tuple[str, ...]) -> None:
    resolved = resolve_site_fields(root)
    misplaced: list[str] = []
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if _has_many_raw_files(root) else 1
    with _worker_pool(workers) as pool, MonthIndex(root) as index:
        map_files = map if pool is None else functools.partial(pool.map, chunksize=500)
        by_month = raw_months(root, index, map_files=map_files)
        summary.issues_skipped += by_month.pop(None, [])
        on_disk = set().union(*(months_in(root.table_dir(t)) for t in TABLES))
        jobs = [(m, sorted(by_month.pop(m, ()))) for m in
                sorted(set(by_month) | index.months() | on_disk)]
        total = sum(len(keys) for _, keys in jobs)
        with tqdm(total=total, unit="issue", disable=not progress, desc="transform") as bar:
            for month, keys, written in _written_months(root, jobs, resolved, pool, tables):
                summary.months[month] = written.result
                summary.issues_written += written.written
                summary.issues_skipped += written.skipped
                misplaced += written.misplaced
                bar.update(len(keys))
    summary.months = dict(sorted(summary.months.items()))
    if misplaced:  # changed while we ran: file them where they belong now
        moved = apply_issues(root, misplaced)
        summary.months.update(moved.months)
        summary.issues_written += moved.issues_written


def _has_many_raw_files(root: DataRoot) -> bool:
    """At least :data:`PARALLEL_FROM_ISSUES` raw records (stops counting there)."""
    files = itertools.islice(iter_issue_files(root), PARALLEL_FROM_ISSUES)
    return sum(1 for _ in files) >= PARALLEL_FROM_ISSUES


@contextlib.contextmanager
def _worker_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """``workers`` spawned processes (no fork: the caller may run threads), or ``None``
    for one. They are started at once: their interpreters start up and import the
    transform while this process groups the raw files by month."""
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=start_worker) as pool:
        for _ in range(workers):  # one process is spawned per task while none is idle
            pool.submit(warm_up)
        yield pool


def _written_months(
    root: DataRoot, jobs: list[tuple[str, list[str]]], resolved: ResolvedFields | None,
    pool: ProcessPoolExecutor | None, tables: tuple[str, ...],
) -> Iterator[tuple[str, list[str], WrittenMonth]]:
    """:func:`rebuild_month_files` for every job: here in job order, or in the processes of
    ``pool``, largest month first, as they finish."""
    if pool is None:
        for month, keys in jobs:
            yield month, keys, rebuild_month_files(root, month, keys, resolved, tables)
        return
    futures = {pool.submit(rebuild_month_files, root, month, keys, resolved, tables):
               (month, keys)
               for month, keys in sorted(jobs, key=lambda job: -len(job[1]))}
    for future in as_completed(futures):
        yield *futures[future], future.result()
