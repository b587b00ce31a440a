"""``jira-pipeline doctor``: check the configuration before anything runs."""

from __future__ import annotations

import argparse
import os

from jira_pipeline.config import ConfigError
from jira_pipeline.doctor.check import as_json, as_text, exit_code, fail
from jira_pipeline.doctor.run import DoctorOptions, run_doctor
from jira_pipeline.doctor.settings_checks import load_with_sources


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check credentials, scope, JSM, webhook, storage and Dagster against the real site",
        description="Reads the same configuration as the services and prints one line per "
        "check: ok / warn / fail with what to do. Exit status 0 all ok, 1 warnings only, "
        "2 a check failed. Never prints a secret.",
    )
    parser.add_argument("--receiver-url", help="the receiver's base URL (its health is checked)")
    parser.add_argument(
        "--send-test",
        action="store_true",
        help="post a signed test delivery and follow it to the inbox (and, when a daemon "
        "runs, into Parquet)",
    )
    parser.add_argument(
        "--no-dagster",
        action="store_true",
        help="skip the Dagster checks (a host that runs only the receiver)",
    )
    parser.add_argument(
        "--wait", type=float, default=180, help="seconds --send-test waits for Parquet"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run_doctor_command)


def run_doctor_command(args: argparse.Namespace) -> int:
    options = DoctorOptions(
        receiver_url=args.receiver_url,
        send_test=args.send_test,
        check_dagster=not args.no_dagster,
        wait_s=args.wait,
    )
    try:
        settings, sources = load_with_sources()
        checks = run_doctor(settings, sources, os.environ, options)
    except ConfigError as exc:  # a setting unusable as such (e.g. a plain-http Jira URL)
        checks = [fail("settings", f"{exc}: fix {exc.setting}")]
    print(as_json(checks).decode() if args.json else as_text(checks))
    return exit_code(checks)
