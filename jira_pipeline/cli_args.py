"""Argument types shared by the subcommands of ``jira-pipeline`` (one definition each)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer of at least 1 (counts of workers, issues in flight)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
