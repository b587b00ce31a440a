"""The ``jira-pipeline`` command. Each area registers its own sub-commands; this module
only assembles them, so adding a command never touches another area's code."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module exposes ``register(subparsers)``, adding parsers with ``set_defaults(func=…)``
# where ``func(args) -> int`` is the exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "webhook_receiver.commands",
    "jira_pipeline.sandbox.simulator.commands",
    "jira_pipeline.ingest.commands",
    "jira_pipeline.transform.commands",
    "jira_pipeline.storage.commands",
    "jira_pipeline.maintenance.commands",
    "jira_pipeline.analytics.report",
    "jira_pipeline.doctor.commands",
    "jira_pipeline.sandbox.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jira-pipeline", description="Mirror Jira Cloud into monthly Parquet tables."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
