"""A simulated Jira Cloud site (REST v3 + JSM SLA) and a webhook sender, so the whole
pipeline runs and is tested on one machine without a Jira account."""

from jira_pipeline.sandbox.simulator.data import Mutation, SimulatedJira
from jira_pipeline.sandbox.simulator.defaults import (
    DEFAULT_CLOUD_ID,
    DEFAULT_EMAIL,
    DEFAULT_SLA_EMAIL,
    DEFAULT_SLA_TOKEN,
    DEFAULT_TOKEN,
)
from jira_pipeline.sandbox.simulator.jql import JqlError
from jira_pipeline.sandbox.simulator.server import Faults, SimulatorServer

__all__ = [
    "DEFAULT_CLOUD_ID",
    "DEFAULT_EMAIL",
    "DEFAULT_SLA_EMAIL",
    "DEFAULT_SLA_TOKEN",
    "DEFAULT_TOKEN",
    "Faults",
    "JqlError",
    "Mutation",
    "SimulatedJira",
    "SimulatorServer",
]
