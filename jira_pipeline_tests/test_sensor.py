"""``jira_webhook_sensor`` evaluated against a real Dagster instance: run requests per month,
run keys, archiving only after success, failed runs' events requested again."""

from __future__ import annotations

from datetime import datetime

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import RUN_KEY_TAG
from dagster._core.utils import make_new_run_id

from jira_pipeline.config import load_settings
from jira_pipeline.core.dates import month_of
from jira_pipeline.defs import sensors
from jira_pipeline.defs.resources import resources_from_settings
from jira_pipeline.defs.sensors import jira_webhook_sensor
from jira_pipeline.orchestration.event_ledger import (
    BURST_MIN_EVENTS,
    BURST_QUIET_SECONDS,
    retry_delay,
)
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage.inbox import list_pending
from jira_pipeline_tests.fixtures.inbox import queue_event


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


class Named(dict):
    """Event ids the receiver's writer chose, by the names the tests give them."""

    def names(self, event_ids):
        by_id = {event_id: name for name, event_id in self.items()}
        return sorted(by_id[event_id] for event_id in event_ids)


def put(root, named, name, key, created):
    named[name] = queue_event(root, key, created=created).event_id


def evaluate(instance, root, cursor=None):
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources=resources_from_settings(load_settings({"JIRA_DATA_ROOT": str(root.root)})),
    )
    result = jira_webhook_sensor(context)
    return result, result.cursor


def finish(instance, run_key, status):
    instance.add_run(
        DagsterRun(
            job_name="jira_month_job",
            run_id=make_new_run_id(),
            status=status,
            tags={RUN_KEY_TAG: run_key},
        )
    )


def pending_ids(root, named):
    return named.names(event.event_id for _, event in list_pending(root))


@pytest.fixture
def named():
    return Named()


@pytest.fixture
def inbox(data_root, named):
    put(data_root, named, "e1", "SUP-1", "2024-03-02T10:00:00.000+0000")
    put(data_root, named, "e2", "SUP-2", "2024-04-02T10:00:00.000+0000")
    put(data_root, named, "e3", "ENG-5", "2024-03-20T10:00:00.000+0000")
    return data_root


def test_one_run_request_per_month_with_its_keys_and_stable_run_keys(instance, inbox, named):
    result, _ = evaluate(instance, inbox)
    requests = {r.partition_key: r for r in result.run_requests}
    assert sorted(requests) == ["2024-03", "2024-04"]
    config = requests["2024-03"].run_config["ops"]["jira_month"]["config"]
    assert config["issue_keys"] == ["ENG-5", "SUP-1"]
    assert named.names(config["event_ids"]) == ["e1", "e3"]
    again, _ = evaluate(instance, inbox)  # same inbox, fresh cursor: same run keys
    assert sorted(r.run_key for r in again.run_requests) == sorted(
        r.run_key for r in result.run_requests
    )


def test_archived_only_after_success_and_failed_events_requested_again(
    instance, inbox, named, monkeypatch
):
    clock = [1000.0]
    monkeypatch.setattr(sensors, "clock", lambda: clock[0])
    result, cursor = evaluate(instance, inbox)
    march, april = sorted(result.run_requests, key=lambda r: r.partition_key)

    put(inbox, named, "e4", "SUP-9", "2024-03-25T10:00:00.000+0000")  # arrives while March runs
    clock[0] += 5
    result, cursor = evaluate(instance, inbox, cursor)
    assert result.run_requests == [] and pending_ids(inbox, named) == ["e1", "e2", "e3", "e4"]

    finish(instance, march.run_key, DagsterRunStatus.SUCCESS)
    finish(instance, april.run_key, DagsterRunStatus.FAILURE)
    clock[0] += 5
    result, cursor = evaluate(instance, inbox, cursor)
    assert pending_ids(inbox, named) == ["e2", "e4"]  # March's events archived, April's kept
    (next_march,) = result.run_requests  # e4 goes now; April backs off
    assert next_march.partition_key == "2024-03"
    assert next_march.run_config["ops"]["jira_month"]["config"]["event_ids"] == [named["e4"]]
    assert list((inbox.inbox_dir / "archive").glob(f"*/{named['e1']}.json"))

    clock[0] += retry_delay(1)
    result, cursor = evaluate(instance, inbox, cursor)
    (retry,) = result.run_requests
    assert retry.partition_key == "2024-04" and retry.run_key != april.run_key
    finish(instance, retry.run_key, DagsterRunStatus.SUCCESS)
    finish(instance, next_march.run_key, DagsterRunStatus.SUCCESS)
    clock[0] += 5
    result, cursor = evaluate(instance, inbox, cursor)
    assert result.run_requests == [] and pending_ids(inbox, named) == []


def test_run_awaiting_automatic_retry_is_not_failed_yet(instance, inbox, named):
    result, cursor = evaluate(instance, inbox)
    for request in result.run_requests:
        instance.add_run(
            DagsterRun(
                job_name="jira_month_job",
                run_id=make_new_run_id(),
                status=DagsterRunStatus.FAILURE,
                tags={RUN_KEY_TAG: request.run_key, "dagster/will_retry": "true"},
            )
        )
    result, cursor = evaluate(instance, inbox, cursor)
    assert result.run_requests == []  # the retry daemon owns them for now
    assert "retries" in cursor and '"retries":{}' in cursor
    assert pending_ids(inbox, named) == ["e1", "e2", "e3"]


def test_events_without_created_are_placed_through_jira(instance, data_root, named):
    """A comment event for an issue not stored yet, and a link event naming ids only: the
    sensor asks the (simulated) Jira over HTTP for the month and the keys."""
    jira = SimulatedJira(seed=8, issues=20, start_month="2024-06", months=2)
    key, other = jira.keys()[0], jira.keys()[1]
    created = {k: jira.issue_json(k, fields=["created"])["fields"]["created"] for k in (key, other)}
    ids = [jira.issue_json(k, fields=["key"])["id"] for k in (key, other)]
    named["c1"] = queue_event(data_root, key, webhook_event="comment_created").event_id
    named["l1"] = queue_event(data_root, ids=tuple(ids)).event_id
    named["gone"] = queue_event(data_root, "SUPPORT-999", webhook_event="comment_created").event_id
    with SimulatorServer(jira) as server:
        env = server.env()
        settings = load_settings({**env, "JIRA_DATA_ROOT": str(data_root.root)})
        context = build_sensor_context(
            instance=instance, resources=resources_from_settings(settings)
        )
        result = jira_webhook_sensor(context)
    placed = {}
    for request in result.run_requests:
        config = request.run_config["ops"]["jira_month"]["config"]
        for issue_key in config["issue_keys"]:
            placed[issue_key] = (request.partition_key, named.names(config["event_ids"]))
    for issue_key in (key, other):  # each in the month of its `created`
        assert placed[issue_key][0] == month_of(created[issue_key])
    assert "c1" in placed[key][1] and "l1" in placed[key][1] and "l1" in placed[other][1]
    assert pending_ids(data_root, named) == ["c1", "l1"]  # the deleted issue's event: nothing to do


def test_burst_in_a_month_is_requested_once_it_has_ended(instance, data_root, monkeypatch):
    received = "2026-01-01T00:00:00.000000+00:00"  # the receiver's format
    at_receipt = datetime.fromisoformat(received).timestamp()
    for n in range(BURST_MIN_EVENTS):
        queue_event(data_root, f"SUP-{n + 1}", created="2024-03-02T10:00:00.000+0000",
                    received=datetime.fromisoformat(received))
    monkeypatch.setattr(sensors, "clock", lambda: at_receipt + 0.5)
    pouring, cursor = evaluate(instance, data_root)
    assert pouring.run_requests == []
    monkeypatch.setattr(sensors, "clock", lambda: at_receipt + BURST_QUIET_SECONDS)
    quiet, _ = evaluate(instance, data_root, cursor)
    (request,) = quiet.run_requests
    assert request.partition_key == "2024-03"
    assert len(request.run_config["ops"]["jira_month"]["config"]["event_ids"]) == BURST_MIN_EVENTS
