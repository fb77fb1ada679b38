"""The ``rendered_text`` job (Rendered Text in the Idefics2 mixture): text drawn onto images -> ``ocr`` shards.

Stage ``write_shards`` draws the samples with ``synth.rendered_text.RenderedText`` (texts from
UTF-8 files or staged interleaved Parquet; fonts, sizes, colours, backgrounds, rotation, noise and
blur drawn from ``seed`` and the sample index) and writes them with the shared shard writer; then
the shared ``finalize`` stage writes the manifest (``pipelines.pack.shard_stages``). Task ``rank``
draws a contiguous block of indices, so the shards are byte-identical across runs with the same
seed, texts and task count. Samples whose text no font can draw are counted as
``skipped_undrawable``.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.pack import shard_stages
from pipelines.stages import Stage
from schemas.config import ConfigError
from schemas.config_rendered_text import RenderedTextConfig
from synth.rendered_text import RenderedText, RenderStyle


def render_style(cfg: RenderedTextConfig) -> RenderStyle:
    """The drawing ranges of the config; a min above its max names both keys."""
    for low, high in (
        ("min_font_size", "max_font_size"),
        ("min_width", "max_width"),
        ("min_words", "max_words"),
    ):
        if getattr(cfg, low) > getattr(cfg, high):
            raise ConfigError(f"{low}={getattr(cfg, low)} is above {high}={getattr(cfg, high)}")
    return RenderStyle(
        font_sizes=(cfg.min_font_size, cfg.max_font_size),
        widths=(cfg.min_width, cfg.max_width),
        max_rotation=cfg.max_rotation,
        max_noise=cfg.max_noise,
        blur_chance=cfg.blur_chance,
        min_contrast=cfg.min_contrast,
        words=(cfg.min_words, cfg.max_words),
        max_side=cfg.max_side,
    )


def build_rendered_text(cfg: RenderedTextConfig) -> list[Stage]:
    if not cfg.texts:
        raise ConfigError("give at least one input: texts=[FILE|FOLDER,...] (text files or staged Parquet)")
    missing = [path for path in cfg.texts if not Path(path).exists()]
    if missing:
        raise ConfigError(f"texts: {missing} not found; give text files or folders of staged Parquet")
    reader = RenderedText(cfg.texts, cfg.samples, seed=cfg.seed, style=render_style(cfg))
    return shard_stages(cfg, "ocr", reader, min(cfg.executor.tasks, cfg.samples))
