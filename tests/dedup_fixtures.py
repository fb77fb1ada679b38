"""Small staged corpora with known dedup answers, and a runner for dedup stages."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import Document, Media, MediaType
from PIL import Image, ImageDraw, ImageFont

from pipelines.executors import run_stages
from pipelines.steps.stage_io import StageWriter, row_to_document
from schemas.config import ExecutorConfig
from schemas.samples import nodes_to_text
from synth.demo.documents import make_image

VOCABULARY = [f"{a}{b}{c}" for a in "bcdfglmnprst" for b in "aeiou" for c in ("n", "r", "st", "l", "m")]


def words(seed: int | str, n: int = 120) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(VOCABULARY) for _ in range(n)]


def paragraph(seed: int | str, n: int = 60) -> str:
    return " ".join(words(seed, n)).capitalize() + "."


def document(
    doc_id: str,
    url: str,
    date: str,
    paragraphs: list[str],
    images: list[str] = (),
    image_bytes: dict[str, bytes] | None = None,
) -> Document:
    """An interleaved document as the extract stage stages it: paragraphs, then images."""
    nodes = [{"type": "text", "text": p} for p in paragraphs]
    media = []
    for i, image_url in enumerate(images):
        data = (image_bytes or {}).get(image_url)
        media.append(Media(id=image_url, type=MediaType.IMAGE, url=image_url, media_bytes=data, metadata={}))
        nodes.append({"type": "image", "media": i})
    metadata = {"url": url, "warc_date": date, "nodes": nodes, "source": url}
    return Document(text=nodes_to_text(nodes), id=doc_id, media=media, metadata=metadata)


def stage_documents(folder: Path, files: list[list[Document]]) -> str:
    """Writes each list of documents as one staged Parquet file (as if by one extract task)."""
    for rank, docs in enumerate(files):
        with StageWriter(str(folder)) as writer:
            for doc in docs:
                writer.write(doc, rank)
    return str(folder)


def read_staged(folder: Path) -> dict[str, Document]:
    docs: dict[str, Document] = {}
    for path in sorted(folder.glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            doc = row_to_document(row)
            docs[doc.id] = doc
    return docs


def run_local(stages, dataset_dir: Path) -> None:
    run_stages(stages, ExecutorConfig(kind="local", workers=1), str(dataset_dir), progress=False)


def jpeg(seed: int, width: int = 320, height: int = 240, quality: int = 85) -> bytes:
    return make_image(seed, width, height, fmt="jpg", quality=quality)


def encode(image: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kw)
    return out.getvalue()


def cropped(
    data: bytes, box: tuple[float, float, float, float], scale: float = 0.8, quality: int = 70
) -> bytes:
    """``data`` with (left, top, right, bottom) fractions cut off, then resized and re-encoded."""
    with Image.open(io.BytesIO(data)) as image:
        w, h = image.size
        image = image.crop((int(box[0] * w), int(box[1] * h), w - int(box[2] * w), h - int(box[3] * h)))
        image = image.resize((int(image.width * scale), int(image.height * scale)))
        return encode(image.convert("RGB"), quality=quality)


def banner(words: str, size: tuple[int, int] = (900, 240)) -> Image.Image:
    """A one-line title on an empty banner: a few percent of the picture is content, so two of
    them with other words hash alike as wholes."""
    image = Image.new("RGB", size, (238, 244, 240))
    ImageDraw.Draw(image).text((40, 90), words, font=ImageFont.load_default(size=44), fill=(60, 40, 20))
    return image
