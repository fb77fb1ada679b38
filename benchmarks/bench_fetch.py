"""Image-fetching throughput: our fetch stage against img2dataset, same URLs, same process count.

Input: ``--n`` seeded JPEGs (sides 300-1200 px, ``synth.demo.documents.make_image``) served as fixed
files by the local web server (``synth.demo.local_web``) on 127.0.0.1, from a thread of this process.
Both runs download every URL, check it is an image, resize it so its longest side is 512 and
re-encode it as JPEG quality 95 (img2dataset's default), with ``--processes`` processes:

* ours: the ``FetchImages`` step itself (one aiohttp fetcher per task, decoding on a thread pool
  beside it), one task per process, ``--processes`` spawned processes, task ``p`` given every
  ``P``-th URL (all URLs share the host 127.0.0.1, which host partitioning would put in one task).
  ``allow_private`` lets it reach 127.0.0.1; robots.txt is fetched and honoured as in a real job.
* img2dataset: its CLI from its own virtual environment (it pins an older webdataset, so it must
  not share ours), created under ``benchmarks/.venv-img2dataset`` on first use;
  ``--resize_mode keep_ratio_largest --resize_only_if_bigger True`` so it does what we do (its
  ``keep_ratio`` would fit the SHORTER side and upscale small images), ``--output_format files``,
  one shard per process.

Images/s = successes / wall-clock seconds from launching the processes to their end (process
start-up included for both). ``--repeats`` rounds (3) alternate (ours, img2dataset); the best
time of each counts. Goal: ratio = ours / img2dataset >= 1.5 with the same number of successes.

Same work, shown: ours decodes a large JPEG at reduced scale (draft mode: 1/2, 1/4 or 1/8 in the
DCT, never below the target) and then box-filters, where img2dataset decodes in full and
resizes with OpenCV's INTER_AREA. After the last round every URL's two outputs are compared:
the share with the same width and height (the goal is all of them), and how far the pixels are
apart (mean absolute difference per channel on 0-255, its mean and maximum over the images, and
the mean PSNR), so a speed-up bought with worse images would show. Last line: ``RESULT {json}``,
also written to ``benchmarks/results/bench_fetch.json`` (``results.emit``).

    python benchmarks/bench_fetch.py --n 1000 --processes 2
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipelines.steps.images.fetch_stage import URLS_SCHEMA, FetchImages
from schemas.config_images import FetchSettings
from synth.demo.documents import make_image
from synth.demo.local_web import LocalWeb

PEER_VENV = Path(__file__).resolve().parent / ".venv-img2dataset"
MAX_SIDE = 512
QUALITY = 95


def peer_cli() -> Path:
    """img2dataset's CLI, installing it into its own virtual environment the first time."""
    cli = PEER_VENV / "bin" / "img2dataset"
    if not cli.exists():
        print(f"creating {PEER_VENV} with img2dataset (first use)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", "img2dataset"], check=True)
    return cli


def peer_version() -> str:
    done = subprocess.run(
        [
            str(PEER_VENV / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('img2dataset'))",
        ],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or "unknown"


def make_files(n: int, seed: int) -> dict[str, bytes]:
    """`n` JPEGs with sides drawn from 300..1200 px, by path."""
    rng = random.Random(seed)
    return {
        f"/img/{i:05d}.jpg": make_image(rng.randrange(2**31), rng.randint(300, 1200), rng.randint(300, 1200))
        for i in range(n)
    }


def _run_task(urls_dir: str, out_dir: str, settings_json: str, rank: int, world_size: int) -> None:
    step = FetchImages(urls_dir, out_dir, FetchSettings.model_validate_json(settings_json), "jpg", QUALITY)
    for _ in step.run([], rank=rank, world_size=world_size):
        pass


def run_ours(urls: list[str], processes: int, threads: int, work: Path) -> tuple[float, int]:
    """Seconds and successes of FetchImages over `urls` in `processes` spawned processes."""
    urls_dir, out_dir = work / "urls", work / "fetched"
    for p in range(processes):
        (urls_dir / f"p{p:05d}").mkdir(parents=True)
        rows = [{"url": u} for u in urls[p::processes]]
        pq.write_table(pa.Table.from_pylist(rows, schema=URLS_SCHEMA), urls_dir / f"p{p:05d}/00000.parquet")
    settings = FetchSettings(
        allow_private=True,
        max_side=MAX_SIDE,
        concurrency=threads,
        per_host=threads,
        connect_timeout=10,
        total_timeout=30,
        max_attempts=1,
        decode_threads=2,
    )
    context = multiprocessing.get_context("spawn")  # this process runs the server's thread: no fork
    start = time.perf_counter()
    workers = [
        context.Process(
            target=_run_task, args=(str(urls_dir), str(out_dir), settings.model_dump_json(), p, processes)
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    if any(worker.exitcode for worker in workers):
        raise RuntimeError(f"a fetch task failed: exit codes {[w.exitcode for w in workers]}")
    ok = 0
    for path in sorted(out_dir.glob("*.parquet")):
        table = pq.read_table(path, columns=["failure", "width", "height"])
        for row in table.to_pylist():
            if row["failure"] is None:
                assert max(row["width"], row["height"]) <= MAX_SIDE, row
                ok += 1
    return seconds, ok


def run_peer(urls: list[str], processes: int, threads: int, work: Path) -> tuple[float, int]:
    """Seconds and successes of img2dataset over `urls` with `processes` processes."""
    url_list = work / "urls.txt"
    url_list.write_text("\n".join(urls) + "\n")
    out = work / "img2dataset"
    command = [
        str(peer_cli()),
        f"--url_list={url_list}",
        "--input_format=txt",
        "--output_format=files",
        f"--output_folder={out}",
        f"--image_size={MAX_SIDE}",
        "--resize_mode=keep_ratio_largest",
        "--resize_only_if_bigger=True",
        f"--encode_quality={QUALITY}",
        f"--processes_count={processes}",
        f"--thread_count={threads}",
        f"--number_sample_per_shard={-(-len(urls) // processes)}",  # one shard per process
        "--distributor=multiprocessing",
        "--timeout=30",
        "--retries=0",
        "--enable_wandb=False",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"img2dataset failed ({done.returncode}):\n{done.stderr[-3000:]}")
    ok = sum(json.loads(path.read_text())["successes"] for path in out.glob("*_stats.json"))
    return seconds, ok


def ours_outputs(work: Path) -> dict[str, bytes]:
    """URL -> the JPEG our fetch stage staged, for its successes."""
    out = {}
    for path in sorted((work / "fetched").glob("*.parquet")):
        for row in pq.read_table(path, columns=["url", "image", "failure"]).to_pylist():
            if row["failure"] is None:
                out[row["url"]] = row["image"]
    return out


def peer_outputs(work: Path) -> dict[str, bytes]:
    """URL -> the JPEG img2dataset wrote (``--output_format=files``: KEY.jpg beside KEY.json)."""
    out = {}
    for meta in sorted((work / "img2dataset").glob("*/*.json")):
        info = json.loads(meta.read_text())
        image = meta.with_suffix(".jpg")
        if info.get("status") == "success" and image.exists():
            out[info["url"]] = image.read_bytes()
    return out


def compare(ours: dict[str, bytes], peer: dict[str, bytes]) -> dict[str, float | int]:
    """How alike the two sides' images are, URL by URL (see the module docstring)."""
    both = sorted(ours.keys() & peer.keys())
    same_size, maes, psnrs = 0, [], []
    for url in both:
        a = np.asarray(Image.open(io.BytesIO(ours[url])).convert("RGB"), dtype=np.float64)
        b = np.asarray(Image.open(io.BytesIO(peer[url])).convert("RGB"), dtype=np.float64)
        if a.shape != b.shape:
            continue
        same_size += 1
        mae, mse = np.abs(a - b).mean(), ((a - b) ** 2).mean()
        maes.append(mae)
        psnrs.append(99.0 if mse == 0 else 10 * np.log10(255**2 / mse))
    return {
        "compared": len(both),
        "same_size": same_size,
        "pixel_mae_mean": round(float(np.mean(maes)), 2) if maes else None,
        "pixel_mae_max": round(float(np.max(maes)), 2) if maes else None,
        "psnr_mean_db": round(float(np.mean(psnrs)), 1) if psnrs else None,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="JPEGs to serve and fetch")
    parser.add_argument("--processes", type=int, default=2, help="processes for each side")
    parser.add_argument("--threads", type=int, default=32, help="requests in flight per process, both sides")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; the best time counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print it")
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args(argv)
    from results import emit

    peer_cli()
    files = make_files(args.n, args.seed)
    print(f"{len(files)} JPEGs, {sum(map(len, files.values())) / 1e6:.1f} MB", flush=True)
    best = {"ours": (float("inf"), 0), "peer": (float("inf"), 0)}
    root = Path(tempfile.mkdtemp(prefix="bench_fetch_"))
    try:
        with LocalWeb(files=files) as web:
            urls = [f"{web.base_url}{path}" for path in files]
            for round_ in range(args.repeats):
                for name, run in (("ours", run_ours), ("peer", run_peer)):
                    work = root / f"{name}-{round_}"
                    work.mkdir()
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    seconds, ok = run(urls, args.processes, args.threads, work)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                    print(
                        f"{name}: {ok} ok in {seconds:.2f} s = {ok / seconds:.1f} images/s "
                        f"({cpu:.1f} CPU s in its processes)",
                        flush=True,
                    )
                    if seconds < best[name][0]:
                        best[name] = (seconds, ok)
            last = args.repeats - 1
            alike = compare(ours_outputs(root / f"ours-{last}"), peer_outputs(root / f"peer-{last}"))
            print(
                f"outputs of the last round: {alike['same_size']} of {alike['compared']} URLs with the same "
                f"size; pixels apart by {alike['pixel_mae_mean']} on average (worst image "
                f"{alike['pixel_mae_max']}), PSNR {alike['psnr_mean_db']} dB",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"work folder: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    (ours_s, ours_ok), (peer_s, peer_ok) = best["ours"], best["peer"]
    result = {
        "ours_img_s": round(ours_ok / ours_s, 1),
        "img2dataset_img_s": round(peer_ok / peer_s, 1),
        "ratio": round((ours_ok / ours_s) / (peer_ok / peer_s), 2) if peer_ok else None,
        "ours_ok": ours_ok,
        "img2dataset_ok": peer_ok,
        "n": args.n,
        "processes": args.processes,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "outputs": alike,
    }
    emit("bench_fetch", result, ["aiohttp", "pillow"], {"img2dataset (peer venv)": peer_version()})
    return result


if __name__ == "__main__":
    main()
