"""A generated visual task for the training module's learning test: a shape of one of four colours
on a plain background, and the question "What colour is the shape?".

Chance is 1 in 4; a model can only beat it by reading the image, so a trained model that does
shows the whole path works: shards -> processor -> vision encoder -> connector -> language model.
Everything is drawn from the seed: the same arguments always give the same bytes.
"""

from __future__ import annotations

import io
import random

from datatrove.data import Document, Media, MediaType
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 50), "blue": (30, 60, 220), "yellow": (235, 215, 30)}
QUESTION = "What colour is the shape?"
SHAPES = ("rectangle", "ellipse", "triangle")


def make_shape_image(rng: random.Random, colour: str, size: int = 32) -> bytes:
    """A PNG: a grey background and one shape of ``colour``, its kind, place and size from ``rng``."""
    grey = rng.randrange(60, 200)
    image = Image.new("RGB", (size, size), (grey, grey, grey))
    draw = ImageDraw.Draw(image)
    side = rng.randint(size // 3, size * 3 // 4)
    x0, y0 = rng.randrange(size - side + 1), rng.randrange(size - side + 1)
    box = (x0, y0, x0 + side - 1, y0 + side - 1)
    jitter = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in COLOURS[colour])
    shape = rng.choice(SHAPES)
    if shape == "triangle":
        draw.polygon([(x0, y0 + side - 1), (x0 + side - 1, y0 + side - 1), (x0 + side // 2, y0)], fill=jitter)
    else:
        getattr(draw, shape)(box, fill=jitter)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_colour_document(index: int, seed: int = 0, size: int = 32) -> Document:
    """The index-th ``qa`` document of the task: one image, one turn whose answer is the colour."""
    rng = random.Random(f"colour-{seed}-{index}")
    colour = rng.choice(sorted(COLOURS))
    doc_id = f"colour-{seed}-{index:06d}"
    url = f"synthetic/{doc_id}.png"
    media = Media(
        id=url,
        type=MediaType.IMAGE,
        url=url,
        media_bytes=make_shape_image(rng, colour, size),
        metadata={"width": size, "height": size},
    )
    return Document(
        text="",
        id=doc_id,
        media=[media],
        metadata={
            "qa": [{"user": QUESTION, "assistant": colour, "source": "synthetic"}],
            "source": url,
            "meta": {"task": "colour"},
        },
    )


def make_colour_documents(count: int, seed: int = 0, size: int = 32) -> list[Document]:
    return [make_colour_document(i, seed, size) for i in range(count)]
