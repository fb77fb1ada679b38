"""Rendered Text (Idefics2 mixture): text drawn onto images as ``ocr`` samples.

Text comes from any UTF-8 text file (paragraphs split at blank lines) or from staged interleaved
documents (the ``text`` column of their Parquet: text nodes joined by blank lines). Each sample
draws one chunk of a few words to a few sentences with a DejaVu font that matplotlib ships
(``matplotlib/mpl-data/fonts/ttf``; sans, serif, mono, bold, italic), a random size, colours
with enough contrast, a plain or two-colour gradient background, a small rotation, pixel
noise and sometimes a blur. The transcription is exactly the text drawn, lines joined by
newlines. Everything is drawn from ``random.Random(f"{seed}-{index}")``, so a sample depends
only on the seed, its index and the texts: byte-identical across runs and task splits.

Texts a font cannot draw (a character outside its cmap) are drawn with another font, or skipped;
right-to-left scripts are skipped, since the drawing here does not shape them.
"""

from __future__ import annotations

import io
import math
import os
import random
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DRAW_TRIES = 5  # chunks tried per sample before it is skipped as undrawable


@dataclass(frozen=True)
class RenderStyle:
    """Ranges the random choices are drawn from."""

    font_sizes: tuple[int, int] = (14, 44)
    widths: tuple[int, int] = (320, 1024)  # px of the text block before rotation
    max_rotation: float = 4.0  # degrees, either way
    max_noise: float = 0.12  # share of uniform noise blended in
    blur_chance: float = 0.2
    min_contrast: int = 110  # grey-level difference between text and background
    words: tuple[int, int] = (3, 60)  # words per sample
    max_side: int = 1540


@cache
def font_paths() -> tuple[str, ...]:
    """The DejaVu TTF files shipped with matplotlib (the Display cuts hold few glyphs: left out)."""
    import matplotlib

    folder = Path(matplotlib.__file__).parent / "mpl-data/fonts/ttf"
    fonts = tuple(sorted(str(p) for p in folder.glob("DejaVu*.ttf") if "Display" not in p.name))
    if not fonts:
        raise FileNotFoundError(f"{folder}: no DejaVu fonts; reinstall matplotlib")
    return fonts


@cache
def _coverage(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def drawable(text: str, path: str) -> bool:
    covered = _coverage(path)
    return all(ord(c) in covered for c in text if not c.isspace())


def _rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def texts_from_file(path: str | os.PathLike) -> list[str]:
    """Paragraphs of a UTF-8 text file (split at blank lines, whitespace collapsed)."""
    content = Path(path).read_text("utf-8", errors="replace")
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", content) if p.strip()]


def texts_from_staged(folder: str | os.PathLike) -> list[str]:
    """Paragraphs of staged documents (Parquet with a ``text`` column, e.g. ``_stage/extract``)."""
    import pyarrow.parquet as pq

    out = []
    for path in sorted(Path(folder).glob("*.parquet")):
        for text in pq.read_table(path, columns=["text"]).column("text").to_pylist():
            out += [" ".join(p.split()) for p in (text or "").split("\n\n") if p.strip()]
    return out


def load_texts(sources: list[str]) -> list[str]:
    """Paragraphs of every source: a folder of staged Parquet, or a text file."""
    texts = []
    for source in sources:
        texts += texts_from_staged(source) if Path(source).is_dir() else texts_from_file(source)
    return [t for t in texts if not _rtl(t)]


def _colours(rng: random.Random, contrast: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(text colour, background colour) whose grey levels differ by at least ``contrast``."""
    while True:
        fg = tuple(rng.randrange(256) for _ in range(3))
        bg = tuple(rng.randrange(256) for _ in range(3))
        grey = [0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] for c in (fg, bg)]
        if abs(grey[0] - grey[1]) >= contrast:
            return fg, bg


def _hex(colour: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in colour)


def _wrap(draw: ImageDraw.ImageDraw, words: list[str], font, width: int) -> list[str]:
    lines, current = [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if current and draw.textlength(candidate, font=font) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return lines + ([current] if current else [])


def render_text(
    text: str, rng: random.Random, style: RenderStyle = RenderStyle()
) -> tuple[bytes, str, dict] | None:
    """(JPEG bytes, transcription, meta) of ``text`` drawn in a random style; None when no font draws it."""
    fonts = [p for p in font_paths() if drawable(text, p)]
    if not fonts or not text.strip():
        return None
    path = rng.choice(fonts)
    size = rng.randint(*style.font_sizes)
    font = _font(path, size)
    width = rng.randint(*style.widths)
    scratch = ImageDraw.Draw(Image.new("L", (1, 1)))
    lines = _wrap(scratch, text.split(), font, width)
    ascent, descent = font.getmetrics()
    spacing = round((ascent + descent) * rng.uniform(1.1, 1.5))
    margin = rng.randint(8, 40)
    block_width = max(math.ceil(scratch.textlength(line, font=font)) for line in lines)
    image_size = (block_width + 2 * margin, spacing * len(lines) + 2 * margin)
    fg, bg = _colours(rng, style.min_contrast)
    image = Image.new("RGB", image_size, bg)
    if rng.random() < 0.4:  # a vertical gradient towards a second colour of similar brightness
        second = tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in bg)
        ramp = Image.linear_gradient("L").resize(image_size)
        image = Image.composite(Image.new("RGB", image_size, second), image, ramp)
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((margin, margin + n * spacing), line, font=font, fill=fg)
    angle = round(rng.uniform(-style.max_rotation, style.max_rotation), 2)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=bg)
    noise = round(rng.uniform(0, style.max_noise), 3)
    if noise:
        grain = Image.frombytes("L", image.size, rng.randbytes(image.size[0] * image.size[1])).convert("RGB")
        image = Image.blend(image, grain, noise)
    blur = rng.random() < style.blur_chance
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(radius=0.8))
    if max(image.size) > style.max_side:
        scale = style.max_side / max(image.size)
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BOX
        )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    meta = {
        "font": Path(path).stem, "font_size": size, "rotation": angle, "noise": noise, "blur": blur,
        "fg": _hex(fg), "bg": _hex(bg), "width": image.width, "height": image.height,
    }  # fmt: skip
    return out.getvalue(), "\n".join(lines), meta


def _chunk(texts: list[str], rng: random.Random, style: RenderStyle) -> str:
    words = rng.choice(texts).split()
    n = min(len(words), rng.randint(*style.words))
    start = rng.randrange(len(words) - n + 1)
    return " ".join(words[start : start + n])


def rendered_document(
    texts: list[str], index: int, seed: int, style: RenderStyle = RenderStyle()
) -> Document | None:
    """The ``index``-th sample of ``seed``: an ``ocr`` document, or None when its text could not be drawn."""
    rng = random.Random(f"{seed}-{index}")
    for _ in range(DRAW_TRIES):
        if rendered := render_text(_chunk(texts, rng, style), rng, style):
            break
    else:
        return None
    image, transcription, meta = rendered
    doc_id = f"rendered-{seed}-{index:08d}"
    return Document(
        text=transcription,
        id=doc_id,
        media=[Media(id=doc_id, type=MediaType.IMAGE, url=None, media_bytes=image)],
        metadata={
            "source": f"rendered_text:seed={seed}:{index}",
            "meta": meta | {"synthetic": "rendered_text"},
        },
    )


class RenderedText(PipelineStep):
    """Yields ``samples`` rendered-text ``ocr`` documents from the texts of ``sources``; task
    ``rank`` makes a contiguous block of indices, so keys sort in index order across shards."""

    name = "🖋 Rendered text"
    type = "📖 - READER"

    def __init__(self, sources: list[str], samples: int, seed: int = 0, style: RenderStyle = RenderStyle()):
        super().__init__()
        self.sources, self.samples, self.seed, self.style = list(sources), samples, seed, style

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        texts = load_texts(self.sources)
        if not texts:
            raise ValueError(f"rendered text: no usable text in {self.sources}")
        for index in range(rank * self.samples // world_size, (rank + 1) * self.samples // world_size):
            with self.track_time():
                doc = rendered_document(texts, index, self.seed, self.style)
            if doc is None:
                self.stat_update("skipped_undrawable")
                continue
            self.stat_update("samples")
            yield doc
