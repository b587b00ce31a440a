"""Retention of signed webhook bodies: deliveries stored by the real receiver store (one
inode under audit, inbox and marker names), archived as the sensor archives them, aged with
``utime``, then pruned by the function, the command and the Dagster job."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest

from jira_pipeline.cli import main
from jira_pipeline.config import load_settings
from jira_pipeline.defs.jobs import jira_webhook_retention_job
from jira_pipeline.defs.resources import resources_from_settings
from jira_pipeline.maintenance.webhook_retention import prune_webhook_copies
from jira_pipeline.storage.inbox import archive_pending, list_pending
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline_tests.fixtures.receiver import all_files
from webhook_receiver.payload import parse_delivery
from webhook_receiver.store import DeliveryStore

DAY = 86400
NOW = time.time()


def deliver(store: DeliveryStore, key: str, identifier: str) -> str:
    body = orjson.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": key}})
    stored = store.store(parse_delivery(body), body, {"X-Atlassian-Webhook-Identifier": identifier})
    return stored.event_id


def age(paths: list[Path], days: float) -> None:
    """Make ``paths`` look written ``days`` ago (hard links share the time: one inode)."""
    for path in paths:
        when = NOW - days * DAY
        os.utime(path, (when, when), follow_symlinks=False)


def names_of(root: DataRoot, store: DeliveryStore, event_id: str, identifier: str) -> dict:
    archived = list((root.inbox_dir / "archive").glob(f"*/{event_id}.json"))
    return {
        "audit": (root.webhook_events_dir / f"{event_id}.json").exists(),
        "inbox": (root.inbox_dir / f"{event_id}.json").exists(),
        "archived": bool(archived),
        "marker": store.marker_path(identifier).exists(),
    }


@pytest.fixture
def deliveries(data_root: DataRoot) -> tuple[DeliveryStore, dict[str, str]]:
    """Three deliveries: old and archived, old and still pending, young and archived."""
    store = DeliveryStore(data_root)
    events = {name: deliver(store, f"SUPPORT-{n}", name)
              for n, name in enumerate(("old-archived", "old-pending", "young-archived"), 1)}
    archive_pending(data_root, [events["old-archived"], events["young-archived"]])
    age(all_files(data_root.raw), 45)
    age([data_root.webhook_events_dir / f"{events['young-archived']}.json"], 3)
    return store, events


def test_archived_and_old_is_removed_pending_and_young_are_kept(data_root, deliveries) -> None:
    store, events = deliveries
    summary = prune_webhook_copies(data_root, 30, now=NOW)

    gone = {"audit": False, "inbox": False, "archived": False, "marker": False}
    assert names_of(data_root, store, events["old-archived"], "old-archived") == gone
    # Pending for 45 days (Dagster down): every name stays, the marker still dedups retries
    assert names_of(data_root, store, events["old-pending"], "old-pending") == {
        "audit": True, "inbox": True, "archived": False, "marker": True}
    assert [event.event_id for _, event in list_pending(data_root)] == [events["old-pending"]]
    assert names_of(data_root, store, events["young-archived"], "young-archived") == {
        "audit": True, "inbox": False, "archived": True, "marker": True}
    assert (summary.audit_copies, summary.archived_events, summary.markers) == (1, 1, 1)
    assert summary.kept_pending == 2  # the pending event's audit copy and marker
    # A retry of the pending delivery is still answered as a duplicate
    body = orjson.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "SUPPORT-2"}})
    retry = store.store(parse_delivery(body), body, {"X-Atlassian-Webhook-Identifier": "old-pending"})
    assert retry.duplicate_of == events["old-pending"]
    assert len(list_pending(data_root)) == 1


def test_old_marker_of_a_pending_event_in_the_older_text_layout_is_kept(data_root) -> None:
    store = DeliveryStore(data_root)
    event_id = deliver(store, "SUPPORT-9", "first-layout")
    marker = store.marker_path("first-layout")
    marker.unlink()
    marker.write_text(event_id)  # markers written before the one-file layout: the bare id
    stale = store.marker_path("queued-nothing")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("20200101T000000000000Z_jira-issue_updated_000000000000")
    age([marker, stale], 90)
    summary = prune_webhook_copies(data_root, 30, now=NOW)
    assert marker.read_text() == event_id and not stale.exists()
    assert summary.markers == 1


def test_retention_counts_days(data_root, deliveries) -> None:
    store, events = deliveries
    assert prune_webhook_copies(data_root, 60, now=NOW).removed == 0  # 45 days < 60
    assert names_of(data_root, store, events["old-archived"], "old-archived")["audit"]
    with pytest.raises(ValueError, match="whole number of days"):
        prune_webhook_copies(data_root, 0)


def test_nothing_outside_the_data_root_is_touched(tmp_path: Path, data_root, deliveries) -> None:
    """A symlinked folder (or file) pointing out of the data root is never followed: the
    old files it leads to survive, and the folder is reported as skipped."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "20200101T000000000000Z_jira-issue_updated_aaaaaaaaaaaa.json"
    victim.write_text("{}")
    age([victim], 400)
    (data_root.webhook_events_dir / "escape.json").symlink_to(victim)
    (data_root.inbox_dir / "archive" / "2020-01-01").symlink_to(outside, target_is_directory=True)
    summary = prune_webhook_copies(data_root, 30, now=NOW)
    assert victim.exists() and summary.skipped == []
    assert (data_root.webhook_events_dir / "escape.json").is_symlink()  # not ours to judge

    events_dir = data_root.webhook_events_dir
    events_dir.rename(tmp_path / "moved_events")
    events_dir.symlink_to(outside, target_is_directory=True)
    summary = prune_webhook_copies(data_root, 30, now=NOW)
    assert victim.exists()
    assert summary.skipped == ["raw/jira/webhook_events"]


def test_command_uses_the_setting_and_the_flag(data_root, deliveries, monkeypatch, capsys) -> None:
    store, events = deliveries
    monkeypatch.setenv("JIRA_DATA_ROOT", str(data_root.root))
    monkeypatch.setenv("JIRA_WEBHOOK_RETENTION_DAYS", "60")
    assert main(["prune-webhooks"]) == 0
    assert "removed 0 audit copies" in capsys.readouterr().out
    assert main(["prune-webhooks", "--older-than-days", "30"]) == 0
    assert "removed 1 audit copies, 1 archived events, 1 dedup markers" in capsys.readouterr().out
    assert not names_of(data_root, store, events["old-archived"], "old-archived")["audit"]
    with pytest.raises(SystemExit):
        main(["prune-webhooks", "--older-than-days", "0"])
    monkeypatch.setenv("JIRA_WEBHOOK_RETENTION_DAYS", "thirty")
    with pytest.raises(ValueError, match="JIRA_WEBHOOK_RETENTION_DAYS"):
        main(["prune-webhooks"])


def test_daily_dagster_job_prunes_with_the_deployment_setting(data_root, deliveries) -> None:
    store, events = deliveries
    settings = load_settings(
        {"JIRA_DATA_ROOT": str(data_root.root), "JIRA_WEBHOOK_RETENTION_DAYS": "30"}
    )
    result = jira_webhook_retention_job.execute_in_process(
        resources=resources_from_settings(settings))
    assert result.success
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["markers_removed"].value == 1
    assert metadata["kept_pending"].value == 2
    assert names_of(data_root, store, events["old-archived"], "old-archived")["marker"] is False
    assert names_of(data_root, store, events["old-pending"], "old-pending")["inbox"] is True
