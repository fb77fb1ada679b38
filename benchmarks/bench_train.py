"""Training throughput of the bundled training module at SmolVLM-256M size, from our shards.

The model is transformers' ``Idefics3ForConditionalGeneration`` with SmolVLM-256M's published
shape and random weights: a SigLIP-base-sized vision tower (hidden 768, 12 layers, 12 heads,
patch 16, 512 px tiles), pixel shuffle with scale factor 4 (64 visual tokens per tile), and a
SmolLM-135M text model (hidden 576, 30 layers, 9 heads, 3 KV heads, intermediate 1536, vocab
49152). It is saved once as a checkpoint folder and trained through ``training.loop.Trainer``
(``model.path``), exactly as ``vlmdata train`` would: bf16 autocast, packed rows of ``--seq``
tokens, ``--batch`` rows per step, ``--steps`` steps, DataLoader workers decoding the shards.

Shards are generated on the machine with the standard library, Pillow and numpy only:
``interleaved`` samples (paragraphs of words and 1-3 photo-like JPEGs, so images are split into
tiles plus a global image) written as tar shards in our format (``KEY.json`` + ``KEY.000.jpg``)
with a ``manifest.json``. The tokenizer is a byte-level BPE trained on those texts
(``training.tokenizer``); the model keeps the full 49152-row vocabulary, so the embedding and
LM head cost what they cost in SmolVLM.

Printed last: ``RESULT {"tokens_s": .., "data_wait_fraction": .., "gpu": ..}``, averaged over the
log windows after the first (the first holds CUDA start-up); tokens are real (non-padding)
tokens. Goal: data wait below 5 % of step time.

Dependencies there: only ``training`` and ``schemas`` of this repo are imported. They need torch,
transformers, tokenizers, numpy, Pillow and PyYAML (all in the GPU image) and pydantic, which the
image lacks: carry its wheels as the device README explains (``pydantic``, ``pydantic-core`` --
compiled, take the cp312 manylinux_2_17_x86_64 wheel matching pydantic's pinned version --,
``annotated-types`` and ``typing-inspection``; ``typing-extensions`` is there). ``jsonschema``
is not needed (``schemas.samples`` imports it only to validate).

    python -m benchmarks.bench_train --tiny            # CPU smoke test: 3 steps of a tiny model
    python -m benchmarks.bench_train                   # on the GPU: 100 steps, batch 16, seq 2048
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from transformers import Idefics3Config, Idefics3ForConditionalGeneration

from schemas.manifest import Manifest, ShardEntry, shard_name, totals_of
from schemas.samples import dumps, image_member, sample_texts
from training.config import TrainConfig
from training.loop import Trainer
from training.tokenizer import IMAGE, special_ids, train_tokenizer

WORDS = (
    "the a of data model image vision language page text learn train shard web document caption photo "
    "river city mountain table chart report figure scan letter column market garden school museum "
    "bridge station window harbour forest library kitchen festival"
).split()

# SmolVLM-256M (HuggingFaceTB/SmolVLM-256M-Instruct config.json), random weights.
FULL = {
    "text": dict(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        vocab_size=49152,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        rms_norm_eps=1e-5,
    ),
    "vision": dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        image_size=512,
        patch_size=16,
    ),  # fmt: skip
    "scale_factor": 4,
    "max_image_size": 1024,  # 2 x 2 tiles of 512 px + the global image for a 4:3 photo
    "image_sides": (640, 800, 1024),
    "samples": 768,
}
TINY = {
    "text": dict(
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
        max_position_embeddings=4096,
    ),
    "vision": dict(
        hidden_size=32,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    ),  # fmt: skip
    "scale_factor": 2,
    "max_image_size": 64,
    "image_sides": (48, 64, 96),
    "samples": 48,
}


# -- shards -------------------------------------------------------------------------------------
def photo(rng: random.Random, width: int, height: int) -> bytes:
    """A JPEG with a gradient background and a few shapes (no two alike)."""
    array = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
    array = (array + np.array([rng.randrange(256) for _ in range(3)], np.float32)) % 256
    image = Image.fromarray(array.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 8)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (x0, y0, x0 + rng.randint(8, width // 2), y0 + rng.randint(8, height // 2))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            box, fill=tuple(rng.randrange(256) for _ in range(3))
        )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def interleaved_sample(rng: random.Random, sides: tuple[int, ...]) -> tuple[dict, dict[str, bytes]]:
    """One ``interleaved`` sample: paragraphs and 1-3 images, as the pack job lays it out."""
    texts, images, members = [], [], {}
    for _ in range(rng.randint(1, 3)):
        paragraph = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 160)))
        texts.append(paragraph[0].upper() + paragraph[1:] + ".")
        images.append(None)
        member = image_member(len(members), "jpg")
        side = rng.choice(sides)
        members[member] = photo(rng, side, side * 3 // 4)
        texts.append(None)
        images.append(member)
    return {"kind": "interleaved", "source": "bench", "meta": {}, "texts": texts, "images": images}, members


def write_shards(folder: Path, samples: int, sides: tuple[int, ...], per_shard: int = 32) -> Path:
    """Tar shards of generated samples and their manifest; returns the manifest's path."""
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    entries = []
    for seq, start in enumerate(range(0, samples, per_shard)):
        url = f"shards/{shard_name('bench', 0, seq)}"
        count = min(per_shard, samples - start)
        words = images = 0
        with tarfile.open(folder / url, "w") as tar:
            for index in range(start, start + count):
                sample, members = interleaved_sample(rng, sides)
                words += sum(len(t.split()) for t in sample_texts(sample))
                images += len(members)
                key = f"bench-{index:07d}"
                for suffix, data in [("json", dumps(sample)), *members.items()]:
                    info = tarfile.TarInfo(f"{key}.{suffix}")
                    info.size, info.mtime = len(data), 0
                    tar.addfile(info, io.BytesIO(data))
        data = (folder / url).read_bytes()
        entries.append(
            ShardEntry(
                url=url,
                nsamples=count,
                filesize=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                words=words,
                images=images,
            )  # fmt: skip
        )
    manifest = Manifest(name="bench", kind="interleaved", shardlist=entries, totals=totals_of(entries))
    path = folder / "manifest.json"
    path.write_text(manifest.to_json(), "utf-8")
    return path


# -- model --------------------------------------------------------------------------------------
def write_checkpoint(folder: Path, manifest: Path, size: dict) -> Path:
    """A random Idefics3 of the given size with a BPE trained on the shards' texts, saved as a
    checkpoint folder that ``model.path`` loads."""
    texts = []
    for entry in Manifest.from_json(manifest.read_text("utf-8")).shardlist[:4]:
        with tarfile.open(manifest.parent / entry.url) as tar:
            for info in tar:
                if info.name.endswith(".json"):
                    texts += sample_texts(json.loads(tar.extractfile(info).read()))
    tokenizer = train_tokenizer(texts, size["text"]["vocab_size"], folder / "tokenizer.json")
    ids = special_ids(tokenizer)
    text = dict(
        size["text"],
        model_type="llama",
        head_dim=size["text"]["hidden_size"] // size["text"]["num_attention_heads"],
        pad_token_id=ids.pad,
        bos_token_id=ids.bos,
        eos_token_id=ids.eos,
        tie_word_embeddings=False,
    )
    config = Idefics3Config(
        text_config=text,
        vision_config=size["vision"],
        scale_factor=size["scale_factor"],
        image_token_id=tokenizer.token_to_id(IMAGE),
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(config)
    model.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params / 1e6:.1f} M parameters, tokenizer: {tokenizer.get_vocab_size()} tokens")
    return folder


# -- run ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16, help="packed rows per step")
    parser.add_argument("--seq", type=int, default=2048, help="tokens per packed row")
    parser.add_argument("--workers", type=int, default=8, help="DataLoader workers")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test: 3 steps of a tiny model")
    parser.add_argument("--work-dir", help="keep shards and checkpoints here (default: a temp folder)")
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args(argv)
    size = TINY if args.tiny else FULL
    if args.tiny:
        args.steps, args.batch, args.seq, args.workers = 3, 2, 256, 1
        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as temp:
        root = Path(args.work_dir or temp)
        started = time.perf_counter()
        manifest = write_shards(root / "data", size["samples"], size["image_sides"])
        print(f"shards: {size['samples']} samples in {time.perf_counter() - started:.1f} s")
        checkpoint = write_checkpoint(root / "model", manifest, size)
        log_every = max(1, args.steps // 10)
        cfg = TrainConfig.model_validate(
            {
                "datasets": [{"manifest": str(manifest)}],
                "model": {"path": str(checkpoint), "attn_implementation": "sdpa"},
                "data": {
                    "max_length": args.seq,
                    "max_image_size": size["max_image_size"],
                    "num_workers": args.workers,
                    "shuffle_buffer": 16,
                },
                "steps": args.steps,
                "batch_size": args.batch,
                "warmup_steps": min(10, args.steps),
                "precision": "bf16",
                "log_every": log_every,
                "checkpoint_every": 10**9,
                "checkpoint_dir": str(root / "run"),
                "resume": False,
            }
        )
        trainer = Trainer(cfg)
        trainer.save = lambda: None  # the final checkpoint (GBs of optimizer state) is not measured
        history = trainer.run()
    windows = [r for r in history if "tokens_s" in r]
    measured = windows[1:] or windows
    device = trainer.dist.device
    result = {
        "tokens_s": round(sum(r["tokens_s"] for r in measured) / len(measured), 1),
        "data_wait_fraction": round(sum(r["data_wait_fraction"] for r in measured) / len(measured), 4),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "steps": args.steps,
        "batch": args.batch,
        "seq": args.seq,
        "final_loss": round(history[-1]["loss"], 4),
        "skipped": history[-1].get("skipped", {}),
    }
    from results import emit

    emit("bench_train-tiny" if args.tiny else "bench_train", result, ["torch", "transformers"])
    return result


if __name__ == "__main__":
    main()
