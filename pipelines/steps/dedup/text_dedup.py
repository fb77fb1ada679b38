"""Dedup decided from URLs and text alone, before any image is fetched (OBELICS, issue 6).

Two rounds of key rows, each grouped globally (``dedup_groups``), then one streaming pass:

Round 1, ``DocKeys``: per document its URL key (same URL: keep the newest by WARC-Date), its
MinHash band keys (near-duplicate text: keep the newest) and one row per distinct image URL with
the page as value (an image URL found on more than ``image_url_max_docs`` distinct pages is a
logo or a banner). URL and MinHash links are clustered together, so one cluster keeps one member.

Round 2, ``SetKeys``, over the documents round 1 kept: the image-set key (the sorted distinct
image URLs left once the frequent ones are removed; same set: keep the newest) and one row per
paragraph keyed by (domain, normalised paragraph) with the document as value (a paragraph in more
than ``paragraph_max_docs`` documents of one domain is boilerplate). Counting after the document
dedup means that copies of one page do not make its own paragraphs look repeated.

``ApplyTextDedup`` streams the documents once: it drops the documents on either round's drop
list, removes the frequent images and the repeated paragraphs, and drops documents left without
text. Counted per reason; dropped documents, paragraphs and images go to the exclusion writer.

The keys steps and the apply step must read the same staged folder with the same number of tasks:
drop lists are written per reading task (``origin``).
"""

from __future__ import annotations

import contextlib

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from filters.dedup.minhash import MinHasher, paragraph_key
from filters.node_filters import excluded_node, replace_nodes
from filters.urls import domain_of
from filters.urls import normalize_url as url_key
from pipelines.steps.dedup.dedup_groups import read_drops, read_frequent
from pipelines.steps.dedup.dedup_keys import (
    IMAGE_SET,
    IMAGE_URL,
    KIND_NAMES,
    MINHASH,
    PARAGRAPH,
    URL,
    KeyRowsWriter,
    doc_date,
    doc_ref,
    stable_hash,
)
from schemas.config_interleaved import TextDedupConfig


def page_url(doc: Document) -> str:
    return str(doc.metadata.get("url") or "")


class DocKeys(PipelineStep):
    """Round 1 key rows: URL, MinHash bands, image URL per page."""

    name = "🔑 Document keys"
    type = "🫂 - DEDUP"

    def __init__(self, output_folder: DataFolderLike, partitions: int, cfg: TextDedupConfig):
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.partitions = partitions
        self.cfg = cfg
        self.hasher = MinHasher(cfg.minhash_ngram, cfg.minhash_bands, cfg.minhash_rows)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = KeyRowsWriter(self.output_folder, self.partitions, rank)
        for doc in data or ():
            self.stat_update("documents")
            with self.track_time():
                ref, date, url = doc_ref(doc), doc_date(doc), page_url(doc)
                if self.cfg.url and url:
                    out.add(URL, stable_hash(url_key(url)), ref, date)
                if self.cfg.minhash:
                    for key in self.hasher.band_keys(doc.text):
                        out.add(MINHASH, key, ref, date)
                if self.cfg.image_url_max_docs is not None:
                    page = stable_hash(url_key(url) if url else doc.id)
                    for image_url in {m.url for m in doc.media if m.url}:
                        out.add(IMAGE_URL, stable_hash(image_url), ref, date, value=page)
        self.stat_update("key_rows", value=out.rows)
        out.close()
        return
        yield


class SetKeys(PipelineStep):
    """Round 2 key rows over the documents round 1 kept: image set, paragraphs per domain."""

    name = "🔑 Image-set and paragraph keys"
    type = "🫂 - DEDUP"

    def __init__(
        self, output_folder: DataFolderLike, partitions: int, cfg: TextDedupConfig, round1: DataFolderLike
    ):
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.partitions = partitions
        self.cfg = cfg
        self.round1 = round1  # folder with drops/ (clusters) and frequent/ (groups)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        drops = read_drops(self.round1, rank)
        frequent_images = read_frequent(self.round1).get(IMAGE_URL, set())
        out = KeyRowsWriter(self.output_folder, self.partitions, rank)
        for doc in data or ():
            self.stat_update("documents")
            with self.track_time():
                ref = doc_ref(doc)
                if ref in drops:
                    continue
                date = doc_date(doc)
                if self.cfg.image_set:
                    urls = sorted(
                        {m.url for m in doc.media if m.url and stable_hash(m.url) not in frequent_images}
                    )
                    if urls:
                        out.add(IMAGE_SET, stable_hash("\n".join(urls)), ref, date)
                if self.cfg.paragraph_max_docs is not None:
                    domain = domain_of(page_url(doc))
                    for node in doc.metadata.get("nodes") or ():
                        if node["type"] == "text":
                            out.add(PARAGRAPH, paragraph_key(domain, node["text"]), ref, date, value=ref)
        self.stat_update("key_rows", value=out.rows)
        out.close()
        return
        yield


class ApplyTextDedup(PipelineStep):
    """Drops and removals of both rounds, applied while streaming the documents."""

    name = "🫂 Text dedup"
    type = "✂️ - FILTER"

    def __init__(self, round1: DataFolderLike, round2: DataFolderLike, exclusion_writer=None):
        super().__init__()
        self.round1 = round1
        self.round2 = round2
        self.exclusion_writer = exclusion_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        drops = {**read_drops(self.round1, rank), **read_drops(self.round2, rank)}
        frequent_images = read_frequent(self.round1).get(IMAGE_URL, set())
        repeated = read_frequent(self.round2).get(PARAGRAPH, set())
        writer_context = self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext()
        with writer_context as writer:
            for doc in data:
                self.stat_update("documents_in")
                with self.track_time():
                    reason = drops.get(doc_ref(doc))
                    if reason is None:
                        reason = self.remove_nodes(doc, frequent_images, repeated, writer, rank)
                if reason:
                    self.stat_update(f"dropped_{reason}")
                    if writer:
                        doc.metadata["filter_reason"] = reason
                        writer.write(doc, rank)
                    continue
                self.stat_update("documents_out")
                yield doc

    def remove_nodes(
        self, doc: Document, frequent_images: set[int], repeated: set[int], writer, rank: int
    ) -> str | None:
        """Remove frequent images and repeated paragraphs in place; a reason when nothing is left."""
        nodes = doc.metadata.get("nodes")
        if nodes is None:
            return None
        domain = domain_of(page_url(doc))
        kept, dropped_media = [], set()
        for index, node in enumerate(nodes):
            if node["type"] == "text" and paragraph_key(domain, node["text"]) in repeated:
                reason, media = KIND_NAMES[PARAGRAPH], None
            elif (
                node["type"] == "image" and stable_hash(doc.media[node["media"]].url or "") in frequent_images
            ):
                reason, media = KIND_NAMES[IMAGE_URL], doc.media[node["media"]]
                dropped_media.add(node["media"])
            else:
                kept.append(node)
                continue
            self.stat_update(f"{'paragraphs' if media is None else 'images'}_dropped_{reason}")
            if writer:
                record = excluded_node(doc, index, node, media, reason, None)
                record.metadata["filter_reason"] = reason
                writer.write(record, rank)
        if len(kept) < len(nodes):
            replace_nodes(doc, kept, dropped_media)
        if not any(node["type"] == "text" for node in kept):
            return "no_text_left"
        return None
