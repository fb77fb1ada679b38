"""Face blurring with NudeNet's real detector on real images (Pillow's test images of Grace
Hopper): faces found, boxes recorded, the face region changed and the rest kept, re-encoded in the
dataset's format, counted; images without faces untouched."""

from __future__ import annotations

import hashlib
import io
import time

import numpy as np
import pytest
from PIL import Image

from filters.faces import FaceBlur, blur_regions
from schemas.config_governance import FaceBlurConfig
from tests import corpora
from tests.dedup_fixtures import document, jpeg, paragraph

PILLOW = corpora.path("pillow")
DATE = "2021-01-01T00:00:00Z"


def needs(name: str) -> bytes:
    return (corpora.require("pillow") / name).read_bytes()


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.corpus("pillow")
def test_faces_blurred_and_recorded():
    hopper = needs("hopper_gray.jpg")  # 128x128 grey portrait; the detector finds FACE_FEMALE ~0.52
    padded = needs("imageops_pad_h_1.jpg")  # the portrait padded into a wider image
    png = needs("hopper-XYZ.png")
    plain = jpeg(5)  # shapes on a gradient: no face
    images = {
        "http://i/h.jpg": hopper,
        "http://i/p.jpg": padded,
        "http://i/x.png": png,
        "http://i/n.jpg": plain,
    }
    docs = [document("d", "http://a.org/1", DATE, [paragraph(1)], list(images), images)]
    docs[0].media[0].metadata["sha256"] = hashlib.sha256(hopper).hexdigest()
    step = FaceBlur(FaceBlurConfig(enabled=True), image_format="jpg", jpeg_quality=90)
    [doc] = list(step.run(iter(docs)))
    h, p, x, n = doc.media
    for media, original in ((h, hopper), (p, padded), (x, png)):
        faces = media.metadata["faces"]
        assert faces and faces[0]["class"] in ("FACE_FEMALE", "FACE_MALE") and faces[0]["score"] >= 0.25
        assert media.media_bytes[:3] == b"\xff\xd8\xff"  # the dataset's format
        before, after = pixels(original), pixels(media.media_bytes)
        assert before.shape == after.shape
        bx, by, bw, bh = faces[0]["box"]
        face_change = np.abs(before[by : by + bh, bx : bx + bw] - after[by : by + bh, bx : bx + bw]).mean()
        mask = np.ones(before.shape[:2], bool)
        mask[max(0, by - bh) : by + 2 * bh, max(0, bx - bw) : bx + 2 * bw] = False
        rest_change = np.abs(before[mask] - after[mask]).mean() if mask.any() else 0.0
        assert face_change > 8 and rest_change < 4, (face_change, rest_change)
    assert h.metadata["sha256"] == hashlib.sha256(h.media_bytes).hexdigest()
    # the blurred face is no longer found (or only with a lower score)
    again = [d for d in step.detector.detections([h.media_bytes])[0] if d["class"].startswith("FACE")]
    assert all(d["score"] < h.metadata["faces"][0]["score"] for d in again)
    assert n.metadata["faces"] == [] and n.media_bytes == plain
    stats = step.stats
    assert stats["images_scanned"].total == 4 and stats["images_with_faces"].total == 3
    assert stats["faces_blurred"].total >= 3


def test_disabled_and_undecodable():
    docs = [
        document("d", "http://a.org/1", DATE, [paragraph(1)], ["http://i/x"], {"http://i/x": b"not an image"})
    ]
    assert list(FaceBlur(FaceBlurConfig(enabled=False)).run(iter(docs)))[0].media[0].metadata == {}
    step = FaceBlur(FaceBlurConfig(enabled=True))
    [doc] = list(step.run(iter(docs)))
    assert doc.media[0].media_bytes == b"not an image" and step.stats["faces_undecodable"].total == 1


def test_blur_regions_clips_to_the_image():
    image = Image.new("RGB", (40, 30), (255, 255, 255))
    image.paste((0, 0, 0), (30, 20, 40, 30))
    out = blur_regions(image, [[28, 18, 20, 20]], margin=0.5)
    assert out.size == (40, 30) and out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((30, 20)) not in ((0, 0, 0), (255, 255, 255))  # the edge is smeared


@pytest.mark.corpus("pillow")
def test_speed():
    hopper = needs("hopper_gray.jpg")
    images = {f"http://i/{i}.jpg": hopper for i in range(32)}
    docs = [
        document(f"d{i}", f"http://a.org/{i}", DATE, [paragraph(i)], [u], images)
        for i, u in enumerate(images)
    ]
    step = FaceBlur(FaceBlurConfig(enabled=True, batch_size=16))
    list(step.run(iter(docs[:2])))  # load the model
    started = time.perf_counter()
    list(step.run(iter(docs)))
    ms = (time.perf_counter() - started) * 1000 / len(docs)
    print(f"faces: {ms:.1f} ms/image (128x128, one onnxruntime thread)")
    assert ms < 500
