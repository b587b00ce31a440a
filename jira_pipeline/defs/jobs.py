"""Jobs: the month job the webhook sensor launches, and the maintenance jobs the schedules
launch. All use the in-process executor: these runs are small, and a process per step
would cost more than the work.

The assets are used through their module (``assets.jira_month``): an asset imported by name
would be found here too by autoloading, and registered twice."""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from typing import Any

from dagster import (
    AssetMaterialization,
    AssetSelection,
    Failure,
    OpExecutionContext,
    Output,
    ResourceParam,
    RunConfig,
    define_asset_job,
    in_process_executor,
    job,
    op,
)

from jira_pipeline.defs import assets
from jira_pipeline.defs.assets import MonthRunConfig
from jira_pipeline.defs.partitions import is_partition_month
from jira_pipeline.defs.problems import fail_on_config_problem
from jira_pipeline.defs.resources import (
    DataRootResource,
    JiraResource,
    JsmSlaResource,
    open_jira_clients,
)
from jira_pipeline.maintenance.deletion_sweep import sweep_deletions
from jira_pipeline.maintenance.reconcile import reconcile
from jira_pipeline.maintenance.sla_poll import poll_sla
from jira_pipeline.maintenance.webhook_retention import prune_webhook_copies
from jira_pipeline.orchestration.month_run import describe_failures
from jira_pipeline.orchestration.table_writes import TablesReport, upsert_changed
from jira_pipeline.transform.schemas import TABLES

MONTH_JOB_ASSETS = AssetSelection.groups("jira_raw", "jira_tables")

jira_month_job = define_asset_job(
    "jira_month_job",
    selection=MONTH_JOB_ASSETS,
    executor_def=in_process_executor,
    # A run retry starts over: refetching the batch's issues is what fixes a Jira hiccup.
    tags={"dagster/retry_strategy": "ALL_STEPS"},
    description="One month partition: raw issues, SLA overlay, attachments, the tables, "
    "checks. Launched by jira_webhook_sensor with issue keys, or from the UI for a month.",
)


def month_run_config(issue_keys: Iterable[str], event_ids: Iterable[str]) -> RunConfig:
    """Run config handing a month run its issue keys (and the events, for the record),
    typed by the asset's own config class, so a renamed field fails here, not at launch."""
    config = MonthRunConfig(issue_keys=list(issue_keys), event_ids=list(event_ids))
    return RunConfig(ops={assets.jira_month.op.name: config})


def _table_materializations(report: TablesReport, source: str) -> Iterator[AssetMaterialization]:
    """Record, on the partitioned table assets, the months a maintenance job rewrote."""
    for month in sorted(m for m in report.months if is_partition_month(m)):
        for table in TABLES:
            yield AssetMaterialization(
                asset_key=f"jira_{table}",
                partition=month,
                metadata={**report.table_metadata(table, month), "source": source},
            )


def _fail_on(failed: dict[str, str], what: str) -> None:
    if failed:
        raise Failure(f"{what}: {len(failed)} failure(s)\n{describe_failures(failed)}")


def _upsert_and_report(
    context: OpExecutionContext, data: DataRootResource, summary: Any, keys: list[str],
    source: str, what: str, invalid_keys: Sequence[str] = (),
) -> Iterator[AssetMaterialization | Output]:
    """The tail of a maintenance op: log its summary, upsert ``keys``, record the rewritten
    months on the table assets, then fail on per-issue failures (after writing the rest)."""
    for line in summary.lines():
        context.log.info(line)
    report = upsert_changed(data.root(), keys, dist_dir=data.dist())
    yield from _table_materializations(report, source)
    _fail_on(summary.failed, what)
    yield Output(len(keys), metadata={"invalid_keys_skipped": len(invalid_keys)})


@op(description="poll_sla for open SLA-bearing issues, then upsert the months they live in.")
def poll_sla_and_upsert(
    context: OpExecutionContext,
    jira: ResourceParam[JiraResource],
    jsm_sla: ResourceParam[JsmSlaResource],
    data: ResourceParam[DataRootResource],
) -> Iterator[AssetMaterialization | Output]:
    root = data.root()
    with open_jira_clients(jira, jsm_sla, root) as (client, sla_client):
        summary = poll_sla(client, sla_client, root)
    yield from _upsert_and_report(context, data, summary, summary.changed_keys, "jira_sla_poll",
                                  "SLA polling")


@op(description="Refetch issues Jira changed since the watermark (minus an overlap); upsert.")
def reconcile_and_upsert(
    context: OpExecutionContext,
    jira: ResourceParam[JiraResource],
    jsm_sla: ResourceParam[JsmSlaResource],
    data: ResourceParam[DataRootResource],
) -> Iterator[AssetMaterialization | Output]:
    root = data.root()
    with open_jira_clients(jira, jsm_sla, root) as (client, sla_client):
        summary = reconcile(client, sla_client, root, scope_jql=data.jql)
    yield from _upsert_and_report(context, data, summary, summary.fetched + summary.deleted,
                                  "jira_reconcile", "reconcile", summary.invalid_keys)


@op(description="Tombstone stored issues that Jira's search lacks and a direct GET says 404.")
def sweep_deletions_and_upsert(
    context: OpExecutionContext,
    jira: ResourceParam[JiraResource],
    data: ResourceParam[DataRootResource],
) -> Iterator[AssetMaterialization | Output]:
    root = data.root()
    with closing(jira.client(root)) as client:
        try:
            summary = sweep_deletions(client, root, scope_jql=data.jql)
        except Exception as exc:
            fail_on_config_problem(exc, root, data.dist())
            raise
    context.log.info(
        f"deletion sweep: {summary.months} months, {summary.checked} stored issues, "
        f"{len(summary.deleted)} deleted, {len(summary.still_visible)} not in search but "
        f"visible, {len(summary.failed)} failed, {len(summary.invalid_keys)} invalid keys "
        f"skipped, {summary.requests} requests"
    )
    report = upsert_changed(root, summary.deleted, dist_dir=data.dist())
    yield from _table_materializations(report, "jira_deletion_sweep")
    _fail_on(summary.failed, "deletion sweep")
    yield Output(
        len(summary.deleted), metadata={"invalid_keys_skipped": len(summary.invalid_keys)}
    )


@job(executor_def=in_process_executor, description="SLA clocks of open tickets, every 15 min.")
def jira_sla_poll_job() -> None:
    poll_sla_and_upsert()


@job(executor_def=in_process_executor, description="Catch changes whose webhooks never came.")
def jira_reconcile_job() -> None:
    reconcile_and_upsert()


@job(executor_def=in_process_executor, description="Remove issues deleted without a webhook.")
def jira_deletion_sweep_job() -> None:
    sweep_deletions_and_upsert()


@op(description="Remove the receiver's copies of signed deliveries older than "
                "JIRA_WEBHOOK_RETENTION_DAYS (default 30); pending events are kept.")
def prune_webhook_copies_op(
    context: OpExecutionContext, data: ResourceParam[DataRootResource]
) -> Output:
    days = data.webhook_retention_days
    summary = prune_webhook_copies(data.root(), days)
    context.log.info(f"webhook retention ({days} days): {summary.line()}")
    if summary.skipped:
        raise Failure(f"folders outside the data root were skipped: {summary.skipped}")
    return Output(summary.removed, metadata={
        "retention_days": days, "audit_copies_removed": summary.audit_copies,
        "archived_events_removed": summary.archived_events,
        "markers_removed": summary.markers, "kept_pending": summary.kept_pending,
    })


@job(executor_def=in_process_executor, description="Daily retention of signed webhook bodies.")
def jira_webhook_retention_job() -> None:
    prune_webhook_copies_op()
