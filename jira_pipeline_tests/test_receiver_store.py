"""The receiver's storage path without HTTP: files written before they have a name, named
by hard links that never replace anything, directory fsyncs shared between threads, and
the dedup marker that is a second name of the pending event."""

from __future__ import annotations

import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from jira_pipeline.storage import DataRoot, atomic
from jira_pipeline.storage.atomic import FILE_MODE, atomic_create_bytes, fsync_dir_shared, new_file
from jira_pipeline.storage.inbox import list_pending
from jira_pipeline_tests.fixtures.receiver import all_files, json_files
from webhook_receiver.payload import parse_delivery
from webhook_receiver.store import DeliveryStore, StorageUnavailable, marker_event_id

THREADS = 16
BODY = orjson.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "SUPPORT-7"}})


@pytest.fixture(params=["O_TMPFILE", "hidden temp name"])
def unnamed_files(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of making a file before its name: Linux's unnamed files, and the hidden
    temp name used where the filesystem (NFS) has none."""
    if request.param == "hidden temp name":
        monkeypatch.setattr(atomic, "_O_TMPFILE", 0)
    elif not atomic._O_TMPFILE:
        raise RuntimeError("this Linux test machine must support O_TMPFILE")
    return request.param


def test_created_file_appears_whole_with_its_mode_and_nothing_else(
    tmp_path: Path, unnamed_files: str
) -> None:
    target = tmp_path / "new" / "event.json"
    atomic_create_bytes(target, b'{"a": 1}')
    assert target.read_bytes() == b'{"a": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == FILE_MODE
    assert all_files(tmp_path) == [target]  # no temp file left beside it


def test_create_never_replaces_an_existing_file(tmp_path: Path, unnamed_files: str) -> None:
    target = tmp_path / "event.json"
    target.write_bytes(b"first")
    with pytest.raises(FileExistsError):
        atomic_create_bytes(target, b"second")
    assert target.read_bytes() == b"first"
    assert all_files(tmp_path) == [target]


def test_one_file_can_get_several_names_and_leaves_nothing_on_failure(
    tmp_path: Path, unnamed_files: str
) -> None:
    first, second = tmp_path / "a" / "one.json", tmp_path / "b" / "two.json"
    with new_file(tmp_path, b"shared") as file:
        file.link_as(first)
        file.link_as(second, durable=True)
    assert first.samefile(second) and first.read_bytes() == b"shared"
    with pytest.raises(RuntimeError), new_file(tmp_path, b"never named"):
        raise RuntimeError("the writer failed before naming it")
    assert all_files(tmp_path) == [first, second]


def test_shared_directory_fsync_covers_every_caller_with_fewer_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each caller returns only after an fsync that started after it asked (so its entry is
    durable), yet callers arriving together share fsyncs."""
    fsyncs: list[tuple[float, float]] = []
    real_fsync_dir = atomic.fsync_dir

    def slow_fsync_dir(directory: str) -> None:
        began = time.perf_counter()
        time.sleep(0.01)  # a device flush
        real_fsync_dir(directory)
        fsyncs.append((began, time.perf_counter()))

    monkeypatch.setattr(atomic, "fsync_dir", slow_fsync_dir)
    barrier = threading.Barrier(THREADS)

    def caller(_: int) -> tuple[float, float]:
        barrier.wait()
        asked = time.perf_counter()
        fsync_dir_shared(tmp_path)
        return asked, time.perf_counter()

    with ThreadPoolExecutor(THREADS) as pool:
        calls = list(pool.map(caller, range(THREADS)))
    assert len(fsyncs) < THREADS
    for asked, returned in calls:
        assert any(asked <= began and ended <= returned for began, ended in fsyncs)


def test_a_failed_shared_fsync_fails_every_caller_it_was_meant_to_cover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_disk(directory: str) -> None:
        time.sleep(0.005)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic, "fsync_dir", broken_disk)
    barrier = threading.Barrier(THREADS)

    def caller(_: int) -> str:
        barrier.wait()
        try:
            fsync_dir_shared(tmp_path)
        except OSError as exc:
            return exc.strerror
        return "returned as if durable"

    with ThreadPoolExecutor(THREADS) as pool:
        assert set(pool.map(caller, range(THREADS))) == {"Input/output error"}


def test_concurrent_retries_of_one_delivery_queue_it_once(data_root: DataRoot) -> None:
    """The first claims the marker; the others wait on its lock, then see it queued."""
    store, delivery = DeliveryStore(data_root), parse_delivery(BODY)
    barrier = threading.Barrier(THREADS)

    def deliver(_: int) -> str | None:
        barrier.wait()
        stored = store.store(delivery, BODY, {"X-Atlassian-Webhook-Identifier": "retried"})
        return stored.duplicate_of or stored.event_id

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(deliver, range(THREADS)))
    [(path, event)] = list_pending(data_root)
    assert outcomes == [event.event_id] * THREADS
    assert store.marker_path("retried").samefile(path)
    assert len(json_files(data_root.webhook_events_dir)) == THREADS


def test_a_delivery_that_fails_after_claiming_hands_the_identifier_to_its_retry(
    data_root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is released with the failure: a waiting retry queues the delivery."""
    store, delivery = DeliveryStore(data_root), parse_delivery(BODY)
    headers = {"X-Atlassian-Webhook-Identifier": "unlucky-first"}
    claimed, released = threading.Event(), threading.Event()
    real_fsync_dir_shared = atomic.fsync_dir_shared

    def inbox_fsync_fails_once(directory: str) -> None:
        if not claimed.is_set():
            claimed.set()
            released.wait(5)  # the retry is now waiting on our marker
            raise OSError(28, "No space left on device")
        real_fsync_dir_shared(directory)

    monkeypatch.setattr(atomic, "fsync_dir_shared", inbox_fsync_fails_once)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(store.store, delivery, BODY, headers)
        assert claimed.wait(5)
        retry = pool.submit(store.store, delivery, BODY, headers)
        time.sleep(0.1)
        released.set()
        with pytest.raises(StorageUnavailable, match="No space left"):
            first.result()
        queued = retry.result()
    assert queued.duplicate_of is None
    assert [e.event_id for _, e in list_pending(data_root)] == [queued.event_id]
    assert marker_event_id(store.marker_path("unlucky-first").read_bytes()) == queued.event_id


@pytest.mark.parametrize(
    ("content", "event_id"),
    [
        (b"", None),
        (b"20240101T000000000000Z_x_000000000000", "20240101T000000000000Z_x_000000000000"),
        (b'{"event_id": "20240101T000000000000Z_x_0", "issue_key": "A-1"}',
         "20240101T000000000000Z_x_0"),
        (b'{"event_id": 7}', None),
        (b"{not json", None),
    ],
)
def test_marker_content_names_the_queued_event(content: bytes, event_id: str | None) -> None:
    assert marker_event_id(content) == event_id


def test_no_unnamed_file_survives_a_store(data_root: DataRoot) -> None:
    store = DeliveryStore(data_root)
    store.store(parse_delivery(BODY), BODY, {"X-Atlassian-Webhook-Identifier": "clean"})
    names = [p.name for p in all_files(data_root.root)]
    assert len(names) == 3 and not [n for n in names if n.startswith(".")]
    assert os.listdir(data_root.inbox_dir) == [json_files(data_root.inbox_dir)[0].name]


def test_a_delivery_is_one_file_named_in_the_inbox_the_audit_log_and_the_marker(
    data_root: DataRoot,
) -> None:
    """One inode per delivery: the pending event the sensor reads is the audit copy."""
    store = DeliveryStore(data_root)
    stored = store.store(parse_delivery(BODY), BODY, {"X-Atlassian-Webhook-Identifier": "one"})
    [(queued, event)] = list_pending(data_root)
    [audit] = json_files(data_root.webhook_events_dir)
    assert queued.samefile(audit) and queued.samefile(store.marker_path("one"))
    assert os.stat(queued).st_nlink == 3
    record = orjson.loads(audit.read_bytes())
    assert record["event_id"] == event.event_id == stored.event_id
    assert record["issue_key"] == "SUPPORT-7" and record["duplicate_of"] is None
    assert record["body"] == orjson.loads(BODY)
    assert record["headers"] == {"X-Atlassian-Webhook-Identifier": "one"}


def test_a_retry_of_a_large_delivery_is_still_a_duplicate(data_root: DataRoot) -> None:
    """The marker is the whole delivery: a body far past any fixed read size still names
    its event, so the retry is not queued a second time."""
    body = orjson.dumps({
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": "SUPPORT-8", "fields": {"description": "x" * 300_000}},
    })
    store, headers = DeliveryStore(data_root), {"X-Atlassian-Webhook-Identifier": "big"}
    first = store.store(parse_delivery(body), body, headers)
    retry = store.store(parse_delivery(body), body, headers)
    assert retry.duplicate_of == first.event_id
    assert [e.event_id for _, e in list_pending(data_root)] == [first.event_id]
    duplicate = [orjson.loads(p.read_bytes()) for p in json_files(data_root.webhook_events_dir)]
    assert sorted(r["duplicate_of"] or "" for r in duplicate) == ["", first.event_id]
