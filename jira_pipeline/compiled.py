"""Modules of this package that run compiled (``setup.py`` builds them with Cython), and a
guard against stale ones.

Python imports an extension module in preference to the ``.py`` beside it, so after an
edit (or a ``git pull``) a module compiled earlier would silently run the old code.
Importing the package therefore fails, naming the command that rebuilds them, when a
compiled module is older than its source."""

from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


class StaleCompiledModule(ImportError):
    """A compiled module is older than its ``.py`` source."""


def compiled_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted name → extension file, for every compiled module that has a ``.py`` source."""
    found = {}
    for folder, _, names in os.walk(package_dir):
        for name in names:
            suffix = next((s for s in EXTENSION_SUFFIXES if name.endswith(s)), None)
            if suffix is None:
                continue
            source = Path(folder, name[: -len(suffix)] + ".py")
            if source.exists():
                relative = source.relative_to(package_dir.parent).with_suffix("")
                found[".".join(relative.parts)] = Path(folder, name)
    return found


def stale_modules(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Compiled modules whose source (the ``.py``, or the ``.pxd`` of Cython declarations
    beside it) changed after they were compiled."""
    stale = []
    for module, extension in compiled_modules(package_dir).items():
        stem = extension.parent / module.rsplit(".", 1)[-1]
        sources = [stem.with_suffix(".py"), stem.with_suffix(".pxd")]
        changed = max(p.stat().st_mtime_ns for p in sources if p.exists())
        if changed > extension.stat().st_mtime_ns:
            stale.append(module)
    return sorted(stale)


def check_compiled(package_dir: Path = PACKAGE_DIR) -> None:
    stale = stale_modules(package_dir)
    if stale:
        raise StaleCompiledModule(
            f"compiled modules older than their source: {', '.join(stale)}. Run `make compile` "
            "(or delete their .so files to run the .py sources)."
        )
