"""Code and dependency versions recorded in every manifest, so a dataset says what made it."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "vlmdata",
    "datatrove",
    "ray",
    "webdataset",
    "pyarrow",
    "pillow",
    "pymupdf",
    "pydantic",
    "tokenizers",
)


@cache
def git_commit() -> str | None:
    """The commit of the checkout vlmdata runs from, when it runs from one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    if commit := git_commit():
        found["git_commit"] = commit
    return found
