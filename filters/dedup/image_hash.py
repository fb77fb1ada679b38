"""Image hashes for dedup: sha256 for exact copies, a 64-bit perceptual hash for near copies,
and LSH band keys that turn "within ``max_distance`` bits" into equal keys.

``phash`` is the DCT hash of imagededup's ``PHash`` (after hackerfactor's "Looks Like It"): the
image in grayscale at 32x32, its 2-D DCT-II, the top-left 8x8 coefficients (lowest frequencies)
compared to the median of those 8x8 without the DC term; bit 63 (the most significant) is
coefficient (0, 0), then row by row, as imagededup's hex string read as an int. What makes it
fast is the decode: a JPEG is decoded at 1/2..1/8 scale and in luma only (Pillow's ``draft``,
libjpeg's DCT scaling), which skips most of the IDCT, the upsampling and the colour conversion.
"""

from __future__ import annotations

import hashlib
import io
from functools import cache
from itertools import combinations

import numpy as np
from PIL import Image
from scipy.fft import dct

from filters.dedup.minhash import mix64

HASH_SIZE = 32  # side of the grayscale image the DCT runs on
DRAFT_SIZE = 64  # a JPEG is decoded at the smallest 1/2^k scale that keeps this many pixels a side
UPRIGHT = {  # EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# max_distance k -> blocks b the 64 bits are cut into (contiguous, 64/b bits each, rounded). Two
# hashes within k bits differ in at most k blocks, so they agree on at least b - k blocks: one key
# per combination of b - k block positions guarantees a shared key. Keys per image = C(b, k); a key
# holds (b - k) blocks, at least `bits` bits. Two unrelated hashes share some key with probability
# about keys * 2**-bits, so N images give about N**2 / 2 * keys * 2**-bits candidate pairs to check.
#   k  b  keys  bits    p(unrelated pair)       k  b  keys  bits    p(unrelated pair)
#   0  1     1    64    5e-20                   5  8    56    24    3e-6
#   1  2     2    32    5e-10                   6  9    84    21    3e-5
#   2  4     6    32    1e-9                    7 10   120    18    2e-4
#   3  6    20    31    5e-9                    8 11   165    16    1e-3
#   4  8    70    32    2e-8
# Larger k needs hundreds of keys per image (k = 9 with 16-bit keys: C(13, 9) = 715).
BLOCKS_FOR_DISTANCE = {0: 1, 1: 2, 2: 4, 3: 6, 4: 8, 5: 8, 6: 9, 7: 10, 8: 11}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hamming(a: int, b: int) -> int:
    """Bits in which two 64-bit hashes differ."""
    return (a ^ b).bit_count()


def eight_bit(img: Image.Image) -> Image.Image:
    """16-bit and float images scaled to 0..255 as 'L'; other modes as they are."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.float32)
        top = float(arr.max()) if arr.size else 0.0
        return Image.fromarray((arr * (255.0 / top) if top > 0 else arr).astype(np.uint8))
    return img


def _grayscale(img: Image.Image) -> Image.Image:
    """The image as 8-bit luma ('L'); 16-bit and float images are scaled to 0..255 first."""
    img = eight_bit(img)
    if img.mode in ("L", "RGB", "RGBA", "RGBX", "CMYK", "P", "PA", "LA", "1", "YCbCr"):
        return img.convert("L")  # alpha is ignored, as imagededup does
    return img.convert("RGB").convert("L")


def phash(data: bytes) -> int:
    """64-bit perceptual hash of encoded image bytes, upright by their EXIF orientation (the first
    frame of an animation). Raises ValueError when Pillow cannot decode the bytes."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("L", (DRAFT_SIZE, DRAFT_SIZE))  # JPEG only; other formats ignore it
            orientation = img.getexif().get(0x0112, 1)
            small = _grayscale(img).resize((HASH_SIZE, HASH_SIZE), Image.Resampling.BILINEAR)
    except Exception as exc:  # Pillow raises many types on corrupt input (OSError, SyntaxError, ...)
        raise ValueError(
            f"phash: cannot decode image ({len(data)} bytes, starting {data[:8]!r}): "
            f"{type(exc).__name__}: {exc}; skip or drop the image"
        ) from exc
    if orientation in UPRIGHT:  # resizing commutes with these transposes, so do it on 32x32
        small = small.transpose(UPRIGHT[orientation])
    pixels = np.asarray(small, dtype=np.float64)
    coef = dct(dct(pixels, axis=0), axis=1)[:8, :8]  # [8, 8] lowest frequencies
    bits = coef >= np.median(coef.ravel()[1:])  # median without the DC term
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


@cache
def band_layout(max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(block shifts, block masks, combinations [keys, b - k], per-combination salts)."""
    if max_distance not in BLOCKS_FOR_DISTANCE:
        raise ValueError(
            f"band_keys: max_distance={max_distance} is not supported (0..{max(BLOCKS_FOR_DISTANCE)}); "
            "larger distances need hundreds of keys per image, use a smaller image_dedup.max_distance"
        )
    blocks = BLOCKS_FOR_DISTANCE[max_distance]
    edges = [round(64 * i / blocks) for i in range(blocks + 1)]
    widths = np.diff(edges)
    shifts = np.array([64 - e for e in edges[1:]], dtype=np.uint64)  # block 0 = most significant bits
    masks = np.array([(1 << int(w)) - 1 for w in widths], dtype=np.uint64)
    combos = np.array(list(combinations(range(blocks), blocks - max_distance)), dtype=np.intp)
    salts = mix64(np.arange(len(combos), dtype=np.uint64) + np.uint64(max_distance << 16))
    return shifts, masks, combos, salts


def band_keys(h: int, max_distance: int) -> list[int]:
    """Keys (ints < 2**63, combination index mixed in) such that any two hashes within
    ``max_distance`` bits share at least one key; see BLOCKS_FOR_DISTANCE for counts and widths."""
    shifts, masks, combos, salts = band_layout(max_distance)
    values = (np.uint64(h) >> shifts) & masks  # [blocks]
    acc = salts
    for col in combos.T:  # fold the chosen blocks' values into each combination's key
        acc = mix64(acc ^ values[col])
    return (acc >> np.uint64(1)).tolist()


def media_phash(media) -> int | None:
    """The perceptual hash of a datatrove ``Media``: from ``metadata["phash"]`` (16 hex digits)
    when the fetch stage recorded it, else computed from its bytes; None when undecodable."""
    recorded = (media.metadata or {}).get("phash")
    if recorded:
        return int(recorded, 16)
    try:
        return phash(media.media_bytes)
    except ValueError:
        return None
