"""Image dedup across the whole dataset, after fetching (issue 6): exact and near duplicates.

``ImageKeys`` writes, for every image with bytes, a sha256 key row (identical stored bytes) and
the band key rows of its crop-tolerant signature (``filters.dedup.image_signature``: 16 crop
hashes, each with its chroma thumbnail, and a content-box hash; crop hashes within
``band_distance`` bits share a band). The grouping stage links a sha256 group's members, and a
band group's members that ``close_pairs`` confirms (crop hashes within ``max_distance`` bits,
thumbnails within ``colour_tolerance``, content boxes within ``box_distance``); the
cluster stage keeps one image per cluster, the one in the newest document (``dedup_groups``).
``ApplyImageDedup`` removes the others from their documents (the document stays; a later
``MinImagesFilter`` drops documents left without images). Counted per reason, each removed image
sent to the exclusion writer.

Signatures are computed from the stored bytes (a JPEG decoded at 1/8 scale, about 1.5 ms); the
``phash`` the fetch stage records in ``Media.metadata`` is imagededup's global hash, kept for
blocklists and decontamination lists, which are published as such hashes.
"""

from __future__ import annotations

import contextlib
import hashlib

from datatrove.data import Document, DocumentsPipeline, Media
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from filters.dedup.image_signature import image_signature, one_blas_thread, signature_keys
from filters.node_filters import drop_images, excluded_node
from pipelines.steps.dedup.dedup_groups import read_drops
from pipelines.steps.dedup.dedup_keys import (
    IMAGE_PHASH,
    IMAGE_SHA256,
    MASK63,
    KeyRowsWriter,
    doc_date,
    image_ref,
)


def image_sha256_key(media: Media) -> int:
    digest = (media.metadata or {}).get("sha256") or hashlib.sha256(media.media_bytes).hexdigest()
    return int(digest[:16], 16) & MASK63


class ImageKeys(PipelineStep):
    """Key rows of every image: sha256 and perceptual-hash bands."""

    name = "🔑 Image keys"
    type = "🫂 - DEDUP"

    def __init__(
        self, output_folder: DataFolderLike, partitions: int, exact: bool, near: bool, band_distance: int
    ):
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.partitions = partitions
        self.exact = exact
        self.near = near
        self.band_distance = band_distance

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = KeyRowsWriter(self.output_folder, self.partitions, rank)
        with one_blas_thread():
            for doc in data or ():
                self.stat_update("documents")
                with self.track_time():
                    self.add_rows(doc, out)
        self.stat_update("key_rows", value=out.rows)
        out.close()
        return
        yield

    def add_rows(self, doc: Document, out: KeyRowsWriter) -> None:
        date = doc_date(doc)
        for index, media in enumerate(doc.media):
            if not media.media_bytes:
                continue
            self.stat_update("images")
            ref = image_ref(doc, index)
            if self.exact:
                out.add(IMAGE_SHA256, image_sha256_key(media), ref, date)
            if not self.near:
                continue
            try:
                signature = image_signature(media.media_bytes)
            except ValueError:
                self.stat_update("signature_undecodable")
                continue
            values = signature.hashes.tolist()
            details = [signature.detail(variant) for variant in range(len(values))]
            for key, variant in signature_keys(signature, self.band_distance):
                out.add(IMAGE_PHASH, key, ref, date, value=values[variant], detail=details[variant])


class ApplyImageDedup(PipelineStep):
    """Removes the images on this task's drop list from their documents."""

    name = "🫂 Image dedup"
    type = "✂️ - FILTER"

    def __init__(self, clusters_folder: DataFolderLike, exclusion_writer=None):
        super().__init__()
        self.clusters_folder = clusters_folder
        self.exclusion_writer = exclusion_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        drops = read_drops(self.clusters_folder, rank)
        writer_context = self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext()
        with writer_context as writer:
            for doc in data:
                with self.track_time():
                    self.remove(doc, drops, writer, rank)
                yield doc

    def remove(self, doc: Document, drops: dict[int, str], writer, rank: int) -> None:
        dropped: set[int] = set()
        for index, media in enumerate(doc.media):
            reason = drops.get(image_ref(doc, index))
            if reason is None:
                self.stat_update("images_kept")
                continue
            dropped.add(index)
            self.stat_update(f"images_dropped_{reason}")
            if writer:
                node = {"type": "image", "media": index}
                record = excluded_node(doc, index, node, media, reason, None)
                record.metadata["filter_reason"] = reason
                writer.write(record, rank)
        drop_images(doc, dropped)
