"""Dedup signatures: quality of near-duplicate detection, and image-signature speed against
imagededup's PHash, in the same run.

Images: the fixed seeded corpus of ``dedup_corpus.py`` written as JPEG files to a temp dir:
``--bases`` base images (photos, text pages, charts), ``--dups`` planted duplicates of each
(resized 0.5-2x, JPEG quality 30-95; half of them also cropped up to 5% a side, brightness +-10%,
painted pixels) and ``--lookalikes`` distinct look-alikes of each (same generator, another seed;
the same chart with other numbers). Ground truth: images are duplicates when they come from the
same base. Pairs are found as the dedup stages find them: every image's crop-tolerant signature
(``filters.dedup.image_signature``: 16 crop hashes with chroma thumbnails, a content-box hash) gives band-key rows
(``signature_keys``), rows are grouped by key, and each group's candidates are confirmed by
``close_pairs`` (crop hashes within ``--max-distance`` bits, chroma within
``--colour-tolerance``, content boxes of mostly blank images within ``--box-distance``): the same
functions the image_keys and image_groups stages run.
Precision and recall over pairs (a pair = two images of one base). For comparison, the table
also shows the global hash alone (one 64-bit hash per image, the previous method).

Text: ``--docs`` base documents, two edited copies and one distinct document each. Pairs found =
documents sharing a ``MinHasher.band_keys`` key. docs_s = band_keys per second, one process.

Speed: every JPEG file read from disk and signed, in ONE process: ours (``image_signature``, 16
hashes and thumbnails, one BLAS thread) against imagededup's ``PHash().encode_image(image_file=...)``
(one hash) looped in one process (the same as ``encode_images(num_enc_workers=1)`` without its
pool), in its own venv under ``benchmarks/.venv-imagededup`` (created on first use: imagededup
with ``--no-deps`` plus the light packages its hashing module imports; its package ``__init__``
files, which import torch and matplotlib, are bypassed). Runs alternate, best of ``--repeats``.
Goals: image precision >= 0.99, recall >= 0.95, ratio >= 4; text precision >= 0.99,
recall >= 0.9. The MinHash default here is 5-grams, 20 bands x 6 rows (datatrove's 14 x 8 misses
edited copies below ~0.72 Jaccard); the table shows both. Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from dedup_corpus import build_images, build_texts  # beside this script

from filters.dedup import MinHasher, band_keys, hamming
from filters.dedup.image_signature import (
    Signature,
    close_pairs,
    image_signature,
    one_blas_thread,
    signature_keys,
)

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


def found_pairs(
    signatures: list[Signature], band_distance: int, thresholds: tuple[int, int, int]
) -> tuple[set[tuple[int, int]], int]:
    """Image pairs the dedup stages link, and the number of candidate row pairs they checked."""
    groups: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for i, signature in enumerate(signatures):
        for key, variant in signature_keys(signature, band_distance):
            groups[key].append((i, variant))
    pairs, candidates = set(), 0
    for members in groups.values():
        if len(members) < 2:
            continue
        candidates += len(members) * (len(members) - 1) // 2
        images = np.array([i for i, _ in members])
        hashes = np.array([signatures[i].hashes[v] for i, v in members], dtype=np.uint64)
        details = np.stack([np.frombuffer(signatures[i].detail(v), dtype=np.uint8) for i, v in members])
        a, b = close_pairs(hashes, details, *thresholds)
        pairs |= {
            (min(x, y), max(x, y))
            for x, y in zip(images[a].tolist(), images[b].tolist(), strict=True)
            if x != y
        }
    return pairs, candidates


def found_pairs_global(hashes: list[int], max_distance: int) -> set[tuple[int, int]]:
    """The previous method: one global hash per image, band keys at ``max_distance``, verified."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        for key in band_keys(h, max_distance):
            groups[key].append(i)
    candidates = {pair for members in groups.values() for pair in itertools.combinations(members, 2)}
    return {(a, b) for a, b in candidates if hamming(hashes[a], hashes[b]) <= max_distance}


def score(found: set[tuple[int, int]], labels: list[int], only=None) -> tuple[float, float, int]:
    """Pair precision and recall; ``only(a, b)`` restricts recall to some true pairs."""
    truth = {(a, b) for a, b in itertools.combinations(range(len(labels)), 2) if labels[a] == labels[b]}
    tp = len(found & truth)
    if only is not None:
        truth = {pair for pair in truth if only(*pair)}
    hit = len(found & truth)
    return (tp / len(found) if found else 1.0), (hit / len(truth) if truth else 1.0), len(truth)


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


def peer_versions(python: Path) -> dict[str, str]:
    """imagededup's version (and its Pillow's) in its own virtual environment."""
    code = "import importlib.metadata as m; print(m.version('imagededup'), m.version('pillow'))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    imagededup, pillow = done.stdout.split()
    return {"imagededup (peer venv)": imagededup, "pillow (peer venv)": pillow}


def run_peer(python: Path, files: list[Path]) -> tuple[float, list[int | None]]:
    done = subprocess.run(
        [python, "-c", PEER_SCRIPT], input=json.dumps([str(f) for f in files]), capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"imagededup run failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["seconds"], [int(h, 16) if h else None for h in out["hashes"]]


def run_ours(files: list[Path]) -> tuple[float, list[Signature]]:
    with one_blas_thread():
        start = time.perf_counter()
        signatures = [image_signature(f.read_bytes()) for f in files]
        return time.perf_counter() - start, signatures


def best_crop_distance(a: Signature, b: Signature) -> int:
    return int(np.bitwise_count(a.hashes[:, None] ^ b.hashes[None, :]).min())


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


def print_distances(signatures: list[Signature], labels: list[int], notes: list[str], per_base: int) -> None:
    """Hash distances of planted duplicates and look-alikes to their base: global and best crop."""
    first: dict[int, int] = {}
    dups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, (label, note) in enumerate(zip(labels, notes, strict=True)):
        if label not in first:
            first[label] = i
            continue
        a, b = signatures[first[label]], signatures[i]
        key = note.split(":")[0] + (" crop" if "crop" in note else " nocrop")
        dups[key].append((hamming(int(a.hashes[0]), int(b.hashes[0])), best_crop_distance(a, b)))
    looks: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for g in range(0, max(labels) + 1, per_base):
        for v in range(1, per_base):
            a, b = signatures[first[g]], signatures[first[g + v]]
            looks[notes[first[g]].split(":")[0]].append(
                (hamming(int(a.hashes[0]), int(b.hashes[0])), best_crop_distance(a, b))
            )
    print("\nbits to the base (global hash / best crop pair):  p50     p95     max")
    for kind in ("photo", "text", "chart"):
        for name, rows in (
            (f"{kind} nocrop", dups[f"{kind} nocrop"]),
            (f"{kind} crop", dups[f"{kind} crop"]),
        ):
            d = np.array(rows)
            print(
                f"  duplicate {name:<13}"
                + "".join(
                    f"{int(np.percentile(d[:, 0], q)):>5}/{int(np.percentile(d[:, 1], q)):<3}"
                    for q in (50, 95, 100)
                )
            )
        d = np.array(looks[kind])
        print(
            f"  look-alike {kind:<12} min {d[:, 0].min()}/{d[:, 1].min()}, p5 {np.percentile(d[:, 0], 5):.0f}/{np.percentile(d[:, 1], 5):.0f}"
        )


def main() -> None:
    from results import emit

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bases", type=int, default=120, help="base images (a third per generator)")
    parser.add_argument("--dups", type=int, default=4, help="planted duplicates per base")
    parser.add_argument("--lookalikes", type=int, default=2, help="distinct look-alikes per base")
    parser.add_argument("--max-distance", type=int, default=6, help="bits between the closest crop hashes")
    parser.add_argument("--colour-tolerance", type=int, default=10, help="chroma cell difference, 0..255")
    parser.add_argument("--box-distance", type=int, default=20, help="bits between content-box hashes")
    parser.add_argument("--band-distance", type=int, default=2, help="crop hashes within this always meet")
    parser.add_argument("--docs", type=int, default=400, help="base text documents")
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--bands", type=int, default=20, help="recommended 20 (datatrove: 14)")
    parser.add_argument("--rows", type=int, default=6, help="recommended 6 (datatrove: 8)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per hasher (best counts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="where to write the images (default: a temp dir under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_dedup-", dir="/tmp"))
    try:
        python = peer_python()
        start = time.perf_counter()
        items = build_images(work / "images", args.bases, args.dups, args.lookalikes, args.seed)
        files, labels, notes = zip(*items, strict=True)
        labels, notes = list(labels), list(notes)
        mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(files)} JPEGs ({mb:.0f} MB) in {time.perf_counter() - start:.1f}s", flush=True)

        best = {"ours": float("inf"), "imagededup": float("inf")}
        for _ in range(args.repeats):  # alternate, so that other load falls on both alike
            seconds, signatures = run_ours(list(files))
            best["ours"] = min(best["ours"], seconds)
            seconds, peer_hashes = run_peer(python, list(files))
            best["imagededup"] = min(best["imagededup"], seconds)
        img_s, peer_img_s = len(files) / best["ours"], len(files) / best["imagededup"]
        agree = [
            hamming(int(s.hashes[0]), b)
            for s, b in zip(signatures, peer_hashes, strict=True)
            if b is not None
        ]
        print(
            f"one process: ours {img_s:.1f} img/s (16 crop hashes + thumbnails), imagededup PHash {peer_img_s:.1f} img/s"
        )
        print(
            f"our uncropped hash vs imagededup's on the same file: median {np.median(agree):.0f} bits, max {max(agree)}"
        )
        print_distances(signatures, labels, notes, args.lookalikes + 1)

        cropped = ["crop" in n for n in notes]
        print(
            f"\n{'method':<52}{'candidates':>11}{'found':>7}{'precision':>10}{'recall':>8}{'uncropped':>10}{'cropped':>8}"
        )
        chosen = (args.max_distance, args.colour_tolerance, args.box_distance)
        settings = [  # each check alone off, and other distances, against the chosen thresholds
            chosen,
            (args.max_distance, 255, 64),
            (args.max_distance, args.colour_tolerance, 64),
            (4, args.colour_tolerance, args.box_distance),
            (8, args.colour_tolerance, args.box_distance),
        ]
        rows = [
            (
                f"global hash, <= {k} bits",
                found_pairs_global([int(s.hashes[0]) for s in signatures], k),
                None,
                False,
            )
            for k in (4, 6)
        ]
        for k, tol, box in settings:
            pairs, candidates = found_pairs(signatures, args.band_distance, (k, tol, box))
            colour = f"chroma <= {tol}" if tol < 255 else "no chroma"
            boxes = f"box <= {box}" if box < 64 else "no box"
            rows.append(
                (f"crops, <= {k} bits, {colour}, {boxes}", pairs, candidates, (k, tol, box) == chosen)
            )
        image_result = {}
        for name, pairs, candidates, is_chosen in rows:
            precision, recall, truth = score(pairs, labels)
            plain = score(pairs, labels, lambda a, b: not (cropped[a] or cropped[b]))[1]
            crop = score(pairs, labels, lambda a, b: cropped[a] or cropped[b])[1]
            print(
                f"{name:<52}{candidates if candidates is not None else '':>11}{len(pairs):>7}{precision:>10.4f}{recall:>8.4f}{plain:>10.4f}{crop:>8.4f}{' <-' if is_chosen else ''}"
            )
            if is_chosen:
                image_result = {"precision": round(precision, 4), "recall": round(recall, 4),
                                "recall_uncropped": round(plain, 4), "recall_cropped": round(crop, 4)}  # fmt: skip
        keys = np.mean([len(signature_keys(s, args.band_distance)) for s in signatures])
        print(f"({truth} true pairs; {keys:.1f} key rows per image at band distance {args.band_distance})")

        texts, text_labels = build_texts(args.docs, args.seed)
        print(f"\n{len(texts)} documents; MinHash ngram / bands x rows: precision recall docs/s")
        text_result = {}
        for ngram, bands, rows_ in sorted(
            {(args.ngram, args.bands, args.rows), (5, 14, 8), (5, 16, 7), (5, 20, 6)}
        ):
            precision, recall, docs_s = text_quality(texts, text_labels, MinHasher(ngram, bands, rows_))
            mark = " <-" if (ngram, bands, rows_) == (args.ngram, args.bands, args.rows) else ""
            print(f"  {ngram} / {bands:>2} x {rows_}: {precision:.4f} {recall:.4f} {docs_s:8.0f}{mark}")
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
            "colour_tolerance": args.colour_tolerance,
            "box_distance": args.box_distance,
            "band_distance": args.band_distance,
            "key_rows_per_image": round(float(keys), 1),
            "images": len(files),
        }
        text_result |= {"ngram": args.ngram, "bands": args.bands, "rows": args.rows, "docs": len(texts)}
        emit(
            "bench_dedup",
            {"text": text_result, "image": image_result},
            ["datatrove", "pillow", "numpy", "scipy"],
            peer_versions(python),
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
