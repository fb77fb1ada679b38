"""A finished test session exits within ``VLMDATA_EXIT_GRACE_S`` with its own status, whatever
thread it leaves behind (tests/conftest.py): a Ray job left on a shut-down cluster once kept a CI
run alive for an hour after its summary."""

import time

import pytest

from tests.test_corpora import run

LINGERING = """
import threading, time

def linger():
    time.sleep(3600)

def test_leaves_a_thread_behind():
    threading.Thread(target=linger).start()
    assert {passed}
"""


@pytest.mark.timeout(150)
@pytest.mark.parametrize("passed, status", [(True, 0), (False, 1)])
def test_a_lingering_thread_does_not_keep_the_session_alive(tmp_path, passed, status):
    start = time.monotonic()
    done = run(tmp_path, LINGERING.format(passed=passed), VLMDATA_EXIT_GRACE_S="3")
    assert done.returncode == status, done.stdout + done.stderr
    assert "still running 3.0 s after the session ended" in done.stderr
    assert 'test_sample.py", line 5 in linger' in done.stderr  # the thread left behind, named
    assert time.monotonic() - start < 60
