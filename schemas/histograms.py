"""Fixed-bin histograms of what the filters measure, for the auditor's report.

A filter keeps one ``Histograms`` per task, calls ``add(metric, value)`` for every value it
measures, and writes it when the task ends to ``<folder>/<stage>/<rank:05d>-<step>.json``
(``folder`` is ``OUT/<dataset>/_logs/histograms``). Bins are fixed per metric (the ``METRICS``
table), so the files of all tasks merge by adding counts, and memory stays a few hundred
numbers whatever the number of documents. Values outside a metric's range are counted as
underflow / overflow, never lost.

Threshold lines are not stored here: the report reads them from the run's resolved config
(``manifest.json``'s ``config``) through ``audit.collect.THRESHOLD_KEYS`` (metric -> config keys).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import fsspec

HISTOGRAMS_DIR = "_logs/histograms"  # under OUT/<dataset>/


@dataclass(frozen=True)
class MetricSpec:
    """Bins of one metric: ``bins`` equal bins over [low, high], of log10(value) when ``log``."""

    low: float
    high: float
    bins: int
    log: bool
    unit: str
    description: str

    def edges(self) -> list[float]:
        """The ``bins + 1`` bin edges, in the metric's own units."""
        if self.log:
            a, b = math.log10(self.low), math.log10(self.high)
            return [10 ** (a + (b - a) * i / self.bins) for i in range(self.bins + 1)]
        return [self.low + (self.high - self.low) * i / self.bins for i in range(self.bins + 1)]

    def index(self, value: float) -> int:
        """Bin of ``value``: -1 below ``low`` (or <= 0 on a log scale), ``bins`` above ``high``."""
        if value < self.low or (self.log and value <= 0):
            return -1
        if value > self.high:
            return self.bins
        if self.log:
            a, b = math.log10(self.low), math.log10(self.high)
            position = (math.log10(value) - a) / (b - a)
        else:
            position = (value - self.low) / (self.high - self.low)
        return min(int(position * self.bins), self.bins - 1)  # ``high`` itself is in the last bin


# name -> (low, high, bins, log scale, unit, description)
METRICS: dict[str, MetricSpec] = {
    name: MetricSpec(*spec)
    for name, spec in {
        "doc_words": (1, 100_000, 50, True, "words", "words per document (document filters)"),
        "doc_char_10gram_repetition": (
            0, 1, 50, False, "ratio", "character 10-gram repetition per document (document filters)"
        ),
        "doc_word_5gram_repetition": (
            0, 1, 50, False, "ratio", "word 5-gram repetition per document (document filters)"
        ),
        "language_score": (
            0, 1, 50, False, "score", "fastText score of documents identified as a kept language"
        ),
        "paragraph_words": (1, 10_000, 40, True, "words", "words per paragraph (node filters)"),
        "image_width": (1, 100_000, 50, True, "px", "original width of fetched images (image filters)"),
        "image_height": (1, 100_000, 50, True, "px", "original height of fetched images (image filters)"),
        "image_aspect_ratio": (
            1, 100, 40, True, "long/short", "long side / short side of fetched images (image filters)"
        ),
        "nsfw_score": (0, 1, 50, False, "score", "NSFW score of fetched images"),
        "clip_score": (-1, 1, 50, False, "cosine", "CLIP image-text similarity"),
        "duplicate_cluster_size": (1, 100_000, 40, True, "items", "size of each cluster of duplicates"),
        "pdf_pages": (1, 100_000, 50, True, "pages", "pages per PDF (pdf_ocr PDF filter)"),
        "page_ink_share": (
            0.0001, 1, 40, True, "ratio", "share of non-background pixels per rendered PDF page (blank filter)"
        ),
        "page_words": (1, 100_000, 50, True, "words", "words per PDF page transcription (page text filter)"),
        "page_tokens": (1, 100_000, 50, True, "tokens", "tokens per PDF page transcription (page text filter)"),
        "qa_answer_support": (
            0, 1, 50, False, "share", "share of a generated answer's content words in its best passage of one page (QA filters)"
        ),
        "qa_answer_words": (1, 10_000, 40, True, "words", "words per kept generated answer (QA filters)"),
    }.items()
}  # fmt: skip


@dataclass
class Histogram:
    """Counts of one metric: per bin, below the range, above it, and NaN; with count, sum, min, max."""

    spec: MetricSpec
    counts: list[int] = field(default_factory=list)
    underflow: int = 0
    overflow: int = 0
    nan: int = 0
    n: int = 0
    total: float = 0.0
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * self.spec.bins

    def add(self, value: float) -> None:
        value = float(value)
        if math.isnan(value):
            self.nan += 1
            return
        self.n += 1
        self.total += value
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)
        i = self.spec.index(value)
        if i < 0:
            self.underflow += 1
        elif i >= self.spec.bins:
            self.overflow += 1
        else:
            self.counts[i] += 1

    def merge(self, other: Histogram, name: str) -> None:
        if other.spec != self.spec:
            raise ValueError(f"histogram {name!r}: bins differ between files ({self.spec} vs {other.spec})")
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.underflow += other.underflow
        self.overflow += other.overflow
        self.nan += other.nan
        self.n += other.n
        self.total += other.total
        for bound, pick in (("min", min), ("max", max)):
            mine, theirs = getattr(self, bound), getattr(other, bound)
            setattr(self, bound, theirs if mine is None else mine if theirs is None else pick(mine, theirs))

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "low": spec.low, "high": spec.high, "bins": spec.bins, "log": spec.log,
            "unit": spec.unit, "description": spec.description,
            "counts": self.counts, "underflow": self.underflow, "overflow": self.overflow,
            "nan": self.nan, "n": self.n, "sum": self.total, "min": self.min, "max": self.max,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        spec = MetricSpec(
            data["low"], data["high"], data["bins"], data["log"], data["unit"], data["description"]
        )
        fields = ("underflow", "overflow", "nan", "n", "min", "max")
        return cls(spec, list(data["counts"]), total=data["sum"], **{k: data[k] for k in fields})


class Histograms:
    """The histograms one step of one task measured, keyed by metric name (see ``METRICS``)."""

    def __init__(self) -> None:
        self.metrics: dict[str, Histogram] = {}

    def __bool__(self) -> bool:
        return any(h.n or h.nan for h in self.metrics.values())

    def add(self, metric: str, value: float) -> None:
        histogram = self.metrics.get(metric)
        if histogram is None:
            if metric not in METRICS:
                raise KeyError(
                    f"histogram metric {metric!r} is not in schemas.histograms.METRICS; add it there"
                )
            histogram = self.metrics[metric] = Histogram(METRICS[metric])
        histogram.add(value)

    def to_json(self) -> str:
        return json.dumps({"metrics": {k: h.to_dict() for k, h in sorted(self.metrics.items())}}) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Histograms:
        out = cls()
        for name, data in json.loads(text)["metrics"].items():
            out.metrics[name] = Histogram.from_dict(data)
        return out

    @classmethod
    def merge(cls, items: list[Histograms]) -> Histograms:
        """One ``Histograms`` holding the sum of ``items`` (bins must agree per metric)."""
        out = cls()
        for item in items:
            for name, histogram in item.metrics.items():
                if name not in out.metrics:
                    out.metrics[name] = Histogram(histogram.spec)
                out.metrics[name].merge(histogram, name)
        return out

    def write(self, folder: str, stage: str, step: str, rank: int) -> str:
        """Write to ``<folder>/<stage>/<rank:05d>-<step>.json`` (any fsspec URL); returns the path."""
        path = f"{folder.rstrip('/')}/{stage}/{rank:05d}-{step}.json"
        with fsspec.open(path, "w", auto_mkdir=True) as f:
            f.write(self.to_json())
        return path


class HistogramRecorder:
    """What a filter holds: one ``Histograms`` per task, written when the task ends.

    Does nothing when ``folder`` is None, so a filter can skip measuring what only the
    histograms need (``enabled``)."""

    def __init__(self, folder: str | None, stage: str, step: str):
        self.folder = folder
        self.stage = stage
        self.step = step
        self.histograms = Histograms()

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def start(self) -> None:
        self.histograms = Histograms()

    def add(self, metric: str, value: float) -> None:
        if self.folder is not None:
            self.histograms.add(metric, value)

    def finish(self, rank: int) -> None:
        """Write what the task measured (nothing when it measured nothing), then start afresh."""
        if self.folder is not None and self.histograms:
            self.histograms.write(self.folder, self.stage, self.step, rank)
        self.start()
