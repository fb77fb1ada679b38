"""The recaption stage's own CPU cost: CPU-seconds per 1,000 images, ours against a bare aiohttp loop.

A fake OpenAI-compatible server answers every ``POST /v1/chat/completions`` at once with the same
caption; it runs in another process, so its CPU is not counted. In this process, for ``--images``
distinct JPEGs (512 x 384, as the pairs job resizes them; the bytes sent as stored) and one template:

* ours: the pairs job's ``Recaption`` step (``pipelines/steps/images/recaption.py``) over its
  documents: image sha256, staging keys, base64 data URLs under the in-flight byte budget, the chat
  client (concurrency, retries, time limits), staging the answers as Parquet, the candidate checks
  (language identification included) and choosing (``scorer=first``); a fresh staging folder each run;
* peer: a bare loop, one aiohttp session, the same data URLs and concurrency, ``json.loads`` of each
  body: the least a client can do.

CPU-seconds are this process's user + system time (``resource.getrusage``), best of ``--repeats``
alternating runs. RESULT also in ``benchmarks/results/bench_recaption_client.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import tempfile
import time

from bench_llm_client import cpu, start_server

CAPTION = "A red shape on a grey background next to a small blue circle."
BODY = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": CAPTION}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 800, "completion_tokens": 14, "total_tokens": 814},
    }
).encode()


def documents(images: list[bytes]):
    from datatrove.data import Document, Media, MediaType

    return [
        Document(
            text="an alt text",
            id=f"d{i}",
            media=[Media(id=f"m{i}", type=MediaType.IMAGE, url="", media_bytes=b)],
        )
        for i, b in enumerate(images)
    ]


def ours(url: str, images: list[bytes], concurrency: int) -> int:
    from pipelines.steps.images.recaption import Recaption
    from schemas.config import load_config
    from schemas.config_pairs import PairsConfig

    work = tempfile.mkdtemp(prefix="bench_recaption-")
    try:
        cfg = load_config(
            PairsConfig,
            None,
            [f"output_dir={work}", "dataset=b", "recaption.enabled=true", f"recaption.llm.endpoint_url={url}",
             "recaption.llm.model=m", f"recaption.llm.concurrency={concurrency}", "recaption.scorer=first",
             'recaption.templates=["Write a short caption for this image."]'],
        )  # fmt: skip
        out = list(Recaption(cfg).run(iter(documents(images)), rank=0))
        return sum(bool(d.metadata["meta"]["captions"]["synthetic"]) for d in out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def bare(url: str, images: list[bytes], concurrency: int) -> int:
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(i: int, image: bytes) -> bool:
            data_url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
            content = [
                {"type": "image_url", "image_url": {"url": data_url}},
                {"type": "text", "text": "Caption."},
            ]
            payload = {"model": "m", "messages": [{"role": "user", "content": content}], "seed": i}
            async with limit, session.post(url + "/chat/completions", json=payload) as response:
                return "choices" in json.loads(await response.read())

        return sum(await asyncio.gather(*(one(i, b) for i, b in enumerate(images))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    from results import emit

    from synth.demo.documents import make_image

    images = [make_image(i, 512, 384) for i in range(args.images)]  # the pairs job resizes to 512
    server, url = start_server(BODY)
    best: dict[str, tuple[float, float]] = {}
    try:
        for _ in range(args.repeats):
            for name in ("ours", "bare_aiohttp"):
                start_cpu, start = cpu(), time.perf_counter()
                if name == "ours":
                    done = ours(url, images, args.concurrency)
                else:
                    done = asyncio.run(bare(url, images, args.concurrency))
                seconds, cpu_s = time.perf_counter() - start, cpu() - start_cpu
                assert done == args.images, (name, done)
                if cpu_s < best.get(name, (float("inf"), 0))[0]:
                    best[name] = (cpu_s, seconds)
    finally:
        server.terminate()
    result: dict = {
        name: {
            "cpu_s_per_1000": round(cpu_s / args.images * 1000, 3),
            "images_s": round(args.images / seconds),
        }
        for name, (cpu_s, seconds) in best.items()
    }
    for name, row in result.items():
        print(f"{name:14} {row['cpu_s_per_1000']:6.2f} CPU-s per 1000 images, {row['images_s']:6d} images/s")
    result["ratio_cpu"] = round(
        result["ours"]["cpu_s_per_1000"] / result["bare_aiohttp"]["cpu_s_per_1000"], 2
    )
    result |= {
        "images": args.images,
        "concurrency": args.concurrency,
        "image_bytes_mean": sum(map(len, images)) // len(images),
    }
    emit("bench_recaption_client", result, ["aiohttp", "pyarrow"])


if __name__ == "__main__":
    main()
