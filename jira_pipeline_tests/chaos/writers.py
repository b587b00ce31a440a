"""The three writers of the colliding-writers case, each a separate process doing what its
Dagster job does (fetch into the raw store, then upsert the months it touched), in small
batches so their month locks interleave:

- ``webhook``: refresh the issues webhooks named, then upsert them;
- ``sla``: SLA polling of open tickets (heals resolved ones), then upsert;
- ``backfill``: a forced backfill of the whole scope, then upsert everything it fetched."""

from __future__ import annotations

import os
from pathlib import Path

from jira_pipeline.ingest import backfill, refresh_issues
from jira_pipeline.maintenance.sla_poll import poll_sla
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline_tests.chaos.site import clients
from jira_pipeline_tests.fixtures.mirror import SCOPE

BATCH = 5


def run_writer(kind: str, env: dict[str, str], root_path: str, keys: list[str]) -> dict:
    """Entry point in a spawned process; returns what it wrote and what failed."""
    os.environ.update(env)  # the HTTP layer reads its rate budget from the environment
    root = DataRoot(Path(root_path))
    jira, sla = clients(env, root)
    failed: dict[str, str] = {}
    upserted = 0
    try:
        if kind == "webhook":
            changed = []
            for start in range(0, len(keys), BATCH):
                summary = refresh_issues(keys[start : start + BATCH], jira, sla, root)
                failed.update(summary.failed)
                changed += summary.changed_keys
                upserted += len(upsert_issues(root, summary.changed_keys).months)
        elif kind == "sla":
            summary = poll_sla(jira, sla, root)
            failed.update(summary.failed)
            changed = summary.changed_keys
            upserted += len(upsert_issues(root, changed).months)
        elif kind == "backfill":
            summary = backfill(jira, sla, root, jql=SCOPE, force=True, progress=False)
            failed.update(summary.failed)
            changed = sorted(summary.fetched + summary.deleted)
            for start in range(0, len(changed), BATCH * 2):
                upserted += len(upsert_issues(root, changed[start : start + BATCH * 2]).months)
        else:
            raise ValueError(f"unknown writer {kind!r}")
    finally:
        jira.close()
        if sla is not None:
            sla.close()
    return {"kind": kind, "changed": len(changed), "month_writes": upserted, "failed": failed}
