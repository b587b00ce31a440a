"""``jira-pipeline backfill`` and ``jira-pipeline poll-sla``: settings from the
environment, progress bars on stderr, a summary on stdout, exit 1 when any issue failed
and 2 when the run could not start (configuration, or a 401: rotate the token)."""

from __future__ import annotations

import argparse

from jira_pipeline.cli_args import positive_int, run_command
from jira_pipeline.config import load_settings
from jira_pipeline.ingest.backfill import backfill
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.auth_state import auth_recorder
from jira_pipeline.storage.paths import DataRoot, check_month


def _month(value: str) -> str:
    try:
        return check_month(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backfill", help="fetch every issue of the scope JQL into the raw store"
    )
    parser.add_argument("--jql", help="scope (default: JIRA_JQL)")
    parser.add_argument("--parallel", type=positive_int, default=8, help="issues in flight")
    parser.add_argument("--since", type=_month, metavar="YYYY-MM", help="created from month")
    parser.add_argument("--force", action="store_true", help="refetch issues already current")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_backfill)


def run_backfill(args: argparse.Namespace) -> int:
    def body() -> bool:
        settings = load_settings()
        root = DataRoot(settings.data_root)
        jira = JiraClient.from_settings(settings, on_auth=auth_recorder(root))
        summary = backfill(
            jira,
            JsmSlaClient.from_settings(settings, on_auth=auth_recorder(root)),
            root,
            jql=args.jql if args.jql is not None else settings.jql,
            parallel=args.parallel,
            since=args.since,
            force=args.force,
            progress=not args.quiet,
        )
        print("\n".join(summary.lines()))
        return summary.ok

    return run_command(body)
