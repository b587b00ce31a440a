"""The import rules of docs/architecture.md, checked on the source: each package imports
only packages of lower layers, production code never imports the sandbox (simulator, demo),
and the webhook receiver stays free of Dagster and of the Jira readers."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]

# Layer of each package (or top-level module) of jira_pipeline, and of the receiver: a
# module may import its own package and packages of a lower layer only.
LAYERS: dict[str, int] = {
    "core": 0, "compiled": 0, "dagster_private": 0,
    "config": 1,
    "storage": 2, "jira": 2,
    "transform": 3, "ingest": 3,
    "analytics": 4, "orchestration": 4,
    "maintenance": 5,
    "config_problems": 6,
    "defs": 7, "instance": 7, "webhook_receiver": 7,
    "definitions": 8,
    "doctor": 9,  # checks a deployment end to end, the code location included
}
# Command-line glue wires every layer together and is imported by nothing but cli.py; the
# sandbox runs the product against a simulated site and may use all of it.
GLUE = {"cli", "cli_args", "sandbox"}


def package_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "webhook_receiver":
        return "webhook_receiver"
    if parts[0] != "jira_pipeline" or len(parts) == 1:
        return None
    return parts[1]


def project_modules() -> Iterator[tuple[str, Path]]:
    for top in ("jira_pipeline", "webhook_receiver"):
        for path in sorted((PROJECT / top).rglob("*.py")):
            parts = path.relative_to(PROJECT).with_suffix("").parts
            yield ".".join(p for p in parts if p != "__init__"), path


def imports_of(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def is_glue(module: str) -> bool:
    return package_of(module) in GLUE or module.endswith(".commands")


def test_every_package_has_a_layer() -> None:
    packages = {package_of(m) for m, _ in project_modules()} - {None} - GLUE
    assert packages <= set(LAYERS), f"add to LAYERS and docs/architecture.md: {packages - set(LAYERS)}"


def test_packages_import_only_lower_layers() -> None:
    wrong = []
    for module, path in project_modules():
        source = package_of(module)
        if source is None or is_glue(module):
            continue
        for imported in imports_of(path):
            target = package_of(imported)
            if target is None or target == source:
                continue
            if target in GLUE or LAYERS[target] >= LAYERS[source]:
                wrong.append(f"{module} imports {imported}")
    assert wrong == [], "imports against the layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_production_code_never_imports_the_sandbox() -> None:
    wrong = [
        f"{module} imports {imported}"
        for module, path in project_modules()
        if package_of(module) not in ("sandbox", "cli")
        for imported in imports_of(path)
        if package_of(imported) == "sandbox"
    ]
    assert wrong == []


@pytest.mark.parametrize("forbidden", ["dagster", "jira_pipeline.ingest", "jira_pipeline.transform"])
def test_the_receiver_stays_thin(forbidden: str) -> None:
    wrong = [
        f"{module} imports {imported}"
        for module, path in project_modules()
        if package_of(module) == "webhook_receiver"
        for imported in imports_of(path)
        if imported == forbidden or imported.startswith(forbidden + ".")
    ]
    assert wrong == []


def test_the_rules_catch_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a storage module importing the transform is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from jira_pipeline.transform.schemas import TABLES\n")
    target = package_of(next(imports_of(bad)))
    assert target == "transform" and LAYERS[target] >= LAYERS["storage"]
