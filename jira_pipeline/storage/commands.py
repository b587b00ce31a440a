"""``jira-pipeline prune-webhooks``: the retention of the receiver's delivery copies, by hand
or from cron (the Dagster schedule ``jira_webhook_retention`` runs the same function daily)."""

from __future__ import annotations

import argparse

from jira_pipeline.config import load_settings
from jira_pipeline.storage.paths import DataRoot


def register(subparsers: argparse._SubParsersAction) -> None:
    prune = subparsers.add_parser(
        "prune-webhooks", help="remove old audit copies, archived events and dedup markers",
        description="Remove the receiver's copies of signed deliveries (audit copies, archived "
                    "inbox events, dedup markers) older than N days; events still pending in "
                    "the inbox are kept under every name.",
    )
    prune.add_argument(
        "--older-than-days", type=_days, default=None, metavar="N",
        help="retention in days (default: JIRA_WEBHOOK_RETENTION_DAYS, else 30)",
    )
    prune.set_defaults(func=run_prune_webhooks)


def _days(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of days >= 1, not {text!r}")
    return int(text)


def run_prune_webhooks(args: argparse.Namespace) -> int:
    from jira_pipeline.storage.webhook_retention import prune_webhook_copies

    settings = load_settings()
    days = settings.webhook_retention_days if args.older_than_days is None else args.older_than_days
    summary = prune_webhook_copies(DataRoot(settings.data_root), days)
    print(f"{settings.data_root}: {summary.line()} (older than {days} days)")
    return 1 if summary.skipped else 0
