"""``jira-pipeline simulator serve`` and ``jira-pipeline simulator send-webhooks``."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from jira_pipeline.sandbox.simulator.data import SimulatedJira
from jira_pipeline.sandbox.simulator.defaults import (
    DEFAULT_CLOUD_ID,
    DEFAULT_EMAIL,
    DEFAULT_SLA_EMAIL,
    DEFAULT_SLA_TOKEN,
    DEFAULT_TOKEN,
)
from jira_pipeline.sandbox.simulator.server import Faults, SimulatorServer
from jira_pipeline.sandbox.simulator.webhooks import send_webhooks


def _fraction(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulator", help="a simulated Jira Cloud for tests and demos")
    commands = parser.add_subparsers(dest="simulator_command", required=True, metavar="ACTION")

    serve = commands.add_parser("serve", help="serve the simulated Jira Cloud REST v3 + JSM API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_non_negative, default=0, help="0 picks a free port")
    serve.add_argument("--issues", type=_non_negative, default=200)
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument(
        "--projects",
        default="SUPPORT,ENG",
        help="comma-separated keys; the first is the service desk",
    )
    serve.add_argument("--start-month", default="2024-01", help="first month of created dates")
    serve.add_argument("--months", type=_non_negative, default=24, help="months they span")
    serve.add_argument("--email", default=DEFAULT_EMAIL)
    serve.add_argument("--token", default=DEFAULT_TOKEN)
    serve.add_argument("--sla-email", default=DEFAULT_SLA_EMAIL)
    serve.add_argument("--sla-token", default=DEFAULT_SLA_TOKEN)
    serve.add_argument("--cloud-id", default=DEFAULT_CLOUD_ID)
    serve.add_argument(
        "--rate-limit-every",
        type=_non_negative,
        default=0,
        help="answer every Nth request with 429 + Retry-After",
    )
    serve.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds")
    serve.add_argument("--error-rate", type=_fraction, default=0.0, help="share of 500/503")
    serve.add_argument("--latency-ms", type=_non_negative, default=0)
    serve.add_argument(
        "--truncate-rate", type=_fraction, default=0.0, help="share of bodies cut half way"
    )
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.set_defaults(func=_serve)

    send = commands.add_parser(
        "send-webhooks", help="mutate a running simulator and deliver signed webhooks"
    )
    send.add_argument("--url", required=True, help="the webhook receiver endpoint")
    send.add_argument(
        "--secret",
        default=os.environ.get("JIRA_WEBHOOK_SECRET", ""),
        help="signing secret (default: JIRA_WEBHOOK_SECRET)",
    )
    send.add_argument("--count", type=_non_negative, required=True)
    send.add_argument("--rate", type=float, default=None, help="deliveries per second")
    send.add_argument("--seed", type=int, default=0)
    send.add_argument(
        "--simulator-url",
        default=os.environ.get("JIRA_BASE_URL"),
        help="the running simulator (default: JIRA_BASE_URL)",
    )
    send.add_argument("--email", default=os.environ.get("JIRA_EMAIL") or DEFAULT_EMAIL)
    send.add_argument("--token", default=os.environ.get("JIRA_API_TOKEN") or DEFAULT_TOKEN)
    send.add_argument("--retry-fraction", type=_fraction, default=0.05)
    send.add_argument("--reorder-fraction", type=_fraction, default=0.05)
    send.set_defaults(func=_send)


def _serve(args: argparse.Namespace) -> int:
    projects = [p.strip() for p in args.projects.split(",") if p.strip()]
    jira = SimulatedJira(
        seed=args.seed,
        issues=args.issues,
        projects=projects,
        start_month=args.start_month,
        months=args.months,
    )
    faults = Faults(
        rate_limit_every=args.rate_limit_every,
        retry_after_s=args.retry_after,
        error_rate=args.error_rate,
        latency_ms=args.latency_ms,
        truncate_rate=args.truncate_rate,
    )
    server = SimulatorServer(
        jira,
        args.host,
        args.port,
        email=args.email,
        token=args.token,
        sla_email=args.sla_email,
        sla_token=args.sla_token,
        cloud_id=args.cloud_id,
        faults=faults,
        verbose=args.verbose,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with server:
        # Fake, simulator-only credentials: printing them is how a user learns them.
        print(
            f"Simulated Jira Cloud at {server.base_url} ({args.issues} issues, seed "
            f"{args.seed}, projects {','.join(p.key for p in jira.projects)})"
        )
        for name, value in server.env().items():
            print(f"  {name}={value}")
        print("Press Ctrl+C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0


def _send(args: argparse.Namespace) -> int:
    if not args.secret:
        print("send-webhooks: --secret (or JIRA_WEBHOOK_SECRET) is required", file=sys.stderr)
        return 2
    if not args.simulator_url:
        print("send-webhooks: --simulator-url (or JIRA_BASE_URL) is required", file=sys.stderr)
        return 2
    summary = send_webhooks(
        args.url,
        args.secret,
        args.count,
        args.rate,
        args.seed,
        simulator_url=args.simulator_url,
        credentials=(args.email, args.token),
        retry_fraction=args.retry_fraction,
        reorder_fraction=args.reorder_fraction,
    )
    print(f"send-webhooks: {summary}")
    return 1 if summary.failed else 0
