"""Property: any sequence of saves, updates (including a changed ``created`` month) and
deletes, applied incrementally, gives the same tables as a full rebuild."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline.transform.views import read_table
from jira_pipeline_tests.fixtures.transform_data import variant, write_field_list, write_raw

KEYS = [f"SUP-{n}" for n in range(1, 6)]
# 00:30 at +0100 on the 1st belongs to the previous month in UTC
CREATED = [
    "2024-01-15T10:00:00.000+0000",
    "2024-02-01T00:30:00.000+0100",
    "2024-02-20T23:30:00.000-0500",
    "2024-03-03T08:00:00.000+0530",
]

operations = st.lists(
    st.tuples(
        st.one_of(
            st.tuples(
                st.just("save"),
                st.sampled_from(KEYS),
                st.sampled_from(CREATED),
                st.integers(0, 3),
                st.text(max_size=5),
            ),
            st.tuples(st.just("delete"), st.sampled_from(KEYS)),
            st.tuples(st.just("tombstone"), st.sampled_from(KEYS)),
        ),
        st.booleans(),  # upsert what is pending right after this step
    ),
    min_size=1,
    max_size=10,
)


def snapshot(root: DataRoot) -> dict[str, list[dict]]:
    return {table: read_table(root, table).to_pylist() for table in TABLES}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(operations)
def test_incremental_equals_rebuild(ops: list[tuple[tuple, bool]]):
    with tempfile.TemporaryDirectory() as tmp:
        root = DataRoot(Path(tmp) / "data")
        write_field_list(root)
        pending: set[str] = set()
        for op, flush in ops:
            if op[0] == "save":
                _, key, created, comments, summary = op
                write_raw(root, variant(key, created, summary=summary or None, comments=comments))
            elif op[0] == "delete":
                root.issue_file(op[1]).unlink(missing_ok=True)
            elif root.issue_file(op[1]).exists():
                issue = variant(op[1], CREATED[0])
                issue["_deleted_at"] = "2024-06-01T00:00:00+00:00"
                write_raw(root, issue)
            pending.add(op[1])
            if flush:
                upsert_issues(root, pending)
                pending.clear()
        upsert_issues(root, pending)
        incremental = snapshot(root)

        fresh = DataRoot(Path(tmp) / "fresh")
        shutil.copytree(root.raw, fresh.raw)
        rebuild_all(fresh, progress=False)
        assert snapshot(fresh) == incremental
        rebuild_all(root, progress=False)  # in place, over the incremental files
        assert snapshot(root) == incremental


def test_rebuild_in_worker_processes_equals_serial(tmp_path: Path):
    serial = DataRoot(tmp_path / "serial")
    write_field_list(serial)
    for number in range(1, 13):
        write_raw(serial, variant(f"SUP-{number}", CREATED[number % len(CREATED)],
                                  comments=number % 4))
    parallel = DataRoot(tmp_path / "parallel")
    shutil.copytree(serial.raw, parallel.raw)
    rebuild_all(serial, progress=False, workers=1)
    summary = rebuild_all(parallel, progress=False, workers=2)
    assert summary.issues_written == 12 and len(summary.months) == 3
    assert snapshot(parallel) == snapshot(serial)
