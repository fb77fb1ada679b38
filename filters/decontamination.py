"""Decontamination: drop samples that overlap evaluation sets, so benchmark scores stay honest.

Text: n-gram overlap of normalised words (lower-cased, runs of letters and digits), as GPT-3
(Brown et al. 2020, appendix C: 13-grams) and Llama 2 (Touvron et al. 2023, section A.6) measured
contamination. Every ``ngram``-word window of every evaluation item (question, passage, ...) is
indexed; an item shorter than ``ngram`` words but with at least ``min_item_words`` words is
indexed whole, as GPT-3 did for short items. A sample whose texts (``doc.text``, and the turns of
a ``qa`` sample) share at least ``min_matches`` distinct indexed n-grams with the evaluation sets
is dropped (reason ``eval_text_overlap``, value the number of shared n-grams).

Images: a sample with an image within ``image_max_distance`` bits of an evaluation image's
perceptual hash is dropped (reason ``eval_image_match``, value the hash and distance).

Pairs, for instruction data: a sample is dropped (reason ``eval_pair_match``) when one of its
images is within ``image_max_distance`` bits of an evaluation pair's image AND one of its
questions matches that pair's question (normalised words, rapidfuzz ratio >= ``question_similarity``).
A short question ("What colour is the car?") recurs across unrelated images, so n-grams alone
would either miss it (13-grams) or drop every car; the image alone would drop every other
question asked about a benchmark image.

Evaluation sets are files (local paths or fsspec URLs): text as ``.txt`` (one item a line),
``.jsonl`` / ``.json`` / ``.parquet`` (the string, or list-of-string, values of ``text_fields``);
images as folders or files of images, or ``.txt`` lists of 16-hex-digit perceptual hashes. The
index is built once per task on first use (hashes of n-grams, not the strings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import fsspec
import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from rapidfuzz import fuzz

from filters.blocklists import PhashIndex, parse_phash
from filters.dedup.image_hash import media_phash, phash
from filters.urls import read_list
from schemas.config_governance import DecontaminationConfig

WORD_RE = re.compile(r"[^\W_]+")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def normalized_words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: punctuation, case and spacing do not hide overlap."""
    return WORD_RE.findall(text.casefold())


def _strings(value) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def load_eval_texts(paths: list[str], fields: list[str]) -> list[str]:
    """The evaluation items of text files (see the module docstring for the formats)."""
    items: list[str] = []
    for path in paths:
        lower = path.lower()
        if lower.endswith(".parquet"):
            import pyarrow.parquet as pq

            with fsspec.open(path, "rb") as f:
                table = pq.read_table(f)
            rows = table.select([c for c in table.column_names if c in fields]).to_pylist()
        elif lower.endswith((".jsonl", ".json")):
            with fsspec.open(path, "rt", encoding="utf-8") as f:
                text = f.read()
            if lower.endswith(".jsonl"):
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                data = json.loads(text)
                rows = data if isinstance(data, list) else [data]
        else:
            with fsspec.open(path, "rt", encoding="utf-8") as f:
                items += [line for line in f.read().splitlines() if line.strip()]
            continue
        for row in rows:
            if isinstance(row, str):
                items.append(row)
            elif isinstance(row, dict):
                items += [s for name in fields for s in _strings(row.get(name))]
    return items


def load_eval_phashes(paths: list[str]) -> list[int]:
    """Perceptual hashes of evaluation images: image files, folders of them, or .txt hash lists."""
    hashes: list[int] = []
    for path in paths:
        fs, root = fsspec.core.url_to_fs(path)
        if path.lower().endswith(".txt"):
            hashes += [parse_phash(entry, path) for entry in read_list(path)]
            continue
        files = (
            sorted(p for p in fs.find(root) if p.lower().endswith(IMAGE_EXTENSIONS))
            if fs.isdir(root)
            else [root]
        )
        for file in files:
            with fs.open(file, "rb") as f:
                try:
                    hashes.append(phash(f.read()))
                except ValueError as error:
                    raise ValueError(f"decontamination.images: {file}: {error}") from None
    return hashes


def load_eval_pairs(paths: list[str]) -> list[tuple[int, str]]:
    """(perceptual hash, normalised question) of every evaluation pair: .jsonl / .json rows with
    ``image`` (a path relative to the file's folder) and ``question``."""
    pairs: list[tuple[int, str]] = []
    for path in paths:
        with fsspec.open(path, "rt", encoding="utf-8") as f:
            text = f.read()
        rows = (
            [json.loads(line) for line in text.splitlines() if line.strip()]
            if path.lower().endswith(".jsonl")
            else json.loads(text)
        )
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        for n, row in enumerate(rows if isinstance(rows, list) else [rows]):
            if not isinstance(row, dict) or not row.get("image") or not row.get("question"):
                raise ValueError(f"decontamination.pairs: {path} row {n}: needs `image` and `question`")
            image = (
                row["image"]
                if "://" in row["image"] or row["image"].startswith("/")
                else f"{folder}/{row['image']}"
            )
            with fsspec.open(image, "rb") as f:
                try:
                    value = phash(f.read())
                except ValueError as error:
                    raise ValueError(f"decontamination.pairs: {image}: {error}") from None
            pairs.append((value, " ".join(normalized_words(row["question"]))))
    return pairs


class PairIndex:
    """Evaluation (image hash, question) pairs; a sample matches with a near image and a near
    question of the same pair."""

    def __init__(self, pairs: list[tuple[int, str]], max_distance: int, similarity: float):
        self.hashes = np.array([h for h, _ in pairs], dtype=np.uint64)
        self.questions = [q for _, q in pairs]
        self.max_distance, self.similarity = max_distance, similarity

    def match(self, image: int, questions: list[str]) -> tuple[int, str] | None:
        """(distance, the evaluation question) of a matching pair; None when none matches."""
        found = self.matches(image, questions)
        return found[0][1:] if found else None

    def matches(self, image: int, questions: list[str]) -> list[tuple[int, int, str]]:
        """(index of the question, distance, the evaluation question) of every question that
        makes a pair with the image."""
        if not len(self.hashes):
            return []
        distances = np.bitwise_count(self.hashes ^ np.uint64(image))
        out = []
        for q, question in enumerate(questions):
            for i in np.flatnonzero(distances <= self.max_distance):
                if fuzz.ratio(question, self.questions[i]) >= self.similarity:
                    out.append((q, int(distances[i]), self.questions[i]))
                    break
        return out


class NgramIndex:
    """Hashes of the evaluation items' n-grams, by length (``ngram``, and shorter whole items)."""

    def __init__(self, items: Iterable[str], ngram: int, min_item_words: int):
        self.ngram = ngram
        self.grams: dict[int, set[int]] = {}
        for item in items:
            words = normalized_words(item)
            if len(words) >= ngram:
                grams = self.grams.setdefault(ngram, set())
                grams.update(hash(" ".join(words[i : i + ngram])) for i in range(len(words) - ngram + 1))
            elif len(words) >= min_item_words:
                self.grams.setdefault(len(words), set()).add(hash(" ".join(words)))

    def __len__(self) -> int:
        return sum(len(grams) for grams in self.grams.values())

    def matches(self, words: list[str]) -> int:
        """Distinct indexed n-grams found in ``words``."""
        found: set[tuple[int, int]] = set()
        for length, grams in self.grams.items():
            for i in range(len(words) - length + 1):
                key = hash(" ".join(words[i : i + length]))
                if key in grams:
                    found.add((length, key))
        return len(found)


def sample_texts_of(doc: Document) -> list[str]:
    """Every text of a document in flight: its text and, for a qa sample, its turns."""
    texts = [doc.text]
    for turn in doc.metadata.get("qa") or []:
        texts += [turn[k] for k in ("user", "assistant") if isinstance(turn.get(k), str)]
    return texts


class DecontaminationFilter(BaseFilter):
    """Drops samples overlapping the evaluation sets (see the module docstring).

    ``check_texts`` / ``check_images`` split the work between a text stage (before anything is
    fetched) and an image stage."""

    name = "🧪 Decontamination"

    def __init__(
        self,
        cfg: DecontaminationConfig,
        exclusion_writer=None,
        check_texts: bool = True,
        check_images: bool = True,
    ):
        super().__init__(exclusion_writer)
        self.cfg = cfg
        self.check_texts = check_texts and bool(cfg.texts)
        self.check_images = check_images and bool(cfg.images)
        self.check_pairs = check_images and bool(cfg.pairs)  # needs the image bytes
        self._index: tuple | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_index": None}

    @property
    def index(self) -> tuple[NgramIndex | None, PhashIndex | None, PairIndex | None]:
        if self._index is None:
            cfg = self.cfg
            texts = (
                NgramIndex(load_eval_texts(cfg.texts, cfg.text_fields), cfg.ngram, cfg.min_item_words)
                if self.check_texts
                else None
            )
            images = (
                PhashIndex(load_eval_phashes(cfg.images), cfg.image_max_distance)
                if self.check_images
                else None
            )
            pairs = (
                PairIndex(load_eval_pairs(cfg.pairs), cfg.image_max_distance, cfg.question_similarity)
                if self.check_pairs
                else None
            )
            self._index = (texts, images, pairs)
        return self._index

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        texts, images, pairs = self.index
        if texts is not None:
            shared = sum(texts.matches(normalized_words(text)) for text in sample_texts_of(doc))
            if shared >= self.cfg.min_matches:
                doc.metadata["filter_value"] = shared
                return False, "eval_text_overlap"
        if images is not None:
            for media in doc.media:
                if not media.media_bytes and not (media.metadata or {}).get("phash"):
                    continue
                value = media_phash(media)
                if value is not None and (found := images.match(value)):
                    doc.metadata["filter_value"] = f"{found[0]:016x} (distance {found[1]})"
                    return False, "eval_image_match"
        if pairs is not None and doc.media:
            turns = doc.metadata.get("qa") or []
            meta = doc.metadata.get("meta") or {}
            # the questions as the source asked them (run instruct keeps them apart from the
            # prompt lines it adds: "What color is the sky?" not "...?\nBe succinct.")
            asked = meta.get("questions")
            texts = (
                asked if isinstance(asked, list) and len(asked) == len(turns) else [t["user"] for t in turns]
            )
            questions = [" ".join(normalized_words(text)) for text in texts]
            matched: dict[int, tuple[int, str]] = {}
            for media in doc.media:
                value = (
                    media_phash(media) if media.media_bytes or (media.metadata or {}).get("phash") else None
                )
                if value is not None and questions:
                    for q, distance, question in pairs.matches(value, questions):
                        matched.setdefault(q, (distance, question))
            if matched:
                if meta.get("independent_turns") and len(matched) < len(turns):
                    # questions gathered from separate source rows (run instruct): only the
                    # evaluation's own question goes, the image's other questions stay
                    doc.metadata["qa"] = [t for q, t in enumerate(turns) if q not in matched]
                    if asked is not None:
                        meta["questions"] = [a for q, a in enumerate(asked) if q not in matched]
                    self.stat_update("eval_pair_turns_removed", value=len(matched))
                    return True
                distance, question = next(iter(matched.values()))
                doc.metadata["filter_value"] = f"{question!r} (image distance {distance})"
                return False, "eval_pair_match"
        return True
