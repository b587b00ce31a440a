"""The code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from jira_pipeline.defs.assets import month_assets
from jira_pipeline.defs.jobs import (
    jira_deletion_sweep_job,
    jira_month_job,
    jira_reconcile_job,
    jira_sla_poll_job,
    jira_webhook_retention_job,
)
from jira_pipeline.defs.resources import resources_from_env
from jira_pipeline.defs.schedules import schedules
from jira_pipeline.defs.sensors import jira_webhook_sensor

defs = Definitions(
    assets=month_assets,
    jobs=[jira_month_job, jira_sla_poll_job, jira_reconcile_job, jira_deletion_sweep_job,
          jira_webhook_retention_job],
    schedules=schedules,
    sensors=[jira_webhook_sensor],
    resources=resources_from_env(),
    executor=in_process_executor,  # also for runs launched from the asset graph
)
