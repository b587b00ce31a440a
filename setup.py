"""Build hook: the rebuild's hot modules compiled by Cython (pure-Python mode).

The ``.py`` files stay the only source: Cython compiles them unchanged (annotations are not
used as C types, so the semantics are Python's), and where Cython or a C compiler is
missing, or ``JIRA_PIPELINE_PURE_PYTHON`` is set, they simply run as Python. Compiled,
a 20,000-issue rebuild takes ~15% less CPU (``python -m benchmarks transform``).

``make compile`` (run by ``make test``/``bench``/``demo``) rebuilds in place what changed;
``jira_pipeline.compiled`` refuses to import a compiled module older than its source."""

from __future__ import annotations

import os

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


class OptionalBuildExt(build_ext):
    """A module that fails to compile stays pure Python: slower, never broken."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all
            self.warn(f"compiled modules skipped, running as pure Python: {exc}")

    def build_extension(self, ext) -> None:  # noqa: ANN001 (setuptools' own signature)
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.warn(f"{ext.name} not compiled, running as pure Python: {exc}")


def extensions() -> list:
    if os.environ.get("JIRA_PIPELINE_PURE_PYTHON"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    return cythonize(
        COMPILED_MODULES,
        language_level=3,
        compiler_directives={"annotation_typing": False},
        quiet=True,
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
