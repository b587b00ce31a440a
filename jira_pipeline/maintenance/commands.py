"""The maintenance commands, by hand or from cron (the Dagster schedules run the same
functions): ``jira-pipeline poll-sla`` (SLA clocks of open tickets, stale statuses healed)
and ``jira-pipeline prune-webhooks`` (retention of the receiver's delivery copies)."""

from __future__ import annotations

import argparse

from jira_pipeline.cli_args import positive_int, run_command
from jira_pipeline.config import load_settings
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.maintenance.sla_poll import poll_sla
from jira_pipeline.maintenance.webhook_retention import prune_webhook_copies
from jira_pipeline.storage.auth_state import auth_recorder
from jira_pipeline.storage.paths import DataRoot


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "poll-sla", help="refresh SLA data of open issues; heal issues Jira resolved"
    )
    parser.add_argument("--dry-run", action="store_true", help="read Jira, write nothing")
    parser.add_argument("--verbose", action="store_true", help="one line per issue")
    parser.add_argument("--parallel", type=positive_int, default=8, help="issues in flight")
    parser.set_defaults(func=run_poll_sla)

    prune = subparsers.add_parser(
        "prune-webhooks", help="remove old audit copies, archived events and dedup markers",
        description="Remove the receiver's copies of signed deliveries (audit copies, archived "
                    "inbox events, dedup markers) older than N days; events still pending in "
                    "the inbox are kept under every name.",
    )
    prune.add_argument(
        "--older-than-days", type=positive_int, default=None, metavar="N",
        help="retention in days (default: JIRA_WEBHOOK_RETENTION_DAYS, else 30)",
    )
    prune.set_defaults(func=run_prune_webhooks)


def run_poll_sla(args: argparse.Namespace) -> int:
    def body() -> bool:
        settings = load_settings()
        root = DataRoot(settings.data_root)
        summary = poll_sla(
            JiraClient.from_settings(settings, on_auth=auth_recorder(root)),
            JsmSlaClient.from_settings(settings, on_auth=auth_recorder(root)),
            root,
            dry_run=args.dry_run,
            parallel=args.parallel,
            progress=True,
        )
        print("\n".join(summary.lines(verbose=args.verbose)))
        return summary.ok

    return run_command(body)


def run_prune_webhooks(args: argparse.Namespace) -> int:
    settings = load_settings()
    days = settings.webhook_retention_days if args.older_than_days is None else args.older_than_days
    summary = prune_webhook_copies(DataRoot(settings.data_root), days)
    print(f"{settings.data_root}: {summary.line()} (older than {days} days)")
    return 1 if summary.skipped else 0
