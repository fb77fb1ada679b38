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
from schemas.config import ImageFilterConfig

IMAGE_FILTER_REASONS = ("image_too_small", "image_too_large", "image_aspect_ratio")


def image_failure(media: Media, cfg: ImageFilterConfig) -> str | None:
    """The reason ``media`` fails the size rules, or None; an image without recorded size passes
    (it was not fetched by our stage, so there is nothing to measure)."""
    meta = media.metadata or {}
    width = meta.get("original_width") or meta.get("width")
    height = meta.get("original_height") or meta.get("height")
    if not width or not height:
        return None
    short, long = min(width, height), max(width, height)
    if short < cfg.min_side:
        return "image_too_small"
    if long > cfg.max_side:
        return "image_too_large"
    if long / short > cfg.max_aspect_ratio:
        return "image_aspect_ratio"
    return None


class ImageFilters(PipelineStep):
    """Removes the images failing the size and aspect rules from their documents."""

    name = "🖼️ Image filters"
    type = "✂️ - FILTER"

    def __init__(self, cfg: ImageFilterConfig | None = None):
        super().__init__()
        self.cfg = cfg or ImageFilterConfig()

    def filter_images(self, doc: Document) -> None:
        dropped: set[int] = set()
        for i, media in enumerate(doc.media):
            self.stat_update("images_in")
            reason = image_failure(media, self.cfg)
            if reason:
                self.stat_update(f"dropped_{reason}")
                dropped.add(i)
            else:
                self.stat_update("images_out")
        drop_images(doc, dropped)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                self.filter_images(doc)
            yield doc


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
