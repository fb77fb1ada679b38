"""The package structure DESIGN.md asks for, checked on the code: imports run one way between the
top-level packages, no module imports another's private names, and no import cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGES = ("schemas", "filters", "synth", "pipelines", "training", "audit")
# what each package may import of ours (DESIGN.md, "Layout"): schemas nothing; filters and synth
# schemas; pipelines composes everything below it, training included (the recaption stage's local
# VLM lays prompts out with the trainer's processor, so a checkpoint trained here is prompted as it
# was trained); training and audit read through schemas alone
ALLOWED = {
    "schemas": set(),
    "filters": {"schemas"},
    "synth": {"schemas"},
    "pipelines": {"schemas", "filters", "synth", "training"},
    "training": {"schemas"},
    "audit": {"schemas"},
}
# the command line and the demo sit above every package: they dispatch to training and audit too
ENTRY_POINTS = {"pipelines.cli", "pipelines.demo"}


def modules() -> dict[str, Path]:
    found = {}
    for package in (*PACKAGES, "tests", "benchmarks"):
        for path in sorted((REPO / package).rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(REPO).parts):
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every absolute import in `path`, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
    return out


@pytest.mark.timeout(60)
def test_imports_run_one_way():
    wrong = []
    for name, path in modules().items():
        top = name.split(".")[0]
        if top not in ALLOWED or name in ENTRY_POINTS:
            continue
        for module, _, line in imports(path):
            target = module.split(".")[0]
            if target in PACKAGES and target != top and target not in ALLOWED[top]:
                wrong.append(
                    f"{path.relative_to(REPO)}:{line} imports {module} ({top} may import {sorted(ALLOWED[top])})"
                )
    assert not wrong, "\n".join(wrong)


@pytest.mark.timeout(60)
def test_no_private_name_crosses_a_module_boundary():
    ours = modules()
    crossing = []
    for name, path in ours.items():
        for module, names, line in imports(path):
            if module in ours and module != name:
                crossing += [
                    f"{path.relative_to(REPO)}:{line}: {n} from {module}" for n in names if n.startswith("_")
                ]
    assert not crossing, "\n".join(crossing)


@pytest.mark.timeout(60)
def test_no_import_cycle_between_modules():
    """Module-level imports only (a lazy import inside a function is how a cycle is broken)."""
    ours = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in ours.items():
        if name.startswith(("tests", "benchmarks")):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {c for c in candidates if c in ours and c != name}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)
