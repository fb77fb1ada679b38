"""The image OCR reads: a page's own greyscale render at ``ocr.dpi``, straightened and cleaned.

``skew_angle`` finds the angle of the text lines by projection profiles: the dark pixels of a
reduced copy of the page are projected onto the vertical axis along lines of slope
``tan(angle)``, and the angle whose profile is sharpest (largest sum of squared row counts: text
lines fall into few rows) wins; a coarse pass over ``+-SKEW_RANGE`` degrees, then a fine one
around the best. ``prepare`` turns the page back by that angle and, with ``denoise``, applies a
3x3 median filter (it removes the speckle of noisy scans and JPEG, and keeps strokes two pixels
wide or more: at 300 dpi a 10 pt stem is about 4). ``unrotate_boxes`` maps boxes found on the
straightened image back onto the original one.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

SKEW_RANGE = 5.0  # degrees searched either way
SKEW_COARSE, SKEW_FINE = 0.5, 0.05  # step of the two passes, degrees
SKEW_MIN = 0.1  # smaller angles are left alone (turning costs more than it gains)
REDUCED_WIDTH = 900  # px: the width the profile is measured at
INK_LEVEL = 140  # grey levels under this count as ink in the reduced copy


def _sharpness(ys: np.ndarray, xs: np.ndarray, angle: float, rows: int) -> float:
    shifted = np.rint(ys - xs * math.tan(math.radians(angle))).astype(np.int64) + rows
    counts = np.bincount(shifted)
    return float(np.dot(counts, counts))


def skew_angle(image: Image.Image) -> float:
    """The angle in degrees (positive: lines run down to the right) of the text on ``image`` (L)."""
    factor = max(1, image.width // REDUCED_WIDTH)
    small = np.asarray(image.reduce(factor) if factor > 1 else image)
    ys, xs = np.nonzero(small < INK_LEVEL)
    if len(ys) < 200:  # too little ink to tell
        return 0.0
    rows = int(small.shape[1] * math.tan(math.radians(SKEW_RANGE))) + 1

    def best(angles: np.ndarray) -> float:
        return float(max(angles, key=lambda a: _sharpness(ys, xs, a, rows)))

    coarse = best(np.arange(-SKEW_RANGE, SKEW_RANGE + 1e-9, SKEW_COARSE))
    return best(np.arange(coarse - SKEW_COARSE, coarse + SKEW_COARSE + 1e-9, SKEW_FINE))


def prepare(image: Image.Image, deskew: bool = True, denoise: bool = True) -> tuple[Image.Image, float]:
    """(the image OCR reads, the angle it was turned by in degrees, 0.0 if not)."""
    angle = skew_angle(image) if deskew else 0.0
    if abs(angle) >= SKEW_MIN:
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    else:
        angle = 0.0
    if denoise:  # OpenCV's median: 0.02 s on an A4 page at 300 dpi, Pillow's MedianFilter 0.4 s
        image = Image.fromarray(cv2.medianBlur(np.asarray(image), 3))
    return image, angle


def pgm(image: Image.Image) -> bytes:
    """``image`` (L) as binary PGM: what Tesseract reads from stdin with no encoding cost."""
    return b"P5\n%d %d\n255\n" % image.size + image.tobytes()


def unrotate_boxes(boxes: np.ndarray, angle: float, width: int, height: int) -> np.ndarray:
    """Boxes ``[N, 4]`` (x0, y0, x1, y1) found on an image turned by ``angle`` degrees about its
    centre (``Image.rotate``), as the bounding boxes of their corners on the original image."""
    if not angle or not len(boxes):
        return boxes
    cx, cy = width / 2, height / 2
    # Image.rotate(angle) turns the content counter-clockwise on screen; undo it: clockwise
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    xs = boxes[:, [0, 2, 0, 2]] - cx  # [N, 4 corners]
    ys = boxes[:, [1, 1, 3, 3]] - cy
    ox, oy = cx + xs * cos + ys * sin, cy - xs * sin + ys * cos
    return np.stack([ox.min(1), oy.min(1), ox.max(1), oy.max(1)], axis=1)
