"""Where a benchmark's result goes: printed as its last line (``RESULT {json}``, what tests and
scripts parse) and written to ``benchmarks/results/<name>.json`` with what is needed to trace it:
the date, the machine (CPU count, model, architecture), Python, the versions of the libraries
the benchmark compares, the git commit and the command line. The README cites those files, so a
figure there can be checked against the run that produced it.

``VLMDATA_BENCH_RESULTS=DIR`` writes elsewhere (the tests' smoke runs use a temporary folder);
``--no-save`` on a benchmark's command line prints without writing. Scripts import this module
as ``results`` (they run with ``benchmarks/`` first on ``sys.path``), inside ``main``.
"""

from __future__ import annotations

import datetime
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("VLMDATA_BENCH_RESULTS") or REPO / "benchmarks" / "results")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def versions(packages: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution (None where it is not installed here)."""
    found = {}
    for name in packages:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = None
    return found


def emit(
    name: str, result: dict, packages: Iterable[str] = (), extra_versions: dict | None = None
) -> Path | None:
    """Print ``RESULT {json}`` and write the traced record; returns the file written (None with
    ``--no-save``). `extra_versions` adds versions found elsewhere (a peer's own environment)."""
    print("RESULT " + json.dumps(result), flush=True)
    if "--no-save" in sys.argv:
        return None
    record = {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": {**versions(["vlmdata", *packages]), **(extra_versions or {})},
        "commit": _commit(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "result": result,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written: {path}", flush=True)
    return path
