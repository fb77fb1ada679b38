"""Face blurring: faces detected in kept images are blurred, their boxes recorded in meta.

The detector is NudeNet's ONNX model (the one the NSFW stage runs, ``filters.nsfw_nudenet.NudeNetScorer``),
which also reports ``FACE_FEMALE`` and ``FACE_MALE`` boxes. Each face scoring at least
``min_score`` is grown by ``margin`` on every side and blurred (pixelated, then Gaussian-blurred,
so the face cannot be recovered by sharpening); the image is re-encoded in the dataset's format
(``shards.image_format``), keeping its EXIF orientation so the recorded boxes stay on the pixels
they name. ``Media.metadata["faces"]`` lists ``{"box": [x, y, w, h], "score", "class"}`` in the
stored pixel grid; ``metadata["sha256"]`` is updated to the new bytes when present.

Counted: ``images_scanned``, ``images_with_faces``, ``faces_blurred``, ``faces_undecodable``
(bytes neither OpenCV nor Pillow decode: left as they are, the image filters decide about them).
Nothing is dropped. NudeNet's wheel ships AGPL licence files (see the README).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable

from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from PIL import Image, ImageFilter

from filters.nsfw_nudenet import NudeNetScorer
from schemas.config_governance import FaceBlurConfig

FACE_CLASSES = frozenset({"FACE_FEMALE", "FACE_MALE"})
PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
PIXEL_BLOCKS = 8  # a blurred face keeps at most this many blocks across before the Gaussian pass


def face_boxes(detections: list[dict], min_score: float) -> list[dict]:
    """The faces among NudeNet's detections, best first."""
    faces = [
        {"box": [int(v) for v in d["box"]], "score": round(float(d["score"]), 4), "class": d["class"]}
        for d in detections
        if d["class"] in FACE_CLASSES and d["score"] >= min_score
    ]
    return sorted(faces, key=lambda f: -f["score"])


def blur_regions(image: Image.Image, boxes: list[list[int]], margin: float) -> Image.Image:
    """``image`` with every box (x, y, w, h), grown by ``margin``, pixelated and blurred."""
    out = image.copy()
    for x, y, w, h in boxes:
        dx, dy = int(w * margin), int(h * margin)
        left, top = max(0, x - dx), max(0, y - dy)
        right, bottom = min(image.width, x + w + dx), min(image.height, y + h + dy)
        if right <= left or bottom <= top:
            continue
        region = out.crop((left, top, right, bottom))
        small = (max(1, min(PIXEL_BLOCKS, region.width)), max(1, min(PIXEL_BLOCKS, region.height)))
        region = region.resize(small, Image.Resampling.BOX).resize(region.size, Image.Resampling.NEAREST)
        region = region.filter(ImageFilter.GaussianBlur(radius=max(2, max(region.size) // 8)))
        out.paste(region, (left, top))
    return out


def blur_faces(data: bytes, boxes: list[list[int]], margin: float, image_format: str, quality: int) -> bytes:
    """The image bytes with the boxes blurred, encoded as ``image_format`` (first frame)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        exif = image.info.get("exif")
        if image_format == "jpg" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        elif image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        blurred = blur_regions(image, boxes, margin)
    out = io.BytesIO()
    options = {"quality": quality} if image_format in ("jpg", "webp") else {}
    if exif:
        options["exif"] = exif
    blurred.save(out, format=PIL_FORMATS[image_format], **options)
    return out.getvalue()


class FaceBlur(PipelineStep):
    """Detects and blurs faces in every image with bytes (see the module docstring).

    Documents are buffered until about ``batch_size`` images are pending, detected in one call
    and yielded in their order."""

    name = "🙂 Face blur"
    type = "✂️ - FORMAT"

    def __init__(
        self,
        cfg: FaceBlurConfig | None = None,
        image_format: str = "jpg",
        jpeg_quality: int = 90,
        detector: NudeNetScorer | None = None,
    ):
        super().__init__()
        self.cfg = cfg or FaceBlurConfig()
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.detector = detector or NudeNetScorer(
            self.cfg.detector_path, self.cfg.batch_size, classes=FACE_CLASSES, threads=self.cfg.threads
        )

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if not self.cfg.enabled:
            yield from data
            return
        pending: list[Document] = []
        images = 0
        for doc in data:
            pending.append(doc)
            images += sum(1 for m in doc.media if m.type == MediaType.IMAGE and m.media_bytes)
            if images >= self.cfg.batch_size:
                yield from self.process(pending)
                pending, images = [], 0
        yield from self.process(pending)

    def process(self, docs: list[Document]) -> Iterable[Document]:
        wanted = [m for doc in docs for m in doc.media if m.type == MediaType.IMAGE and m.media_bytes]
        if wanted:
            with self.track_time(unit="batch"):
                found = self.detector.detections([m.media_bytes for m in wanted])
                for media, detections in zip(wanted, found, strict=True):
                    self.blur(media, detections)
        yield from docs

    def blur(self, media: Media, detections: list[dict] | None) -> None:
        """Blur the faces of one image in place and record them in its metadata."""
        self.stat_update("images_scanned")
        if detections is None:
            self.stat_update("faces_undecodable")
            return
        faces = face_boxes(detections, self.cfg.min_score)
        media.metadata = dict(media.metadata or {})
        media.metadata["faces"] = faces
        if not faces:
            return
        try:
            data = blur_faces(
                media.media_bytes,
                [f["box"] for f in faces],
                self.cfg.margin,
                self.image_format,
                self.jpeg_quality,
            )
        except Exception:  # decoded by OpenCV but not by Pillow: cannot be re-encoded
            self.stat_update("faces_undecodable")
            return
        media.media_bytes = data
        if "sha256" in media.metadata:
            media.metadata["sha256"] = hashlib.sha256(data).hexdigest()
        self.stat_update("images_with_faces")
        self.stat_update("faces_blurred", value=len(faces))
