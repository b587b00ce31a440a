"""A raw store written straight from the simulator (no HTTP): the demo-like data that the
analyst guide, the report charts and the transform benchmark are computed from."""

from __future__ import annotations

import orjson

from jira_pipeline.simulator.data import SimulatedJira
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.raw_store import save_field_list

EXPAND = frozenset({"renderedFields", "changelog"})
FETCHED_AT = "2026-01-01T00:00:00.000+00:00"  # fixed, so the derived clocks are too


def write_simulated_raw_store(root: DataRoot, sim: SimulatedJira) -> int:
    """Every simulated issue as the raw store writes it (issue + remote links + SLA page);
    returns the bytes written."""
    root.issues_dir.mkdir(parents=True, exist_ok=True)
    save_field_list(root, sim.fields())
    total = 0
    keys = sim.keys()  # a list of issue keys, not a mapping
    for key in keys:
        issue = sim.issue_json(key, expand=EXPAND)
        issue["_remote_links"] = sim.remote_links(key) or []
        sla = sim.sla_page(key, 0, 50)
        if sla is not None:
            issue["_sla"] = sla["values"]
        issue["_fetched_at"] = FETCHED_AT
        data = orjson.dumps(issue, option=orjson.OPT_INDENT_2)
        (root.issues_dir / f"{key}.json").write_bytes(data)
        total += len(data)
    return total
