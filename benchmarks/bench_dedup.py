"""Dedup signatures: quality of near-duplicate detection and phash speed against imagededup.

Images: a fixed seeded corpus written as JPEG files to a temp dir. ``--bases`` base images
(300-1200 px) from three generators: photo-like (gradient + shapes + grain), text renders
(Pillow's FreeType default font) and charts (matplotlib: bar, stacked area, scatter, pie). Each base gets
``--dups`` planted duplicates, every one of them resized 0.5-2x and re-encoded at JPEG quality
30-95, and each, with probability 1/2, also cropped up to 5% per side, brightness changed by up
to +-10% and a few pixels painted over. Each base also gets ``--lookalikes`` DISTINCT images from
the same generator: for photos the same background with other shapes, for text the same font
and page with other words, for charts the same chart with other numbers. Ground truth: images
are duplicates when they come from the same base. Pairs are found as a dedup run finds them:
group images by ``band_keys(phash, max_distance)``, then keep candidate pairs within
``max_distance`` bits. Precision and recall over pairs (a pair = two images of one base).

Text: ``--docs`` base documents from templated news-like sentences (topic words, names, places,
numbers); each gets two edited copies (a few words changed, inserted or deleted, one sentence
dropped) and one distinct document from the same templates with other facts. Pairs found =
documents sharing a ``MinHasher.band_keys`` key. docs_s = band_keys per second, one process.

Speed: every JPEG file read from disk and hashed, in ONE process: ours (``phash``) against
imagededup's ``PHash().encode_image(image_file=...)`` looped in one process (the same as
``encode_images(num_enc_workers=1)`` without its pool), in its own venv under
``benchmarks/.venv-imagededup`` (created on first use: imagededup with ``--no-deps`` plus the
light packages its hashing module imports; its package ``__init__`` files, which import torch
and matplotlib, are bypassed). Runs alternate, best of ``--repeats``.
Goals: image precision >= 0.99, recall >= 0.95, ratio >= 4; text precision >= 0.99,
recall >= 0.9. The MinHash default here is 5-grams, 20 bands x 6 rows (datatrove's 14 x 8 misses
edited copies below ~0.72 Jaccard); the table shows both. Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from filters.dedup import MinHasher, band_keys, hamming, phash

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".venv-imagededup"
PEER_PACKAGES = ["numpy", "pillow", "scipy", "pywavelets", "tqdm", "scikit-learn"]
PEER_SCRIPT = r"""
import json, sys, time, types
import imagededup
for sub in ("methods", "utils"):  # skip the package __init__s: they import torch and matplotlib
    pkg = types.ModuleType("imagededup." + sub)
    pkg.__path__ = [imagededup.__path__[0] + "/" + sub]
    sys.modules[pkg.__name__] = pkg
from imagededup.methods.hashing import PHash
files = json.loads(sys.stdin.read())
hasher = PHash(verbose=False)
start = time.perf_counter()
hashes = [hasher.encode_image(image_file=f) for f in files]
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "hashes": hashes, "version": imagededup.__version__}))
"""

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


def found_pairs(hashes: list[int], max_distance: int) -> tuple[set[tuple[int, int]], int]:
    """Pairs within ``max_distance`` among images sharing a band key, and the candidate count."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        for key in band_keys(h, max_distance):
            groups[key].append(i)
    candidates = {pair for members in groups.values() for pair in itertools.combinations(members, 2)}
    pairs = {(a, b) for a, b in candidates if hamming(hashes[a], hashes[b]) <= max_distance}
    return pairs, len(candidates)


def score(found: set[tuple[int, int]], labels: list[int], only=None) -> tuple[float, float, int]:
    """Pair precision and recall; ``only(a, b)`` restricts recall to some true pairs."""
    truth = {(a, b) for a, b in itertools.combinations(range(len(labels)), 2) if labels[a] == labels[b]}
    tp = len(found & truth)
    if only is not None:
        truth = {pair for pair in truth if only(*pair)}
    hit = len(found & truth)
    return (tp / len(found) if found else 1.0), (hit / len(truth) if truth else 1.0), len(truth)


# ---------------------------------------------------------------- peer (imagededup, own venv)


def peer_python() -> Path:
    """The imagededup venv's python, created on first use."""
    python = PEER_VENV / "bin" / "python"
    if (
        python.exists()
        and subprocess.run([python, "-c", "import imagededup, scipy, pywt, sklearn"]).returncode == 0
    ):
        return python
    print(f"creating {PEER_VENV} for imagededup (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", "imagededup"], check=True)  # its deps pull torch/torchvision
    subprocess.run([*pip, *PEER_PACKAGES], check=True)
    return python


def run_peer(python: Path, files: list[Path]) -> tuple[float, list[int | None]]:
    done = subprocess.run(
        [python, "-c", PEER_SCRIPT], input=json.dumps([str(f) for f in files]), capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"imagededup run failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["seconds"], [int(h, 16) if h else None for h in out["hashes"]]


def run_ours(files: list[Path]) -> tuple[float, list[int]]:
    start = time.perf_counter()
    hashes = [phash(f.read_bytes()) for f in files]
    return time.perf_counter() - start, hashes


# ---------------------------------------------------------------- text


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


def text_quality(texts: list[str], labels: list[int], hasher: MinHasher) -> tuple[float, float, float]:
    start = time.perf_counter()
    keys = [hasher.band_keys(t) for t in texts]
    docs_s = len(texts) / (time.perf_counter() - start)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, ks in enumerate(keys):
        for k in ks:
            groups[k].append(i)
    found = {pair for members in groups.values() for pair in itertools.combinations(members, 2)}
    precision, recall, _ = score(found, labels)
    return precision, recall, docs_s


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bases", type=int, default=120, help="base images (a third per generator)")
    parser.add_argument("--dups", type=int, default=4, help="planted duplicates per base")
    parser.add_argument("--lookalikes", type=int, default=2, help="distinct look-alikes per base")
    parser.add_argument("--max-distance", type=int, default=6, help="phash bits of near duplicates")
    parser.add_argument("--docs", type=int, default=400, help="base text documents")
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--bands", type=int, default=20, help="recommended 20 (datatrove: 14)")
    parser.add_argument("--rows", type=int, default=6, help="recommended 6 (datatrove: 8)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per hasher (best counts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="where to write the images (default: a temp dir under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_dedup-", dir="/tmp"))
    try:
        python = peer_python()
        start = time.perf_counter()
        items = build_images(work / "images", args.bases, args.dups, args.lookalikes, args.seed)
        files, labels, notes = zip(*items, strict=True)
        mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(files)} JPEGs ({mb:.0f} MB) in {time.perf_counter() - start:.1f}s", flush=True)

        best = {"ours": float("inf"), "imagededup": float("inf")}
        for _ in range(args.repeats):  # alternate, so that other load falls on both alike
            seconds, hashes = run_ours(list(files))
            best["ours"] = min(best["ours"], seconds)
            seconds, peer_hashes = run_peer(python, list(files))
            best["imagededup"] = min(best["imagededup"], seconds)
        img_s, peer_img_s = len(files) / best["ours"], len(files) / best["imagededup"]
        agree = [hamming(a, b) for a, b in zip(hashes, peer_hashes, strict=True) if b is not None]
        print(f"phash, one process: ours {img_s:.1f} img/s, imagededup {peer_img_s:.1f} img/s")
        print(f"ours vs imagededup on the same file: median {np.median(agree):.0f} bits, max {max(agree)}")

        dup_dist: dict[str, list[int]] = defaultdict(list)
        first = {}
        for i, (label, note) in enumerate(zip(labels, notes, strict=True)):
            if label not in first:
                first[label] = i
            else:
                dup_dist[note.split(":")[0] + ":" + ("crop" if "crop" in note else "nocrop")].append(
                    hamming(hashes[i], hashes[first[label]])
                )
        look = defaultdict(list)
        per_base = args.lookalikes + 1
        for g in range(0, max(labels) + 1, per_base):
            for v in range(1, per_base):
                kind = notes[first[g]].split(":")[0]
                look[kind].append(hamming(hashes[first[g]], hashes[first[g + v]]))
        print("\nhamming to the base:  p50  p95  max | look-alike to base:  min  p5  p50")
        for kind in ("photo", "text", "chart"):
            for crop in ("nocrop", "crop"):
                d = dup_dist[f"{kind}:{crop}"]
                print(
                    f"  {kind:>5} {crop:<7} {np.median(d):>8.0f}{np.percentile(d, 95):>5.0f}{max(d):>5}",
                    end="",
                )
                if crop == "crop":
                    lk = look[kind]
                    print(f" | {min(lk):>20}{np.percentile(lk, 5):>4.0f}{np.median(lk):>5.0f}", end="")
                print()
        cropped = [":" in n and "crop" in n for n in notes]
        print(
            f"\n{'max_distance':>12}{'keys':>6}{'candidates':>11}{'found':>7}{'precision':>10}{'recall':>8}",
            end="",
        )
        print(f"{'uncropped':>10}{'cropped':>8}")
        image_result = {}
        for k in sorted({4, 6, 8, args.max_distance}):
            pairs, candidates = found_pairs(hashes, k)
            precision, recall, truth = score(pairs, list(labels))
            recall_plain = score(pairs, list(labels), lambda a, b: not (cropped[a] or cropped[b]))[1]
            recall_crop = score(pairs, list(labels), lambda a, b: cropped[a] or cropped[b])[1]
            mark = " <-" if k == args.max_distance else ""
            print(
                f"{k:>12}{len(band_keys(0, k)):>6}{candidates:>11}{len(pairs):>7}{precision:>10.4f}{recall:>8.4f}",
                end="",
            )
            print(f"{recall_plain:>10.4f}{recall_crop:>8.4f}{mark}")
            if k == args.max_distance:
                image_result = {
                    "precision": round(precision, 4),
                    "recall": round(recall, 4),
                    "recall_uncropped": round(recall_plain, 4),
                    "recall_cropped": round(recall_crop, 4),
                }
        print(
            f"({truth} true pairs; every phash has 33 bits set, so distances are even: k+1 finds what k does)"
        )

        texts, text_labels = build_texts(args.docs, args.seed)
        print(f"\n{len(texts)} documents; MinHash ngram / bands x rows: precision recall docs/s")
        text_result = {}
        for ngram, bands, rows in sorted(
            {(args.ngram, args.bands, args.rows), (5, 14, 8), (5, 16, 7), (5, 20, 6)}
        ):
            precision, recall, docs_s = text_quality(texts, text_labels, MinHasher(ngram, bands, rows))
            mark = " <-" if (ngram, bands, rows) == (args.ngram, args.bands, args.rows) else ""
            print(f"  {ngram} / {bands:>2} x {rows}: {precision:.4f} {recall:.4f} {docs_s:8.0f}{mark}")
            if mark:
                text_result = {
                    "precision": round(precision, 4),
                    "recall": round(recall, 4),
                    "docs_s": round(docs_s, 1),
                }

        image_result |= {
            "img_s": round(img_s, 1),
            "imagededup_img_s": round(peer_img_s, 1),
            "ratio": round(img_s / peer_img_s, 2),
            "processes": 1,
            "max_distance": args.max_distance,
            "images": len(files),
        }
        text_result |= {"ngram": args.ngram, "bands": args.bands, "rows": args.rows, "docs": len(texts)}
        print("RESULT " + json.dumps({"text": text_result, "image": image_result}))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
