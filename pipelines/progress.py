"""A progress bar per stage, fed by datatrove's completion markers.

Markers are files under ``_logs/<stage>/completions/``, written by whichever executor ran the
task (a local process, a Ray worker on another node, a Slurm job), so one poller serves all.
"""

from __future__ import annotations

import sys
import threading

from datatrove.io import DataFolder
from tqdm import tqdm


class StageProgress:
    def __init__(
        self, logging_dir: DataFolder, stage: str, tasks: int, enabled: bool = True, interval: float = 0.5
    ):
        self.logging_dir = logging_dir
        self.interval = interval
        self._stop = threading.Event()
        self._bar = tqdm(
            total=tasks, desc=f"stage {stage}", unit="task", disable=not enabled, file=sys.stderr, leave=True
        )
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _done(self) -> int:
        if not self.logging_dir.isdir("completions"):
            return 0
        return len(self.logging_dir.list_files("completions"))

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._bar.update(self._done() - self._bar.n)

    def __enter__(self) -> StageProgress:
        self._bar.update(self._done())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._bar.update(self._done() - self._bar.n)
        self._bar.close()
