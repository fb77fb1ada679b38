"""The fixed, seeded corpora of ``bench_dedup.py``: images with planted near duplicates and
distinct look-alikes, and documents with edited copies and distinct documents on the same topics.

Images: base images (300-1200 px) from three generators: photo-like (gradient + shapes + grain),
text renders (Pillow's FreeType default font) and charts (matplotlib: bar, stacked area, scatter,
pie). Each base gets planted duplicates, every one of them resized 0.5-2x and re-encoded at JPEG
quality 30-95, and each, with probability 1/2, also cropped up to 5% per side, brightness changed
by up to +-10% and a few pixels painted over. Each base also gets DISTINCT look-alikes from the
same generator: for photos the same background with other shapes, for text the same font and
page with other words, for charts the same chart with other numbers.

Text: base documents from templated news-like sentences (topic words, names, places, numbers);
each gets two edited copies (a few words changed, inserted or deleted, one sentence dropped) and
one distinct document from the same templates with other facts.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

WORDS = (
    "council river market school bridge museum festival harbour station library garden forest "
    "report season election project budget company village weather storm concert exhibition "
    "players team match league coach hospital doctors patients research scientists students "
    "teachers airport train bus road traffic police court judge mayor minister farmers harvest"
).split()
NAMES = (
    "Anna Ben Carla David Emma Felix Greta Hugo Iris Jonas Klara Lukas Mia Noah Olga Paul Rosa Sven".split()
)
PLACES = "Bremen Lyon Turin Porto Ghent Graz Brno Cork Malmo Split Basel Utrecht Leeds Aarhus Lille".split()
VERBS = "opened closed announced approved rejected visited reported discussed celebrated planned".split()
TEMPLATES = [
    "The {w} in {p} {v} a new {w} on {d} after {n} months of debate.",
    "{N} said the {w} would cost about {n} euros and take {n} years.",
    "According to {N}, residents of {p} {v} the {w} near the old {w}.",
    "Local {w} and {w} {v} the plans at a meeting attended by {n} people.",
    "In {p}, the {w} has been {v} by the {w} since {d}.",
    "{N} and {N} {v} the {w} together with the {w} of {p}.",
    "Critics argue that the {w} is too expensive while supporters point to the {w}.",
    "The next meeting of the {w} is scheduled for {d} in the {w} of {p}.",
    "More than {n} {w} took part, {N} told reporters outside the {w}.",
    "The {w} of {p} has {v} a report on the {w} and the {w}.",
]
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


# ---------------------------------------------------------------- images


def photo(rng: np.random.Generator, w: int, h: int, background_seed: int) -> Image.Image:
    """Gradient background (fixed by ``background_seed``), random shapes, fine grain."""
    bg = np.random.default_rng(background_seed)
    c0, c1 = bg.uniform(0, 255, 3), bg.uniform(0, 255, 3)
    angle = bg.uniform(0, np.pi)
    y, x = np.mgrid[0:h, 0:w]
    t = (np.cos(angle) * x / w + np.sin(angle) * y / h + 1) / 3
    pixels = c0 * (1 - t[..., None]) + c1 * t[..., None]
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(4, 10)):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        box = (x0, y0, x0 + rng.integers(w // 8, w // 2), y0 + rng.integers(h // 8, h // 2))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    grain = rng.normal(0, 8, (h, w, 1))
    return Image.fromarray((np.asarray(image) + grain).clip(0, 255).astype(np.uint8))


def text_page(rng: np.random.Generator, w: int, h: int, style_seed: int) -> Image.Image:
    """A page of text: font size, margins and colours fixed by ``style_seed``, words random."""
    style = np.random.default_rng(style_seed)
    size = int(style.integers(14, 30)) * max(w, h) // 800 + 8
    paper = tuple(int(c) for c in style.integers(215, 256, 3))
    ink = tuple(int(c) for c in style.integers(0, 70, 3))
    margin = int(style.integers(w // 20, w // 8))
    font, title = ImageFont.load_default(size=size), ImageFont.load_default(size=int(size * 1.6))
    image = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(image)
    words = lambda n: " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), n))  # noqa: E731
    y = margin
    draw.text((margin, y), words(int(rng.integers(2, 5))).title(), font=title, fill=ink)
    y += int(size * 2.4)
    while y < h - margin - size:
        if rng.random() < 0.15:  # paragraph break
            y += size
            continue
        line = words(int(rng.integers(1, 12)))
        while draw.textlength(line, font=font) > w - 2 * margin and " " in line:
            line = line.rsplit(" ", 1)[0]
        draw.text((margin, y), line, font=font, fill=ink)
        y += int(size * 1.3)
    return image


def chart(w: int, h: int, style_seed: int, numbers_seed: int) -> Image.Image:
    """A matplotlib chart: kind, labels and colours fixed by ``style_seed``, numbers by ``numbers_seed``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style, nums = random.Random(style_seed), np.random.default_rng(numbers_seed)
    kind = style.choice(["bar", "area", "scatter", "pie"])
    labels = style.sample(PLACES, style.randint(4, 7))
    colors = style.sample(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"], 3)
    fig, ax = plt.subplots(figsize=(w / 100, h / 100), dpi=100)
    if kind == "bar":
        ax.bar(labels, nums.uniform(1, 100, len(labels)), color=colors[0])
    elif kind == "area":  # stacked areas of random walks
        walks = np.abs(np.cumsum(nums.normal(0, 1, (style.randint(2, 3), 30)), axis=1)) + 1
        ax.stackplot(np.arange(30), walks, colors=colors[: len(walks)])
    elif kind == "scatter":
        ax.scatter(nums.normal(0, 1, 40), nums.normal(0, 1, 40), color=colors[0], s=h // 2, alpha=0.7)
    else:
        ax.pie(nums.uniform(1, 10, len(labels)), labels=labels, colors=colors * 3)
    ax.set_title(f"{style.choice(WORDS).title()} in {style.choice(PLACES)}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return Image.open(buf).convert("RGB")


def base_image(kind: str, seed: int, variant: int, size: tuple[int, int]) -> Image.Image:
    """Base ``seed`` of a generator; ``variant`` > 0 gives a distinct look-alike of it."""
    w, h = size
    rng = np.random.default_rng([seed, variant])
    if kind == "photo":
        return photo(rng, w, h, background_seed=seed)
    if kind == "text":
        return text_page(rng, w, h, style_seed=seed)
    return chart(w, h, style_seed=seed, numbers_seed=seed * 100 + variant)


def jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def planted_duplicate(image: Image.Image, rng: random.Random) -> tuple[bytes, str]:
    """A transformed copy of ``image`` and a note of what was done."""
    notes = []
    if rng.random() < 0.5:  # crop up to 5% per side
        w, h = image.size
        box = [rng.uniform(0, 0.05) * w, rng.uniform(0, 0.05) * h]
        box += [w - rng.uniform(0, 0.05) * w, h - rng.uniform(0, 0.05) * h]
        image = image.crop(tuple(int(v) for v in box))
        notes.append("crop")
    if rng.random() < 0.5:
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.9, 1.1))
        notes.append("bright")
    if rng.random() < 0.5:  # a few pixels painted over
        image = image.copy()
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randint(1, 5)):
            x, y = rng.randrange(image.width), rng.randrange(image.height)
            draw.rectangle((x, y, x + 2, y + 2), fill=tuple(rng.randrange(256) for _ in range(3)))
        notes.append("pixels")
    scale = rng.uniform(0.5, 2.0)
    image = image.resize((max(8, round(image.width * scale)), max(8, round(image.height * scale))))
    quality = rng.randint(30, 95)
    return jpeg(image, quality), "+".join(["resize", "q", *notes])


def build_images(
    folder: Path, bases: int, dups: int, lookalikes: int, seed: int
) -> list[tuple[Path, int, str]]:
    """Write the image corpus; returns (file, group, note) with group = the base it came from."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items, group = [], 0
    for i in range(bases):
        kind = ("photo", "text", "chart")[i % 3]
        size = (rng.randint(300, 1200), rng.randint(300, 1200))
        base_seed = seed * 100_000 + i
        for variant in range(lookalikes + 1):
            image = base_image(kind, base_seed, variant, size)
            copies = [(jpeg(image, rng.randint(75, 95)), f"{kind}-base")]
            if variant == 0:
                copies += [planted_duplicate(image, rng) for _ in range(dups)]
            for j, (data, note) in enumerate(copies):
                path = folder / f"{group:05d}-{j}.jpg"
                path.write_bytes(data)
                items.append((path, group, f"{kind}:{note}"))
            group += 1
    return items


def fill(template: str, rng: random.Random) -> str:
    out = template
    for slot, pool in (("{w}", WORDS), ("{N}", NAMES), ("{p}", PLACES), ("{v}", VERBS), ("{d}", DAYS)):
        while slot in out:
            out = out.replace(slot, rng.choice(pool), 1)
    while "{n}" in out:
        out = out.replace("{n}", str(rng.randint(2, 5000)), 1)
    return out


def document(rng: random.Random) -> list[str]:
    return [fill(rng.choice(TEMPLATES), rng) for _ in range(rng.randint(15, 40))]


def edited(sentences: list[str], rng: random.Random) -> str:
    """A copy with one sentence dropped and 2-6 word edits (change, insert or delete)."""
    sentences = list(sentences)
    del sentences[rng.randrange(len(sentences))]
    words = " ".join(sentences).split()
    for _ in range(rng.randint(2, 6)):
        i, op = rng.randrange(len(words)), rng.choice("cid")
        if op == "c":
            words[i] = rng.choice(WORDS)
        elif op == "i":
            words.insert(i, rng.choice(WORDS))
        elif len(words) > 1:
            del words[i]
    return " ".join(words)


def build_texts(count: int, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(count):
        base = document(rng)
        for text in (" ".join(base), edited(base, rng), edited(base, rng)):
            texts.append(text)
            labels.append(i)
        texts.append(" ".join(document(rng)))  # same templates, other facts: distinct
        labels.append(count + i)
    return texts, labels
