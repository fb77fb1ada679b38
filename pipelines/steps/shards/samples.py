"""Document -> sample: the JSON and image members one document becomes inside a shard.

The layouts are the contract in ``schemas/kinds``; this module only knows where each kind keeps
its parts inside a datatrove ``Document`` (see DESIGN.md, "Documents in flight").
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from datatrove.data import Document, Media
from PIL import Image

from schemas.samples import dumps, image_member, make_key, sample_texts

PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


class BadDocument(ValueError):
    """A document that cannot become a sample; ``reason`` is the short counter name."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class Sample:
    key: str
    json: bytes  # the encoded KEY.json member
    images: list[tuple[str, bytes]]  # (member suffix, bytes), in order
    texts: list[str]  # every text of the sample, for word and token counts
    reencoded: int  # images converted to the dataset's format

    @property
    def nbytes(self) -> int:
        return len(self.json) + sum(len(data) for _, data in self.images)


def sniff_format(data: bytes) -> str | None:
    """Image format from magic bytes: ``jpg``, ``png``, ``webp`` or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def encode_as(data: bytes, image_format: str, quality: int) -> bytes:
    """Re-encode image bytes to ``image_format`` (deterministic for the same input)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image_format == "jpg" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        elif image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        out = io.BytesIO()
        image.save(out, format=PIL_FORMATS[image_format], quality=quality)
        return out.getvalue()


def _image_bytes(doc: Document, media: Media, image_format: str, quality: int) -> tuple[bytes, bool]:
    if not media.media_bytes:
        raise BadDocument(
            "image_without_bytes", f"document {doc.id}: image {media.url or media.id} has no bytes"
        )
    if sniff_format(media.media_bytes) == image_format:
        return media.media_bytes, False
    try:
        return encode_as(media.media_bytes, image_format, quality), True
    except Exception as error:  # Pillow raises many types for bad images
        raise BadDocument(
            "undecodable_image",
            f"document {doc.id}: image {media.url or media.id} cannot be decoded: {error}",
        ) from None


def _media_meta(media: Media) -> dict[str, Any]:
    meta = dict(media.metadata)
    if media.url:
        meta.setdefault("url", media.url)
    if media.alt:
        meta.setdefault("alt", media.alt)
    return meta


def document_to_sample(doc: Document, kind: str, image_format: str = "jpg", quality: int = 90) -> Sample:
    """Build the sample of one document; raises ``BadDocument`` when it cannot."""
    meta = dict(doc.metadata.get("meta", {}))
    used: list[Media] = []
    texts: list[Any]
    images: list[str | None]

    if kind == "interleaved":
        nodes = doc.metadata.get("nodes")
        if not nodes:
            raise BadDocument("no_nodes", f"document {doc.id}: interleaved document has no metadata['nodes']")
        texts, images = [], []
        for node in nodes:
            if node["type"] == "text":
                texts.append(node["text"])
                images.append(None)
            else:
                index = node["media"]
                if not 0 <= index < len(doc.media):
                    raise BadDocument(
                        "bad_node", f"document {doc.id}: node points to media {index}, has {len(doc.media)}"
                    )
                used.append(doc.media[index])
                texts.append(None)
                images.append(image_member(len(used) - 1, image_format))
    elif kind in ("pair", "ocr"):
        if len(doc.media) != 1:
            raise BadDocument(
                "image_count",
                f"document {doc.id}: a {kind} sample needs exactly one image, has {len(doc.media)}",
            )
        if not doc.text.strip():
            raise BadDocument("empty_text", f"document {doc.id}: a {kind} sample needs a non-empty text")
        used = [doc.media[0]]
        texts, images = [None, doc.text], [image_member(0, image_format), None]
    elif kind == "qa":
        turns = doc.metadata.get("qa") or []
        if not turns:  # images are optional: text-only instruction data has none
            raise BadDocument("empty_qa", f"document {doc.id}: a qa sample needs metadata['qa'] turns")
        used = list(doc.media)
        texts = [
            {"user": t["user"], "assistant": t["assistant"], "source": t.get("source", "")} for t in turns
        ]
        images = [image_member(i, image_format) for i in range(len(used))]
    else:
        raise ValueError(f"unknown sample kind {kind!r}")

    members: list[tuple[str, bytes]] = []
    reencoded = 0
    for index, media in enumerate(used):
        data, converted = _image_bytes(doc, media, image_format, quality)
        members.append((image_member(index, image_format), data))
        reencoded += converted
    if any(m.metadata or m.url for m in used):
        meta["images"] = [_media_meta(m) for m in used]

    sample = {
        "kind": kind,
        "source": str(doc.metadata.get("source") or doc.id),
        "meta": meta,
        "texts": texts,
        "images": images,
    }
    return Sample(make_key(doc.id), dumps(sample), members, sample_texts(sample), reencoded)
