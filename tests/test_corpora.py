"""The skip rules of tests/corpora.py, run as a user would meet them: pytest in a subprocess, with
this suite's conftest as a plugin, over a small test file written here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

TESTS = """
import pytest

@pytest.mark.corpus("web")
def test_reads_real_pages():
    pass

def test_runs_anywhere():
    pass
"""
UNLISTED = """
import pytest

def test_skips_for_no_listed_reason():
    pytest.skip("the moon is in the wrong phase")
"""


def run(tmp_path, source: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(source)
    environment = {k: v for k, v in os.environ.items() if k not in ("VLMDATA_CI", "VLMDATA_TEST_DATA")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        cwd=REPO,
        env={**environment, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.timeout(150)
def test_a_missing_corpus_skips_with_one_summary_line(tmp_path):
    done = run(tmp_path, TESTS, VLMDATA_TEST_DATA=str(tmp_path / "nowhere"))
    assert done.returncode == 0, done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("vlmdata:")]
    assert len(lines) == 1 and "1 need the real-world corpora web" in lines[0], done.stdout
    assert "1 passed, 1 skipped" in done.stdout


@pytest.mark.timeout(150)
def test_a_missing_corpus_fails_in_ci(tmp_path):
    done = run(tmp_path, TESTS, VLMDATA_TEST_DATA=str(tmp_path / "nowhere"), VLMDATA_CI="1")
    assert done.returncode == 1 and "1 passed, 1 error" in done.stdout, done.stdout  # fails in setup
    assert "VLMDATA_CI=1: CI must run every test" in done.stdout


@pytest.mark.timeout(150)
def test_a_skip_nobody_listed_fails_the_run(tmp_path):
    done = run(tmp_path, UNLISTED)
    assert done.returncode == 1, done.stdout
    assert "skip not allowed by tests/corpora.py" in done.stdout and "wrong phase" in done.stdout
