"""Chaos 3: Jira misbehaves during a webhook burst, and the Dagster flow rides it out.

Outage: the simulator answers 503 to everything while webhooks keep arriving. The receiver
still accepts them; the month runs the sensor requests fail; every event stays pending;
the sensor requests the failed batches again (after its backoff). When Jira is back the
tables converge to exactly the simulator's state. The outage outlasts the client's retry
budget (the test shortens the budget so a run fails in seconds instead of minutes).

Rate limiting: every Nth request is a 429 with ``Retry-After``; with the production retry
policy the runs only slow down: none fails.

Driven by :class:`SensorDriver` (sensor evaluation + in-process runs on a real instance)
rather than the daemon, so each tick is deterministic and the clock can skip backoffs."""

from __future__ import annotations

import functools
import random
import time
import uuid
from pathlib import Path

import orjson
import pytest
from dagster import DagsterInstance
from flask.testing import FlaskClient

from jira_pipeline.defs import sensors
from jira_pipeline.jira import http
from jira_pipeline.jira.signature import sign_body
from jira_pipeline.sandbox.simulator import Mutation, SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.inbox import list_pending
from jira_pipeline_tests.chaos.dagster_flow import SensorDriver
from jira_pipeline_tests.chaos.report import ChaosReport, ChaosRow
from jira_pipeline_tests.chaos.site import (
    differences,
    explain,
    simulator_state,
    site_env,
    table_state,
    visible_changes,
)
from jira_pipeline_tests.fixtures.chaos import ChaosScale
from jira_pipeline_tests.fixtures.mirror import mirror, resources_for
from jira_pipeline_tests.fixtures.receiver import receiver_config
from webhook_receiver import create_app

# The long version (--run-chaos) runs for minutes on a busy 2-core machine
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]

SECRET = "outage-test-secret"
MAX_RECOVERY_TICKS = 12
RATE_LIMIT_EVERY = 4


class FakeClock:
    """The sensor's clock; each tick jumps past any retry backoff."""

    def __init__(self) -> None:
        self.now = time.time()  # events carry real receipt times

    def __call__(self) -> float:
        return self.now

    def advance(self) -> None:
        self.now += 3600


def deliver_burst(
    site: SimulatedJira, client: FlaskClient, rng: random.Random, count: int
) -> list[Mutation]:
    """Mutate the site ``count`` times and deliver each webhook (a tenth of them twice, as
    Jira's retries do); every first delivery must be accepted."""
    mutations = []
    for _ in range(count):
        mutation = site.mutate(rng)
        body = orjson.dumps(mutation.body)
        headers = {
            "X-Hub-Signature": sign_body(SECRET, body),
            "X-Atlassian-Webhook-Identifier": str(uuid.UUID(int=rng.getrandbits(128))),
            "Content-Type": "application/json",
        }
        assert client.post("/webhooks/jira", data=body, headers=headers).status_code == 202
        if rng.random() < 0.1:
            assert client.post("/webhooks/jira", data=body, headers=headers).status_code == 200
        mutations.append(mutation)
    return mutations


def run_until_settled(driver: SensorDriver, clock: FakeClock, root: DataRoot) -> int:
    """Tick (and run what is requested) until the inbox is empty and nothing is requested."""
    for tick in range(MAX_RECOVERY_TICKS):
        clock.advance()
        if driver.tick_and_run() == 0 and not list_pending(root):
            return tick + 1
    raise AssertionError(
        f"not settled after {MAX_RECOVERY_TICKS} ticks: {len(list_pending(root))} events pending"
    )


def test_outage_and_rate_limit_storm_lose_nothing(
    tmp_path: Path,
    chaos_scale: ChaosScale,
    chaos_report: ChaosReport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JIRA_RATE_LIMIT_PER_S", "0")
    burst = chaos_scale.pick(12, 150)
    outage_ticks = chaos_scale.pick(2, 5)
    clock = FakeClock()
    monkeypatch.setattr(sensors, "clock", clock)
    site = SimulatedJira(
        seed=13,
        issues=chaos_scale.pick(24, 120),
        start_month="2024-01",
        months=chaos_scale.pick(2, 6),
    )  # a run per month and tick
    rng = random.Random(17)
    root = DataRoot(tmp_path / "data")
    client = create_app(receiver_config(root, JIRA_WEBHOOK_SECRET=SECRET)).test_client()

    mutations: list[Mutation] = []
    with SimulatorServer(site) as server, DagsterInstance.ephemeral() as instance:
        mirror(site_env(server, root), root)
        driver = SensorDriver(instance, resources_for(server.env(), root))
        try:
            faults = outage_then_storm(site, server, driver, client, clock, root, rng, burst,
                                       outage_ticks, mutations, monkeypatch)
            checked = ("inbox kept every event during the outage; tables == simulator "
                       "after each phase")
        except AssertionError as failure:
            faults, checked = "outage, then 429 storm", f"FAILED: {str(failure).splitlines()[0]}"
            raise
        finally:
            visible = visible_changes(site, mutations, simulator_state(site), table_state(root))
            chaos_report.add(
                ChaosRow(
                    case="3 Jira outage during a burst, then a 429 storm",
                    runs=driver.succeeded + driver.failed,
                    faults=faults,
                    events_sent=len(mutations),
                    events_in_parquet=visible,
                    lost=len(mutations) - visible,
                    checked=checked,
                )
            )


def outage_then_storm(
    site: SimulatedJira,
    server: SimulatorServer,
    driver: SensorDriver,
    client: FlaskClient,
    clock: FakeClock,
    root: DataRoot,
    rng: random.Random,
    burst: int,
    outage_ticks: int,
    mutations: list[Mutation],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """The two phases; appends every delivered change to ``mutations`` and returns the
    faults-injected summary for the table."""
    production_policy = http.RetryPolicy
    # The outage must outlast the client's retry budget: shorten it so a run fails in seconds
    monkeypatch.setattr(http, "RetryPolicy", functools.partial(
        production_policy, total=2, backoff_factor=0.02, backoff_max=0.1))
    server.faults.down = True
    mutations += deliver_burst(site, client, rng, burst)
    accepted = len(list_pending(root))
    assert accepted == burst
    for _ in range(outage_ticks):
        clock.advance()
        driver.tick_and_run()
    runs_failed_in_outage = driver.failed
    assert runs_failed_in_outage > 0 and driver.succeeded == 0
    assert len(list_pending(root)) == accepted, "an event left the inbox during the outage"

    server.faults.down = False
    recovery_ticks = run_until_settled(driver, clock, root)
    expected, actual = simulator_state(site), table_state(root)
    wrong = differences(expected, actual)
    assert not wrong, f"not converged after the outage: {explain(expected, actual, wrong)}"
    runs_after_outage = driver.succeeded

    # 429 storm with the production retry policy: slower, never failed
    monkeypatch.setattr(http, "RetryPolicy", production_policy)
    server.faults.rate_limit_every, server.faults.retry_after_s = RATE_LIMIT_EVERY, 1
    requests_before = server.request_count
    failed_before = driver.failed
    mutations += deliver_burst(site, client, rng, burst)
    run_until_settled(driver, clock, root)
    rate_limited = (server.request_count - requests_before) // RATE_LIMIT_EVERY
    server.faults.rate_limit_every = 0
    assert driver.failed == failed_before, "a run failed under rate limiting"
    assert rate_limited > 0
    expected, actual = simulator_state(site), table_state(root)
    wrong = differences(expected, actual)
    assert not wrong, f"not converged after the 429 storm: {explain(expected, actual, wrong)}"
    return (
        f"503 outage over {outage_ticks} ticks ({runs_failed_in_outage} runs failed, retried "
        f"after recovery in {recovery_ticks} ticks, {runs_after_outage} succeeded); "
        f"~{rate_limited} x 429 (0 runs failed)"
    )
