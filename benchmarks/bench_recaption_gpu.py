"""Captioning throughput of the recaption stage's ``transformers`` backend at SmolVLM-256M size.

The model is a random Idefics3 with SmolVLM-256M's published sizes (``bench_train.FULL``), saved as
a checkpoint folder with a BPE tokenizer, loaded by ``training.generate.LocalVlm`` (bf16 on the
GPU) and asked to caption ``--images`` photo-like JPEGs of 512 x 384 (one 512 px tile: captions
are made from the whole image), ``--batch`` at a time, ``--new-tokens`` tokens each (random
weights never stop early: ``min_new_tokens`` forces the count). RESULT: images/s and generated
tokens/s after one warm-up batch. A GPU benchmark (``make bench-gpu``); ``--tiny`` is a CPU smoke
test of a tiny model, run by the tests. Never run on a GPU yet: no GPU was lent to the sessions
that wrote it.

    python benchmarks/bench_recaption_gpu.py           # on a GPU machine
    python benchmarks/bench_recaption_gpu.py --tiny    # CPU smoke test
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
from bench_train import FULL, TINY, photo, write_checkpoint, write_shards


def main(argv: list[str] | None = None) -> dict:
    from results import emit

    from training.generate import LocalVlm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test of a tiny model")
    parser.add_argument("--no-save", action="store_true", help="print RESULT without writing results/")
    args = parser.parse_args(argv)
    size = TINY if args.tiny else FULL
    if args.tiny:
        args.images, args.batch, args.new_tokens = 8, 4, 8
    rng = random.Random(0)
    side = size["vision"]["image_size"]
    images = [photo(rng, side, side * 3 // 4) for _ in range(args.images + args.batch)]
    with tempfile.TemporaryDirectory(prefix="bench_recaption_gpu-") as work:
        manifest = write_shards(Path(work) / "shards", 16, size["image_sides"])
        folder = write_checkpoint(Path(work) / "model", manifest, size)
        vlm = LocalVlm(str(folder), batch_size=args.batch)
        generate = vlm.model.generate

        def forced(**kw):  # random weights: make every caption exactly new_tokens long
            return generate(**kw, min_new_tokens=args.new_tokens)

        vlm.model.generate = forced
        prompt = "Write a short caption for this image."
        vlm.answer([(image, prompt, 0) for image in images[: args.batch]], args.new_tokens)  # warm-up
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        answers = vlm.answer(
            [(image, prompt, i) for i, image in enumerate(images[args.batch :])], args.new_tokens
        )
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    result = {
        "images_s": round(args.images / seconds, 2),
        "new_tokens_s": round(args.images * args.new_tokens / seconds, 1),
        "images": args.images,
        "batch": args.batch,
        "new_tokens": args.new_tokens,
        "answers": len(answers),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }
    print(f"{result['images_s']} images/s, {result['new_tokens_s']} generated tokens/s on {result['gpu']}")
    emit(
        "bench_recaption_gpu-tiny" if args.tiny else "bench_recaption_gpu", result, ["torch", "transformers"]
    )
    return result


if __name__ == "__main__":
    main()
