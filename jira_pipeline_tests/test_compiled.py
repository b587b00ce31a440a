"""Compiled modules (setup.py, Cython) behave as their sources: an edited module runs its
``.py`` until it is recompiled, and the rebuild writes the same bytes compiled or from the
``.py`` files alone. ``make test`` compiles first; both tests fail, saying so, when nothing
compiled (they would otherwise compare Python with Python)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import jira_pipeline
from jira_pipeline.compiled import compiled_modules, stale_modules
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline_tests.fixtures.transform_data import (
    parquet_bytes,
    variant,
    write_field_list,
    write_raw,
)

SUFFIX = EXTENSION_SUFFIXES[0]
PACKAGE = Path(jira_pipeline.__file__).parent
NOTHING_COMPILED = "no compiled module in this checkout: run `make compile` (make test does)"


def touch(path: Path, mtime_s: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, (mtime_s, mtime_s))
    return path


def copy_package(destination: Path) -> Path:
    """This package, compiled modules included, under ``destination`` (mtimes kept)."""
    shutil.copytree(PACKAGE, destination / "jira_pipeline",
                    ignore=shutil.ignore_patterns("*.c", "__pycache__"))
    return destination / "jira_pipeline"


def test_a_compiled_module_older_than_its_source_is_stale(tmp_path: Path):
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

    touch(package / "sub" / f"edited{SUFFIX}", 4_000)  # recompiled
    touch(package / f"typed{SUFFIX}", 4_000)
    assert stale_modules(package) == []


def test_an_edited_module_runs_its_source_and_the_others_stay_compiled(tmp_path: Path):
    """What a contributor does: edit a compiled module's ``.py``, run Python without
    recompiling. The edit runs; untouched modules keep running compiled."""
    package = copy_package(tmp_path)
    fresh = sorted(set(compiled_modules(package)) - set(stale_modules(package)))
    assert len(fresh) >= 2, NOTHING_COMPILED
    edited, untouched = fresh[0], fresh[-1]
    extension = compiled_modules(package)[edited]
    source = extension.parent / (edited.rsplit(".", 1)[-1] + ".py")
    source.write_text(source.read_text() + "\nEDITED_SINCE_COMPILED = True\n")
    later = extension.stat().st_mtime_ns + 10**9
    os.utime(source, ns=(later, later))

    script = ("import importlib, json, sys; "
              "edited, untouched = (importlib.import_module(n) for n in sys.argv[1:3]); "
              "print(json.dumps([edited.__file__, getattr(edited, 'EDITED_SINCE_COMPILED', 0), "
              "untouched.__file__]))")
    out = subprocess.run([sys.executable, "-c", script, edited, untouched], check=True,
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}).stdout
    edited_file, flag, untouched_file = json.loads(out)

    assert edited_file == str(source) and flag is True
    assert untouched_file == str(compiled_modules(package)[untouched])


def test_compiled_modules_rebuild_the_bytes_the_python_sources_rebuild(tmp_path: Path):
    """The rebuild in this process (compiled where ``make compile`` ran) against the same
    rebuild from a copy of the package holding only ``.py`` files."""
    root = DataRoot(tmp_path / "data")
    write_field_list(root)
    for number in range(1, 25):
        created = f"2024-0{1 + number % 3}-1{number % 9}T10:00:00.000+0100"
        write_raw(root, variant(f"SUP-{number}", created, comments=number % 5))
    rebuild_all(root, progress=False, workers=1)
    compiled = parquet_bytes(root)
    running_compiled = [name for name in compiled_modules() if name in sys.modules
                        and sys.modules[name].__file__.endswith(tuple(EXTENSION_SUFFIXES))]
    assert running_compiled, NOTHING_COMPILED

    sources = tmp_path / "sources"
    shutil.copytree(PACKAGE, sources / "jira_pipeline",
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    shutil.rmtree(root.parquet)
    script = ("import importlib, sys; "
              "files = [importlib.import_module(n).__file__ for n in sys.argv[2:]]; "
              "assert all(f.endswith('.py') for f in files), files; "
              "from jira_pipeline.storage import DataRoot; "
              "from jira_pipeline.transform.rebuild import rebuild_all; "
              "rebuild_all(DataRoot(sys.argv[1]), progress=False, workers=1)")
    subprocess.run([sys.executable, "-c", script, str(root.root), *running_compiled],
                   check=True, env={**os.environ, "PYTHONPATH": str(sources)}, cwd=sources)

    assert parquet_bytes(root) == compiled
    assert len(compiled) == len(TABLES) * 3  # every table × three months
