"""Deterministic synthetic documents of every sample kind, for the demo, tests and benchmarks.

Images are drawn with Pillow from a seed (gradients and shapes, sizes and aspects varied) and
encoded as JPEG, PNG or WebP; texts are sentences from a small word list. The same seed always
gives the same bytes.
"""

from __future__ import annotations

import io
import random

from datatrove.data import Document, Media, MediaType
from PIL import Image, ImageDraw

from schemas.samples import nodes_to_text

WORDS = (
    "the a of data model image vision language page text learn train shard web document caption photo "
    "river city mountain table chart report figure scan letter column market garden school museum "
    "bridge station window harbour forest library kitchen festival"
).split()
_PIL = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def make_image(seed: int, width: int = 320, height: int = 240, fmt: str = "jpg", quality: int = 85) -> bytes:
    """An image with a gradient background and a few shapes, fully determined by its arguments."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height))
    tint = tuple(rng.randrange(256) for _ in range(3))
    image = Image.merge("RGB", [base.point(lambda v, c=c: (v + c) % 256) for c in tint])
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 8)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (x0, y0, x0 + rng.randint(8, width // 2), y0 + rng.randint(8, height // 2))
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    out = io.BytesIO()
    image.save(out, format=_PIL[fmt], quality=quality)
    return out.getvalue()


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _image(rng: random.Random, seed: int, url: str, fmt: str, size: tuple[int, int] | None = None) -> Media:
    width, height = size or (rng.choice([160, 224, 320, 480]), rng.choice([120, 224, 240, 360]))
    return Media(
        id=url,
        type=MediaType.IMAGE,
        url=url,
        media_bytes=make_image(seed, width, height, fmt),
        metadata={"width": width, "height": height},
    )


def make_document(
    kind: str, index: int, seed: int = 0, fmt: str = "jpg", size: tuple[int, int] | None = None
) -> Document:
    """The index-th synthetic document of a kind."""
    rng = random.Random(f"{kind}-{seed}-{index}")
    doc_id = f"{kind}-{seed}-{index:06d}"
    image_seed = rng.randrange(2**31)
    if kind == "interleaved":
        nodes, media = [], []
        for position in range(rng.randint(2, 6)):
            if rng.random() < 0.4:
                media.append(
                    _image(
                        rng,
                        image_seed + position,
                        f"https://example.org/{doc_id}/{position}.{fmt}",
                        fmt,
                        size,
                    )
                )
                nodes.append({"type": "image", "media": len(media) - 1})
            else:
                nodes.append(
                    {"type": "text", "text": " ".join(sentence(rng, rng.randint(6, 20)) for _ in range(3))}
                )
        return Document(
            text=nodes_to_text(nodes),
            id=doc_id,
            media=media,
            metadata={"nodes": nodes, "source": f"https://example.org/{doc_id}.html", "meta": {"lang": "en"}},
        )
    if kind in ("pair", "ocr"):
        text = sentence(rng, rng.randint(5, 15) if kind == "pair" else rng.randint(80, 200))
        source = (
            f"https://example.org/{doc_id}.{fmt}"
            if kind == "pair"
            else f"synthetic/{doc_id[:-7]}.pdf#page={index}"
        )
        return Document(
            text=text,
            id=doc_id,
            media=[_image(rng, image_seed, source, fmt, size)],
            metadata={"source": source, "meta": {"synthetic": True}},
        )
    if kind == "qa":
        pages = [
            _image(rng, image_seed + p, f"synthetic/{doc_id}.pdf#page={p}", fmt, size)
            for p in range(rng.randint(1, 3))
        ]
        qa = [
            {"user": sentence(rng, 8)[:-1] + "?", "assistant": sentence(rng, 5), "source": "synthetic"}
            for _ in range(rng.randint(1, 4))
        ]
        return Document(
            text="",
            id=doc_id,
            media=pages,
            metadata={"qa": qa, "source": f"synthetic/{doc_id}.pdf", "meta": {}},
        )
    raise ValueError(f"unknown kind {kind!r}")


def make_documents(
    kind: str, count: int, seed: int = 0, fmt: str = "jpg", size: tuple[int, int] | None = None
) -> list[Document]:
    return [make_document(kind, i, seed, fmt, size) for i in range(count)]
