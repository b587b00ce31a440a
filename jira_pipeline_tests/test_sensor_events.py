"""The webhook sensor's plain logic: placing events in months and the run/retry ledger."""

from __future__ import annotations

import pytest

from jira_pipeline.orchestration.event_ledger import (
    BURST_MAX_HOLD_SECONDS,
    BURST_MIN_EVENTS,
    BURST_QUIET_SECONDS,
    RETRY_CAP_SECONDS,
    EventLedger,
    plan_tick,
    retry_delay,
)
from jira_pipeline.orchestration.event_months import (
    month_from_raw_store,
    plan_month_batches,
)
from jira_pipeline.storage.inbox import PendingEvent
from jira_pipeline.storage.raw_store import save_issue


def event(event_id, key=None, *, ids=(), created=None):
    return PendingEvent(
        event_id=event_id,
        received_at="2026-01-01T00:00:00.000000+00:00",
        event_type="jira_issue_updated",
        issue_key=key,
        issue_ids=tuple(ids),
        created=created,
    )


def no_store(key):
    return None


def no_ids(ids):
    return {}


def no_lookup(keys):
    raise AssertionError(f"unexpected Jira lookup for {keys}")


def test_events_grouped_by_month_of_payload_created():
    events = [
        event("e1", "SUP-1", created="2024-03-31T23:30:00.000-0100"),  # April in UTC
        event("e2", "SUP-2", created="2024-03-05T10:00:00.000+0000"),
        event("e3", "SUP-1", created="2024-03-31T23:30:00.000-0100"),
    ]
    plan = plan_month_batches(
        events, month_from_store=no_store, resolve_ids=no_ids, lookup_created=no_lookup
    )
    assert sorted(plan.batches) == ["2024-03", "2024-04"]
    assert plan.batches["2024-04"].issue_keys == ("SUP-1",)
    assert plan.batches["2024-04"].event_ids == ("e1", "e3")
    assert not plan.no_op_event_ids and not plan.unplaced_event_ids


def test_month_from_raw_store_then_jira_lookup(data_root):
    save_issue(data_root, {"key": "SUP-7", "fields": {"created": "2024-05-02T08:00:00.000+0000"}})
    asked = []

    def lookup(keys):
        asked.append(keys)
        return {"SUP-8": "2024-06-10T00:00:00.000+0000"}  # SUP-9: 404 in Jira

    plan = plan_month_batches(
        [event("a", "SUP-7"), event("b", "SUP-8"), event("c", "SUP-9")],
        month_from_store=month_from_raw_store(data_root),
        resolve_ids=no_ids,
        lookup_created=lookup,
    )
    assert asked == [["SUP-8", "SUP-9"]]  # the stored issue needed no request
    assert plan.batches["2024-05"].issue_keys == ("SUP-7",)
    assert plan.batches["2024-06"].issue_keys == ("SUP-8",)
    assert plan.no_op_event_ids == ["c"]  # deleted before we ever stored it: nothing to do


def test_issue_link_ids_resolved_and_event_in_both_months():
    months = {"SUP-1": "2024-01", "ENG-4": "2024-02"}
    plan = plan_month_batches(
        [event("link", ids=("10001", "10004", "10099"))],
        month_from_store=months.get,
        resolve_ids=lambda ids: {"10001": "SUP-1", "10004": "ENG-4"},
        lookup_created=no_lookup,
    )
    assert plan.batches["2024-01"].event_ids == ("link",)
    assert plan.batches["2024-02"].event_ids == ("link",)


def test_jira_unreachable_leaves_events_unplaced():
    def down(_):
        raise ConnectionError("simulated outage")

    plan = plan_month_batches(
        [
            event("link", ids=("10001",)),
            event("x", "SUP-3"),
            event("ok", "SUP-4", created="2024-02-01T00:00:00.000+0000"),
        ],
        month_from_store=no_store,
        resolve_ids=down,
        lookup_created=down,
    )
    assert sorted(plan.unplaced_event_ids) == ["link", "x"]
    assert list(plan.batches) == ["2024-02"]


def test_months_outside_partitions_are_no_ops():
    plan = plan_month_batches(
        [event("old", "SUP-1", created="2019-01-01T00:00:00.000+0000")],
        month_from_store=no_store,
        resolve_ids=no_ids,
        lookup_created=no_lookup,
        accept_month=lambda month: month >= "2024-01",
    )
    assert plan.no_op_event_ids == ["old"] and not plan.batches


# -- the ledger ---------------------------------------------------------------------------

MONTH_OF = {"SUP-1": "2024-01", "SUP-2": "2024-01", "SUP-3": "2024-02", "SUP-4": "2024-02"}


def planner(events_by_id):
    def plan(event_ids):
        return plan_month_batches(
            [events_by_id[e] for e in event_ids],
            month_from_store=MONTH_OF.get,
            resolve_ids=no_ids,
            lookup_created=no_lookup,
        )

    return plan


def tick(ledger, events, now, outcomes=None, received_at=None):
    by_id = {e.event_id: e for e in events}
    return plan_tick(
        ledger,
        list(by_id),
        now,
        outcome_of=lambda key: (outcomes or {}).get(key, "pending"),
        plan_events=planner(by_id),
        received_at=received_at,
    )


def test_one_run_per_month_and_deterministic_run_keys():
    events = [event("e1", "SUP-1"), event("e2", "SUP-3"), event("e3", "SUP-2")]
    first = tick(EventLedger(), events, 100.0)
    again = tick(EventLedger(), list(reversed(events)), 200.0)
    assert [b.month for _, b in first.run_requests] == ["2024-01", "2024-02"]
    assert [k for k, _ in first.run_requests] == [k for k, _ in again.run_requests]
    assert first.run_requests[0][1].issue_keys == ("SUP-1", "SUP-2")


def test_busy_month_batches_next_events_and_archives_only_after_success():
    ledger = EventLedger()
    ((key1, _),) = tick(ledger, [event("e1", "SUP-1")], 0.0).run_requests
    later = tick(ledger, [event("e1", "SUP-1"), event("e2", "SUP-2")], 5.0)
    assert later.run_requests == [] and later.archive_event_ids == []  # month busy
    done = tick(ledger, [event("e1", "SUP-1"), event("e2", "SUP-2")], 10.0, {key1: "success"})
    assert done.archive_event_ids == ["e1"]
    ((key2, batch2),) = done.run_requests  # e2 goes in the next run, as soon as e1's is done
    assert batch2.event_ids == ("e2",) and key2 != key1


def test_failed_run_events_are_retried_with_backoff_never_dropped():
    ledger = EventLedger()
    events = [event("e1", "SUP-1")]
    ((key, _),) = tick(ledger, events, 0.0).run_requests
    now, keys = 0.0, [key]
    for failures in range(1, 9):
        failed = tick(ledger, events, now + 1, {keys[-1]: "failed"})
        assert failed.failed_run_keys == [keys[-1]] and not failed.run_requests
        assert not failed.archive_event_ids
        now += 1 + retry_delay(failures)
        assert not tick(ledger, events, now - 0.5).run_requests  # still backing off
        ((retry_key, _),) = tick(ledger, events, now).run_requests
        assert retry_key not in keys  # a new run key: Dagster would skip a known one
        keys.append(retry_key)
    assert retry_delay(50) == RETRY_CAP_SECONDS
    finished = tick(ledger, events, now + 1, {keys[-1]: "success"})
    assert finished.archive_event_ids == ["e1"] and ledger.retries == {}


def test_event_in_two_months_archived_only_when_both_runs_succeeded():
    months = {"SUP-1": "2024-01", "SUP-3": "2024-02"}
    link = event("link", ids=("1", "3"))

    def plan(event_ids):
        return plan_month_batches(
            [link],
            month_from_store=months.get,
            resolve_ids=lambda ids: {"1": "SUP-1", "3": "SUP-3"},
            lookup_created=no_lookup,
        )

    ledger = EventLedger()
    first = plan_tick(ledger, ["link"], 0.0, lambda k: "pending", plan)
    jan, feb = (k for k, _ in first.run_requests)
    half = plan_tick(ledger, ["link"], 1.0, {jan: "success", feb: "failed"}.get, plan)
    assert half.archive_event_ids == []  # February failed: the event stays pending
    retried = plan_tick(ledger, ["link"], 1.0 + retry_delay(1), lambda k: "pending", plan)
    assert len(retried.run_requests) == 2
    outcome = {k: "success" for k, _ in retried.run_requests}
    assert plan_tick(ledger, ["link"], 100.0, outcome.get, plan).archive_event_ids == ["link"]


def test_lone_events_are_requested_at_once_even_when_just_received():
    events = [event(f"e{n}", "SUP-1") for n in range(BURST_MIN_EVENTS - 1)]
    just_now = {e.event_id: 100.0 for e in events}
    ((_, batch),) = tick(EventLedger(), events, 100.0, received_at=just_now).run_requests
    assert len(batch.event_ids) == BURST_MIN_EVENTS - 1


def test_month_mid_burst_waits_for_the_burst_to_end():
    january = [event(f"j{n:02}", "SUP-1") for n in range(BURST_MIN_EVENTS)]
    february = [event("f1", "SUP-3")]  # before the burst: not part of it
    received = {e.event_id: 100.0 + n * 0.1 for n, e in enumerate(january)} | {"f1": 97.0}
    ledger = EventLedger()
    now = max(received.values()) + 0.5
    pouring = tick(ledger, january + february, now, received_at=received)
    assert [b.month for _, b in pouring.run_requests] == ["2024-02"]
    january.append(event("j99", "SUP-2"))  # still arriving
    received["j99"] = now
    quiet = now + BURST_QUIET_SECONDS
    (held,) = (b for _, b in tick(ledger, january + february, quiet, received_at=received)
               .run_requests)
    assert held.month == "2024-01" and len(held.event_ids) == BURST_MIN_EVENTS + 1


def test_burst_spread_over_months_is_recognised_from_its_first_second():
    events = [event(f"e{n:02}", ("SUP-1", "SUP-3")[n % 2]) for n in range(BURST_MIN_EVENTS)]
    received = {e.event_id: 100.0 + n * 0.05 for n, e in enumerate(events)}  # 5 per month
    assert not tick(EventLedger(), events, 100.6, received_at=received).run_requests


def test_endless_burst_is_held_no_longer_than_the_cap():
    january = [event(f"j{n:03}", "SUP-1") for n in range(100)]
    received = {e.event_id: 100.0 + n * 0.2 for n, e in enumerate(january)}  # 5 a second
    ledger = EventLedger()
    assert not tick(ledger, january[:41], 108.0, received_at=received).run_requests
    capped = 100.0 + BURST_MAX_HOLD_SECONDS
    ((_, batch),) = tick(ledger, january[:51], capped, received_at=received).run_requests
    assert len(batch.event_ids) == 51  # still pouring in, but the oldest waited long enough


def test_receipt_times_ahead_of_the_sensor_clock_never_hold_a_month():
    """A receiver host whose clock runs ahead: its events look younger than they are."""
    january = [event(f"j{n:02}", "SUP-1") for n in range(BURST_MIN_EVENTS * 2)]
    ahead = {e.event_id: 1_000.0 + n * 0.1 for n, e in enumerate(january)}
    ((_, batch),) = tick(EventLedger(), january, 100.0, received_at=ahead).run_requests
    assert len(batch.event_ids) == BURST_MIN_EVENTS * 2


def test_event_in_a_month_mid_burst_waits_whole():
    months = {"SUP-1": "2024-01", "SUP-3": "2024-02"}
    burst = [event(f"b{n:02}", "SUP-3") for n in range(BURST_MIN_EVENTS)]
    link = event("link", ids=("1", "3"))
    by_id = {e.event_id: e for e in [*burst, link]}

    def plan(event_ids):
        return plan_month_batches(
            [by_id[e] for e in event_ids],
            month_from_store=months.get,
            resolve_ids=lambda ids: {"1": "SUP-1", "3": "SUP-3"},
            lookup_created=no_lookup,
        )

    received = dict.fromkeys(by_id, 100.0) | {"link": 97.0}  # January itself is quiet
    first = plan_tick(EventLedger(), list(by_id), 100.5, lambda k: "pending", plan,
                      received_at=received)
    assert first.run_requests == []  # January alone would cover only half of the link event


def test_cursor_round_trip_and_lost_run_counts_as_failed():
    ledger = EventLedger()
    ((key, _),) = tick(ledger, [event("e1", "SUP-1")], 0.0).run_requests
    restored = EventLedger.from_cursor(ledger.to_cursor())
    assert restored == ledger
    assert not tick(restored, [event("e1", "SUP-1")], 10.0, {key: "missing"}).failed_run_keys
    lost = tick(restored, [event("e1", "SUP-1")], 1000.0, {key: "missing"})
    assert lost.failed_run_keys == [key] and "e1" in restored.retries


@pytest.mark.parametrize("cursor", [None, ""])
def test_empty_cursor(cursor):
    assert EventLedger.from_cursor(cursor) == EventLedger()
