"""Modules of this package that run compiled (``setup.py`` builds them with Cython), and the
import hook that keeps a stale one from running.

Python imports an extension module in preference to the ``.py`` beside it, so after an
edit (or a ``git pull``) a module compiled earlier would silently run the old code. The
package therefore installs :class:`FreshCompiledFinder` on import: a compiled module older
than its source is passed over and the ``.py`` runs instead (slower, never wrong), until
``make compile`` rebuilds it. A contributor who edits a module and runs ``pytest`` runs
what they wrote."""

from __future__ import annotations

import os
import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec, PathFinder
from importlib.util import spec_from_file_location
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


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


def is_stale(extension: Path) -> bool:
    """Whether the source of a compiled module (its ``.py``, or the ``.pxd`` of Cython
    declarations beside it) changed after it was compiled."""
    stem = extension.parent / extension.name.split(".", 1)[0]
    sources = [stem.with_suffix(".py"), stem.with_suffix(".pxd")]
    changed = max(p.stat().st_mtime_ns for p in sources if p.exists())
    return changed > extension.stat().st_mtime_ns


def stale_modules(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Compiled modules that :class:`FreshCompiledFinder` runs from their ``.py`` instead."""
    return sorted(m for m, ext in compiled_modules(package_dir).items() if is_stale(ext))


class FreshCompiledFinder(MetaPathFinder):
    """Finds this package's modules as Python would, except that a stale compiled module
    is replaced by its ``.py`` source."""

    def __init__(self, package: str) -> None:
        self.prefix = package + "."

    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:  # noqa: ANN001
        if not fullname.startswith(self.prefix) or path is None:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        if origin is None or not origin.name.endswith(tuple(EXTENSION_SUFFIXES)):
            return spec
        source = origin.parent / (origin.name.split(".", 1)[0] + ".py")
        if source.exists() and is_stale(origin):
            return spec_from_file_location(fullname, source)
        return spec


def install_finder(package: str = __name__.rsplit(".", 1)[0]) -> None:
    """Put the finder first on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(f, FreshCompiledFinder) and f.prefix == package + "."
               for f in sys.meta_path):
        sys.meta_path.insert(0, FreshCompiledFinder(package))
