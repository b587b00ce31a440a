"""``jira_webhook_sensor``: pending webhook events → one run per month partition.

The tick itself is :func:`jira_pipeline.orchestration.event_ledger.plan_tick`; this module
only reads the inbox, asks the instance how earlier runs ended, archives what is done and
turns month batches into ``RunRequest``s. It reads small files only (the inbox and, for
events without ``created``, stored issues), so a tick stays far below Dagster's timeout."""

import contextlib
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    ResourceParam,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from jira_pipeline.dagster_private import AUTO_RETRY_RUN_ID_TAG, RUN_KEY_TAG
from jira_pipeline.defs import jobs
from jira_pipeline.defs.partitions import is_partition_month
from jira_pipeline.defs.resources import DataRootResource, JiraResource
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.orchestration.event_ledger import EventLedger, RunOutcome, plan_tick
from jira_pipeline.orchestration.event_months import (
    EventPlan,
    jira_created_lookup,
    jira_id_resolver,
    month_from_raw_store,
    plan_month_batches,
)
from jira_pipeline.storage.inbox import PendingEvent, archive_pending, list_pending
from jira_pipeline.storage.paths import DataRoot

# The sensor daemon looks at its sensors every 5 s at best (its loop floor). A minimum
# interval of exactly 5 s aliases with that loop: the previous tick's start is recorded a moment
# after its loop began, so every other loop finds 4.9 s elapsed and skips: 10 s between ticks.
# Below the floor, the sensor ticks on every loop.
SENSOR_INTERVAL_SECONDS = 1
MAX_EVENTS_PER_TICK = 5000  # keeps a tick short on a huge backlog; the rest go next tick
clock = time.time  # the ledger's notion of now (tests move it to skip backoff waits)


def run_outcome(instance: DagsterInstance, run_key: str) -> RunOutcome:
    """How the run requested under ``run_key`` ended, following automatic retries: a failed
    run the retry daemon will re-execute still counts as pending."""
    runs = instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: run_key}))
    if not runs:
        return "missing"
    if any(run.status == DagsterRunStatus.SUCCESS for run in runs):
        return "success"
    run = next((r for r in runs if r.parent_run_id is None), runs[-1])  # the sensor's own
    while run.tags.get(AUTO_RETRY_RUN_ID_TAG):
        retry = instance.get_run_by_id(run.tags[AUTO_RETRY_RUN_ID_TAG])
        if retry is None:
            break
        run = retry
    if run.status == DagsterRunStatus.SUCCESS:
        return "success"
    if run.is_failure_or_canceled and not run.is_complete_and_waiting_to_retry:
        return "failed"
    return "pending"


def received_times(events: Iterable[PendingEvent]) -> dict[str, float]:
    """Epoch seconds each event was received (for the ledger's burst rule); an unreadable
    time leaves the event out, which only means it never holds a month back."""
    times = {}
    for event in events:
        with contextlib.suppress(ValueError, TypeError):
            times[event.event_id] = datetime.fromisoformat(event.received_at).timestamp()
    return times


class _UnavailableJira:
    """Stands in for a Jira client that could not be built: lookups fail, events wait."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        raise self.error


def _jira_or_placeholder(jira: JiraResource, root: DataRoot) -> JiraClient | _UnavailableJira:
    try:
        return jira.client(root)
    except Exception as exc:  # not configured: only events needing a lookup wait
        return _UnavailableJira(exc)


@sensor(
    name="jira_webhook_sensor",
    job=jobs.jira_month_job,  # through the module: autoloading finds the job in jobs.py only
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Turns pending Jira webhook events (raw/jira/inbox/) into one run per month "
        "partition with the month's issue keys; archives events once their runs succeeded "
        "and re-requests events of failed runs with backoff."
    ),
)
def jira_webhook_sensor(
    context: SensorEvaluationContext,
    jira: ResourceParam[JiraResource],
    data: ResourceParam[DataRootResource],
) -> SensorResult:
    root = data.root()
    ledger = EventLedger.from_cursor(context.cursor)
    pending = {event.event_id: event for _, event in list_pending(root, MAX_EVENTS_PER_TICK)}
    client = None

    def plan_events(event_ids: list[str]) -> EventPlan:
        nonlocal client
        client = client or _jira_or_placeholder(jira, root)
        return plan_month_batches(
            [pending[e] for e in event_ids],
            month_from_store=month_from_raw_store(root),
            resolve_ids=jira_id_resolver(client),
            lookup_created=jira_created_lookup(client),
            accept_month=is_partition_month,
        )

    try:
        tick = plan_tick(
            ledger,
            pending,
            clock(),
            outcome_of=lambda run_key: run_outcome(context.instance, run_key),
            plan_events=plan_events,
            received_at=received_times(pending.values()),
        )
    finally:
        if isinstance(client, JiraClient):
            client.close()
    archived = archive_pending(root, tick.archive_event_ids) if tick.archive_event_ids else 0
    for run_key in tick.failed_run_keys:
        context.log.warning(f"run {run_key} failed: its events will be requested again")
    if archived or tick.run_requests:
        context.log.info(
            f"{len(pending)} pending, {archived} archived, {len(tick.run_requests)} run(s) "
            f"requested for {', '.join(b.month for _, b in tick.run_requests) or 'no month'}"
        )
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=run_key,
                partition_key=batch.month,
                run_config=jobs.month_run_config(batch.issue_keys, batch.event_ids),
                tags={"jira/source": "webhook", "jira/events": str(len(batch.event_ids))},
            )
            for run_key, batch in tick.run_requests
        ],
        cursor=ledger.to_cursor(),
    )
