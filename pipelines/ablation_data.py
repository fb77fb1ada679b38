"""``python -m pipelines.ablation_data OUT``: the datasets of the shipped ablation (configs/ablate.yaml).

- ``reading-train`` / ``reading-heldout``: ``ocr`` shards of the rendered-text job: four
  three-letter words (cat, dog, sun, map) in large type, random fonts, colours, backgrounds and a
  small rotation; 4,000 to train on (seed 0), 64 held out (seed 1);
- ``colour-train`` / ``colour-heldout``: ``qa`` shards of the colour task
  (``synth.demo.colour_task``: a shape of one of four colours, "What colour is the shape?");
  1,000 to train on (seed 0), 200 held out (seed 1).

Each is written by the project's own jobs (rendered_text, and staging + pack), with a manifest;
a dataset already there is kept. The ablation trains with and without the reading data and checks
the colour task, which the OCR data should not move.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.executors import run_stages
from pipelines.pack import build_pack
from pipelines.rendered_text import build_rendered_text
from pipelines.staging import stage_documents
from schemas.config import PackConfig, load_config
from schemas.config_rendered_text import RenderedTextConfig
from synth.demo.colour_task import make_colour_documents

WORDS = ["cat", "dog", "sun", "map"]
STYLE = ["min_words=1", "max_words=1", "min_font_size=28", "max_font_size=40", "max_rotation=2",
         "max_noise=0.05", "blur_chance=0", "shards.image_format=png"]  # fmt: skip


def reading(out: Path, name: str, samples: int, seed: int) -> Path:
    words = out / "words.txt"
    words.write_text("\n\n".join(WORDS) + "\n")
    cfg = load_config(
        RenderedTextConfig,
        None,
        [f"texts=[{words}]", f"output_dir={out}", f"dataset={name}", f"samples={samples}", f"seed={seed}",
         "executor.kind=local", "executor.tasks=2", *STYLE],
    )  # fmt: skip
    run_stages(build_rendered_text(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return Path(cfg.dataset_dir) / "manifest.json"


def colour(out: Path, name: str, count: int, seed: int) -> Path:
    staged = out / f"_staged-{name}"
    stage_documents(make_colour_documents(count, seed), str(staged), files=2)
    cfg = load_config(
        PackConfig,
        None,
        [f"input={staged}", f"output_dir={out}", "kind=qa", f"dataset={name}", "executor.kind=local",
         "shards.max_samples=300", "shards.image_format=png"],
    )  # fmt: skip
    run_stages(build_pack(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return Path(cfg.dataset_dir) / "manifest.json"


def build(
    out: Path,
    train_words: int = 4000,
    heldout_words: int = 64,
    train_colours: int = 1000,
    heldout_colours: int = 200,
) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    plan = {
        "reading-train": lambda: reading(out, "reading-train", train_words, 0),
        "reading-heldout": lambda: reading(out, "reading-heldout", heldout_words, 1),
        "colour-train": lambda: colour(out, "colour-train", train_colours, 0),
        "colour-heldout": lambda: colour(out, "colour-heldout", heldout_colours, 1),
    }
    made = {}
    for name, make in plan.items():
        manifest = out / name / "manifest.json"
        made[name] = manifest if manifest.exists() else make()
        print(f"{name}: {made[name]}", file=sys.stderr)
    return made


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out/ablation"))
