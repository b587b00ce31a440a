"""The webhook flow driven by hand on a real Dagster instance: evaluate
``jira_webhook_sensor`` the way the daemon would (same cursor hand-over, same instance for
run lookups), then execute each requested run in-process with the run key and tags the
daemon would give it. Faster and more controllable than the daemon, same code path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagster import DagsterInstance, Definitions, RunRequest, build_sensor_context
from dagster._core.storage.tags import RUN_KEY_TAG

from jira_pipeline.defs.jobs import jira_month_job
from jira_pipeline.defs.sensors import jira_webhook_sensor
from jira_pipeline_tests.fixtures.code_location import code_location


@dataclass
class SensorDriver:
    """One sensor (cursor kept between ticks) and the month job bound to ``resources``
    (``jira``, ``jsm_sla``, ``data``: the code location's resource keys)."""

    instance: DagsterInstance
    resources: dict[str, Any]
    cursor: str | None = None
    succeeded: int = 0
    failed: int = 0
    requested: list[RunRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The code location's own assets, checks and jobs, bound to these resources
        defs = code_location()
        self.job = Definitions(
            assets=defs.assets,
            asset_checks=defs.asset_checks,
            jobs=defs.jobs,
            resources=self.resources,
        ).resolve_job_def(jira_month_job.name)

    def tick(self) -> list[RunRequest]:
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"jira": self.resources["jira"], "data": self.resources["data"]},
        )
        result = jira_webhook_sensor(context)
        self.cursor = result.cursor
        self.requested += result.run_requests
        return list(result.run_requests)

    def execute(self, request: RunRequest) -> bool:
        """Run the request as the daemon would launch it; True when the run succeeded."""
        result = self.job.execute_in_process(
            run_config=request.run_config,
            instance=self.instance,
            partition_key=request.partition_key,
            tags={**request.tags, RUN_KEY_TAG: request.run_key},
            raise_on_error=False,
        )
        if result.success:
            self.succeeded += 1
        else:
            self.failed += 1
        return result.success

    def tick_and_run(self) -> int:
        """One sensor tick and every run it asked for; returns how many runs were requested."""
        requests = self.tick()
        for request in requests:
            self.execute(request)
        return len(requests)
