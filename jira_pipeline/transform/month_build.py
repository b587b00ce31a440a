"""One month's six tables built in memory from raw issue files: the work a full rebuild
hands to its worker processes.

A module of its own so that a worker imports only what building needs (rows, raw
files, Arrow), not the rebuild's writing, locking and progress machinery: each worker
starts up in about half the time."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from jira_pipeline.storage.paths import TABLES, DataRoot
from jira_pipeline.transform.field_map import ResolvedFields
from jira_pipeline.transform.raw_source import UnreadableRawIssue, attachment_dirs, read_raw_issue
from jira_pipeline.transform.rows import (
    Rows,
    add_issue_rows,
    empty_rows,
    is_deleted,
    issue_month,
    to_tables,
)
from jira_pipeline.transform.schemas import SCHEMAS

CHUNK_ISSUES = 500  # issues turned into Arrow at a time: bounds the Python row objects


@dataclass
class BuiltMonth:
    """One month built from the raw store, ready to be written."""

    tables: dict[str, pa.Table]
    placed: set[str] = field(default_factory=set)  # issues whose rows are in ``tables``
    misplaced: list[str] = field(default_factory=list)  # created changed since grouping
    skipped: list[str] = field(default_factory=list)  # unreadable raw files

    def __getstate__(self) -> dict[str, Any]:
        """A worker sends its tables to the rebuild as Arrow IPC streams: about three times
        cheaper to write and read back than pickled tables (measured on simulated months),
        and read back without a copy."""
        state = dict(self.__dict__)
        state["tables"] = {name: _ipc_bytes(table) for name, table in self.tables.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["tables"] = {name: pa.ipc.open_stream(data).read_all()
                           for name, data in state["tables"].items()}
        self.__dict__.update(state)


def build_month(root: DataRoot, month: str, keys: list[str],
                resolved: ResolvedFields | None) -> BuiltMonth:
    """Arrow tables of ``month`` from the raw issues ``keys``, ``CHUNK_ISSUES`` at a time
    (a module-level function: worker processes run it)."""
    with without_cyclic_gc():
        chunks: dict[str, list[pa.Table]] = {t: [] for t in TABLES}
        built = BuiltMonth(tables={})
        folders = attachment_dirs(root)
        for start in range(0, len(keys), CHUNK_ISSUES):
            rows = empty_rows()
            for key in keys[start:start + CHUNK_ISSUES]:
                _add_issue(built, rows, root, key, month, resolved, folders)
            for name, table in to_tables(rows).items():
                chunks[name].append(table)
        built.tables = {name: pa.concat_tables(parts) if parts else SCHEMAS[name].empty_table()
                        for name, parts in chunks.items()}
        return built


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


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
