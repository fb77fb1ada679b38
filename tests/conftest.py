"""Shared fixtures: stage synthetic documents of any kind."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from pipelines.staging import stage_documents
from synth.demo.documents import make_documents
from tests import corpora
from tests.warc_fixtures import build_warc


@pytest.fixture
def staged(tmp_path):
    """staged(kind, count, **kw) -> (folder of staged Parquet, the documents)."""

    def make(kind: str, count: int = 20, files: int = 2, **kwargs):
        documents = make_documents(kind, count, **kwargs)
        folder = tmp_path / f"staged-{kind}"
        stage_documents(documents, str(folder), files=files)
        return folder, documents

    return make


@pytest.fixture
def built(tmp_path) -> Path:
    """A folder holding the built WARC twice: plain and gzip per record."""
    folder = tmp_path / "warcs"
    folder.mkdir()
    build_warc(folder / "built.warc", compress=False)
    build_warc(folder / "built.warc.gz", compress=True)
    return folder


# --- real-world corpora and allowed skips (tests/corpora.py) ----------------------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "corpus(name, ...): the test reads a real-world corpus of VLMDATA_TEST_DATA (tests/corpora.py)",
    )


def pytest_runtest_setup(item):
    for marker in item.iter_markers("corpus"):
        for name in marker.args:
            corpora.require(name)


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _STATE.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line for the skips: those that need a missing corpus, then the other allowed ones."""
    corpus = [reason for _, reason in _STATE if reason.startswith(corpora.SKIP_PREFIX)]
    other = Counter(reason for _, reason in _STATE if not reason.startswith(corpora.SKIP_PREFIX))
    parts = []
    if corpus:
        names = ", ".join(sorted({reason.split("'")[1] for reason in corpus}))
        parts.append(
            f"{len(corpus)} need the real-world corpora {names}, not found under {corpora.DATA} "
            "(set VLMDATA_TEST_DATA)"
        )
    if other:
        parts.append(
            f"{sum(other.values())} allowed: " + "; ".join(f"{r} ({n})" for r, n in sorted(other.items()))
        )
    if parts:
        terminalreporter.write_line(f"vlmdata: {len(_STATE)} skipped: " + " | ".join(parts), yellow=True)
    for nodeid, reason in _unlisted():
        terminalreporter.write_line(
            f"vlmdata: skip not allowed by tests/corpora.py: {nodeid}: {reason}", red=True
        )


def pytest_sessionfinish(session, exitstatus):
    if _unlisted() and session.exitstatus == 0:
        session.exitstatus = 1
    session.config._vlmdata_exitstatus = session.exitstatus


# --- a session that has finished must end -----------------------------------------------------------

EXIT_GRACE_S = float(os.environ.get("VLMDATA_EXIT_GRACE_S", 120))  # shutdown allowed after the session


def pytest_unconfigure(config):
    """A session that has finished exits within EXIT_GRACE_S, with its own status: a thread or an
    atexit handler left waiting (a Ray job whose cluster was shut down under it once kept a CI
    run alive for an hour after its summary) is named on stderr and cut short."""
    status = int(getattr(config, "_vlmdata_exitstatus", 1))

    def cut_short() -> None:
        sys.stderr.write(f"vlmdata: still running {EXIT_GRACE_S} s after the session ended; threads:\n")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(status)

    timer = threading.Timer(EXIT_GRACE_S, cut_short)
    timer.daemon = True
    timer.start()


def _unlisted() -> list[tuple[str, str]]:
    return [(nodeid, reason) for nodeid, reason in _STATE if not corpora.allowed_skip(reason)]


_STATE: list[tuple[str, str]] = []  # (test, skip reason) of this session


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on 2 shared cores they lose a lot: a
    training test module runs torch on one thread, and gives the default back after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
