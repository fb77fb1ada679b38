"""Exclusion records: what a filter dropped, counted exactly per reason, with examples.

Give an ``ExclusionRecorder`` to any datatrove ``BaseFilter`` as its ``exclusion_writer``: the
filter calls ``write(doc, rank)`` for every document it drops. The recorder keeps exact counts
per reason and a reservoir sample (Algorithm R, seeded per stage and rank, so re-runs keep the
same examples) of at most ``reservoir_size`` records per reason, and writes them to
``_excluded/<stage>/<rank>-<step>.json`` when the task ends. Memory stays bounded whatever the
number of drops. A filter that measured something puts it in ``doc.metadata["filter_value"]``.
Thumbnails of images dropped for NSFW reasons are blurred before they are stored anywhere.
"""

from __future__ import annotations

import base64
import io
import random

from datatrove.data import Document
from datatrove.io import DataFolderLike
from PIL import Image, ImageFilter

from pipelines.steps import folder
from schemas.config import JobConfig
from schemas.records import ExclusionRecord, ExclusionSummary

SNIPPET_CHARS = 280


def thumbnail(data: bytes, size: int, blur: bool) -> str | None:
    """Base64 JPEG of at most ``size`` px on its longest side; None when the bytes don't decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at reduced scale
            image = image.convert("RGB")
            image.thumbnail((size, size))
    except Exception:
        return None
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(radius=max(4, size // 10)))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return base64.b64encode(out.getvalue()).decode("ascii")


class ExclusionRecorder:
    """An ``exclusion_writer`` for datatrove filters that keeps counts and a reservoir sample."""

    def __init__(
        self,
        excluded_dir: DataFolderLike,
        stage: str,
        step: str,
        reservoir_size: int = 32,
        thumbnail_px: int = 128,
        seed: int = 0,
        blur_reasons: tuple[str, ...] = ("nsfw",),
    ):
        self.folder = folder(excluded_dir)
        self.stage = stage
        self.step = step
        self.reservoir_size = reservoir_size
        self.thumbnail_px = thumbnail_px
        self.seed = seed
        self.blur_reasons = blur_reasons
        self._reset(0)

    @classmethod
    def for_job(cls, cfg: JobConfig, stage: str, step: str) -> ExclusionRecorder:
        """The recorder of one filter step of a job: under ``OUT/<dataset>/_excluded/<stage>/``,
        with the job's reservoir size, thumbnail size and seed."""
        return cls(
            f"{cfg.dataset_dir}/_excluded", stage, step, cfg.audit.reservoir_size, cfg.audit.thumbnail_px,
            seed=cfg.seed,
        )  # fmt: skip

    def _reset(self, rank: int) -> None:
        self.rank = rank
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[ExclusionRecord]] = {}
        self.rng = random.Random(f"{self.seed}-{self.stage}-{self.step}-{rank}")

    def __enter__(self) -> ExclusionRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, document: Document, rank: int = 0, **_: object) -> None:
        if rank != self.rank and not self.counts:
            self._reset(rank)
        reason = str(document.metadata.get("filter_reason") or "unspecified")
        seen = self.counts[reason] = self.counts.get(reason, 0) + 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < self.reservoir_size:
            kept.append(self._record(document, reason))
        elif (slot := self.rng.randrange(seen)) < self.reservoir_size:
            kept[slot] = self._record(document, reason)

    def _record(self, document: Document, reason: str) -> ExclusionRecord:
        image = next((m.media_bytes for m in document.media if m.media_bytes), None)
        blur = any(reason.startswith(prefix) for prefix in self.blur_reasons)
        value = document.metadata.get("filter_value")
        return ExclusionRecord(
            stage=self.stage,
            reason=reason,
            doc_id=document.id,
            source=str(document.metadata.get("source") or document.metadata.get("url") or ""),
            value=value if isinstance(value, (int, float, str)) else None,
            snippet=document.text[:SNIPPET_CHARS],
            thumbnail=thumbnail(image, self.thumbnail_px, blur) if image else None,
        )

    def close(self) -> None:
        if not self.counts:
            return
        summary = ExclusionSummary(
            stage=self.stage, rank=self.rank, counts=self.counts, examples=self.examples
        )
        with self.folder.open(f"{self.stage}/{self.rank:05d}-{self.step}.json", "w") as f:
            f.write(summary.to_json())
        self._reset(self.rank)
