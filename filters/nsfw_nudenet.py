"""NudeNet's ONNX body-part detector as an NSFW scorer (``nsfw.model=nudenet``, the default).

The detector ``320n.onnx`` ships inside the ``nudenet`` wheel (AGPL licence files) and runs with
onnxruntime. An image's score is the highest detection score among the *exposed* body-part
classes of :data:`EXPOSED_CLASSES`, 0.0 when there is none. Detections are exactly NudeNet's own
(its preprocessing, its 0.2 score cut and its NMS): the score equals the maximum over
``NudeDetector().detect(bytes)``. The face blurring stage (``filters.faces``) runs the same
detector.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import nudenet
import numpy as np
import onnxruntime
from nudenet.nudenet import _postprocess, _read_image  # NudeNet's own pre/post-processing (nudenet<4)
from PIL import Image

# NudeNet classes whose detection makes an image NSFW. MALE_BREAST_EXPOSED is left out on
# purpose: a bare male chest (sport, beach, swimming, medical pages) is not sexual content, and
# counting it would remove a large share of ordinary news and sports photos.
EXPOSED_CLASSES = frozenset(
    {
        "BUTTOCKS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_EXPOSED",
    }
)
NUDENET_INPUT_PX = 320  # the side NudeDetector resizes to for the shipped "320n" model


def decode_bgr(data: bytes) -> np.ndarray | None:
    """The image as an 8-bit OpenCV array, None when neither OpenCV nor Pillow decodes it.

    OpenCV reads the bytes as NudeNet does (``cv2.imdecode(..., IMREAD_UNCHANGED)``), so 8-bit
    images reach the detector exactly as through ``NudeDetector.detect``. 16-bit images are
    scaled to 8 bits (NudeNet would feed values up to 257 to the model); formats OpenCV does not
    read (ICO, TGA, some GIFs and TIFFs) and other depths go through Pillow, first frame, as BGR."""
    try:
        mat = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        mat = None
    if mat is not None and mat.dtype == np.uint16:
        return (mat >> 8).astype(np.uint8)
    if mat is not None and mat.dtype == np.uint8:
        return mat
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = np.asarray(image.convert("RGB"))
    except Exception:
        return None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def postprocess(output: np.ndarray, prepared: tuple, size: int) -> list[dict]:
    """NudeNet's detections from one image's raw output [1, 4 + classes, boxes] and its
    ``_read_image`` result: NudeNet's own ``_postprocess`` (0.2 cut, NMS), given only the boxes it
    would keep past the 0.2 cut, in their order. Same detections; it skips the Python loop over
    all 2,100 boxes."""
    _, x_ratio, y_ratio, x_pad, y_pad, width, height = prepared
    keep = output[0, 4:].max(axis=0) >= 0.2
    if not keep.any():
        return []
    boxes = output[:, :, keep]
    if boxes.shape[2] == 1:  # _postprocess squeezes: add an all-zero box, which the 0.2 cut skips
        boxes = np.concatenate([boxes, np.zeros_like(boxes)], axis=2)
    return _postprocess([boxes], x_pad, y_pad, x_ratio, y_ratio, width, height, size, size)


class NudeNetScorer:
    """NudeNet's ONNX detector, loaded once per process on first use (so the scorer pickles to
    Ray workers without its session).

    ``score`` runs ``batch_size`` images per onnxruntime call when the model's batch dimension
    is dynamic (the shipped ``320n.onnx``: ``['batch', 3, 'height', 'width']``); a detector
    exported with a fixed batch of 1 runs one call per image behind the same API."""

    def __init__(
        self,
        detector_path: str | None = None,
        batch_size: int = 16,
        classes: Iterable[str] = EXPOSED_CLASSES,
        threads: int = 0,
    ):
        self.detector_path = detector_path
        self.batch_size = batch_size
        self.classes = frozenset(classes)
        self.threads = threads  # onnxruntime intra-op threads; 0 = its default (all cores)
        self._session: Any = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_session": None}

    @property
    def model_path(self) -> str:
        return self.detector_path or os.path.join(os.path.dirname(nudenet.__file__), "320n.onnx")

    @property
    def session(self):
        if self._session is None:
            path = self.model_path
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"nsfw.detector_path: {path} not found (an ONNX detector of NudeNet's format)"
                )
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            self._session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return self._session

    def detections(self, images: Sequence[bytes]) -> list[list[dict] | None]:
        """NudeNet's detections (``{"class", "score", "box"}``) per image; None when the bytes
        don't decode."""
        session = self.session
        model_input = session.get_inputs()[0]
        batch_dim, side = model_input.shape[0], model_input.shape[2]
        size = side if isinstance(side, int) else NUDENET_INPUT_PX
        per_call = batch_dim if isinstance(batch_dim, int) else self.batch_size

        results: list[list[dict] | None] = [None] * len(images)
        for start in range(0, len(images), per_call):
            chunk = []  # (index, NudeNet's preprocessing: blob, ratios, paddings, size)
            for i in range(start, min(start + per_call, len(images))):
                mat = decode_bgr(images[i])
                if mat is None:
                    continue
                try:
                    chunk.append((i, _read_image(mat, size)))
                except cv2.error:  # a channel layout NudeNet's colour conversion refuses
                    continue
            if not chunk:
                continue
            blob = np.concatenate([prepared[0] for _, prepared in chunk])  # [B, 3, size, size]
            output = session.run(None, {model_input.name: blob})[0]  # [B, 4 + classes, boxes]
            for row, (i, prepared) in enumerate(chunk):
                results[i] = postprocess(output[row : row + 1], prepared, size)
        return results

    def score(self, images: list[bytes]) -> list[float | None]:
        """Per image, the highest detection score among ``classes``; 0.0 when none, None when
        the bytes don't decode."""
        return [
            None
            if found is None
            else max((d["score"] for d in found if d["class"] in self.classes), default=0.0)
            for found in self.detections(images)
        ]
