"""Tie a task's process to its parent's life.

datatrove runs each task in a child process (a multiprocess pool inside the local executor, or
inside the Ray worker actor). When that parent is killed (an OOM kill, a lost node, SIGKILL),
the child would live on as an orphan and race the retried task over the same output files.
This step asks Linux to SIGKILL the task process when its parent dies. It does nothing in a
process that is not such a child (a single-worker local run executes tasks in the CLI process
itself, whose life belongs to the user's shell) or on other systems.
"""

from __future__ import annotations

import ctypes
import signal
import sys

import multiprocess
from datatrove.data import DocumentsPipeline

PR_SET_PDEATHSIG = 1


def tie_to_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (nothing elsewhere)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def die_with_parent(data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
    """A pipeline callable: sets the parent-death signal, then passes the data through."""
    if multiprocess.parent_process() is not None:
        tie_to_parent()
    return data
