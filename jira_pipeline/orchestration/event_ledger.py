"""The webhook sensor's memory, kept in its Dagster cursor: which runs cover which pending
events, and which events wait to be retried after a failed run.

Rules it enforces: an event is archived only once every run covering it has succeeded; an
event of a failed run is requested again after a backoff that doubles up to a cap (it is
never dropped); a month has at most one run in flight, so events that arrive meanwhile are
batched into the next one instead of queueing a run per tick; and a month in the middle of a
burst (a bulk edit, an automation rule, an import) waits, briefly and boundedly, for the
burst to end, so it costs one run rather than one for its first seconds and another for
the rest. A lone event is never held."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import orjson

from jira_pipeline.orchestration.event_months import EventPlan, MonthBatch

RunOutcome = Literal["success", "failed", "pending", "missing"]

RETRY_BASE_SECONDS = 10.0
RETRY_CAP_SECONDS = 600.0
# A requested run the instance never shows (tick lost after the cursor moved) counts as failed.
MISSING_RUN_GRACE_SECONDS = 300.0
# A burst: at least BURST_MIN_EVENTS events received in the last BURST_QUIET_SECONDS. Then a
# month whose newest event is that recent waits (it is part of the burst), but never once
# its oldest event has waited BURST_MAX_HOLD_SECONDS. (Each run costs seconds of CPU before
# any work: start-up, event log; a run started mid-burst is stale at once and its month
# needs a second run.) Counted over the whole inbox, so a burst's first second, a few
# events per month, is recognised too.
BURST_MIN_EVENTS = 10
BURST_QUIET_SECONDS = 2.0
BURST_MAX_HOLD_SECONDS = 10.0


def retry_delay(failures: int) -> float:
    """Seconds to wait before re-requesting an event whose runs failed ``failures`` times."""
    return min(RETRY_BASE_SECONDS * 2 ** max(failures - 1, 0), RETRY_CAP_SECONDS)


@dataclass
class InflightRun:
    month: str
    event_ids: list[str]
    requested_at: float


@dataclass
class RetryState:
    failures: int
    not_before: float
    requested_again: bool = False  # a new run covers it since the last failure


@dataclass
class TickPlan:
    """What one sensor tick does: runs to request (run key, batch) and events to archive."""

    run_requests: list[tuple[str, MonthBatch]] = field(default_factory=list)
    archive_event_ids: list[str] = field(default_factory=list)
    failed_run_keys: list[str] = field(default_factory=list)


@dataclass
class EventLedger:
    inflight: dict[str, InflightRun] = field(default_factory=dict)
    retries: dict[str, RetryState] = field(default_factory=dict)

    # -- cursor (de)serialisation ------------------------------------------------------
    @classmethod
    def from_cursor(cls, cursor: str | None) -> EventLedger:
        if not cursor:
            return cls()
        raw = orjson.loads(cursor)
        return cls(
            inflight={k: InflightRun(**v) for k, v in raw.get("inflight", {}).items()},
            retries={k: RetryState(**v) for k, v in raw.get("retries", {}).items()},
        )

    def to_cursor(self) -> str:
        return orjson.dumps(
            {
                "inflight": {k: vars(v) for k, v in self.inflight.items()},
                "retries": {k: vars(v) for k, v in self.retries.items()},
            }
        ).decode()

    # -- queries -----------------------------------------------------------------------
    def busy_months(self) -> set[str]:
        return {run.month for run in self.inflight.values()}

    def inflight_event_ids(self) -> set[str]:
        return {e for run in self.inflight.values() for e in run.event_ids}

    def is_eligible(self, event_id: str, now: float) -> bool:
        """Not covered by a run in flight, and not waiting out a retry backoff."""
        if event_id in self.inflight_event_ids():
            return False
        retry = self.retries.get(event_id)
        return retry is None or retry.not_before <= now

    def run_key(self, batch: MonthBatch) -> str:
        """Deterministic for the same events and attempt; a retry gets a new key because
        Dagster skips a run key it has already seen."""
        attempt = max((self.retries[e].failures for e in batch.event_ids if e in self.retries),
                      default=0)
        digest = hashlib.sha256("\n".join(sorted(batch.event_ids)).encode()).hexdigest()[:20]
        return f"jira-webhooks-{batch.month}-{digest}-a{attempt}"

    # -- transitions -------------------------------------------------------------------
    def record_requested(self, run_key: str, batch: MonthBatch, now: float) -> None:
        self.inflight[run_key] = InflightRun(batch.month, list(batch.event_ids), now)
        for event_id in batch.event_ids:
            if event_id in self.retries:
                self.retries[event_id].requested_again = True

    def record_success(self, run_key: str) -> list[str]:
        """Forget the run; return its events that no other run still needs."""
        run = self.inflight.pop(run_key, None)
        if run is None:
            return []
        still_needed = self.inflight_event_ids()
        done = []
        for event_id in run.event_ids:
            retry = self.retries.get(event_id)
            if event_id in still_needed or (retry is not None and not retry.requested_again):
                continue
            self.retries.pop(event_id, None)
            done.append(event_id)
        return done

    def record_failure(self, run_key: str, now: float) -> None:
        run = self.inflight.pop(run_key, None)
        if run is None:
            return
        for event_id in run.event_ids:
            previous = self.retries.get(event_id)
            failures = (previous.failures if previous else 0) + 1
            self.retries[event_id] = RetryState(failures, now + retry_delay(failures))

    def forget(self, event_ids: Iterable[str]) -> None:
        """Drop retry state of events no longer in the inbox (archived or removed by hand)."""
        for event_id in event_ids:
            self.retries.pop(event_id, None)


def months_mid_burst(
    batches: Mapping[str, MonthBatch], received_at: Mapping[str, float], now: float
) -> set[str]:
    """The months that wait for a burst to end (see ``BURST_*``). Receipt times ahead of
    ``now`` (the receiver's clock runs ahead of the daemon's, on another host) are not
    trusted to hold anything: skew must never hold a month for good."""
    times = {e: received_at[e] for b in batches.values() for e in b.event_ids
             if e in received_at and received_at[e] <= now}
    if sum(now - t < BURST_QUIET_SECONDS for t in times.values()) < BURST_MIN_EVENTS:
        return set()
    waiting = set()
    for month, batch in batches.items():
        month_times = [times[e] for e in batch.event_ids if e in times]
        if (
            month_times
            and now - max(month_times) < BURST_QUIET_SECONDS
            and now - min(month_times) < BURST_MAX_HOLD_SECONDS
        ):
            waiting.add(month)
    return waiting


def plan_tick(
    ledger: EventLedger,
    pending_event_ids: Iterable[str],
    now: float,
    outcome_of: Callable[[str], RunOutcome],
    plan_events: Callable[[list[str]], EventPlan],
    received_at: Mapping[str, float] | None = None,
) -> TickPlan:
    """One sensor tick: settle the runs in flight, then request one run per idle month for
    the eligible pending events. ``plan_events`` places event ids in months;
    ``received_at`` (event id → epoch seconds) lets a month mid-burst wait for its end."""
    tick = TickPlan()
    for run_key in list(ledger.inflight):
        outcome = outcome_of(run_key)
        if outcome == "missing" and now - ledger.inflight[run_key].requested_at > (
            MISSING_RUN_GRACE_SECONDS
        ):
            outcome = "failed"
        if outcome == "success":
            tick.archive_event_ids += ledger.record_success(run_key)
        elif outcome == "failed":
            ledger.record_failure(run_key, now)
            tick.failed_run_keys.append(run_key)

    pending = list(pending_event_ids)
    ledger.forget(set(ledger.retries) - set(pending) - ledger.inflight_event_ids())
    eligible = [e for e in pending if e not in tick.archive_event_ids and ledger.is_eligible(e, now)]
    if not eligible:
        return tick
    plan = plan_events(eligible)
    tick.archive_event_ids += plan.no_op_event_ids
    ledger.forget(plan.no_op_event_ids)
    waiting = ledger.busy_months() | months_mid_burst(plan.batches, received_at or {}, now)
    # An event touching a waiting month waits whole: it must not be archived after covering
    # only its other month. (Its keys may still ride along in the idle month: harmless.)
    held = {e for month in waiting if month in plan.batches for e in plan.batches[month].event_ids}
    for month, batch in sorted(plan.batches.items()):
        event_ids = tuple(e for e in batch.event_ids if e not in held)
        if month in waiting or not event_ids:
            continue  # the month's run in flight (or its burst) ends first; these go next time
        batch = MonthBatch(batch.month, batch.issue_keys, event_ids)
        run_key = ledger.run_key(batch)
        ledger.record_requested(run_key, batch, now)
        tick.run_requests.append((run_key, batch))
    return tick
