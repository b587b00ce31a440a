"""End to end, as deployed: the simulated Jira, the receiver under gunicorn, and a real
``dagster-daemon`` (sensor, run queue with the per-month limit, runs in their own
processes) on a temporary instance. 200 signed webhooks of every kind (creates, updates,
comments, attachments, links, deletes, Jira's retries and out-of-order deliveries) must
leave the Parquet tables exactly as a fresh backfill of the simulator's final state
would, and the inbox empty."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from jira_pipeline.sandbox.demo import demo_months
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.sandbox.simulator.webhooks import send_webhooks
from jira_pipeline.storage.inbox import list_pending
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline_tests.fixtures.dagster_daemon import running_daemon, settled, wait_for
from jira_pipeline_tests.fixtures.mirror import SCOPE, differences, mirror
from jira_pipeline_tests.fixtures.receiver import running_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_webhooks_converge_to_simulator_state(tmp_path):
    months = demo_months(3, datetime.now(UTC))  # two past months; new issues land in this one
    jira = SimulatedJira(seed=5, issues=120, start_month=months[0], months=2)
    with SimulatorServer(jira) as server:
        env = {**server.env(), "JIRA_START_MONTH": months[0], "JIRA_JQL": SCOPE}
        live = DataRoot(tmp_path / "data")
        mirror(env, live)  # the starting point: a backfilled mirror
        with (
            running_receiver(live) as receiver,
            running_daemon(tmp_path / "dagster_home",
                           {**env, "JIRA_DATA_ROOT": str(live.root)}) as daemon,
        ):
            started = time.monotonic()
            summary = send_webhooks(receiver.webhook_url, receiver.secret, 200, seed=9,
                                    jira=jira, retry_fraction=0.1, reorder_fraction=0.1)
            assert summary.failed == 0 and summary.accepted > 150 and summary.duplicates > 0
            kinds = {event for event, _ in summary.events}
            assert {"jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
                    "comment_created", "attachment_created", "issuelink_created"} <= kinds
            assert wait_for(lambda: settled(daemon, live), timeout=120, interval=1), (
                f"not settled: {len(list_pending(live))} pending, "
                f"{daemon.unfinished_runs()} runs unfinished\n{daemon.log_text()}")
            month_runs = [r for r in daemon.runs() if r.job_name == "jira_month_job"]
            assert month_runs and all(r.tags.get("dagster/partition") for r in month_runs)
            print(f"settled {time.monotonic() - started:.1f} s after the first webhook; "
                  f"{len(month_runs)} month runs, "
                  f"{sum(r.is_failure for r in month_runs)} failed (retried)")
        expected = DataRoot(tmp_path / "expected")
        mirror(env, expected)
    assert list_pending(live) == []
    assert {t: differences(live, expected, t) for t in TABLES} == {t: [] for t in TABLES}
