"""The full rebuild's fast paths give the same files as the plain ones: worker processes
build byte-for-byte the files one process builds, and the month of ``created`` read
without parsing (mid-month timestamps) always equals :func:`month_of`."""

from __future__ import annotations

import shutil

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jira_pipeline.core.dates import month_of
from jira_pipeline.storage import DataRoot, atomic_write_bytes
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline.transform.rows import created_month
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline_tests.fixtures.transform_data import (
    parquet_bytes,
    variant,
    write_field_list,
    write_raw,
)


def test_worker_processes_write_the_files_one_process_writes(data_root: DataRoot):
    """Three months of issues, one tombstone, one unreadable file and one compact file
    (no month hint): two workers and one process give identical files and summaries."""
    root = data_root
    write_field_list(root)
    for number in range(1, 13):
        month = 1 + number % 3
        write_raw(root, variant(f"SUP-{number}", f"2024-0{month}-1{number % 9}T10:00:00.000+0100",
                                comments=number % 4))
    write_raw(root, {**variant("SUP-13", "2024-02-05T10:00:00.000+0000"),
                     "_deleted_at": "2024-03-01T00:00:00.000+0000"})
    atomic_write_bytes(root.issue_file("SUP-14"), b'{"key": "SUP-14", "fields": {')
    compact = variant("SUP-15", "2024-03-01T00:30:00.000+0100")  # UTC: February
    atomic_write_bytes(root.issue_file("SUP-15"), orjson.dumps(compact))

    alone = rebuild_all(root, progress=False, workers=1)
    expected = parquet_bytes(root)
    shutil.rmtree(root.parquet)  # cold again: no month files, no month index
    parallel = rebuild_all(root, progress=False, workers=2)

    assert parquet_bytes(root) == expected
    assert len(expected) == len(TABLES) * 3  # every table × three months
    assert (parallel.issues_written, sorted(parallel.issues_skipped)) == (
        alone.issues_written, sorted(alone.issues_skipped)) == (13, ["SUP-14"])


@pytest.mark.parametrize(("created", "month"), [
    ("2024-03-15T10:00:00.000+0100", "2024-03"),
    ("2024-03-01T00:30:00.000+0100", "2024-02"),  # the 1st: an offset may cross back
    ("2024-01-31T23:30:00.000-0100", "2024-02"),  # the 31st: or forward
    ("2024-02-27T23:59:59.999-2359", "2024-02"),
    ("2024-02-10T10:00:00Z", "2024-02"),
    ("2024-02-10", "2024-02"),  # a bare date: parsed, not matched
])
def test_created_month_examples(created: str, month: str):
    assert created_month(created) == month_of(created) == month


def _month_or_error(function, created: str) -> str:
    try:
        return function(created)
    except (ValueError, TypeError, OverflowError) as exc:
        return type(exc).__name__


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.builds(
        "{}-{}-{}{}{}:{}:{}{}{}".format,
        st.sampled_from(["0000", "0999", "1000", "2024", "9999"]),
        st.sampled_from(["00", "01", "02", "12", "13"]),
        st.sampled_from(["00", "01", "02", "15", "27", "28", "31", "32"]),
        st.sampled_from(["T", " ", "t"]),
        st.sampled_from(["00", "23", "24"]),
        st.sampled_from(["00", "59", "60"]),
        st.sampled_from(["00", "59", "60"]),
        st.sampled_from(["", ".1", ".123", ".123456", ".1234567", "."]),
        st.sampled_from(["", "Z", "+0000", "-2359", "+2400", "+01:00", "+01", "z", "+0100x"]),
    ),
    st.text(alphabet="0123456789-T:.+Z ٢", max_size=30),
))
def test_created_month_equals_month_of(created: str):
    assert _month_or_error(created_month, created) == _month_or_error(month_of, created)
