"""Image filters (OBELICS): drop fetched images by size and aspect ratio, then documents left
without enough images.

``ImageFilters`` runs after ``JoinImages`` and reads the original (as displayed) size that the
fetch stage recorded in ``Media.metadata``: an image smaller than ``min_side`` on its shorter side,
larger than ``max_side`` on its longer side, or with a long/short side ratio above
``max_aspect_ratio`` is removed from its document (the document stays; counted
``dropped_<reason>``). ``MinImagesFilter`` then drops the documents left with fewer than
``doc_filters.min_images`` images (reason ``no_images_left``), the same count as the document
filters' ``too_few_images`` rule.
"""

from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline, Media
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from filters.document_filters import count_images
from filters.node_filters import drop_images
from schemas.config_images import ImageFilterConfig
from schemas.histograms import HistogramRecorder

IMAGE_FILTER_REASONS = ("image_too_small", "image_too_large", "image_aspect_ratio")


def original_size(media: Media) -> tuple[int, int] | None:
    """(width, height) as displayed before the fetch stage resized it, or None when unrecorded."""
    meta = media.metadata or {}
    width = meta.get("original_width") or meta.get("width")
    height = meta.get("original_height") or meta.get("height")
    return (width, height) if width and height else None


def image_failure(media: Media, cfg: ImageFilterConfig) -> str | None:
    """The reason ``media`` fails the size rules, or None; an image without recorded size passes
    (it was not fetched by our stage, so there is nothing to measure)."""
    size = original_size(media)
    if size is None:
        return None
    return size_failure(*size, cfg.min_side, cfg.max_side, cfg.max_aspect_ratio)


def size_failure(
    width: int,
    height: int,
    min_side: int = 0,
    max_side: float = float("inf"),
    max_aspect_ratio: float = float("inf"),
) -> str | None:
    """The size rule an image of ``width`` x ``height`` fails (``image_too_small``,
    ``image_too_large``, ``image_aspect_ratio``), or None; also The Cauldron's InfographicVQA limits
    (``pipelines.instruct``)."""
    short, long = min(width, height), max(width, height)
    if short < min_side:
        return "image_too_small"
    if long > max_side:
        return "image_too_large"
    if long / short > max_aspect_ratio:
        return "image_aspect_ratio"
    return None


class ImageFilters(PipelineStep):
    """Removes the images failing the size and aspect rules from their documents.

    With ``histograms_dir`` set, the original width, height and aspect ratio of every image with
    a recorded size go to histograms, written per task under ``<histograms_dir>/<histograms_stage>/``."""

    name = "🖼️ Image filters"
    type = "✂️ - FILTER"

    def __init__(
        self,
        cfg: ImageFilterConfig | None = None,
        histograms_dir: str | None = None,
        histograms_stage: str = "join",
    ):
        super().__init__()
        self.cfg = cfg or ImageFilterConfig()
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, "image_filters")

    def measure(self, media: Media) -> None:
        """Record the image's original size in the histograms (when it has one)."""
        if size := original_size(media):
            width, height = size
            self.histograms.add("image_width", width)
            self.histograms.add("image_height", height)
            self.histograms.add("image_aspect_ratio", max(width, height) / min(width, height))

    def filter_images(self, doc: Document) -> None:
        dropped: set[int] = set()
        for i, media in enumerate(doc.media):
            self.stat_update("images_in")
            self.measure(media)
            reason = image_failure(media, self.cfg)
            if reason:
                self.stat_update(f"dropped_{reason}")
                dropped.add(i)
            else:
                self.stat_update("images_out")
        drop_images(doc, dropped)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.histograms.start()
        for doc in data:
            with self.track_time():
                self.filter_images(doc)
            yield doc
        self.histograms.finish(rank)


class MinImagesFilter(BaseFilter):
    """Drops documents left with fewer than ``min_images`` images (reason ``no_images_left``)."""

    name = "🖼️ Min images filter"

    def __init__(self, min_images: int = 1, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.min_images = min_images

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if count_images(doc) < self.min_images:
            return False, "no_images_left"
        return True
