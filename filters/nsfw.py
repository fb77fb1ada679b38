"""NSFW stage (OBELICS / LAION): score every fetched image, then drop the image or its document.

Two models, both offline (``NsfwConfig.model``):

- ``nudenet`` (default, ``filters.nsfw_nudenet``): NudeNet's ONNX body-part detector
  ``320n.onnx``, shipped inside the ``nudenet`` wheel and run with onnxruntime; an image's score
  is the highest detection score among the *exposed* body-part classes, exactly as NudeNet's
  own ``NudeDetector().detect(bytes)`` finds them.
- ``clip_head`` (``filters.nsfw_clip_head``): LAION's CLIP-embedding NSFW head
  (github.com/LAION-AI/CLIP-based-NSFW-Detector), a small MLP on the L2-normalised open_clip
  image embedding. Needs the ``clip`` extra (open_clip, torch).

A score is in [0, 1]; an image scoring at least ``threshold`` is NSFW. The ``document`` policy
(OBELICS) drops the whole document when any of its images is NSFW (reason ``nsfw``); the
``image`` policy removes only those images (reason ``nsfw_image``) and the document goes on.
Under both policies an image whose bytes decode with neither OpenCV nor Pillow is removed
(reason ``nsfw_undecodable``): it cannot be checked. Kept images carry their score in
``Media.metadata["nsfw"]``. The exclusion recorder blurs the thumbnails of every ``nsfw*``
reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Protocol

from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep

from filters.node_filters import drop_images
from filters.nsfw_clip_head import ClipNsfwHead
from filters.nsfw_nudenet import NudeNetScorer
from schemas.config_images import NsfwConfig
from schemas.histograms import HistogramRecorder

SCORE_DECIMALS = 4


class Scorer(Protocol):
    """What ``NsfwFilter`` calls: one score in [0, 1] per image, None when it does not decode."""

    def score(self, images: list[bytes]) -> list[float | None]: ...


def make_scorer(cfg: NsfwConfig) -> Scorer:
    """The scorer ``cfg.model`` names; nothing is loaded until the first ``score`` call."""
    if cfg.model == "clip_head":
        return ClipNsfwHead(cfg)
    return NudeNetScorer(cfg.detector_path, cfg.batch_size, threads=cfg.threads)


def _images_to_score(doc: Document) -> list[int]:
    """Media indices of the document's images that have bytes (the others are not scored)."""
    return [i for i, m in enumerate(doc.media) if m.type == MediaType.IMAGE and m.media_bytes]


class NsfwFilter(PipelineStep):
    """Scores the images of each document and applies ``cfg.policy`` (see the module docstring).

    Documents are buffered until about ``batch_size`` images are pending, scored in one call and
    yielded in their original order. Dropped documents and removed images go to
    ``exclusion_writer`` (an ``ExclusionRecorder``), images as small documents like
    ``NodeFilters`` writes them (id ``<doc id>#<node index>``, the image's ``Media``)."""

    name = "🔞 NSFW"
    type = "✂️ - FILTER"

    def __init__(
        self,
        cfg: NsfwConfig | None = None,
        exclusion_writer=None,
        scorer: Scorer | None = None,
        histograms_dir: str | None = None,
        histograms_stage: str = "join",
    ):
        super().__init__()
        self.cfg = cfg or NsfwConfig()
        self.exclusion_writer = exclusion_writer
        self.scorer = scorer if scorer is not None else make_scorer(self.cfg)
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, "nsfw")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if not self.cfg.enabled:
            yield from data
            return
        self.histograms.start()
        writer_context = self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext()
        with writer_context as writer:
            pending: list[Document] = []
            pending_images = 0
            for doc in data:
                self.stat_update("documents_in")
                pending.append(doc)
                to_score = len(_images_to_score(doc))
                pending_images += to_score
                images = sum(1 for m in doc.media if m.type == MediaType.IMAGE)
                self.stat_update("images_without_bytes", value=images - to_score)
                if pending_images >= self.cfg.batch_size:
                    yield from self.process(pending, writer, rank)
                    pending, pending_images = [], 0
            yield from self.process(pending, writer, rank)
        self.histograms.finish(rank)

    def process(self, docs: list[Document], writer=None, rank: int = 0) -> Iterable[Document]:
        """Score the images of ``docs`` in one call; yield the documents the policy keeps."""
        wanted = [(doc, i) for doc in docs for i in _images_to_score(doc)]
        raw: list[float | None] = []
        if wanted:
            with self.track_time(unit="batch"):
                raw = self.scorer.score([doc.media[i].media_bytes for doc, i in wanted])
        scores: dict[int, dict[int, float | None]] = {}  # id(doc) -> media index -> score
        for (doc, i), value in zip(wanted, raw, strict=True):
            scores.setdefault(id(doc), {})[i] = None if value is None else round(float(value), SCORE_DECIMALS)
            if value is not None:
                self.histograms.add("nsfw_score", float(value))
        for doc in docs:
            if self.apply_policy(doc, scores.get(id(doc), {}), writer, rank):
                self.stat_update("documents_out")
                yield doc

    def apply_policy(
        self, doc: Document, scores: dict[int, float | None], writer=None, rank: int = 0
    ) -> bool:
        """Write the scores into the images' metadata and apply the policy; False when the whole
        document is dropped. Decisions use the rounded score that is stored, so the stored value
        always explains them (a score equal to ``threshold`` is NSFW)."""
        removed: dict[int, tuple[str, float | None]] = {}
        for i, value in scores.items():
            if value is None:
                self.stat_update("nsfw_undecodable")
                removed[i] = ("nsfw_undecodable", None)
                continue
            self.stat_update("images_scored")
            doc.media[i].metadata["nsfw"] = value
            if value >= self.cfg.threshold:
                removed[i] = ("nsfw_image", value)
        nsfw = [value for reason, value in removed.values() if reason == "nsfw_image"]
        if nsfw and self.cfg.policy == "document":
            self.stat_update("dropped_nsfw")
            if writer:
                doc.metadata["filter_reason"] = "nsfw"
                doc.metadata["filter_value"] = max(nsfw)
                writer.write(doc, rank)
            return False
        for i, (reason, value) in removed.items():
            if reason == "nsfw_image":
                self.stat_update("images_dropped_nsfw")
            if writer:
                writer.write(self._excluded(doc, i, reason, value), rank)
        drop_images(doc, set(removed))
        return True

    @staticmethod
    def _excluded(doc: Document, media_index: int, reason: str, value: float | None) -> Document:
        """The record of one removed image: a small document the exclusion writer understands."""
        media: Media = doc.media[media_index]
        nodes = doc.metadata.get("nodes") or []
        node_index = next(
            (k for k, n in enumerate(nodes) if n.get("type") == "image" and n.get("media") == media_index),
            media_index,
        )
        metadata = {
            "filter_reason": reason,
            "filter_value": value,
            "source": str(doc.metadata.get("url") or doc.metadata.get("source") or ""),
        }
        return Document(text=media.url or "", id=f"{doc.id}#{node_index}", media=[media], metadata=metadata)
