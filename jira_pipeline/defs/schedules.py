"""The maintenance schedules, running by default (UTC). The jobs are used through their
module (``jobs.…``), so autoloading finds each job in ``jobs.py`` only."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, ScheduleDefinition

from jira_pipeline.defs import jobs

jira_sla_poll = ScheduleDefinition(
    name="jira_sla_poll",
    job=jobs.jira_sla_poll_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="SLA clocks move between webhooks: refresh open tickets' SLA records.",
)

jira_reconcile = ScheduleDefinition(
    name="jira_reconcile",
    job=jobs.jira_reconcile_job,
    cron_schedule="7 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Hourly: refetch issues updated since the last watermark (minus an overlap).",
)

jira_deletion_sweep = ScheduleDefinition(
    name="jira_deletion_sweep",
    job=jobs.jira_deletion_sweep_job,
    cron_schedule="23 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily: tombstone issues deleted in Jira whose webhook was lost.",
)

jira_webhook_retention = ScheduleDefinition(
    name="jira_webhook_retention",
    job=jobs.jira_webhook_retention_job,
    cron_schedule="41 4 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily: remove audit copies, archived events and dedup markers older than "
    "JIRA_WEBHOOK_RETENTION_DAYS; they hold replayable signed bodies.",
)
