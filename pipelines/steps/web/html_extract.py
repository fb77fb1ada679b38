"""The datatrove step that turns crawled HTML documents into interleaved documents.

In: documents whose ``text`` is the decoded page and ``metadata["url"]`` its URL (what
``WarcReader`` yields). Out: the same documents in the layout of DESIGN.md ("Documents in
flight"): ``metadata["nodes"]`` the ordered text and image nodes, ``media`` the images in
reading order (URL, alt, and width / height / caption when the page states them),
``metadata["title"]``, and ``text`` the text nodes joined by ``nodes_to_text``. The extraction
itself lives in ``html_simplify``; this step only maps it onto documents and counts.
"""

from __future__ import annotations

from typing import Any

from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from filters.licences import page_licence
from pipelines.steps.web.html_simplify import Extraction, ImageRef, Postprocess, extract_nodes
from schemas.records import StatKeys
from schemas.samples import nodes_to_text


def image_media(image: ImageRef) -> Media:
    """The ``Media`` of one extracted image: no bytes yet (the fetch stage adds them)."""
    metadata: dict[str, Any] = {}
    if image.width is not None:
        metadata["width"] = image.width
    if image.height is not None:
        metadata["height"] = image.height
    if image.caption:
        metadata["caption"] = image.caption
    return Media(id=image.url, type=MediaType.IMAGE, url=image.url, alt=image.alt, metadata=metadata)


def apply_extraction(doc: Document, extraction: Extraction) -> None:
    """Write an extraction into a document, keeping ``text`` in step with the nodes."""
    doc.metadata["nodes"] = extraction.nodes
    doc.metadata["title"] = extraction.title
    doc.media = [image_media(image) for image in extraction.images]
    doc.text = nodes_to_text(extraction.nodes)


class HtmlExtractor(PipelineStep):
    """HTML page -> interleaved text and image nodes (OBELICS simplification, main content).

    Drops, never raises: a page that cannot be parsed (``dropped_parse_error``) and a page with
    no text left (``dropped_no_text``). Counts ``documents`` read, and the ``images`` and
    ``paragraphs`` of the documents it yields.

    Args:
        postprocess: applied to each page's ``Extraction`` before it is written into the
            document, e.g. the OBELICS node-level filters; None keeps the extraction as is.
    """

    name = "🧩 HTML -> interleaved"
    type = "🛢 - EXTRAC"

    def __init__(self, postprocess: Postprocess | None = None):
        super().__init__()
        self.postprocess = postprocess

    def extract(self, doc: Document) -> Extraction | None:
        """The extraction of one document, or None (counted) when it is dropped."""
        url = str(doc.metadata.get("url") or "")
        try:
            extraction = extract_nodes(doc.text, url, postprocess=self.postprocess)
        except Exception as error:  # a malformed page must not stop the task
            logger.warning(
                f"document {doc.id} ({url or 'no url'}): HTML could not be extracted: "
                f"{type(error).__name__}: {error} (reason=parse_error, dropped)"
            )
            self.stat_update(f"{StatKeys.DROPPED_PREFIX}parse_error")
            return None
        if not any(node["type"] == "text" for node in extraction.nodes):
            self.stat_update(f"{StatKeys.DROPPED_PREFIX}no_text")
            return None
        return extraction

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data or []:
            self.stat_update(StatKeys.DOCUMENTS)
            with self.track_time():
                extraction = self.extract(doc)
                if extraction is None:
                    continue
                licence = page_licence(doc.text, str(doc.metadata.get("url") or "") or None)
                apply_extraction(doc, extraction)
                if licence:  # the page's own declared licence, carried into the sample's meta
                    doc.metadata.setdefault("meta", {})["licence"] = licence
                    self.stat_update("licence_declared")
                self.stat_update(StatKeys.IMAGES, value=len(extraction.images))
                self.stat_update("paragraphs", value=sum(n["type"] == "text" for n in extraction.nodes))
                self.update_doc_stats(doc)
            yield doc
