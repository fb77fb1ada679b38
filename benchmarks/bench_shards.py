"""Shard-writing throughput: the ``pack`` job against a bare ``tarfile`` loop, side by side.

Input: ``--gb`` GB of staged ``pair`` documents (photo-like JPEGs of 100-400 KB + a 5-30 word
caption) streamed into ``--files`` staged Parquet files. Each run is timed by wall clock:

* job: ``run_stages(build_pack(cfg), ...)`` on the local executor, end to end: the write_shards
  stage (StageReader -> ShardWriter, which also hashes every shard with sha256 and writes the
  shard indexes) and the finalize stage (manifest); with ``executor.tasks=FILES`` and
  ``executor.workers=1``, then ``executor.workers=os.cpu_count()``.
* peer: one plain process, ``pq.ParquetFile(...).iter_batches`` -> ``to_pylist`` -> the same
  ``KEY.json`` (``document_to_sample``'s layout) and ``KEY.000.jpg`` members written with
  ``tarfile``, cut at the same ``max_bytes`` / ``max_samples``, one tar series per input file
  as the job's tasks do, so both write the same tar bytes.

MB/s = total size of the ``.tar`` files / seconds (MB = 1e6 bytes). Before every timed run:
``os.sync()`` and a warm-up read of the input. Runs alternate (job, peer, job) for
``--repeats`` rounds and the best time of each counts: page-cache write-back makes single runs
noisy. Goal: ratio = job MB/s (one worker) / peer MB/s >= 0.8. Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from datatrove.data import Document, Media, MediaType
from PIL import Image

from pipelines.executors import run_stages
from pipelines.pack import build_pack
from pipelines.steps.stage_io import StageWriter
from schemas.config import PackConfig, load_config
from synth.demo.documents import sentence

SIZES = [(640, 480), (800, 600), (1024, 768), (1280, 960)]


def photo_pool(count: int = 64, seed: int = 0) -> list[tuple[bytes, int, int]]:
    """Photo-like JPEGs (smooth colour waves + blocky noise, quality 90): (bytes, width, height)."""
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(count):
        w, h = SIZES[rng.integers(len(SIZES))]
        y, x = np.mgrid[0:h, 0:w]
        phase, freq = rng.uniform(0, 6.28, (3, 1, 1)), rng.uniform(0.5, 3, (2, 3, 1, 1))
        base = np.moveaxis(127 + 100 * np.sin(6.28 * (x / w * freq[0] + y / h * freq[1]) + phase), 0, -1)
        b = w // 320
        noise = rng.normal(0, rng.uniform(10, 20), (h // b + 1, w // b + 1, 3)).repeat(b, 0).repeat(b, 1)
        out = io.BytesIO()
        Image.fromarray(np.clip(base + noise[:h, :w], 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
        pool.append((out.getvalue(), w, h))
    return pool


def make_doc(i: int, pool: list[tuple[bytes, int, int]]) -> Document:
    data, w, h = pool[(i + i // len(pool)) % len(pool)]  # rotates, so every file sees every size
    url = f"https://photos.example.org/{i // 1000:04d}/{i:09d}.jpg"
    caption = sentence(random.Random(i), random.Random(-i).randint(5, 30))
    media = Media(id=url, type=MediaType.IMAGE, url=url, media_bytes=data, metadata={"width": w, "height": h})
    meta = {"lang": "en", "license": "cc-by", "crawl": "bench"}
    return Document(text=caption, id=f"pair-{i:09d}", media=[media], metadata={"source": url, "meta": meta})


def stage(folder: Path, gb: float, files: int) -> int:
    """Write about ``gb`` GB of pair documents into ``files`` Parquet files, one file at a time."""
    pool = photo_pool()
    total = int(gb * 1e9 / (sum(len(p[0]) for p in pool) / len(pool) + 200))
    for rank in range(files):
        with StageWriter(str(folder), batch_size=64) as writer:
            for i in range(rank, total, files):
                writer.write(make_doc(i, pool), rank)
    return total


def warm(folder: Path) -> None:
    """Flush what earlier runs left dirty, then read the input so every run reads cached data."""
    os.sync()
    for path in sorted(folder.glob("*.parquet")):
        with open(path, "rb") as f:
            while f.read(16 << 20):
                pass


def tar_bytes(folder: Path) -> tuple[int, int]:
    tars = list(folder.rglob("*.tar"))
    return sum(p.stat().st_size for p in tars), len(tars)


def run_job(staged: Path, out: Path, tasks: int, workers: int, max_bytes: int, max_samples: int) -> float:
    settings = (
        f"kind=pair dataset=bench executor.kind=local executor.tasks={tasks} executor.workers={workers}"
    )
    settings += f" shards.max_bytes={max_bytes} shards.max_samples={max_samples}"
    cfg = load_config(PackConfig, None, [f"input={staged}", f"output_dir={out}", *settings.split()])
    start = time.perf_counter()
    run_stages(build_pack(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return time.perf_counter() - start


def sample_json(row: dict) -> bytes:
    """The KEY.json of a pair row, in ``document_to_sample``'s layout and encoding."""
    meta = json.loads(row["metadata"]) if row["metadata"] else {}
    images = []
    for m in row["media"]:
        image = json.loads(m["metadata"]) if m["metadata"] else {}
        for field in ("url", "alt"):
            if m[field]:
                image.setdefault(field, m[field])
        images.append(image)
    sample = {
        "kind": "pair",
        "source": meta.get("source") or row["id"],
        "meta": {**meta.get("meta", {}), "images": images},
        "texts": [None, row["text"]],
        "images": ["000.jpg", None],
    }
    return json.dumps(sample, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def run_peer(staged: Path, out: Path, max_bytes: int, max_samples: int) -> float:
    start = time.perf_counter()
    out.mkdir(parents=True)
    for rank, path in enumerate(sorted(staged.glob("*.parquet"))):
        seq, tar, samples = 0, None, 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            for row in batch.to_pylist():
                members = [(f"{row['id']}.json", sample_json(row))]
                members.append((f"{row['id']}.000.jpg", row["media"][0]["media_bytes"]))
                nbytes = sum(len(data) for _, data in members)
                if tar and (samples >= max_samples or (samples and tar.offset + nbytes > max_bytes)):
                    tar.close()
                    tar, seq = None, seq + 1
                if tar is None:
                    tar, samples = tarfile.open(out / f"peer-{rank:05d}-{seq:04d}.tar", "w"), 0
                for name, data in members:
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = len(data), 0o444, 0
                    tar.addfile(info, io.BytesIO(data))
                samples += 1
        if tar:
            tar.close()
    return time.perf_counter() - start


def main() -> None:
    from results import emit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="GB of staged samples to write")
    parser.add_argument("--workdir", help="where to stage and write (default: a temp dir under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--files", type=int, default=4, help="staged Parquet files (= job tasks)")
    parser.add_argument("--shard-mb", type=float, default=256, help="shards.max_bytes in MB")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (job, peer, job); best counts")
    parser.add_argument("--max-samples", type=int, default=10_000, help="shards.max_samples")
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_shards-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    max_bytes, workers = int(args.shard_mb * 1e6), os.cpu_count() or 1
    try:
        staged = work / "staged"
        start = time.perf_counter()
        count = stage(staged, args.gb, args.files)
        print(f"staged {count} samples in {args.files} files in {time.perf_counter() - start:.1f}s")
        runs = [("job", 1), ("tarfile", 1), ("job", workers)]
        times: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
        for _ in range(args.repeats):
            for name, n in runs:  # alternate job and peer in every round
                out = work / f"{name}-w{n}"
                shutil.rmtree(out, ignore_errors=True)
                warm(staged)
                if name == "job":
                    seconds = run_job(staged, out, args.files, n, max_bytes, args.max_samples)
                else:
                    seconds = run_peer(staged, out, max_bytes, args.max_samples)
                times[name, n].append(seconds)
        print(f"\n{'run':<9}{'workers':>8}{'best s':>8}{'all s':>22}{'shards':>7}{'MB':>8}{'MB/s':>8}")
        speed, sizes = [], set()
        for name, n in runs:
            size, shards = tar_bytes(work / f"{name}-w{n}")
            speed.append(size / 1e6 / min(times[name, n]))
            sizes.add(size)
            every = " ".join(f"{t:.2f}" for t in times[name, n])
            print(
                f"{name:<9}{n:>8}{min(times[name, n]):>8.2f}{every:>22}{shards:>7}{size / 1e6:>8.0f}{speed[-1]:>8.1f}"
            )
        print(f"same tar byte total in every run: {len(sizes) == 1}; MB/s from the best of {args.repeats}\n")
        result = {
            "job_mb_s": round(speed[0], 3),
            "job_workers": 1,
            "job_parallel_mb_s": round(speed[2], 3),
            "tarfile_mb_s": round(speed[1], 3),
            "ratio": round(speed[0] / speed[1], 3),
            "gb": args.gb,
        }
        emit("bench_shards", result, ["datatrove", "pyarrow", "webdataset"])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
