"""Installs do not drift: every dependency of pyproject.toml is pinned in the lock
(``requirements/lock.txt``, written by ``make lock``) within its declared range, this
environment was installed from it, and test tools are never runtime dependencies."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]
TEST_ONLY = {"pytest", "pytest-timeout", "pytest-xdist", "hypothesis", "ruff", "cython"}


def locked() -> dict[str, Version]:
    pins = {}
    for line in (PROJECT_ROOT / "requirements" / "lock.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            assert pinned, f"lock line is not a pin: {line!r} (regenerate with `make lock`)"
            pins[canonicalize_name(name)] = Version(pinned.strip())
    return pins


def test_every_dependency_is_pinned_in_the_lock_within_its_range():
    pins = locked()
    for requirement in RUNTIME + DEV:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements/lock.txt: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"lock pins {name}=={pins[name]}, outside pyproject.toml's {requirement}: "
            "run `make lock`"
        )


def test_duckdb_is_held_below_2():
    """DuckDB 2.0 removed ``DuckDBPyRelation.fetchone()``, which the documented queries and
    analysts' scripts use."""
    assert locked()["duckdb"] < Version("2")
    assert Version(version("duckdb")) < Version("2")


def test_this_environment_runs_the_locked_versions():
    drifted = {}
    for name, pinned in locked().items():
        try:
            installed = str(Version(version(name)))
        except PackageNotFoundError:
            installed = "nothing"
        if installed != str(pinned):
            drifted[name] = f"{installed} installed, {pinned} locked"
    assert not drifted, f"reinstall from the lock (`make install`): {drifted}"


def test_test_tools_are_not_runtime_dependencies():
    runtime = {canonicalize_name(r.name) for r in RUNTIME}
    assert runtime.isdisjoint(TEST_ONLY), runtime & TEST_ONLY
    dev = {canonicalize_name(r.name) for r in DEV}
    assert dev >= TEST_ONLY, TEST_ONLY - dev
