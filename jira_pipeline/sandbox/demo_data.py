"""A raw store written straight from the simulator (no HTTP): the demo-like data that the
analyst guide, the report charts and the transform and scale benchmarks are computed from."""

from __future__ import annotations

import orjson

from jira_pipeline.sandbox.simulator.data import SimulatedJira
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.raw_format import encode_record
from jira_pipeline.storage.raw_store import save_field_list

EXPAND = frozenset({"renderedFields", "changelog"})
FETCHED_AT = "2026-01-01T00:00:00.000+00:00"  # fixed, so the derived clocks are too


def simulated_record(sim: SimulatedJira, key: str) -> dict:
    """What the raw store keeps for ``key``: the issue with renderedFields and changelog,
    its remote links and SLA records, a fixed fetch stamp."""
    issue = sim.issue_json(key, expand=EXPAND)
    issue["_remote_links"] = sim.remote_links(key) or []
    sla = sim.sla_page(key, 0, 50)
    if sla is not None:
        issue["_sla"] = sla["values"]
    issue["_fetched_at"] = FETCHED_AT
    return issue


def write_simulated_raw_store(root: DataRoot, sim: SimulatedJira) -> int:
    """Every simulated issue written as the raw store writes it (``encode_record`` at
    ``issue_file``); returns the JSON bytes encoded, before compression."""
    save_field_list(root, sim.fields())
    total = 0
    for key in sim.keys():  # noqa: SIM118 - a list of issue keys, not a mapping
        issue = simulated_record(sim, key)
        path = root.issue_file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_record(issue))
        total += len(orjson.dumps(issue))
    return total
