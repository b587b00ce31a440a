"""Build hook: the rebuild's hot modules compiled by Cython (pure-Python mode).

The ``.py`` files stay the only source: Cython compiles them unchanged (annotations are not
used as C types, so the semantics are Python's), and where Cython or a C compiler is
missing, or ``JIRA_PIPELINE_PURE_PYTHON`` is set, they simply run as Python. Compiled,
a 20,000-issue rebuild takes ~20% less CPU (``python -m benchmarks transform``).

``make compile`` (run by ``make test``/``bench``/``demo``) rebuilds in place what changed;
``jira_pipeline.compiled`` runs the ``.py`` of a compiled module older than its source. A
module that fails to compile is reported in a banner on stderr, never silently."""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED_MODULES = [
    "jira_pipeline/jira/adf.py",
    "jira_pipeline/transform/derived_rows.py",
    "jira_pipeline/transform/field_map.py",
    "jira_pipeline/transform/month_build.py",
    "jira_pipeline/transform/raw_source.py",
    "jira_pipeline/transform/rows.py",
    "jira_pipeline/transform/values.py",
]


def shout(message: str) -> None:
    """A banner on stderr that ``--quiet`` does not hide: running slower must be noticed."""
    line = "!" * 78
    print(f"\n{line}\n!! {message}\n{line}\n", file=sys.stderr, flush=True)


class OptionalBuildExt(build_ext):
    """A module that fails to compile stays pure Python: slower, never broken, and said."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all
            shout(f"NOT COMPILED: every module runs as pure Python (slower rebuild): {exc}")

    def build_extension(self, ext) -> None:  # noqa: ANN001 (setuptools' own signature)
        try:
            super().build_extension(ext)
        except Exception as exc:
            shout(f"NOT COMPILED: {ext.name} runs as pure Python (slower rebuild): {exc}")


def extensions() -> list:
    if os.environ.get("JIRA_PIPELINE_PURE_PYTHON"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        shout("NOT COMPILED: Cython is not installed; every module runs as pure Python")
        return []
    return cythonize(
        COMPILED_MODULES,
        language_level=3,
        compiler_directives={"annotation_typing": False},
        quiet=True,
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
