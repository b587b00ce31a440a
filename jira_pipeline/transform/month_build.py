"""One month rebuilt from raw issue files: its tables built in memory, then written
under the month's lock. The work a full rebuild hands to its worker processes.

A worker writes the month itself rather than sending the tables back: the Parquet
encoding then runs on every core, and nothing large crosses between processes. A module
of its own so that a worker imports only this, not the rebuild's grouping and progress
machinery."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform import month_files
from jira_pipeline.transform.field_map import ResolvedFields
from jira_pipeline.transform.month_files import MonthResult, sort_rows
from jira_pipeline.transform.month_index import MonthIndex, write_month_indexed
from jira_pipeline.transform.raw_source import UnreadableRawIssue, attachment_dirs, read_raw_issue
from jira_pipeline.transform.rows import (
    Rows,
    add_issue_rows,
    empty_rows,
    is_deleted,
    issue_month,
    to_tables,
)
from jira_pipeline.transform.schemas import SCHEMAS, TABLES

CHUNK_ISSUES = 500  # issues turned into Arrow at a time: bounds the Python row objects
# Months from this size give their freed heap back after each sort (return_freed_memory):
# the big months set the peak; in small ones the walk of malloc's heap only costs time.
TRIM_FROM_ISSUES = 2_000


@dataclass
class BuiltMonth:
    """One month built from the raw store, ready to be written."""

    tables: dict[str, pa.Table]
    placed: set[str] = field(default_factory=set)  # issues whose rows are in ``tables``
    misplaced: list[str] = field(default_factory=list)  # created changed since grouping
    skipped: list[str] = field(default_factory=list)  # unreadable raw files


@dataclass
class WrittenMonth:
    """What a rebuild learns from one month written (small: it crosses from a worker)."""

    result: MonthResult
    written: int  # issues whose rows the files now hold
    misplaced: list[str]  # created changed since grouping: to be filed where they belong
    skipped: list[str]  # unreadable raw files


def rebuild_month_files(root: DataRoot, month: str, keys: list[str],
                        resolved: ResolvedFields | None,
                        tables: tuple[str, ...] = TABLES) -> WrittenMonth:
    """Build ``month`` from the raw issues ``keys`` and replace its files (of tables not
    in ``tables``: removed); the month index learns the month's issues (a module-level
    function: worker processes run it)."""
    built = build_month(root, month, keys, resolved, tables)
    with MonthIndex(root) as index:
        result = write_month_indexed(index, month, built.tables, incoming=built.placed,
                                     drop_keys=None, presorted=True)
    return WrittenMonth(result, len(built.placed), built.misplaced, built.skipped)


def build_month(root: DataRoot, month: str, keys: list[str],
                resolved: ResolvedFields | None, tables: tuple[str, ...] = TABLES) -> BuiltMonth:
    """Arrow ``tables`` of ``month`` from the raw issues ``keys``, ``CHUNK_ISSUES`` at a
    time, each sorted by primary key (one table at a time: the unsorted chunks of a table
    are freed before the next is sorted)."""
    with without_cyclic_gc():
        chunks: dict[str, list[pa.Table]] = {t: [] for t in tables}
        built = BuiltMonth(tables={})
        folders = attachment_dirs(root)
        for start in range(0, len(keys), CHUNK_ISSUES):
            rows = empty_rows(tables)
            for key in keys[start:start + CHUNK_ISSUES]:
                _add_issue(built, rows, root, key, month, resolved, folders)
            for name, table in to_tables(rows).items():
                chunks[name].append(table)
        for name in list(chunks):
            parts = chunks.pop(name)
            built.tables[name] = (sort_rows(pa.concat_tables(parts), name) if parts
                                  else SCHEMAS[name].empty_table())
            del parts
            if len(keys) >= TRIM_FROM_ISSUES:
                return_freed_memory()
        return built


def return_freed_memory() -> None:
    """Give the pages of freed heap memory back to the system (glibc's ``malloc_trim``;
    nothing elsewhere). A month's chunks are hundreds of small Arrow buffers that
    ``malloc`` carves from its heap; freed after their table is sorted, they leave holes
    it keeps, so each sorted table used to add to the worker's resident memory: a
    45,000-issue month peaked at 496 MiB, with the trims at 397 MiB (measured, a few ms
    per call)."""
    trim = _glibc("malloc_trim")
    if trim is not None:
        trim(0)


def map_large_allocations() -> None:
    """Have ``malloc`` map every block of 128 KiB or more on its own, so that freeing it
    returns it to the system at once. By default glibc raises that threshold each time
    such a block is freed, after which big buffers (Parquet pages, Arrow columns) come
    from its heap and stay there: a worker comparing existing month files grew by ~6 MiB
    a month (294 MiB after 8 months of 8,800 issues; 247 MiB with this; a 45,000-issue
    month's peak 424 → 386 MiB, measured; same speed)."""
    set_option = _glibc("mallopt")
    if set_option is not None:
        set_option(_M_MMAP_THRESHOLD, 128 * 1024)


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


@functools.cache
def _glibc(name: str):
    """The C library's function ``name``, or ``None`` where there is none (not glibc)."""
    library = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(library), name, None) if library else None


def start_worker() -> None:
    """Set up a rebuild worker process: Arrow allocates with the system allocator there.
    Its default (mimalloc) keeps a heap per thread, and each of the file-writing
    threads of ``write_month`` grew one: +90 MiB peak per worker writing the months of
    a 100,000-issue store, where ``malloc`` returns the memory (measured; same speed).
    A worker writes a month's files two at a time, not all eight: each file being
    encoded holds its own buffers (-45 MiB peak for a 9,000-issue month, measured), and
    the two workers already keep both cores busy."""
    pa.set_memory_pool(pa.system_memory_pool())
    map_large_allocations()
    month_files.FILE_THREADS = 2


def warm_up() -> None:
    """Nothing: a task that makes a new worker process import this module."""


def _add_issue(built: BuiltMonth, rows: Rows, root: DataRoot, key: str, month: str,
               resolved: ResolvedFields | None, folders: frozenset[str]) -> None:
    """The rows of raw issue ``key`` into ``rows``, or ``key`` onto one of ``built``'s
    lists. A function of its own so that the parsed issue is freed before the next one is
    parsed: the parser then reuses memory still in the CPU cache (about 15% faster than
    freeing each issue one issue late)."""
    try:
        issue = read_raw_issue(root, key, attachment_dirs=folders)
    except UnreadableRawIssue:
        built.skipped.append(key)
        return
    if issue is None or is_deleted(issue.data):
        return
    if issue_month(issue.data) != month:
        built.misplaced.append(key)
        return
    add_issue_rows(rows, issue, resolved)
    built.placed.add(key)


@contextlib.contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Rows are acyclic dicts freed by reference counting; the cyclic collector would
    only rescan the growing month's objects again and again (about 15% of the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
