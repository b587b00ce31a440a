"""The webhook sender: mutate the simulated site, then deliver what Jira Cloud would send.

Deliveries behave like Jira's: signed ``X-Hub-Signature: sha256=<hex>`` over the raw body,
an ``X-Atlassian-Webhook-Identifier`` that a retry repeats (with
``X-Atlassian-Webhook-Retry``), and at-least-once, unordered delivery — a fraction is sent
twice and a fraction is held back and sent after its successor."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import requests

from jira_pipeline.jira.signature import sign_body
from jira_pipeline.sandbox.simulator.data import Mutation, SimulatedJira
from jira_pipeline.sandbox.simulator.defaults import DEFAULT_EMAIL, DEFAULT_TOKEN


@dataclass(frozen=True)
class Delivery:
    sequence: int  # position of the mutation in ``SendSummary.events``
    identifier: str
    event: str
    target: str  # issue key, or "sourceId->destinationId" for issue links
    retry: int  # 0 for the first attempt
    status: int | None  # HTTP status, None when the connection failed


@dataclass
class SendSummary:
    sent: int = 0
    accepted: int = 0  # 202: new delivery
    duplicates: int = 0  # 200: the receiver had seen this identifier
    failed: int = 0  # anything else, or no answer
    events: list[tuple[str, str]] = field(default_factory=list)  # (event, target) per mutation
    deliveries: list[Delivery] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.events)} changes, {self.sent} deliveries: {self.accepted} accepted, "
            f"{self.duplicates} duplicates, {self.failed} failed"
        )


@dataclass(frozen=True)
class _Pending:
    sequence: int
    identifier: str
    mutation: Mutation
    body: bytes


def _mutator(
    jira: SimulatedJira | None,
    simulator_url: str | None,
    credentials: tuple[str, str],
    session: requests.Session,
) -> Callable[[random.Random], Mutation]:
    if jira is not None:
        return jira.mutate
    if not simulator_url:
        raise ValueError("send_webhooks needs either jira= or simulator_url=")

    def remote(rng: random.Random) -> Mutation:
        response = session.post(
            f"{simulator_url.rstrip('/')}/_simulator/mutate",
            json={"seed": rng.getrandbits(63)},
            auth=credentials,
            timeout=30,
        )
        response.raise_for_status()
        return Mutation.from_json(response.json())

    return remote


def send_webhooks(
    url: str,
    secret: str,
    count: int,
    rate: float | None = None,
    seed: int = 0,
    *,
    jira: SimulatedJira | None = None,
    simulator_url: str | None = None,
    credentials: tuple[str, str] = (DEFAULT_EMAIL, DEFAULT_TOKEN),
    retry_fraction: float = 0.05,
    reorder_fraction: float = 0.05,
    timeout: float = 10.0,
) -> SendSummary:
    """Apply ``count`` mutations (in-process ``jira`` or the server at ``simulator_url``) and
    POST each webhook to ``url``; ``rate`` caps deliveries per second."""
    rng = random.Random(seed)
    summary = SendSummary()
    with requests.Session() as session:
        mutate = _mutator(jira, simulator_url, credentials, session)
        interval = 1.0 / rate if rate else 0.0
        next_at = time.monotonic()

        def deliver(pending: _Pending, retry: int) -> None:
            nonlocal next_at
            if interval:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at = max(next_at, time.monotonic()) + interval
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Atlassian Webhook HTTP Client",
                "X-Hub-Signature": sign_body(secret, pending.body),
                "X-Atlassian-Webhook-Identifier": pending.identifier,
                "X-Atlassian-Webhook-Flow": "Primary",
            }
            if retry:
                headers["X-Atlassian-Webhook-Retry"] = str(retry)
            try:
                status: int | None = session.post(
                    url, data=pending.body, headers=headers, timeout=timeout
                ).status_code
            except requests.RequestException:
                status = None
            summary.sent += 1
            if status == 202:
                summary.accepted += 1
            elif status == 200:
                summary.duplicates += 1
            else:
                summary.failed += 1
            summary.deliveries.append(
                Delivery(
                    pending.sequence,
                    pending.identifier,
                    pending.mutation.event,
                    pending.mutation.target,
                    retry,
                    status,
                )
            )

        held: _Pending | None = None
        for sequence in range(count):
            mutation = mutate(rng)
            summary.events.append((mutation.event, mutation.target))
            pending = _Pending(
                sequence,
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                mutation,
                orjson.dumps(mutation.body),
            )
            if held is None and rng.random() < reorder_fraction:
                held = pending  # delivered after the next one: out of order
                continue
            deliver(pending, 0)
            if rng.random() < retry_fraction:
                deliver(pending, 1)
            if held is not None:
                deliver(held, 0)
                held = None
        if held is not None:
            deliver(held, 0)
    return summary
