"""The code location, in the ``dg`` project layout: every Dagster object lives in a module
under ``jira_pipeline/defs/`` and is found there by autoloading (``dg.load_from_defs_folder``);
nothing is listed here, not even the resources and the executor (``defs/deployment.py``).
``dagster api grpc -m jira_pipeline.definitions``, ``workspace.yaml`` and ``dg check defs``
load the lazy ``defs`` below; code that wants the objects calls ``defs()``.

``load_from_defs_folder`` reads the project's ``[tool.dg]`` table in ``pyproject.toml``,
found in a checkout and in an editable install. A non-editable install (``pip install .``:
the image, a wheel) has no ``pyproject.toml`` above its site-packages; there the same
component tree is built from the installed ``jira_pipeline.defs`` package directly."""

from __future__ import annotations

import importlib
import tomllib
import warnings
from pathlib import Path

import dagster as dg

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT_MODULE = PACKAGE_DIR.name


def checkout_root() -> Path | None:
    """The folder holding this package and a ``pyproject.toml`` that declares it the
    ``dg`` project's root module; ``None`` for a non-editable install."""
    pyproject = PACKAGE_DIR.parent / "pyproject.toml"
    if not pyproject.is_file():
        return None
    with pyproject.open("rb") as file:
        project = tomllib.load(file).get("tool", {}).get("dg", {}).get("project", {})
    return pyproject.parent if project.get("root_module") == ROOT_MODULE else None


@dg.definitions
def defs() -> dg.Definitions:
    root = checkout_root()
    if root is not None:
        return dg.load_from_defs_folder(path_within_project=root)
    # What load_from_defs_folder builds, without the config file only a checkout has; it
    # silences the same preview warning of its module loader.
    defs_module = importlib.import_module(f"{ROOT_MODULE}.defs")
    tree = dg.ComponentTree.from_module(defs_module=defs_module, project_root=PACKAGE_DIR.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return tree.build_defs()
