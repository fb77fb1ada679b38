"""The fetch stage under many concurrent URLs against a local web that mixes every fault: slow
drips, endless bodies, huge bodies, wrong lengths, resets, redirect loops, error statuses. Memory
stays bounded, the task finishes within its time bound, and every fault is counted exactly."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.steps.images.fetch_stage import URLS_SCHEMA, FetchImages
from schemas.config_images import FetchSettings
from schemas.records import stat_total
from synth.demo.local_web import LocalWeb

# fault (as ?fault=...) -> the failure reason the fetcher must count; None: a good image
FAULTS = [
    ("slow&chunk=64&delay=0.2", "timeout"),  # drips past total_timeout
    ("endless", "too_large"),  # a body that never ends, cut at max_bytes
    ("oversized&size=5000000", "too_large"),
    ("wrong_length", "truncated"),  # Content-Length beyond the body
    ("truncated", "truncated"),
    ("reset", "connection"),
    ("redirect_loop", "too_many_redirects"),
    ("500", "http_500"),
    ("429", "http_429"),  # one attempt: no retry
    (None, None),
    (None, None),
]
URLS = 440  # 40 of each entry above
HOSTS = 16
# Bounds about twice what README states as measured (2.3-3.5 s, +34-42 MB at the peak), so a
# regression fails here while a loaded 2-core CI machine still passes
MEMORY_BOUND_MB = 80  # what the stage may add to the process's memory at its peak
TIME_BOUND_S = 8


class PeakRss:
    """Samples this process's resident memory every 20 ms while running."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def added_mb(self) -> float:
        return (self.peak - self.start) / 2**20


@pytest.mark.timeout(240)
def test_fetch_stage_survives_a_hostile_web_with_bounded_memory_and_exact_counts(tmp_path):
    entries = list(itertools.islice(itertools.cycle(FAULTS), URLS))
    urls = []
    for i, (fault, _) in enumerate(entries):
        url = f"http://img{i % HOSTS}.hostile.example/p/{i}.jpg"
        urls.append(url + (f"?fault={fault}" if fault else ""))
    expected = Counter(reason or "ok" for _, reason in entries)
    (tmp_path / "urls/p00000").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist([{"url": u} for u in urls], schema=URLS_SCHEMA),
        tmp_path / "urls/p00000/00000.parquet",
    )

    with LocalWeb() as web:
        settings = FetchSettings(
            resolver_override={"*": f"127.0.0.1:{web.port}"}, concurrency=64, per_host=4,
            total_timeout=1.0, deadline=4.0, max_bytes=1_000_000, max_attempts=1,
            respect_robots=False, batch_size=128, max_side=256,
        )  # fmt: skip
        step = FetchImages(str(tmp_path / "urls"), str(tmp_path / "fetched"), settings)
        started = time.monotonic()
        with PeakRss() as memory:
            list(step.run(None, rank=0, world_size=1))
        elapsed = time.monotonic() - started
        assert all(web.hits[url] == 1 for url in urls if "redirect_loop" not in url)

    table = pq.read_table(tmp_path / "fetched/00000.parquet")
    got = Counter(failure or "ok" for failure in table.column("failure").to_pylist())
    assert table.num_rows == URLS and got == expected, (got, expected)
    stats = step.stats.to_dict()["stats"]
    counted = {k: int(stat_total(v)) for k, v in stats.items() if k.startswith(("failed_", "fetched_ok"))}
    assert counted == {("fetched_ok" if r == "ok" else f"failed_{r}"): n for r, n in expected.items()}
    print(f"{URLS} URLs in {elapsed:.1f} s, peak memory +{memory.added_mb:.0f} MB")
    assert elapsed < TIME_BOUND_S
    assert memory.added_mb < MEMORY_BOUND_MB
