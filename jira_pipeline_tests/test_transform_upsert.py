"""Incremental upsert, month rebuilds and JIRA_DIST_DIR on real Parquet files: months
follow ``created`` in UTC, moved and deleted issues leave nothing behind, unchanged files
are not rewritten, an interrupted write keeps the previous file, a lost index recovers."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from jira_pipeline.storage import DataRoot, atomic_write_bytes
from jira_pipeline.transform import month_files
from jira_pipeline.transform import month_index as month_index_module
from jira_pipeline.transform.month_index import index_path
from jira_pipeline.transform.rebuild import rebuild_all, rebuild_month
from jira_pipeline.transform.schemas import SCHEMAS, TABLES
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline.transform.views import read_table
from jira_pipeline_tests.fixtures.transform_data import variant, write_field_list, write_raw


def months_of(root: DataRoot, table: str = "issues") -> list[str]:
    return sorted(p.stem for p in root.table_dir(table).glob("*.parquet"))


def keys_in(root: DataRoot, month: str, table: str = "issues") -> list[str]:
    path = root.month_file(table, month)
    return pq.read_table(path, columns=["issue_key"]).column(0).to_pylist()


def stat_all(root: DataRoot) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root.parquet)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.parquet.glob("*/*.parquet")
    }


@pytest.fixture
def root(data_root: DataRoot) -> DataRoot:
    write_field_list(data_root)
    return data_root


def test_issues_go_to_the_utc_month_of_created(root: DataRoot):
    write_raw(root, variant("SUP-1", "2024-03-01T00:30:00.000+0100"))  # Feb in UTC
    write_raw(root, variant("SUP-2", "2024-03-15T12:00:00.000-0500"))
    summary = upsert_issues(root, ["SUP-1", "SUP-2"])
    assert summary.issues_written == 2 and set(summary.months) == {"2024-02", "2024-03"}
    assert keys_in(root, "2024-02") == ["SUP-1"] and keys_in(root, "2024-03") == ["SUP-2"]
    for table in TABLES:  # children live in the parent's month
        assert months_of(root, table) == ["2024-02", "2024-03"]
    assert set(keys_in(root, "2024-02", "comments")) == {"SUP-1"}
    result = summary.months["2024-02"]
    assert result.rows["comments"] == 3 and result.paths["issues"] == root.month_file(
        "issues", "2024-02"
    )
    assert result.bytes["issues"] == root.month_file("issues", "2024-02").stat().st_size


def test_update_replaces_rows_and_move_leaves_nothing_behind(root: DataRoot):
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000"))
    write_raw(root, variant("SUP-2", "2024-01-11T10:00:00.000+0000", comments=2))
    upsert_issues(root, ["SUP-1", "SUP-2"])
    write_raw(root, variant("SUP-2", "2024-01-11T10:00:00.000+0000", summary="new", comments=1))
    upsert_issues(root, ["SUP-2"])
    issues = read_table(root, "issues").to_pylist()
    assert [(r["issue_key"], r["summary"]) for r in issues] == [
        ("SUP-1", "Issue SUP-1"),
        ("SUP-2", "new"),
    ]
    comment_keys = read_table(root, "comments").column("issue_key").to_pylist()
    assert comment_keys.count("SUP-2") == 1 and comment_keys.count("SUP-1") == 3

    write_raw(root, variant("SUP-2", "2024-05-01T00:00:00.000+0000"))  # created moved
    summary = upsert_issues(root, ["SUP-2"])
    assert set(summary.months) == {"2024-01", "2024-05"}
    for table in TABLES:
        for month in months_of(root, table):
            keys = keys_in(root, month, table)
            assert ("SUP-2" in keys) == (month == "2024-05")


def test_tombstoned_and_vanished_issues_disappear_and_empty_months_are_removed(root: DataRoot):
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000"))
    write_raw(root, variant("SUP-2", "2024-02-10T10:00:00.000+0000"))
    upsert_issues(root, ["SUP-1", "SUP-2"])
    tombstone = variant("SUP-1", "2024-01-10T10:00:00.000+0000")
    tombstone["_deleted_at"] = "2024-06-01T00:00:00+00:00"
    write_raw(root, tombstone)
    summary = upsert_issues(root, ["SUP-1"])
    assert summary.issues_removed == 1
    for table in TABLES:
        assert "2024-01" not in months_of(root, table)
    assert summary.months["2024-01"].paths["issues"] is None
    root.issue_file("SUP-2").unlink()
    upsert_issues(root, ["SUP-2"])
    assert all(months_of(root, table) == [] for table in TABLES)


def test_unchanged_files_are_not_rewritten(root: DataRoot):
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000"))
    write_raw(root, variant("SUP-2", "2024-02-10T10:00:00.000+0000"))
    upsert_issues(root, ["SUP-1", "SUP-2"])
    before = stat_all(root)
    summary = upsert_issues(root, ["SUP-1", "SUP-2"])
    assert stat_all(root) == before
    assert all(not r.changed for r in summary.months.values())
    issue = variant("SUP-1", "2024-01-10T10:00:00.000+0000")
    issue["fields"]["issuelinks"] = issue["fields"]["issuelinks"][:1]
    write_raw(root, issue)
    summary = upsert_issues(root, ["SUP-1"])
    assert summary.months["2024-01"].changed == ["issues", "issuelinks"]
    after = stat_all(root)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"issues/2024-01.parquet", "issuelinks/2024-01.parquet"}


def test_a_rebuild_rewrites_only_the_files_whose_rows_or_schema_differ(root: DataRoot):
    """The rebuild compares each existing file column by column instead of reading it
    whole; what it decides must match what the upsert decides."""
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000"))
    write_raw(root, variant("SUP-2", "2024-02-10T10:00:00.000+0000"))
    upsert_issues(root, ["SUP-1", "SUP-2"])
    before = stat_all(root)
    rebuild_all(root, progress=False)
    assert stat_all(root) == before

    issue = variant("SUP-2", "2024-02-10T10:00:00.000+0000")
    issue["fields"]["issuelinks"] = []
    write_raw(root, issue)
    stale = root.month_file("comments", "2024-01")  # written before a column was added
    pq.write_table(pq.read_table(stale).drop_columns(["body"]), stale)
    before = stat_all(root)
    rebuild_all(root, progress=False)
    after = stat_all(root)
    assert {k for k in after.keys() | before.keys() if after.get(k) != before.get(k)} == {
        "issues/2024-02.parquet", "issuelinks/2024-02.parquet", "comments/2024-01.parquet"}
    assert pq.read_schema(stale).equals(SCHEMAS["comments"], check_metadata=False)
    assert not root.month_file("issuelinks", "2024-02").exists()

    damaged = root.month_file("changelog", "2024-01")
    rows = pq.read_table(damaged).num_rows
    damaged.write_bytes(damaged.read_bytes()[:100])
    rebuild_all(root, progress=False)  # the rebuild is also the repair
    assert pq.read_table(damaged).num_rows == rows > 0


def test_interrupted_write_leaves_previous_file(root: DataRoot, monkeypatch):
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000", summary="old"))
    upsert_issues(root, ["SUP-1"])
    path = root.month_file("issues", "2024-01")
    before = path.read_bytes()
    real_write = pq.write_table

    def write_half_then_fail(table, where, **kwargs):
        real_write(table, where, **kwargs)
        with open(where, "r+b") as handle:
            handle.truncate(os.path.getsize(where) // 2)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(month_files.pq, "write_table", write_half_then_fail)
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000", summary="new"))
    with pytest.raises(OSError, match="simulated"):
        upsert_issues(root, ["SUP-1"])
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    monkeypatch.undo()
    upsert_issues(root, ["SUP-1"])  # the retry converges
    assert read_table(root, "issues").column("summary").to_pylist() == ["new"]


def test_lost_index_is_rebuilt_from_the_month_files(root: DataRoot):
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000"))
    upsert_issues(root, ["SUP-1"])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index_path(root)}{suffix}").unlink(missing_ok=True)
    write_raw(root, variant("SUP-1", "2024-04-10T10:00:00.000+0000"))
    upsert_issues(root, ["SUP-1"])
    assert months_of(root) == ["2024-04"]


def test_rebuild_month_reads_every_raw_issue_of_the_month(root: DataRoot):
    for number, created in ((1, "2024-01-05"), (2, "2024-01-20"), (3, "2024-02-01")):
        write_raw(root, variant(f"SUP-{number}", f"{created}T10:00:00.000+0000"))
    result = rebuild_month(root, "2024-01")
    assert result.rows["issues"] == 2 and keys_in(root, "2024-01") == ["SUP-1", "SUP-2"]
    assert months_of(root) == ["2024-01"]  # other months are not its business
    write_raw(root, variant("SUP-2", "2024-02-03T10:00:00.000+0000"))  # moved out
    result = rebuild_month(root, "2024-01-01")
    assert keys_in(root, "2024-01") == ["SUP-1"] and "SUP-2" in keys_in(root, "2024-02")


def test_files_have_the_declared_schema_in_every_month(root: DataRoot):
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000"))
    bare = {"key": "SUP-2", "fields": {"created": "2024-02-10T10:00:00.000+0000"}}
    write_raw(root, bare)  # an issue with (almost) nothing: all-null columns
    rebuild_all(root, progress=False)
    for table in ("issues",):
        schemas = [pq.read_schema(root.month_file(table, m)) for m in months_of(root, table)]
        assert len(schemas) == 2
        assert all(s.equals(SCHEMAS[table], check_metadata=False) for s in schemas)
    for table in TABLES:
        for month in months_of(root, table):
            schema = pq.read_schema(root.month_file(table, month))
            assert schema.equals(SCHEMAS[table], check_metadata=False)


def test_dist_dir_gets_changed_files_only(root: DataRoot, tmp_path: Path):
    dist = tmp_path / "dist"
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000"))
    write_raw(root, variant("SUP-2", "2024-02-10T10:00:00.000+0000"))
    upsert_issues(root, ["SUP-1", "SUP-2"], dist_dir=dist)
    copied = sorted(str(p.relative_to(dist)) for p in dist.glob("*/*.parquet"))
    assert copied == sorted(
        str(p.relative_to(root.parquet)) for p in root.parquet.glob("*/*.parquet")
    )
    assert (dist / "issues" / "2024-01.parquet").read_bytes() == root.month_file(
        "issues", "2024-01"
    ).read_bytes()

    def dist_stats() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(dist)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in dist.glob("*/*.parquet")
        }

    before = dist_stats()
    write_raw(root, variant("SUP-1", "2024-01-10T10:00:00.000+0000", summary="changed"))
    upsert_issues(root, ["SUP-1"], dist_dir=dist)
    after = dist_stats()
    assert {k for k in after if after[k] != before[k]} == {"issues/2024-01.parquet"}
    rebuild_all(root, progress=False, dist_dir=dist)  # same content: nothing rewritten
    assert dist_stats() == after

    root.issue_file("SUP-2").unlink()
    upsert_issues(root, ["SUP-2"], dist_dir=dist)
    assert not any(p.stem == "2024-02" for p in dist.glob("*/*.parquet"))


def test_month_hints_never_misfile_an_issue(root: DataRoot):
    """The rebuild groups raw files by a month read from the file's first bytes; a
    misleading hint (another depth-2 ``created`` before ``fields``) or none at all
    (compact JSON) still ends with the issue in its real month."""
    misleading = variant("SUP-1", "2024-02-10T10:00:00.000+0000")
    misleading = {"key": misleading["key"],
                  "names": {"created": "2023-01-01T00:00:00.000+0000"}, **misleading}
    write_raw(root, misleading)
    compact = variant("SUP-2", "2024-03-10T10:00:00.000+0000")
    atomic_write_bytes(root.issue_file("SUP-2"), orjson.dumps(compact))  # no indentation
    rebuild_all(root, progress=False)
    assert months_of(root) == ["2024-02", "2024-03"]
    assert keys_in(root, "2024-02") == ["SUP-1"] and keys_in(root, "2024-03") == ["SUP-2"]
    assert rebuild_month(root, "2024-03").rows["issues"] == 1


def test_a_newer_raw_version_upserted_meanwhile_is_never_overwritten(
    root: DataRoot, monkeypatch
):
    """Writer A reads version 1 and builds its rows outside the month lock; writer B saves
    version 2 and upserts it before A's write lands. A sees the raw file changed and applies
    it again: the tables end at version 2, as a rebuild would."""
    write_raw(root, variant("SUP-1", "2024-03-05T10:00:00.000+0000", summary="v1"))
    upsert_issues(root, ["SUP-1"])
    write_raw(root, variant("SUP-1", "2024-03-05T10:00:00.000+0000", summary="v2 of A"))
    real_lock = month_index_module.month_lock
    raced = []

    @contextlib.contextmanager
    def lock_after_writer_b(data_root, month):
        if not raced:  # writer B runs between A's read and A's write
            raced.append(month)
            write_raw(root, variant("SUP-1", "2024-03-05T10:00:00.000+0000", summary="B's v3"))
            upsert_issues(root, ["SUP-1"])
            assert read_table(root, "issues").column("summary").to_pylist() == ["B's v3"]
        with real_lock(data_root, month):
            yield

    monkeypatch.setattr(month_index_module, "month_lock", lock_after_writer_b)
    summary = upsert_issues(root, ["SUP-1"])
    assert raced == ["2024-03"] and summary.issues_written == 1
    assert read_table(root, "issues").column("summary").to_pylist() == ["B's v3"]


def test_raw_store_check_sees_changes_the_tables_have_not(root: DataRoot):
    """The month check compares the month's issue rows with the raw files the index knows,
    re-checked on disk: a tombstone, a moved ``created`` or a vanished file that no upsert
    has applied yet shows as a difference."""
    from jira_pipeline.orchestration.table_checks import issues_vs_raw

    for number in (1, 2, 3, 4):
        write_raw(root, variant(f"SUP-{number}", "2024-01-10T10:00:00.000+0000"))
    upsert_issues(root, ["SUP-1", "SUP-2", "SUP-3", "SUP-4"])
    assert issues_vs_raw(root, "2024-01") == {"missing_from_table": [], "not_in_raw_store": []}
    tombstone = variant("SUP-1", "2024-01-10T10:00:00.000+0000")
    tombstone["_deleted_at"] = "2024-06-01T00:00:00+00:00"
    write_raw(root, tombstone)
    write_raw(root, variant("SUP-2", "2024-05-01T00:00:00.000+0000"))  # created moved
    root.issue_file("SUP-3").unlink()
    assert issues_vs_raw(root, "2024-01") == {
        "missing_from_table": [], "not_in_raw_store": ["SUP-1", "SUP-2", "SUP-3"]}
    upsert_issues(root, ["SUP-1", "SUP-2", "SUP-3"])
    assert issues_vs_raw(root, "2024-01") == {"missing_from_table": [], "not_in_raw_store": []}
    assert keys_in(root, "2024-01") == ["SUP-4"]
    assert issues_vs_raw(root, "2024-05") == {"missing_from_table": [], "not_in_raw_store": []}
