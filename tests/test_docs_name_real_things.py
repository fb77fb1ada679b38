"""Every path, module, file name and make target that README.md and docs/*.md name in backticks
exists, so a move or a rename that forgets the docs fails here."""

from __future__ import annotations

import importlib
import importlib.util
import re

import pytest

from tests.helpers import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP = (
    "pipelines",
    "filters",
    "synth",
    "schemas",
    "training",
    "audit",
    "configs",
    "benchmarks",
    "tests",
    "docs",
)
PATH = re.compile(rf"(?<![\w./<-])((?:{'|'.join(TOP)})/[\w./-]*)")
MODULE = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP[:6])})(?:\.\w+)+)")
FILE = re.compile(r"^[\w-]+\.(?:py|yaml)$")
MAKE = re.compile(r"^make ([\w-]+)")


def spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def defines(module_path, name: str) -> bool:
    source = module_path.read_text(encoding="utf-8")
    return re.search(rf"^(?:class|def|async def) {name}\b|^{name}\s*[:=]", source, re.M) is not None


def path_problem(token: str) -> str | None:
    token = token.rstrip(".,;:")
    if (REPO / token).exists():
        return None
    # pipelines/executors.LocalExecutor: a module file and a name it defines
    head, dot, name = token.rpartition(".")
    if dot and (REPO / f"{head}.py").is_file() and defines(REPO / f"{head}.py", name):
        return None
    return f"{token}: no such file or folder"


def module_problem(dotted: str) -> str | None:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            obj = importlib.import_module(module)
            for attr in parts[cut:]:
                if not hasattr(obj, attr):
                    return f"{dotted}: {module} has no {attr!r}"
                obj = getattr(obj, attr)
            return None
    return f"{dotted}: no such module"


def problems(text: str) -> list[str]:
    found = []
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
    names = {
        p.name for p in REPO.rglob("*") if not any(part.startswith(".") for part in p.relative_to(REPO).parts)
    }
    for span in spans(text):
        for token in PATH.findall(span):
            found.append(path_problem(token))
        for dotted in MODULE.findall(span):
            found.append(module_problem(dotted))
        for word in span.split():
            if FILE.match(word) and word not in names:
                found.append(f"{word}: no file of that name in the repository")
        if (target := MAKE.match(span)) and target.group(1) not in targets:
            found.append(f"make {target.group(1)}: no such target in the Makefile")
    return [p for p in found if p]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_paths_and_modules_exist(doc):
    assert not problems(doc.read_text(encoding="utf-8")), problems(doc.read_text(encoding="utf-8"))


@pytest.mark.timeout(60)
def test_the_check_finds_what_is_missing():
    text = (
        "`pipelines/nowhere.py` `synth.no_module` `pipelines.executors.NoSuchThing` `bench_nothing.py` "
        "`make no-such-target` and, fine: `pipelines/executors.LocalExecutor` `python -m synth.demo.local_web` "
        "`OUT/<dataset>/_stage/` `../shared/data/web`"
    )
    assert len(problems(text)) == 5, problems(text)
