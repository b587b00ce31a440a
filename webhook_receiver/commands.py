"""``jira-pipeline receiver``: the webhook receiver under the production server."""

from __future__ import annotations

import argparse

from jira_pipeline.cli_args import positive_int
from webhook_receiver.server import DEFAULT_THREADS, DEFAULT_WORKERS, serve


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "receiver",
        help="serve the Jira webhook receiver (gunicorn)",
        description="Serve POST /webhooks/jira and GET /webhooks/jira/health with gunicorn. "
        "Settings come from the environment (JIRA_WEBHOOK_SECRET, JIRA_DATA_ROOT, …).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8000, help="TCP port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--workers", type=positive_int, default=DEFAULT_WORKERS,
        help="worker processes, one per core (default: %(default)s)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=DEFAULT_THREADS,
        help="threads per worker, overlapping fsync waits (default: %(default)s)",
    )
    parser.set_defaults(func=run_receiver)


def run_receiver(args: argparse.Namespace) -> int:
    serve(args.host, args.port, args.workers, args.threads)
    return 0
