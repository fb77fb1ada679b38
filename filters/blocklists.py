"""Blocklists: drop images whose sha256 or perceptual hash is listed, and documents (or images)
whose URL or domain is listed.

Known-bad material is distributed as hash lists; takedown requests and opt-outs as URLs or
domains. Every list is a text file (local path or fsspec URL), one entry a line, ``#`` starts a
comment. URLs are compared in the form :func:`normalize_url` gives (scheme and host lower-cased,
default port and fragment removed); a listed domain covers its subdomains. A perceptual hash
matches when it is within ``phash_max_distance`` bits of a listed one, looked up through the
same LSH band keys as image dedup (``filters.dedup.image_hash.band_keys``), so a list of millions
of hashes costs one dict lookup per key, not a scan.

``BlocklistFilter`` drops a listed document (reasons ``blocked_url``, ``blocked_domain``) and,
for a listed image, the image or its whole document (``image_policy``; reasons
``blocked_image_url``, ``blocked_image_domain``, ``blocked_sha256``, ``blocked_phash``). Counted
``dropped_<reason>`` / ``images_dropped_<reason>``, each drop sent to the exclusion writer.
Records of hash-list matches carry no image: a thumbnail of listed material, even blurred, must
never be stored; the record names the hash (``filter_value``) instead.
"""

from __future__ import annotations

import contextlib
import hashlib

from datatrove.data import Document, DocumentsPipeline, Media
from datatrove.pipeline.base import PipelineStep

from filters.dedup.image_hash import band_keys, hamming, media_phash
from filters.node_filters import drop_images
from filters.urls import normalize_url, read_list, url_host
from schemas.config_governance import BlocklistConfig

HASH_REASONS = ("blocked_sha256", "blocked_phash")


def domain_listed(host: str, domains: frozenset[str]) -> str | None:
    """The listed domain ``host`` is, or is a subdomain of; None when there is none."""
    parts = host.removeprefix("www.").split(".")
    for i in range(len(parts) - 1):
        candidate = ".".join(parts[i:])
        if candidate in domains:
            return candidate
    return None


def parse_phash(entry: str, where: str) -> int:
    try:
        value = int(entry, 16)
    except ValueError:
        raise ValueError(f"{where}: {entry!r} is not a 64-bit perceptual hash in hex") from None
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{where}: {entry!r} has more than 64 bits")
    return value


class PhashIndex:
    """Perceptual hashes findable within ``max_distance`` bits (LSH band keys, then checked)."""

    def __init__(self, hashes: list[int], max_distance: int):
        self.max_distance = max_distance
        self.buckets: dict[int, list[int]] = {}
        for value in set(hashes):
            for key in band_keys(value, max_distance):
                self.buckets.setdefault(key, []).append(value)
        self.size = len(set(hashes))

    def match(self, value: int) -> tuple[int, int] | None:
        """(listed hash, distance) of the nearest listed hash within reach; None when none is."""
        best: tuple[int, int] | None = None
        for key in band_keys(value, self.max_distance):
            for listed in self.buckets.get(key, ()):
                distance = hamming(value, listed)
                if distance <= self.max_distance and (best is None or distance < best[1]):
                    best = (listed, distance)
        return best


class BlocklistFilter(PipelineStep):
    """Drops listed documents and images (see the module docstring).

    ``check_urls`` / ``check_hashes`` split the work between a text stage (URLs, before anything
    is fetched) and an image stage (hashes of the fetched bytes). Lists load once per task."""

    name = "⛔ Blocklists"
    type = "✂️ - FILTER"

    def __init__(
        self,
        cfg: BlocklistConfig,
        exclusion_writer=None,
        check_urls: bool = True,
        check_hashes: bool = True,
    ):
        super().__init__()
        self.cfg = cfg
        self.exclusion_writer = exclusion_writer
        self.check_urls = check_urls
        self.check_hashes = check_hashes
        self._lists: tuple | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_lists": None}

    @property
    def lists(self) -> tuple[frozenset[str], frozenset[str], frozenset[str], PhashIndex | None]:
        """(urls, domains, sha256 digests, phash index), read on first use."""
        if self._lists is None:
            cfg = self.cfg
            urls = frozenset(normalize_url(u) for u in read_list(cfg.urls)) if cfg.urls else frozenset()
            domains = (
                frozenset(d.lower().removeprefix("www.").strip(".") for d in read_list(cfg.domains))
                if cfg.domains
                else frozenset()
            )
            digests = (
                frozenset(h.lower() for h in read_list(cfg.image_sha256)) if cfg.image_sha256 else frozenset()
            )
            index = None
            if cfg.image_phash:
                values = [parse_phash(e, cfg.image_phash) for e in read_list(cfg.image_phash)]
                index = PhashIndex(values, cfg.phash_max_distance)
            self._lists = (urls, domains, digests, index)
        return self._lists

    def document_reason(self, doc: Document) -> tuple[str, str] | None:
        """(reason, what matched) when the document's own URL is listed."""
        if not self.check_urls:
            return None
        urls, domains, _, _ = self.lists
        url = str(doc.metadata.get("url") or doc.metadata.get("source") or "")
        if not url:
            return None
        if urls and normalize_url(url) in urls:
            return "blocked_url", url
        if domains and (domain := domain_listed(url_host(url), domains)):
            return "blocked_domain", domain
        return None

    def image_reason(self, media: Media) -> tuple[str, str] | None:
        """(reason, what matched) when the image is listed by URL, domain, sha256 or phash."""
        urls, domains, digests, index = self.lists
        if self.check_urls and media.url:
            if urls and normalize_url(media.url) in urls:
                return "blocked_image_url", media.url
            if domains and (domain := domain_listed(url_host(media.url), domains)):
                return "blocked_image_domain", domain
        if self.check_hashes and media.media_bytes:
            if digests:
                digest = hashlib.sha256(media.media_bytes).hexdigest()
                if digest in digests or (media.metadata or {}).get("sha256") in digests:
                    return "blocked_sha256", digest
            if index is not None:
                value = media_phash(media)
                if value is not None and (found := index.match(value)):
                    return "blocked_phash", f"{found[0]:016x} (distance {found[1]})"
        return None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        writer_context = self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext()
        with writer_context as writer:
            for doc in data:
                self.stat_update("documents_in")
                with self.track_time():
                    keep = self.apply(doc, writer, rank)
                if keep:
                    self.stat_update("documents_out")
                    yield doc

    def apply(self, doc: Document, writer=None, rank: int = 0) -> bool:
        """False when the document is dropped; listed images removed in place otherwise."""
        if found := self.document_reason(doc):
            return self._drop_document(doc, *found, writer, rank)
        removed: dict[int, tuple[str, str]] = {}
        for i, media in enumerate(doc.media):
            if found := self.image_reason(media):
                removed[i] = found
        if not removed:
            return True
        if self.cfg.image_policy == "document":
            reason, value = next(iter(removed.values()))
            return self._drop_document(doc, reason, value, writer, rank)
        for i, (reason, value) in removed.items():
            self.stat_update(f"images_dropped_{reason}")
            if writer:
                writer.write(self._image_record(doc, i, reason, value), rank)
        drop_images(doc, set(removed))
        return True

    def _drop_document(self, doc: Document, reason: str, value: str, writer, rank: int) -> bool:
        self.stat_update(f"dropped_{reason}")
        if writer:
            media = [] if reason in HASH_REASONS else doc.media
            record = Document(
                text=doc.text,
                id=doc.id,
                media=media,
                metadata={
                    "filter_reason": reason,
                    "filter_value": value,
                    "source": str(doc.metadata.get("url") or doc.metadata.get("source") or ""),
                },
            )
            writer.write(record, rank)
        return False

    @staticmethod
    def _image_record(doc: Document, index: int, reason: str, value: str) -> Document:
        media = doc.media[index]
        return Document(
            text=media.url or "",
            id=f"{doc.id}#media{index}",
            media=[] if reason in HASH_REASONS else [media],
            metadata={
                "filter_reason": reason,
                "filter_value": value,
                "source": str(doc.metadata.get("url") or doc.metadata.get("source") or ""),
            },
        )
