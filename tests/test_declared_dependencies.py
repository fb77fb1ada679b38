"""Every third-party module the project imports is declared in pyproject.toml: package code in
the dependencies (or the `train` / `clip` extras that keep heavy ones optional), tests and
benchmarks anywhere, `dev` included. A module that arrives only because another package pulls it
in breaks the day that package stops doing so."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys

import pytest
import tomllib

from tests.helpers import REPO

PACKAGES = ("pipelines", "filters", "synth", "schemas", "training", "audit")
BENCHMARK_MODULES = {path.stem for path in (REPO / "benchmarks").glob("*.py")}  # scripts import each other
OURS = {*PACKAGES, "tests", "benchmarks", *BENCHMARK_MODULES}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.\-]+", requirement).group()).lower()


def declared() -> tuple[set[str], set[str]]:
    """(distributions the package code may use, distributions anything may use)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    runtime = {_name(r) for r in project["dependencies"] + extras["train"] + extras["clip"]}
    return runtime, runtime | {_name(r) for r in extras["dev"]}


def imported(folder: str) -> dict[str, str]:
    """Top-level third-party module -> the first file under `folder` that imports it."""
    found: dict[str, str] = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        if any(part.startswith(".") for part in path.relative_to(REPO).parts):
            continue  # the benchmarks' peer virtual environments (.venv-img2dataset, ...)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OURS:
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


@pytest.mark.timeout(60)
@pytest.mark.parametrize("folder", [*PACKAGES, "tests", "benchmarks"])
def test_every_import_is_declared(folder):
    runtime, anything = declared()
    allowed = runtime if folder in PACKAGES else anything
    distributions = md.packages_distributions()
    missing = []
    for module, where in imported(folder).items():
        names = {_name(d) for d in distributions.get(module, [])}
        if not names:
            missing.append(f"{module} (imported in {where}) is not installed")
        elif not names & allowed:
            missing.append(f"{module} (imported in {where}) comes from {sorted(names)}, not declared")
    assert not missing, "; ".join(missing)
