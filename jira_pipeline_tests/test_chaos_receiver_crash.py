"""Chaos 1b: SIGKILL the production receiver (gunicorn master and workers at once) while
clients keep delivering, restart it, and check that every delivery Jira was told was stored
(202) is in the inbox and the audit log, exactly once.

Clients behave like Jira: a delivery that got no answer (connection refused or reset) is
retried with the same ``X-Atlassian-Webhook-Identifier`` until it is acknowledged."""

from __future__ import annotations

import contextlib
import os
import queue
import random
import secrets
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
import requests

from jira_pipeline.jira.signature import sign_body
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.inbox import list_pending
from jira_pipeline_tests.chaos.report import ChaosReport, ChaosRow
from jira_pipeline_tests.fixtures.chaos import ChaosScale
from jira_pipeline_tests.fixtures.receiver import RunningReceiver, running_receiver

# The long version (--run-chaos) runs for minutes on a busy 2-core machine
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]

CLIENT_THREADS = 8


@dataclass(frozen=True)
class Delivery:
    identifier: str
    issue_key: str
    body: bytes


@dataclass
class Outcomes:
    """What the clients were told, per webhook identifier."""

    accepted: Counter[str] = field(default_factory=Counter)  # 202
    duplicate: Counter[str] = field(default_factory=Counter)  # 200 {"status": "duplicate"}
    unanswered: int = 0  # attempts that got no HTTP answer (the server was dead)
    other: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_deliveries(count: int, run: int) -> list[Delivery]:
    """Distinct signed-able deliveries, one issue key each so the inbox maps back to them."""
    deliveries = []
    for n in range(count):
        key = f"LOAD{run}-{n + 1}"
        body = orjson.dumps(
            {
                "timestamp": 1_700_000_000_000 + n,
                "webhookEvent": "jira:issue_updated",
                "issue_event_type_name": "issue_generic",
                "issue": {
                    "id": str(100_000 + n),
                    "key": key,
                    "fields": {"summary": f"load {n}", "created": "2025-03-04T05:06:07.000+0000"},
                },
            }
        )
        deliveries.append(Delivery(f"chaos-{run}-{n}-{secrets.token_hex(4)}", key, body))
    return deliveries


class Receiver:
    """The current production receiver; the killer swaps it, clients read its URL."""

    def __init__(self, root: DataRoot, secret: str, stack: contextlib.ExitStack) -> None:
        self.root, self.secret, self.stack = root, secret, stack
        self.running = self._start()

    def _start(self) -> RunningReceiver:
        return self.stack.enter_context(running_receiver(self.root, secret=self.secret, workers=2))

    @property
    def url(self) -> str:
        return self.running.webhook_url

    def crash_and_restart(self) -> None:
        """SIGKILL the whole process group (gunicorn master and workers at once: no
        graceful shutdown, no flush), then start a new receiver on the same data root."""
        os.killpg(self.running.process.pid, signal.SIGKILL)
        self.running.process.wait(timeout=30)
        self.running = self._start()


def deliver_until_acknowledged(
    receiver: Receiver, secret: str, work: queue.Queue[Delivery | None], outcomes: Outcomes
) -> None:
    session = requests.Session()
    while (delivery := work.get()) is not None:
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": sign_body(secret, delivery.body),
            "X-Atlassian-Webhook-Identifier": delivery.identifier,
        }
        while True:
            try:
                response = session.post(
                    receiver.url, data=delivery.body, headers=headers, timeout=10
                )
            except requests.RequestException:
                with outcomes.lock:
                    outcomes.unanswered += 1
                session.close()
                session = requests.Session()
                time.sleep(0.05)
                continue
            with outcomes.lock:
                if response.status_code == 202:
                    outcomes.accepted[delivery.identifier] += 1
                elif response.status_code == 200 and response.json()["status"] == "duplicate":
                    outcomes.duplicate[delivery.identifier] += 1
                else:
                    outcomes.other[response.status_code] += 1
            if response.status_code in (200, 202):
                break
            time.sleep(0.05)
    session.close()


def audited_identifiers(root: DataRoot) -> Counter[str]:
    found: Counter[str] = Counter()
    for path in root.webhook_events_dir.glob("*.json"):
        record = orjson.loads(path.read_bytes())
        found[record["headers"].get("X-Atlassian-Webhook-Identifier")] += 1
    return found


def run_once(
    run: int, tmp_path: Path, deliveries_per_run: int, kills: int, rng: random.Random
) -> tuple[list[Delivery], Outcomes, DataRoot, int]:
    root = DataRoot(tmp_path / f"run{run}" / "data")
    root.root.mkdir(parents=True)
    secret = secrets.token_urlsafe(24)
    deliveries = make_deliveries(deliveries_per_run, run)
    # Jira retries some deliveries on its own: send a fifth of them twice
    resent = rng.sample(deliveries, len(deliveries) // 5)
    work: queue.Queue[Delivery | None] = queue.Queue()
    for delivery in deliveries + resent:
        work.put(delivery)
    for _ in range(CLIENT_THREADS):
        work.put(None)

    outcomes = Outcomes()
    injected = 0
    with contextlib.ExitStack() as stack:  # stops whichever receiver is running at the end
        receiver = Receiver(root, secret, stack)
        clients = [
            threading.Thread(
                target=deliver_until_acknowledged, args=(receiver, secret, work, outcomes)
            )
            for _ in range(CLIENT_THREADS)
        ]
        for client in clients:
            client.start()
        for _ in range(kills):
            time.sleep(rng.uniform(0.2, 1.0))
            if work.empty():
                break
            receiver.crash_and_restart()
            injected += 1
        for client in clients:
            client.join(timeout=300)
        assert not any(c.is_alive() for c in clients), "clients still waiting for an answer"
    return deliveries, outcomes, root, injected


@dataclass(frozen=True)
class CrashRun:
    deliveries: list[Delivery]
    outcomes: Outcomes
    pending: Counter[str]  # inbox entries per issue key (one key per delivery)
    audited: Counter[str]  # audit files per webhook identifier
    injected: int


@pytest.fixture(scope="module")
def crash_runs(
    tmp_path_factory: pytest.TempPathFactory, chaos_scale: ChaosScale, chaos_report: ChaosReport
) -> list[CrashRun]:
    """Run the scenario once for the module's assertions and add its row to the table."""
    runs = chaos_scale.pick(1, 5)
    deliveries_per_run = chaos_scale.pick(400, 3000)
    kills_per_run = chaos_scale.pick(2, 6)
    rng = random.Random(7)
    tmp_path = tmp_path_factory.mktemp("receiver-crash")
    results = []
    for run in range(runs):
        deliveries, outcomes, root, injected = run_once(
            run, tmp_path, deliveries_per_run, kills_per_run, rng
        )
        pending = Counter(event.issue_key for _, event in list_pending(root))
        results.append(CrashRun(deliveries, outcomes, pending, audited_identifiers(root), injected))

    accepted = [d for r in results for d in r.deliveries if r.outcomes.accepted[d.identifier]]
    lost = sum(
        1
        for r in results
        for d in r.deliveries
        if r.outcomes.accepted[d.identifier]
        and not (r.pending[d.issue_key] and r.audited[d.identifier])
    )
    twice = sum(n - 1 for r in results for n in r.pending.values() if n > 1)
    chaos_report.add(
        ChaosRow(
            case="1b receiver SIGKILL under load",
            runs=runs,
            faults=f"{sum(r.injected for r in results)} SIGKILLs of gunicorn master+workers",
            events_sent=sum(len(r.deliveries) for r in results),
            events_in_parquet=None,
            lost=lost,
            checked=f"{sum(r.outcomes.unanswered for r in results)} attempts cut off and retried; "
            f"{len(accepted)} answered 202, all in inbox and audit log; {twice} queued twice",
        )
    )
    return results


def test_every_acknowledged_delivery_survives_receiver_sigkill(crash_runs: list[CrashRun]) -> None:
    for run in crash_runs:
        assert run.outcomes.other == Counter(), f"unexpected statuses {run.outcomes.other}"
        accepted = [d for d in run.deliveries if run.outcomes.accepted[d.identifier]]
        not_queued = [d.issue_key for d in accepted if not run.pending[d.issue_key]]
        assert not not_queued, (
            f"202-acknowledged deliveries missing from the inbox: {not_queued[:5]}"
        )
        not_audited = [d.identifier for d in accepted if not run.audited[d.identifier]]
        assert not not_audited, (
            f"acknowledged deliveries missing from the audit log: {not_audited[:5]}"
        )
        assert all(run.outcomes.accepted[d.identifier] <= 1 for d in run.deliveries), "202 twice"
        # Jira's retries get every delivery through in the end, and every one is queued
        assert all(
            run.outcomes.accepted[d.identifier] or run.outcomes.duplicate[d.identifier]
            for d in run.deliveries
        )
        assert set(run.pending) == {d.issue_key for d in run.deliveries}


def test_no_delivery_is_queued_twice_after_receiver_sigkill(crash_runs: list[CrashRun]) -> None:
    for run in crash_runs:
        twice = {key: n for key, n in run.pending.items() if n > 1}
        assert not twice, f"deliveries queued twice: {twice}"
