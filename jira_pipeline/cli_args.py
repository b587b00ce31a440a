"""Argument types and the exit-code convention shared by the subcommands of
``jira-pipeline`` (one definition each)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from jira_pipeline.jira.http import JiraError


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer of at least 1 (counts of workers, issues in flight)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run_command(body: Callable[[], bool]) -> int:
    """Exit code of one command: 0 all good, 1 some issues failed, 2 could not run."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return 0 if body() else 1
    except (JiraError, ValueError) as exc:  # JiraAuthError's message says which token
        print(f"error: {exc}", file=sys.stderr)
        return 2
