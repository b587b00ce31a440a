"""The raw issue store: atomic, newest-wins writes, overlays that survive refetches,
tombstones, and attachment names that can never leave ``attachments/KEY/``."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jira_pipeline.cli import main as cli_main
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.raw_format import (
    HEADER_READ_BYTES,
    RECORD_HEADER,
    ZSTD_MAGIC,
    encode_record,
    record_header,
    record_json,
)
from jira_pipeline.storage.raw_store import (
    MAX_ATTACHMENT_NAME_BYTES,
    attachment_path,
    is_stored_tombstone,
    is_tombstone,
    iter_issue_keys,
    load_field_list,
    load_issue,
    migrate_issue_files,
    patch_issue,
    remove_attachments_except,
    sanitize_file_name,
    save_field_list,
    save_issue,
    tombstone_issue,
)


def make_issue(key: str = "SUPPORT-1", updated: str = "2024-05-02T10:00:00.000+0000", **fields):
    return {
        "id": "10001",
        "key": key,
        "fields": {"summary": "Printer on fire", "updated": updated, **fields},
    }


def test_save_then_load_round_trips_with_overlays(data_root: DataRoot) -> None:
    links = [{"id": 1, "object": {"url": "https://example.com"}}]
    sla = [{"name": "Time to resolution", "completedCycles": []}]
    result = save_issue(data_root, make_issue(), remote_links=links, sla=sla)
    assert result.written and not result.skipped_older
    stored = load_issue(data_root, "SUPPORT-1")
    assert stored["fields"]["summary"] == "Printer on fire"
    assert stored["_remote_links"] == links
    assert stored["_sla"] == sla
    assert stored["_fetched_at"].endswith("+00:00")
    assert result.path.stat().st_mode & 0o777 == 0o640
    assert result.path == data_root.issues_dir / "SUPPORT" / "0" / "SUPPORT-1.json.zst"
    assert [p.name for p in result.path.parent.iterdir()] == ["SUPPORT-1.json.zst"]


def test_an_older_copy_never_replaces_a_newer_one(data_root: DataRoot) -> None:
    save_issue(data_root, make_issue(updated="2024-05-02T12:00:00.000+0200", summary="new"))
    # 09:30 UTC is before 10:00 UTC, whatever the offsets say textually.
    older = make_issue(updated="2024-05-02T11:30:00.000+0200", summary="old")
    result = save_issue(data_root, older)
    assert result.skipped_older and not result.written
    assert load_issue(data_root, "SUPPORT-1")["fields"]["summary"] == "new"
    assert save_issue(data_root, older, force=True).written
    assert load_issue(data_root, "SUPPORT-1")["fields"]["summary"] == "old"


def test_a_refetch_keeps_the_sla_overlay_and_links_unless_given(data_root: DataRoot) -> None:
    save_issue(data_root, make_issue(), remote_links=[{"id": 7}], sla=[{"name": "TTR"}])
    save_issue(data_root, make_issue(updated="2024-05-03T10:00:00.000+0000"))
    stored = load_issue(data_root, "SUPPORT-1")
    assert stored["_sla"] == [{"name": "TTR"}]
    assert stored["_remote_links"] == [{"id": 7}]
    save_issue(data_root, make_issue(updated="2024-05-03T10:00:00.000+0000"), remote_links=[])
    assert load_issue(data_root, "SUPPORT-1")["_remote_links"] == []


def test_underscore_keys_from_the_payload_are_not_trusted(data_root: DataRoot) -> None:
    issue = {**make_issue(), "_deleted_at": "2020-01-01", "_sla": ["forged"]}
    save_issue(data_root, issue)
    stored = load_issue(data_root, "SUPPORT-1")
    assert "_deleted_at" not in stored and "_sla" not in stored


def test_patch_reports_change_only_when_content_changes(data_root: DataRoot) -> None:
    save_issue(data_root, make_issue(), sla=[{"name": "TTR", "ongoingCycle": {"breached": False}}])
    assert not patch_issue(
        data_root, "SUPPORT-1", sla=[{"name": "TTR", "ongoingCycle": {"breached": False}}]
    )
    new_sla = [{"name": "TTR", "ongoingCycle": {"breached": True}}]
    before = load_issue(data_root, "SUPPORT-1")
    assert patch_issue(data_root, "SUPPORT-1", sla=new_sla, dry_run=True)
    assert load_issue(data_root, "SUPPORT-1") == before
    assert patch_issue(data_root, "SUPPORT-1", sla=new_sla)
    assert load_issue(data_root, "SUPPORT-1")["_sla"] == new_sla
    stale = {"updated": "2024-01-01T00:00:00.000+0000", "summary": "stale"}
    assert not patch_issue(data_root, "SUPPORT-1", fields=stale)
    assert not patch_issue(data_root, "NOPE-1", sla=new_sla)


def test_tombstone_keeps_the_issue_and_removes_its_attachments(data_root: DataRoot) -> None:
    save_issue(data_root, make_issue())
    file = attachment_path(data_root, "SUPPORT-1", "10100", "log.txt")
    file.parent.mkdir(parents=True)
    file.write_bytes(b"x")
    assert tombstone_issue(data_root, "SUPPORT-1")
    stored = load_issue(data_root, "SUPPORT-1")
    assert is_tombstone(stored) and stored["fields"]["summary"] == "Printer on fire"
    assert is_stored_tombstone(data_root, "SUPPORT-1")  # told by the record's header
    assert not file.parent.exists()
    assert not tombstone_issue(data_root, "SUPPORT-1")  # already one
    assert not tombstone_issue(data_root, "SUPPORT-2")  # never stored: nothing to mark
    assert load_issue(data_root, "SUPPORT-2") is None
    # A later successful fetch brings it back (it was a permission problem after all).
    assert save_issue(data_root, make_issue(updated="2024-01-01T00:00:00.000+0000")).written
    assert not is_tombstone(load_issue(data_root, "SUPPORT-1"))
    assert not is_stored_tombstone(data_root, "SUPPORT-1")
    assert not is_stored_tombstone(data_root, "SUPPORT-2")


def test_concurrent_saves_leave_the_newest_and_valid_json(data_root: DataRoot) -> None:
    stamps = [f"2024-05-02T10:{minute:02d}:00.000+0000" for minute in range(40)]
    threads = [
        threading.Thread(target=save_issue, args=(data_root, make_issue(updated=s)))
        for s in reversed(stamps)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    raw = record_json(data_root.issue_file("SUPPORT-1").read_bytes())
    assert orjson.loads(raw)["fields"]["updated"] == stamps[-1]


def test_iter_issue_keys_lists_only_issue_files(data_root: DataRoot) -> None:
    for key in ("ENG-2", "SUPPORT-10", "SUPPORT-9"):
        save_issue(data_root, make_issue(key))
    (data_root.issues_dir / "notes.json").write_text("{}")
    (data_root.issues_dir / "SUPPORT" / "0" / ".SUPPORT-1.json.zst.abc.tmp").write_text("{")
    (data_root.issues_dir / "SUPPORT" / "0" / "ENG-3.json.zst").write_text("{}")  # misfiled
    (data_root.issues_dir / "SUPPORT" / "7").mkdir()
    assert list(iter_issue_keys(data_root)) == ["ENG-2", "SUPPORT-10", "SUPPORT-9"]


def test_corrupt_issue_file_reads_as_absent(data_root: DataRoot) -> None:
    data_root.issue_file("SUPPORT-3").parent.mkdir(parents=True)
    data_root.issue_file("SUPPORT-3").write_text('{"key": "SUPPORT-3", "fie')
    assert load_issue(data_root, "SUPPORT-3") is None


def test_field_list_cache_round_trips(data_root: DataRoot) -> None:
    assert load_field_list(data_root) is None
    fields = [{"id": "customfield_10033", "name": "Time to resolution"}]
    path = save_field_list(data_root, fields)
    assert path.parent == data_root.state_dir
    assert load_field_list(data_root) == fields


@pytest.mark.parametrize("bad_key", ["../etc", "support-1", "SUPPORT-1/../../x", "", "A-1\n"])
def test_bad_keys_never_become_paths(data_root: DataRoot, bad_key: str) -> None:
    with pytest.raises(ValueError):
        load_issue(data_root, bad_key)
    with pytest.raises(ValueError):
        save_issue(data_root, make_issue(bad_key))
    with pytest.raises(ValueError):
        attachment_path(data_root, bad_key, "1", "a.txt")


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("..", "attachment"),
        ("", "attachment"),
        ("evil\x00.png", "evil.png"),
        ("line\nbreak\r\t.txt", "linebreak.txt"),
        (".bashrc", "bashrc"),
        ("ﬁle.txt", "file.txt"),  # NFKC folds the ligature
        ("Ｆｕｌｌ．ｐｄｆ", "Full.pdf"),  # full-width letters and dot
        ("résumé 2024.pdf", "résumé 2024.pdf"),
        ("a/b\u202eexe.txt", "bexe.txt"),  # right-to-left override dropped
        ("rm -rf $(x);`y`.sh", "rm -rf _(x)__y_.sh"),
    ],
)
def test_hostile_attachment_names_are_sanitised(hostile: str, expected: str) -> None:
    assert sanitize_file_name(hostile) == expected


def test_over_long_names_are_capped_in_bytes_keeping_the_extension() -> None:
    name = sanitize_file_name("é" * 300 + ".tar.gz")
    assert len(name.encode()) <= MAX_ATTACHMENT_NAME_BYTES
    assert name.endswith(".gz") and name.startswith("é")
    assert sanitize_file_name("x" * 1000).startswith("x")


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=0, max_size=400))
def test_any_name_stays_inside_the_issue_folder(tmp_path_factory, name: str) -> None:
    root = DataRoot(tmp_path_factory.getbasetemp() / "hyp")
    path = attachment_path(root, "SUPPORT-1", "10100", name)
    folder = root.issue_attachments_dir("SUPPORT-1")
    assert path.parent == folder
    assert path.name.startswith("10100_")
    assert len(path.name.encode()) < 255
    assert "\x00" not in path.name and "/" not in path.name


def test_attachment_ids_must_be_numeric(data_root: DataRoot) -> None:
    for bad in ("../1", "1/2", "abc", "", None, -1):
        with pytest.raises(ValueError):
            attachment_path(data_root, "SUPPORT-1", bad, "a.txt")


def test_remove_attachments_except_drops_unwanted_and_stale_temp_files(
    data_root: DataRoot,
) -> None:
    folder = data_root.issue_attachments_dir("SUPPORT-1")
    folder.mkdir(parents=True)
    for name in ("1_keep.txt", "2_gone.txt", ".1_keep.txt.x.tmp"):
        (folder / name).write_bytes(b"x")
    removed = remove_attachments_except(data_root, "SUPPORT-1", [folder / "1_keep.txt"])
    assert sorted(p.name for p in removed) == [".1_keep.txt.x.tmp", "2_gone.txt"]
    assert os.listdir(folder) == ["1_keep.txt"]


def test_save_requires_a_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_issue(DataRoot(tmp_path), {"fields": {}})


def test_records_are_compressed_json_with_created_first(data_root: DataRoot) -> None:
    issue = make_issue(created="2024-03-01T08:00:00.000+0000", description="x" * 5000)
    path = save_issue(data_root, issue).path
    data = path.read_bytes()
    assert data.startswith(RECORD_HEADER) and len(data) < 1000  # 5,000 x's compress away
    header = record_header(data[:HEADER_READ_BYTES])  # read without decompressing
    assert header == {"created": "2024-03-01T08:00:00.000+0000"}
    assert ZSTD_MAGIC in data[:HEADER_READ_BYTES]
    text = record_json(data)
    assert text.startswith(b'{"id":"10001","key":"SUPPORT-1","fields":{"created":"2024-03-01')
    assert orjson.loads(text)["fields"] == {**issue["fields"]}


def test_earlier_layout_is_read_then_replaced_on_the_next_write(data_root: DataRoot) -> None:
    old = {**make_issue(summary="from the old layout"), "_remote_links": [{"id": 7}]}
    legacy = data_root.legacy_issue_file("SUPPORT-1")
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(orjson.dumps(old, option=orjson.OPT_INDENT_2))
    assert legacy == data_root.issues_dir / "SUPPORT-1.json"
    assert load_issue(data_root, "SUPPORT-1")["fields"]["summary"] == "from the old layout"
    assert list(iter_issue_keys(data_root)) == ["SUPPORT-1"]
    # an older copy still loses against the old-layout record: newest wins across layouts
    stale = make_issue(updated="2024-01-01T00:00:00.000+0000", summary="stale")
    assert save_issue(data_root, stale).skipped_older and legacy.exists()
    assert save_issue(data_root, make_issue(updated="2024-06-01T00:00:00.000+0000")).written
    assert not legacy.exists()
    stored = load_issue(data_root, "SUPPORT-1")
    assert stored["_remote_links"] == [{"id": 7}]  # overlays carried over
    assert list(iter_issue_keys(data_root)) == ["SUPPORT-1"]


def test_migrate_rewrites_every_old_record_once(data_root: DataRoot) -> None:
    data_root.issues_dir.mkdir(parents=True)
    records = {key: {**make_issue(key), "_remote_links": []} for key in ("ENG-1", "SUP-2001")}
    for key, record in records.items():
        data_root.legacy_issue_file(key).write_bytes(orjson.dumps(record))
    data_root.legacy_issue_file("SUP-5").write_bytes(b'{"key": "SUP-5", "fie')  # corrupt
    assert migrate_issue_files(data_root) == 2
    assert migrate_issue_files(data_root) == 0
    for key, record in records.items():
        assert not data_root.legacy_issue_file(key).exists()
        assert data_root.issue_file(key).read_bytes() == encode_record(record)
    assert data_root.issue_file("SUP-2001").parent.name == "2"
    assert data_root.legacy_issue_file("SUP-5").exists()  # left for a later fetch to replace
    assert list(iter_issue_keys(data_root)) == ["ENG-1", "SUP-2001", "SUP-5"]


def test_corrupt_compressed_record_reads_as_absent(data_root: DataRoot) -> None:
    path = save_issue(data_root, make_issue()).path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert load_issue(data_root, "SUPPORT-1") is None
    path.write_bytes(ZSTD_MAGIC + b"\xe0" + b"\xff" * 8)  # claims an absurd size
    assert load_issue(data_root, "SUPPORT-1") is None


def test_raw_show_prints_the_record_as_json(
    data_root: DataRoot, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("JIRA_DATA_ROOT", str(data_root.root))
    save_issue(data_root, make_issue(summary="shown"), remote_links=[])
    assert cli_main(["raw", "show", "SUPPORT-1"]) == 0
    shown = orjson.loads(capsysbinary.readouterr().out)
    assert shown == load_issue(data_root, "SUPPORT-1")
    assert cli_main(["raw", "show", "SUPPORT-2"]) == 1
    assert b"not in the raw store" in capsysbinary.readouterr().err
    assert cli_main(["raw", "show", "../etc"]) == 2
