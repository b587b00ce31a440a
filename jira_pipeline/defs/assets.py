"""The monthly-partitioned assets: raw issues → SLA overlay → attachment files → the
Parquet tables of the table registry (the derived ones downstream of the tables they read),
and their checks.

They are one ``multi_asset``: a month run is a single step in a single process, so a
webhook batch pays one process start and one small execution plan, not one per asset;
the specs' ``deps`` still draw the lineage in the UI, and each asset reports its own
materialization and metadata. Each part is a plain function of
:mod:`jira_pipeline.orchestration.month_run`.

Backfill policy: ``multi_run(max_partitions_per_run=1)``. A range launched from the UI
becomes one run per month, so each run carries its own ``dagster/partition`` tag and the
instance's per-month concurrency limit keeps it from writing a month that a webhook run is
writing; a failed month is retried alone; progress shows per partition. The cost (one
process start per month) is small next to fetching a month of issues from Jira."""

from collections.abc import Iterator

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    multi_asset,
)
from pydantic import Field

from jira_pipeline.defs.checks import blocking_failures, evaluate_month_checks, month_check_specs
from jira_pipeline.defs.partitions import monthly_partitions
from jira_pipeline.defs.resources import (
    DataRootResource,
    JiraResource,
    JsmSlaResource,
    open_jira_clients,
)
from jira_pipeline.orchestration.month_run import (
    describe_failures,
    fetch_month_issues,
    overlay_month_sla,
    sync_month_attachments,
)
from jira_pipeline.orchestration.table_writes import write_month_tables
from jira_pipeline.storage.paths import check_month
from jira_pipeline.transform.schemas import TABLE_SPECS, TABLES

BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=1)
RAW_GROUP = "jira_raw"
TABLES_GROUP = "jira_tables"

# A tuple, not a list: autoloading collects Dagster objects in a module's lists too, and
# these specs would collide with the multi-asset that declares them (same keys).
MONTH_SPECS = (
    AssetSpec(
        "jira_raw_issues",
        group_name=RAW_GROUP,
        kinds={"jira", "json"},
        description="Issues of the month as GET /rest/api/3/issue returns them (full "
        "changelog, remote links), one JSON file each in raw/jira/issues/. A 404 "
        "tombstones the issue.",
    ),
    AssetSpec(
        "jira_sla_overlay",
        group_name=RAW_GROUP,
        kinds={"jira", "json"},
        deps=["jira_raw_issues"],
        description="JSM SLA records (first response, time to resolution) merged into the "
        "stored issues as _sla. Skipped with a warning when no SLA account is configured.",
    ),
    AssetSpec(
        "jira_attachment_files",
        group_name=RAW_GROUP,
        kinds={"jira", "file"},
        deps=["jira_sla_overlay"],
        description="Attachment bytes in raw/jira/attachments/KEY/ID_filename, in line with "
        "each issue's attachment list (over-cap files are skipped and reported).",
    ),
    *(
        AssetSpec(
            f"jira_{spec.name}",
            group_name=TABLES_GROUP,
            kinds={"parquet", "duckdb"},
            deps=[f"jira_{t}" for t in spec.reads] if spec.derived else ["jira_attachment_files"],
            description=f"{spec.description} parquet/jira/{spec.name}/YYYY-MM.parquet; "
            f"DuckDB view jira_{spec.name}.",
            metadata={"primary_key": ", ".join(spec.keys), "derived": spec.derived},
        )
        for spec in TABLE_SPECS
    ),
)


class MonthRunConfig(Config):
    """Which issues of the month to refresh. Empty = the whole month from Jira."""

    issue_keys: list[str] = Field(
        default_factory=list,
        description="Issue keys to refresh (webhook runs). Empty: every issue of the month "
        "in Jira, within JIRA_JQL (UI materialization and backfill).",
    )
    event_ids: list[str] = Field(
        default_factory=list,
        description="The pending webhook events this run covers (for the record; the sensor "
        "archives them once the run succeeded).",
    )


@multi_asset(
    name="jira_month",
    specs=MONTH_SPECS,
    check_specs=month_check_specs,
    partitions_def=monthly_partitions,
    backfill_policy=BACKFILL_POLICY,
    # Subsettable only in name: whatever part of the month is selected, the whole month is
    # refreshed and written (one step), and the selected assets and checks are reported.
    # Non-subsettable, Dagster refuses asset backfills from the UI: it compares the target
    # subsets of the derived tables (several parents) with the others' by an identity that
    # includes a cached partition count, and they differ (dagster 1.13.27).
    can_subset=True,
    description="One month: fetch the issues (given keys, or the whole month), overlay SLAs, "
    "sync attachments, upsert or rebuild the month's Parquet files (source and derived "
    "tables in one step), check them.",
)
def jira_month(
    context: AssetExecutionContext,
    config: MonthRunConfig,
    jira: ResourceParam[JiraResource],
    jsm_sla: ResourceParam[JsmSlaResource],
    data: ResourceParam[DataRootResource],
) -> Iterator[MaterializeResult | AssetCheckResult]:
    root = data.root()
    month = check_month(context.partition_key)
    with open_jira_clients(jira, jsm_sla, root) as (client, sla_client):
        scope, fetched, report = fetch_month_issues(
            month, config.issue_keys, client, root, scope_jql=data.jql
        )
        context.log.info(
            f"{month}: {'whole month' if scope.whole_month else 'webhook keys'}, "
            f"{len(fetched.fetched)} fetched, {len(fetched.deleted)} deleted, "
            f"{len(scope.neighbour_keys)} linked issues refetched, "
            f"{len(fetched.failed)} failed"
        )
        for shown in scope.invalid_search_keys:
            context.log.warning(f"{month}: Jira search returned invalid issue key {shown}; skipped")
        yield from selected(context, MaterializeResult(
            asset_key="jira_raw_issues",
            metadata={**report.metadata(), "whole_month": scope.whole_month},
        ))
        scope, overlay, report = overlay_month_sla(scope, sla_client, root)
        if overlay.warning:
            context.log.warning(overlay.warning)
        yield from selected(
            context, MaterializeResult(asset_key="jira_sla_overlay", metadata=report.metadata())
        )
        scope, files, report = sync_month_attachments(scope, client, root)
        for line in files.oversize[:20]:
            context.log.warning(f"attachment over the size cap, not downloaded: {line}")
        yield from selected(context, MaterializeResult(
            asset_key="jira_attachment_files", metadata=report.metadata()
        ))

    tables = write_month_tables(scope, root, dist_dir=data.dist())
    for table in TABLES:
        metadata = tables.table_metadata(table, month)
        metadata["path"] = MetadataValue.path(str(root.month_file(table, month)))
        yield from selected(context, MaterializeResult(asset_key=f"jira_{table}", metadata=metadata))

    results = list(evaluate_month_checks(root, month))
    for result in results:
        yield from selected(context, result)
    if failed_checks := blocking_failures(results):
        raise Failure(f"{month}: blocking checks failed: {', '.join(failed_checks)}")
    if scope.failed:
        raise Failure(
            f"{len(scope.failed)} issue(s) of {month} could not be refreshed; the others "
            f"were written:\n{describe_failures(scope.failed)}",
            metadata={"failed_issues": len(scope.failed)},
        )


def selected(
    context: AssetExecutionContext, result: MaterializeResult | AssetCheckResult
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """``result`` if the run selected its asset or check (all of them, but for a partial
    selection in the UI, which still refreshes the whole month)."""
    if isinstance(result, AssetCheckResult):
        check_key = AssetCheckKey(AssetKey.from_coercible(result.asset_key), result.check_name)
        if check_key in context.selected_asset_check_keys:
            yield result
    elif AssetKey.from_coercible(result.asset_key) in context.selected_asset_keys:
        yield result
