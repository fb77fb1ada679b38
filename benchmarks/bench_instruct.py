"""Converting a source of The Cauldron is I/O-bound: ``run instruct`` against reading the same parquet
rows and writing the same images with the shard writer alone, and its peak memory on ~1 GB.

A parquet in the VQAv2 export layout (``--gb`` GB; ``--per-image`` questions per image, the image
repeated in each of its rows as the export does; 96 distinct noise JPEGs of 320 x 320, ~140 KB;
row groups of 100 rows as Hugging Face ``datasets`` writes image data) is converted by:

* ours: ``vlmdata run instruct`` with this one source, one task: majority vote, The Cauldron's
  prompt, grouping the questions of an image, image check and SHA-256, PII placeholders, the shard
  writer, finalize and the cross-source stage;
* peer: one datatrove task of a bare reader (pyarrow ``iter_batches``; the rows of one image as one
  document, its questions and first answers as turns, the image as stored) and the ``ShardWriter``;
* peer + SHA-256: the peer hashing each image it writes once, as ours must (``meta.image_sha256``,
  the cross-source check, takedown lists): the most ours could reach with a conversion that costs
  nothing (``ceiling``).

Both run in this process, alternated, best of ``--repeats``: the conversion, not the fixed cost
of starting a job (imports, finalize, the report). The peak RSS is that of the whole job run as a
command in its own process (``ru_maxrss`` of the child), next to the peer's run the same way. Goals: ours >= 0.8x the peer's rows/s; peak RSS <= 300 MB.
RESULT also in ``benchmarks/results/bench_instruct.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def noise_jpeg(seed: int, side: int = 320) -> bytes:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=92)
    return out.getvalue()


def write_parquet(path: Path, gigabytes: float, per_image: int, side: int = 320) -> int:
    """The VQAv2-layout file, written row group by row group; returns its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    images = [noise_jpeg(i, side) for i in range(96)]
    target, written, rows, writer = gigabytes * 1e9, 0, 0, None
    answers = [
        {"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
        for i, a in enumerate(["two"] * 7 + ["2"] * 3)
    ]
    try:
        while written < target:
            batch = []
            for _ in range(100):  # the image in each of its rows; 100-row groups, as `datasets` writes images
                image_id = rows // per_image
                data = images[image_id % len(images)]
                batch.append(
                    {
                        "image_id": image_id,
                        "question_id": rows,
                        "question": f"How many things are in picture {image_id}, question {rows % per_image}?",
                        "answers": answers,
                        "image": {"bytes": data, "path": f"{image_id}.jpg"},
                    }
                )
                written += len(data) + 200
                rows += 1
            table = pa.Table.from_pylist(batch)
            writer = writer or pq.ParquetWriter(path, table.schema, use_dictionary=False)
            writer.write_table(table)
    finally:
        if writer:
            writer.close()
    return rows


def peer(parquet: str, out: str, hash_images: bool = False) -> None:
    """The least a converter can do: rows -> one document per image -> the shard writer
    (``hash_images``: and the SHA-256 of each image)."""
    import hashlib

    import pyarrow.parquet as pq
    from datatrove.data import Document, Media, MediaType
    from datatrove.pipeline.base import PipelineStep

    from pipelines.steps.shards.shard_writer import ShardWriter

    class BareReader(PipelineStep):
        name = "bare parquet reader"

        def run(self, data=None, rank=0, world_size=1):
            current, turns, image = None, [], None
            for batch in pq.ParquetFile(parquet, pre_buffer=False, buffer_size=1 << 20).iter_batches(
                batch_size=64, use_threads=False
            ):  # the reading ours does (the fastest of those tried)
                for row in batch.to_pylist():
                    if row["image_id"] != current and turns:
                        yield self.doc(current, turns, image)
                        turns = []
                    current, image = row["image_id"], row["image"]["bytes"]
                    turns.append(
                        {"user": row["question"], "assistant": row["answers"][0]["answer"], "source": "VQAv2"}
                    )
            if turns:
                yield self.doc(current, turns, image)

        @staticmethod
        def doc(key, turns, image):
            if hash_images:
                hashlib.sha256(image).hexdigest()
            media = [Media(id=f"{key}-0", type=MediaType.IMAGE, url="", media_bytes=image)]
            return Document(
                text="", id=f"bare-{key:08d}", media=media, metadata={"qa": turns, "source": parquet}
            )

    pipeline = [BareReader(), ShardWriter(out, "bare", "qa")]
    data = None
    for step in pipeline:
        data = step(data, 0, 1)
    for _ in data:
        pass


def ours(config: Path) -> int:
    """The write_shards stage of ``run instruct`` (reader, governance steps, shard writer), one task."""
    import yaml

    from pipelines.instruct.job import build_instruct
    from schemas.config_instruct import InstructConfig

    stages = build_instruct(InstructConfig.model_validate(yaml.safe_load(config.read_text())))
    data = None
    for step in stages[0].pipeline:
        data = step(data, 0, 1)
    return sum(1 for _ in data)


def peak_rss_mb(command: list[str]) -> float:
    """Peak RSS of the whole job run as a command, in its own process (ru_maxrss of the child)."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource,subprocess,sys; subprocess.run(sys.argv[1:], check=True, capture_output=True);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
            *command,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(probe.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the generated parquet")
    parser.add_argument("--per-image", type=int, default=4)
    parser.add_argument("--side", type=int, default=320, help="image side: 320 gives ~140 KB JPEGs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--peer-only",
        nargs=2,
        metavar=("PARQUET", "OUT"),
        help="run the peer once (its peak RSS is measured so)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    if args.peer_only:
        peer(*args.peer_only)
        return
    from results import emit

    work = Path(tempfile.mkdtemp(prefix="bench-instruct-"))
    try:
        source = work / "vqav2" / "train-00000-of-00001.parquet"
        source.parent.mkdir()
        rows = write_parquet(source, args.gb, args.per_image, args.side)
        size = source.stat().st_size
        config = work / "instruct.yaml"
        config.write_text(
            json.dumps(
                {
                    "dataset": "ours",
                    "output_dir": str(work / "out"),
                    "executor": {"kind": "local", "tasks": 1},
                    "sources": [{"converter": "vqav2", "input": [str(source.parent)]}],
                }
            )
        )
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name in ("ours", "peer", "peer_sha256"):
                shutil.rmtree(work / "out", ignore_errors=True)
                shutil.rmtree(work / "bare", ignore_errors=True)
                start = time.perf_counter()
                if name == "ours":
                    ours(config)
                else:
                    peer(str(source), str(work / "bare"), hash_images=name == "peer_sha256")
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
        shutil.rmtree(work / "out", ignore_errors=True)
        job = [sys.executable, "-c", "from pipelines.cli import main; raise SystemExit(main())"]
        peak_mb = peak_rss_mb([*job, "run", "instruct", "--config", str(config), "--no-progress"])
        shutil.rmtree(work / "bare", ignore_errors=True)
        peer_peak_mb = peak_rss_mb([sys.executable, __file__, "--peer-only", str(source), str(work / "bare")])
        samples = json.loads((work / "out" / "ours" / "manifest.json").read_text())["totals"]["samples"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "parquet_gb": round(size / 1e9, 3),
        "rows": rows,
        "samples": samples,
        "image_kb": round(len(noise_jpeg(0, args.side)) / 1000),
        "per_image": args.per_image,
        "ours_rows_s": round(rows / best["ours"], 1),
        "peer_rows_s": round(rows / best["peer"], 1),
        "peer_sha256_rows_s": round(rows / best["peer_sha256"], 1),
        "ours_s": round(best["ours"], 2),
        "peer_s": round(best["peer"], 2),
        "peak_rss_mb": round(peak_mb, 1),
        "peer_peak_rss_mb": round(peer_peak_mb, 1),  # the peer alone, as its own process
    }
    result["ratio"] = round(result["ours_rows_s"] / result["peer_rows_s"], 3)
    result["ceiling"] = round(result["peer_sha256_rows_s"] / result["peer_rows_s"], 3)
    result["goals"] = {"ratio>=0.8": result["ratio"] >= 0.8, "peak_rss_mb<=300": result["peak_rss_mb"] <= 300}
    print(
        f"ours {result['ours_rows_s']} rows/s, peer {result['peer_rows_s']} rows/s, ratio {result['ratio']} "
        f"(ceiling with SHA-256 {result['ceiling']}), peak RSS {result['peak_rss_mb']} MB"
    )
    default = args.side == 320 and args.per_image == 4
    name = "bench_instruct" if default else f"bench_instruct-side{args.side}-q{args.per_image}"
    emit(name, result, packages=["pyarrow", "datatrove", "pillow"])


if __name__ == "__main__":
    main()
