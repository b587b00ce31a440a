"""The storage primitives every other part stands on."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jira_pipeline.core.dates import format_jira_datetime, month_of, parse_jira_datetime
from jira_pipeline.storage import DataRoot, atomic_write_bytes
from jira_pipeline.storage.atomic import atomic_path
from jira_pipeline.storage.inbox import PendingEvent, archive_pending, list_pending
from jira_pipeline.storage.paths import check_month
from jira_pipeline_tests.fixtures.inbox import queue_event


@pytest.mark.parametrize(
    ("created", "month"),
    [
        ("2021-05-01T00:30:00.000+0100", "2021-04"),  # still April in UTC
        ("2021-04-30T23:30:00.000-0100", "2021-05"),
        ("2024-02-29T12:00:00.000+0000", "2024-02"),
        ("2024-02-29T12:00:00Z", "2024-02"),
        ("2024-03-01", "2024-03"),
    ],
)
def test_month_is_the_utc_month_of_created(created: str, month: str) -> None:
    assert month_of(created) == month


def test_jira_datetime_round_trips() -> None:
    text = "2021-05-08T07:04:25.376+0100"
    parsed = parse_jira_datetime(text)
    assert parsed is not None
    assert parse_jira_datetime(format_jira_datetime(parsed)) == parsed


@pytest.mark.parametrize("bad", ["2024-13", "24-01", "2024_01", "../../x", "２０２４-01", ""])
def test_check_month_rejects_non_months(bad: str) -> None:
    with pytest.raises(ValueError):
        check_month(bad)


def test_atomic_write_replaces_and_sets_group_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "file.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_atomic_path_keeps_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["t.parquet"]


def test_inbox_round_trip_and_archive(data_root: DataRoot) -> None:
    received = datetime(2024, 1, 1, tzinfo=UTC)
    event = queue_event(data_root, "SUPPORT-1", created="2023-12-31T23:00:00.000-0200",
                        received=received)
    assert event == PendingEvent(
        event_id=event.event_id,
        received_at="2024-01-01T00:00:00.000000+00:00",
        event_type="jira_issue_updated",
        issue_key="SUPPORT-1",
        created="2023-12-31T23:00:00.000-0200",
    )
    assert event.event_id.startswith("20240101T000000000000Z_jira_issue_updated_")
    (data_root.inbox_dir / "garbage.json").write_bytes(b"{not json")
    [(path, loaded)] = list_pending(data_root)
    assert loaded == event and path.name == event.file_name
    assert archive_pending(data_root, {event.event_id}) == 1
    assert list_pending(data_root) == []
    assert (data_root.inbox_dir / "garbage.json").exists()  # unreadable, never dropped


def test_list_pending_reads_only_the_oldest_up_to_its_limit(data_root: DataRoot) -> None:
    days = [datetime(2024, 1, n, tzinfo=UTC) for n in range(1, 6)]
    events = sorted((queue_event(data_root, f"SUPPORT-{n}", received=day)
                     for n, day in reversed(list(enumerate(days, 1)))),
                    key=lambda event: event.received_at)
    # unreadable and oldest: skipped, and not counted against the limit
    (data_root.inbox_dir / "20240100T000000000000Z_broken.json").write_bytes(b"{not json")
    assert [e for _, e in list_pending(data_root, 3)] == events[:3]
    assert [e for _, e in list_pending(data_root)] == events


def test_pending_event_refuses_bad_keys() -> None:
    with pytest.raises(ValueError):
        PendingEvent("x", "t", "e", issue_key="../etc")
    with pytest.raises(ValueError):
        PendingEvent("x", "t", "e")
