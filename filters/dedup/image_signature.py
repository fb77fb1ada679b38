"""Crop-tolerant image signatures for near-duplicate dedup.

A signature is 16 perceptual hashes of one image, one per crop of 0 or ``CROP`` (5%) off each of
its four sides, each with a 4x4 chroma thumbnail (Cb and Cr) of the same crop, and, when the
image is mostly blank background, the hash of its content box. Two images are near duplicates
when some crop of one and some crop of the other hash within ``max_distance`` bits, their chroma
thumbnails agree within ``colour_tolerance`` levels in every cell, and, where both have a content
box, the boxes hash within ``box_distance`` bits.

Why each part (measured in ``benchmarks/bench_dedup.py``):
- crops: a copy cropped by up to 5% a side moves the global DCT hash by 6 bits at the median and
  up to 30, while distinct look-alikes (the same chart with other numbers) can sit 2-4 bits
  apart, so no threshold on one hash separates them. The closest crop pair of a cropped copy and
  its original is within 4 bits for 95% of the copies (at most 8).
- chroma: pie and area charts whose slices differ in colour but not in luma hash alike.
- content box: a one-line title on an empty banner, or a small chart on a large white figure,
  hash alike whatever the words or slices, since the content is a few percent of the 32x32 image
  the hash sees. Hashing the content box alone looks at that content at full hash resolution;
  since a crop of up to 5% leaves the background's content box where it is, the box needs no
  crop variants.

Each hash is the DCT hash of imagededup's ``PHash`` (the 8x8 lowest frequencies of a 32x32 luma
image against their median without the DC term; see ``image_hash.phash``) of one crop. All come
from one small decode: the JPEG is decoded at reduced scale (``draft``), and each crop's 32x32 area
resampling and 8x8 DCT are folded into one matrix per axis, so the 16 hashes are
``Hy @ Y @ Hx.T`` (two small matrix products) and the 16 thumbnails two more. The products are
tiny: run the hashing with one BLAS thread (``one_blas_thread``), as threads only add overhead at
this size.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from PIL import Image

from filters.dedup.image_hash import UPRIGHT, band_keys, eight_bit

CROP = 0.05  # the largest crop off one side that a near duplicate is expected to have
DRAFT = 64  # a JPEG is decoded at the smallest 1/2^k scale that keeps this many pixels a side
CUTS = (0.0, CROP)
AXIS_CROPS = tuple((low, high) for low in CUTS for high in CUTS)  # (left, right) or (top, bottom)
VARIANTS = len(AXIS_CROPS) ** 2  # variant index = 4 * vertical crop + horizontal crop
COLOUR_CELLS = 4  # chroma thumbnail side
COLOUR_BYTES = 2 * COLOUR_CELLS * COLOUR_CELLS  # Cb then Cr, row by row
DETAIL_BYTES = COLOUR_BYTES + 8  # what a key row carries to verify a candidate: colours, box hash
BOX_AREA = 0.5  # a content box covering less of the image than this gets its own hash
BOX_LEVELS = 24  # a pixel is content when its Y, Cb or Cr differs this much from the background
BOX_TRIM = 1.0  # percent of content pixels left out on each side (painted specks, JPEG ringing)


class Signature(NamedTuple):
    hashes: np.ndarray  # [VARIANTS] uint64, variant 0 = the uncropped image
    colours: np.ndarray  # [VARIANTS, COLOUR_BYTES] uint8
    box: int  # hash of the content box; 0 when the content covers BOX_AREA or more

    def detail(self, variant: int) -> bytes:
        """What a key row of ``variant`` carries to verify a candidate (DETAIL_BYTES)."""
        return self.colours[variant].tobytes() + self.box.to_bytes(8, "big")


def _area_weights(n_in: int, low: float, high: float, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights averaging the input span [low, high) into n_out equal cells."""
    edges = low + (high - low) * np.arange(n_out + 1) / n_out
    pixels = np.arange(n_in)
    overlap = np.minimum(edges[1:, None], pixels[None, :] + 1) - np.maximum(edges[:-1, None], pixels[None, :])
    overlap = np.clip(overlap, 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


@lru_cache(maxsize=1024)
def _axis_operators(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(hash operator [4 * 8, n], colour operator [4 * COLOUR_CELLS, n]) for an axis of n
    pixels: per crop of that axis, area resampling to 32 cells then the first 8 DCT-II rows; and
    area resampling to the thumbnail's cells. Rows [:8] of the hash operator are the uncropped axis."""
    k, x = np.arange(8)[:, None], np.arange(32)[None, :]
    dct8 = np.cos(np.pi * k * (2 * x + 1) / 64)  # [8, 32], scipy's DCT-II without its factor 2
    hashing = np.vstack([dct8 @ _area_weights(n, lo * n, n - hi * n, 32) for lo, hi in AXIS_CROPS])
    colour = np.vstack([_area_weights(n, lo * n, n - hi * n, COLOUR_CELLS) for lo, hi in AXIS_CROPS])
    return hashing.astype(np.float32), colour.astype(np.float32)


def _per_variant(grid: np.ndarray, cells: int) -> np.ndarray:
    """[4 * cells, 4 * cells] (vertical crop, row; horizontal crop, column) -> [VARIANTS, cells**2]."""
    n = len(AXIS_CROPS)
    return grid.reshape(n, cells, n, cells).transpose(0, 2, 1, 3).reshape(n * n, cells * cells)


def _hash_bits(blocks: np.ndarray) -> np.ndarray:
    """[m, 64] DCT coefficients -> [m] uint64 hashes: each coefficient against the median of its
    row without the DC term, bit 63 = coefficient (0, 0)."""
    median = np.median(blocks[:, 1:], axis=1, keepdims=True)
    return np.packbits(blocks >= median, axis=1).view(">u8").ravel().astype(np.uint64)


def _small_ycbcr(data: bytes) -> np.ndarray:
    """The image upright, as [height, width, 3] uint8 YCbCr, at most about 4 * DRAFT pixels a
    side (alpha ignored; 16-bit and float images scaled to 8 bits). Raises ValueError when
    Pillow cannot decode the bytes."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("YCbCr", (DRAFT, DRAFT))  # JPEG only: decode at 1/2..1/8 scale
            orientation = img.getexif().get(0x0112, 1)
            img = eight_bit(img)
            if img.mode != "YCbCr":
                img = img.convert("RGB").convert("YCbCr")
            factor = min(img.size) // (2 * DRAFT)  # other formats: reduce by whole pixel blocks
            small = img.reduce(factor) if factor > 1 else img
            if orientation in UPRIGHT:
                small = small.transpose(UPRIGHT[orientation])
            return np.asarray(small)
    except Exception as exc:  # Pillow raises many types on corrupt input (OSError, SyntaxError, ...)
        raise ValueError(
            f"image signature: cannot decode image ({len(data)} bytes, starting {data[:8]!r}): "
            f"{type(exc).__name__}: {exc}; skip or drop the image"
        ) from exc


def content_box(ycbcr: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of what differs from the background (the median colour of the
    border) by more than BOX_LEVELS, BOX_TRIM percent of it left out on each side; None when the
    box covers BOX_AREA of the image or more, or nothing differs."""
    height, width = ycbcr.shape[:2]
    border = np.concatenate([ycbcr[0], ycbcr[-1], ycbcr[:, 0], ycbcr[:, -1]])
    background = np.median(border, axis=0)
    content = np.zeros((height, width), dtype=bool)
    for channel in range(3):  # one plane at a time: a reduction over the last axis is slow
        content |= np.abs(ycbcr[..., channel].astype(np.int16) - int(background[channel])) > BOX_LEVELS
    ys, xs = np.nonzero(content)
    if len(ys) < 8:
        return None
    top, bottom = np.percentile(ys, [BOX_TRIM, 100 - BOX_TRIM])
    left, right = np.percentile(xs, [BOX_TRIM, 100 - BOX_TRIM])
    box = int(top), int(bottom) + 1, int(left), int(right) + 1
    if (box[1] - box[0]) * (box[3] - box[2]) >= BOX_AREA * height * width:
        return None
    return box


def image_signature(data: bytes) -> Signature:
    """The crop-tolerant signature of encoded image bytes (see the module docstring)."""
    ycbcr = _small_ycbcr(data)
    luma, cb, cr = (ycbcr[..., c].astype(np.float32) for c in range(3))
    hash_y, colour_y = _axis_operators(ycbcr.shape[0])
    hash_x, colour_x = _axis_operators(ycbcr.shape[1])
    hashes = _hash_bits(_per_variant(hash_y @ luma @ hash_x.T, 8))  # [VARIANTS]
    chroma = [_per_variant(colour_y @ plane @ colour_x.T, COLOUR_CELLS) for plane in (cb, cr)]
    colours = np.rint(np.concatenate(chroma, axis=1)).clip(0, 255).astype(np.uint8)
    box = 0
    found = content_box(ycbcr)
    if found is not None:
        top, bottom, left, right = found
        region = luma[top:bottom, left:right]
        coefficients = _axis_operators(bottom - top)[0][:8] @ region @ _axis_operators(right - left)[0][:8].T
        box = int(_hash_bits(coefficients.reshape(1, 64))[0]) or 1  # 0 means "no box"
    return Signature(hashes, colours, box)


def signature_keys(signature: Signature, band_distance: int) -> list[tuple[int, int]]:
    """(band key, variant) rows of a signature: the band keys of every variant hash
    (``image_hash.band_keys``), each (key, hash) pair once."""
    rows, seen = [], set()
    for variant, value in enumerate(signature.hashes.tolist()):
        for key in band_keys(value, band_distance):
            if (key, value) not in seen:
                seen.add((key, value))
                rows.append((key, variant))
    return rows


def close_pairs(
    hashes: np.ndarray,
    details: np.ndarray,
    max_distance: int,
    colour_tolerance: int,
    box_distance: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), i < j, of the rows of one band group that are near duplicates:
    ``hashes`` [n] uint64 within ``max_distance`` bits, and of ``details`` [n, DETAIL_BYTES]
    (``Signature.detail``) the chroma thumbnails within ``colour_tolerance`` levels in every cell
    and, where both rows have a content box, the box hashes within ``box_distance`` bits."""
    close = np.bitwise_count(hashes[:, None] ^ hashes[None, :]) <= max_distance
    i, j = np.nonzero(np.triu(close, k=1))
    if not len(i):
        return i, j
    colours = details[:, :COLOUR_BYTES].astype(np.int16)
    keep = np.abs(colours[i] - colours[j]).max(axis=1) <= colour_tolerance
    boxes = np.ascontiguousarray(details[:, COLOUR_BYTES:]).view(">u8").ravel().astype(np.uint64)
    both = (boxes[i] != 0) & (boxes[j] != 0)
    keep &= ~both | (np.bitwise_count(boxes[i] ^ boxes[j]) <= box_distance)
    return i[keep], j[keep]


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread (``threadpoolctl``): the signature's
    matrix products are tiny, and BLAS threads on them cost more than they bring (on 2 cores
    under load, 250 instead of 720 images/s)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
