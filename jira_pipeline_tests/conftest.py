"""Shared fixtures. Area-specific fixtures live in ``jira_pipeline_tests/fixtures/`` and
are loaded as plugins, so each area owns its own."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "jira_pipeline_tests.fixtures.common",
    "jira_pipeline_tests.fixtures.simulator",
    "jira_pipeline_tests.fixtures.receiver",
    "jira_pipeline_tests.fixtures.postgres",
    "jira_pipeline_tests.fixtures.chaos",
]


def pytest_report_header(config: pytest.Config) -> list[str]:
    from jira_pipeline.compiled import compiled_modules, stale_modules
    from jira_pipeline_tests.fixtures.common import SHARED_SAMPLES

    compiled = sorted(compiled_modules())
    stale = stale_modules()
    modules = (f"compiled modules: {', '.join(compiled)}" if compiled
               else "compiled modules: none (pure Python; `make compile` builds them)")
    if stale:
        modules += f"; edited since compiled, run as .py: {', '.join(stale)}"
    if SHARED_SAMPLES.is_dir():
        return [modules, f"shared Jira samples: {SHARED_SAMPLES} (conformance suite runs)"]
    return [modules, f"shared Jira samples: {SHARED_SAMPLES} absent -> conformance suite skipped"]
