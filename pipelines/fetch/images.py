"""Fetched bytes -> a checked, oriented, resized image in the dataset's format, or a reason why not.

The Content-Type a server sends proves nothing, so the bytes are identified by content (Pillow).
Decompression bombs are refused from the header's size before any pixel is decoded, with the
limit passed per call (Pillow's global `Image.MAX_IMAGE_PIXELS` is left alone: other code in
the process may rely on it). JPEGs larger than the target decode at reduced scale (draft mode),
which is most of the speed of a resize. Reasons: `not_an_image`, `decode_error`, `bomb`.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, ImageOps

from filters.dedup.image_hash import UPRIGHT

DEFAULT_PIXEL_LIMIT = 89_478_485  # Pillow's own default MAX_IMAGE_PIXELS
# Downscaling filters. "box" is area averaging (what img2dataset's cv2.INTER_AREA does), about 3x
# faster than "lanczos", which is a little sharper; all of them antialias when shrinking.
RESAMPLING = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_ROTATES = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_ORIENTATION = 0x0112


def _target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down to fit `max_side`, keeping the aspect; never scaled up."""
    longest = max(width, height)
    if max_side <= 0 or longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _for_format(image: Image.Image, fmt: str) -> Image.Image:
    """`image` in a mode the output format can store; transparency goes onto white for JPEG."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "PA", "1"):
        image = ImageOps.autocontrast(image.convert("L")) if image.mode.startswith(("I", "F")) else image
        image = image.convert("RGB")
    if has_alpha:
        image = image.convert("RGBA")
        if fmt == "JPEG":
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            return background
        return image
    return image.convert("RGB") if image.mode != "RGB" else image


def decode_image(
    body: bytes,
    max_side: int,
    image_format: str = "jpg",
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    quality: int = 90,
    resample: str = "box",
) -> tuple[bytes, dict[str, object]] | str:
    """Check, orient, resize (longest side <= `max_side`, filter `resample` from `RESAMPLING`) and
    re-encode `body` as `image_format`.

    Returns `(bytes, facts)` with facts `width`, `height` (output), `original_width`,
    `original_height` (as displayed, EXIF orientation applied), `original_format` (Pillow's
    name), `format` (output) and `sha256` (of the fetched bytes: the same content fetched from two
    URLs has one hash, whatever our encoder settings), or a failure reason string.
    """
    out_format = FORMATS.get(image_format.lower())
    if out_format is None:
        raise ValueError(f"image_format {image_format!r}: choose one of {', '.join(FORMATS)}")
    if resample not in RESAMPLING:
        raise ValueError(f"resample {resample!r}: choose one of {', '.join(RESAMPLING)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body))
    except Image.DecompressionBombError:
        return "bomb"
    except Image.UnidentifiedImageError:
        return "not_an_image"
    except Exception:  # a known format with a broken header: Pillow raises many kinds
        return "decode_error"
    try:
        with image:
            return _convert(image, body, max_side, out_format, pixel_limit, quality, RESAMPLING[resample])
    except Image.DecompressionBombError:
        return "bomb"
    except Exception:  # truncated data, bad tiles, unsupported modes: counted, never raised
        return "decode_error"


def _convert(
    image: Image.Image,
    body: bytes,
    max_side: int,
    out_format: str,
    pixel_limit: int,
    quality: int,
    resample: Image.Resampling,
) -> tuple[bytes, dict[str, object]] | str:
    width, height = image.size
    if width <= 0 or height <= 0:
        return "decode_error"
    if width * height > pixel_limit:
        return "bomb"
    original_format = image.format or "unknown"
    try:
        orientation = int(image.getexif().get(_ORIENTATION, 1))
    except Exception:  # a broken EXIF block costs the orientation, not the image
        orientation = 1
    target = _target_size(width, height, max_side)
    if image.format == "JPEG" and target != (width, height):
        image.draft("RGB", target)  # decode at 1/2, 1/4 or 1/8 scale, still >= target
    image.load()
    if orientation in UPRIGHT:
        # Turned here rather than with ImageOps.exif_transpose, which also rewrites the EXIF block
        # and raises on an entry it cannot write back (an ImageWidth stored as text, say); the
        # output carries no EXIF, so only the pixels need turning.
        try:
            image = image.transpose(UPRIGHT[orientation])
        except Exception:  # the image stays as stored, and so do its recorded sides
            orientation = 1
    image = _for_format(image, out_format)
    if orientation in _ROTATES:
        width, height = height, width
    # The output size comes from the original sides: a JPEG decoded in draft mode has sides rounded
    # up to 1/2, 1/4 or 1/8, and scaling those gave a side one pixel off in about 1 image of 10
    # (bench_fetch compares every output with img2dataset's, which scales the full decode).
    size = _target_size(width, height, max_side)
    if size != image.size:
        image = image.resize(size, resample, reducing_gap=3.0)
    out = io.BytesIO()
    options: dict[str, object] = {"quality": quality} if out_format in ("JPEG", "WEBP") else {}
    image.save(out, format=out_format, **options)
    facts: dict[str, object] = {
        "width": image.width,
        "height": image.height,
        "original_width": width,
        "original_height": height,
        "original_format": original_format,
        "format": out_format.lower().replace("jpeg", "jpg"),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    return out.getvalue(), facts
