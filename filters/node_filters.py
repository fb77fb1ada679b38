"""Node-level filters (OBELICS): drop single paragraphs and images, keep the document.

OBELICS (arXiv 2306.16527, section 4 and appendix "node-level filtering") removes, inside each
web document, the images whose URL marks them as page furniture (logos, buttons, icons) or whose
format is unwanted, and the paragraphs that are too short or too long, repetitive, full of
special characters, poor in stopwords, rich in flagged (adult) words or without punctuation; we
add a spam-word rule for cookie banners and share boxes. The document itself always goes on,
even emptied: the document-level filters decide about it.

Word-list rules use the lists of ``metadata["lang"]`` (set by ``LanguageTagger``). A language
without a list skips that rule (counted ``skipped_<rule>_<lang>`` once per document), never
borrowing another language's list.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from datatrove.data import Document, DocumentsPipeline, Media
from datatrove.pipeline.base import PipelineStep

from filters.text_rules import SPAM_REASON, TEXT_REASONS, WordLists, first_failing_rule, rule_wordlists
from filters.text_stats import words
from schemas.config_interleaved import NodeFilterConfig
from schemas.histograms import HistogramRecorder
from schemas.samples import nodes_to_text

# Extensions that name an image format: an image whose URL ends in one of these, and not in the
# configured formats, is dropped. Any other extension (.php, .aspx) or none says nothing: kept.
KNOWN_IMAGE_EXTENSIONS = frozenset(
    "jpg jpeg jpe jfif pjpeg pjp png apng gif webp avif heic heif bmp dib tif tiff svg svgz ico cur "
    "jp2 j2k jpx jxl psd tga xbm xpm pcx ppm pgm pbm pnm eps raw".split()
)
# Reasons, in the order the rules run; the stats are paragraphs_dropped_<reason> and
# images_dropped_<reason>, the exclusion records say paragraph_<reason> / image_<reason>.
PARAGRAPH_REASONS = (*TEXT_REASONS, SPAM_REASON)
IMAGE_REASONS = ("missing_media", "url_blocklist", "format")


def url_extension(url: str) -> str:
    """Lower-cased file extension of a URL's path (``""`` when none); for a ``data:`` URL the
    subtype of its MIME type (``data:image/gif;base64,...`` -> ``gif``)."""
    if url[:5].lower() == "data:":
        mime = url[5:].split(",", 1)[0].split(";", 1)[0]
        return mime.rpartition("/")[2].lower()
    name = urlsplit(url).path.rpartition("/")[2].split(";", 1)[0]
    return name.rpartition(".")[2].lower() if "." in name else ""


class NodeFilters(PipelineStep):
    """Removes the paragraphs and images of interleaved documents that fail OBELICS's node rules.

    Keeps ``doc.media`` to the surviving images, renumbers the image nodes' ``media`` indices and
    rebuilds ``doc.text`` from the nodes. Each dropped node goes to ``exclusion_writer`` (an
    ``ExclusionRecorder``) as a small document: id ``<doc id>#<node index>``, text the paragraph
    or the image URL, metadata ``filter_reason``, ``filter_value`` (what was measured), ``source``
    (the page URL) and, for an image, its ``Media``.

    With ``histograms_dir`` set, the words of every paragraph go to the ``paragraph_words``
    histogram, written per task under ``<histograms_dir>/<histograms_stage>/``."""

    name = "🧹 OBELICS node filters"
    type = "✂️ - FILTER"

    def __init__(
        self,
        cfg: NodeFilterConfig | None = None,
        exclusion_writer=None,
        histograms_dir: str | None = None,
        histograms_stage: str = "extract",
    ):
        super().__init__()
        self.cfg = cfg or NodeFilterConfig()
        self.exclusion_writer = exclusion_writer
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, "node_filters")
        self.blocklist = tuple(s.lower() for s in self.cfg.image_url_blocklist)
        self.image_formats = frozenset(f.lower().lstrip(".") for f in self.cfg.image_formats)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        writer_context = self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext()
        self.histograms.start()
        with writer_context as writer:
            for doc in data:
                with self.track_time():
                    self.filter_nodes(doc, writer, rank)
                yield doc
        self.histograms.finish(rank)

    def filter_nodes(self, doc: Document, writer=None, rank: int = 0) -> None:
        """Apply the node rules to one document in place; dropped nodes go to ``writer``."""
        nodes = doc.metadata.get("nodes")
        if nodes is None:
            self.stat_update("documents_without_nodes")
            return
        lang = str(doc.metadata.get("lang") or "und")
        lists = rule_wordlists(lang)
        skipped: set[str] = set()
        kept_nodes, dropped_media = [], set()
        counts = {"paragraphs_in": 0, "paragraphs_out": 0, "images_in": 0, "images_out": 0}
        for index, node in enumerate(nodes):
            media = None
            if node["type"] == "text":
                kind = "paragraphs"
                tokens = words(node["text"])
                self.histograms.add("paragraph_words", len(tokens))
                failure = self.paragraph_failure(node["text"], lists, skipped, tokens)
            elif node["type"] == "image":
                kind = "images"
                media_index = node.get("media")
                if isinstance(media_index, int) and 0 <= media_index < len(doc.media):
                    media = doc.media[media_index]
                failure = self.image_failure(media)
            else:
                kept_nodes.append(node)
                continue
            counts[f"{kind}_in"] += 1
            if failure is None:
                kept_nodes.append(node)
                counts[f"{kind}_out"] += 1
                continue
            reason, value = failure
            self.stat_update(f"{kind}_dropped_{reason}")
            if media is not None:
                dropped_media.add(node["media"])
            if writer:
                writer.write(excluded_node(doc, index, node, media, reason, value), rank)
        for rule in sorted(skipped):
            self.stat_update(f"skipped_{rule}_{lang}")
        for key, value in counts.items():
            self.stat_update(key, value=value)
        if len(kept_nodes) < len(nodes):
            replace_nodes(doc, kept_nodes, dropped_media)

    def paragraph_failure(
        self, text: str, lists: WordLists, skipped: set[str], tokens: list[str] | None = None
    ) -> tuple[str, float] | None:
        """(reason, measured value) of the first rule ``text`` fails, or None when it passes: the
        shared text rules (:func:`filters.text_rules.first_failing_rule`), punctuation from
        ``punctuation_min_words`` words, then the spam-word rule.

        A word-list rule whose list is None is skipped and its name added to ``skipped``;
        ``tokens`` are the words of ``text`` when the caller has them already."""
        cfg = self.cfg
        return first_failing_rule(
            text,
            words(text) if tokens is None else tokens,
            cfg,
            lists,
            skipped,
            punctuation_min_words=cfg.punctuation_min_words,
            max_spam_word_ratio=cfg.max_spam_word_ratio,
        )

    def image_failure(self, media: Media | None) -> tuple[str, str] | None:
        """(reason, what matched) of the first image rule failed, or None when the image stays."""
        if media is None:
            return "missing_media", ""
        url = (media.url or "").lower()
        for part in self.blocklist:
            if part in url:
                return "url_blocklist", part
        extension = url_extension(url)
        if extension in KNOWN_IMAGE_EXTENSIONS and extension not in self.image_formats:
            return "format", extension
        return None


def replace_nodes(doc: Document, nodes: list[dict], dropped_media: set[int]) -> None:
    """Set the document's nodes, drop the removed images from ``doc.media``, renumber the image
    nodes' ``media`` indices to match and rebuild ``doc.text`` (shared with the image filters and
    the image join)."""
    if dropped_media:
        renumber: dict[int, int] = {}
        kept_media: list[Media] = []
        for old, media in enumerate(doc.media):
            if old not in dropped_media:
                renumber[old] = len(kept_media)
                kept_media.append(media)
        doc.media = kept_media
        nodes = [
            {**node, "media": renumber[node["media"]]} if node["type"] == "image" else node for node in nodes
        ]
    doc.metadata["nodes"] = nodes
    doc.text = nodes_to_text(nodes)


def drop_images(doc: Document, dropped: set[int]) -> None:
    """Remove the images at the ``dropped`` media indices, with their image nodes when the
    document has a layout (the image filters and the image join share this)."""
    if not dropped:
        return
    nodes = doc.metadata.get("nodes")
    if nodes is None:  # no layout: the media list is all there is
        doc.media = [m for i, m in enumerate(doc.media) if i not in dropped]
        return
    kept = [n for n in nodes if not (n["type"] == "image" and n.get("media") in dropped)]
    replace_nodes(doc, kept, dropped)


def excluded_node(doc: Document, index: int, node: dict, media: Media | None, reason: str, value) -> Document:
    """The record of one dropped node: a small document the exclusion writer understands."""
    is_text = node["type"] == "text"
    metadata = {
        "filter_reason": f"{'paragraph' if is_text else 'image'}_{reason}",
        "filter_value": value,
        "source": str(doc.metadata.get("url") or doc.metadata.get("source") or ""),
    }
    text = node["text"] if is_text else (media.url if media is not None else "")
    return Document(text=text, id=f"{doc.id}#{index}", media=[media] if media else [], metadata=metadata)
