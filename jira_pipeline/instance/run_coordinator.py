"""``PromptRunCoordinator``: Dagster's ``QueuedRunCoordinator`` whose daemon also evaluates
sensors every ``sensor_loop_seconds`` instead of every 5 s.

Why: ``dagster-daemon``'s sensor thread wakes every 5 s whatever a sensor's
``minimum_interval_seconds`` (a module constant, no instance setting), so a webhook waited
2.5 s on average before its run was even requested. Measured on a store with 41,700-issue
months: webhook freshness p50 6.4 s with the 5 s loop, 3.5 s with 1 s; 3.2 s at 1,000,000
issues (benchmarks/results/scale.md). The cost: a sensor evaluation and a stored tick a
second when idle (~5 % of a core; the instance keeps skipped ticks a day, not seven).

The daemon builds the run coordinator when it starts, to choose its daemons, before the
sensor thread's first sleep; the setting applies from then on. A daemon that cannot import
this project (the Kubernetes chart's own image) keeps the stock coordinator and 5 s loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Field, QueuedRunCoordinator

from jira_pipeline.dagster_private import ConfigurableClassData, set_sensor_loop_seconds

DEFAULT_SENSOR_LOOP_SECONDS = 1


class PromptRunCoordinator(QueuedRunCoordinator):
    """A ``QueuedRunCoordinator`` (same settings) that shortens the sensor daemon's loop."""

    def __init__(
        self,
        sensor_loop_seconds: int = DEFAULT_SENSOR_LOOP_SECONDS,
        **queue_settings: Any,
    ) -> None:
        if sensor_loop_seconds < 1:
            raise ValueError(f"sensor_loop_seconds must be 1 or more, not {sensor_loop_seconds}")
        super().__init__(**queue_settings)
        self.sensor_loop_seconds = sensor_loop_seconds
        set_sensor_loop_seconds(sensor_loop_seconds)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **super().config_type(),
            "sensor_loop_seconds": Field(
                int,
                is_required=False,
                default_value=DEFAULT_SENSOR_LOOP_SECONDS,
                description="How often dagster-daemon evaluates sensors that are due (Dagster: "
                "5). Webhook freshness waits half of it on average.",
            ),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> PromptRunCoordinator:
        # QueuedRunCoordinator's settings are its constructor's parameters, by name
        return cls(inst_data=inst_data, **config_value)
