"""Compiled modules (setup.py, Cython) behave as their sources: a stale one is refused at
import, and the rebuild writes the same bytes compiled or from the ``.py`` files alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import jira_pipeline
from jira_pipeline.compiled import (
    StaleCompiledModule,
    check_compiled,
    compiled_modules,
    stale_modules,
)
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline_tests.fixtures.transform_data import variant, write_field_list, write_raw
from jira_pipeline_tests.test_transform_rebuild import parquet_bytes

SUFFIX = EXTENSION_SUFFIXES[0]
PACKAGE = Path(jira_pipeline.__file__).parent


def touch(path: Path, mtime_s: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, (mtime_s, mtime_s))
    return path


def test_a_compiled_module_older_than_its_source_is_refused(tmp_path: Path):
    package = tmp_path / "pkg"
    touch(package / "fresh.py", 1_000)
    touch(package / f"fresh{SUFFIX}", 2_000)
    touch(package / "sub" / "edited.py", 3_000)
    touch(package / "sub" / f"edited{SUFFIX}", 2_000)
    touch(package / f"orphan{SUFFIX}", 1_000)  # no source beside it: not ours to judge
    touch(package / "typed.py", 1_000)
    touch(package / "typed.pxd", 3_000)  # its Cython declarations changed
    touch(package / f"typed{SUFFIX}", 2_000)

    assert sorted(compiled_modules(package)) == ["pkg.fresh", "pkg.sub.edited", "pkg.typed"]
    assert stale_modules(package) == ["pkg.sub.edited", "pkg.typed"]
    with pytest.raises(StaleCompiledModule, match=r"pkg\.sub\.edited, pkg\.typed\. Run `make compile`"):
        check_compiled(package)

    touch(package / "sub" / f"edited{SUFFIX}", 4_000)  # recompiled
    touch(package / f"typed{SUFFIX}", 4_000)
    assert stale_modules(package) == []
    check_compiled(package)


def test_this_checkout_has_no_stale_compiled_module():
    assert stale_modules(PACKAGE) == []


def test_installed_modules_rebuild_the_bytes_the_python_sources_rebuild(tmp_path: Path):
    """The rebuild as installed (compiled where ``make compile`` ran) against the same
    rebuild from a copy of the package holding only ``.py`` files."""
    root = DataRoot(tmp_path / "data")
    write_field_list(root)
    for number in range(1, 25):
        created = f"2024-0{1 + number % 3}-1{number % 9}T10:00:00.000+0100"
        write_raw(root, variant(f"SUP-{number}", created, comments=number % 5))
    rebuild_all(root, progress=False, workers=1)
    installed = parquet_bytes(root)

    sources = tmp_path / "sources"
    shutil.copytree(PACKAGE, sources / "jira_pipeline",
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    shutil.rmtree(root.parquet)
    script = ("import sys, jira_pipeline.transform.rows as rows; "
              "assert rows.__file__.endswith('.py'), rows.__file__; "
              "from jira_pipeline.storage import DataRoot; "
              "from jira_pipeline.transform.rebuild import rebuild_all; "
              "rebuild_all(DataRoot(sys.argv[1]), progress=False, workers=1)")
    subprocess.run([sys.executable, "-c", script, str(root.root)], check=True,
                   env={**os.environ, "PYTHONPATH": str(sources)}, cwd=sources)

    assert parquet_bytes(root) == installed
    assert len(installed) == len(TABLES) * 3  # every table × three months
