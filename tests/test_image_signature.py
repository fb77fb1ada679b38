"""Crop-tolerant image signatures: crops found, colours and content on blank canvases told apart,
every image mode decoded, orientation applied, bad bytes refused with a reason; the detail column
survives the key rows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pytest
from datatrove.io import get_datafolder
from PIL import Image

from filters.dedup.image_hash import phash
from filters.dedup.image_signature import (
    DETAIL_BYTES,
    VARIANTS,
    close_pairs,
    content_box,
    image_signature,
    one_blas_thread,
    signature_keys,
)
from pipelines.steps.dedup.dedup_keys import IMAGE_PHASH, KeyRowsWriter, detail_matrix, read_partition
from schemas.config_images import ImageDedupConfig
from tests.dedup_fixtures import banner, cropped, encode, jpeg


def details(signature) -> np.ndarray:
    return np.stack([np.frombuffer(signature.detail(v), dtype=np.uint8) for v in range(VARIANTS)])


DEFAULTS = ImageDedupConfig()


def linked(
    a: bytes,
    b: bytes,
    max_distance: int = DEFAULTS.max_distance,
    colour_tolerance: int = DEFAULTS.colour_tolerance,
    box_distance: int = DEFAULTS.box_distance,
) -> bool:
    """What the grouping stage decides for two images, at the job's default thresholds unless
    given: some crop pair passes ``close_pairs``."""
    sa, sb = image_signature(a), image_signature(b)
    hashes, rows = np.r_[sa.hashes, sb.hashes], np.r_[details(sa), details(sb)]
    i, j = close_pairs(hashes, rows, max_distance, colour_tolerance, box_distance)
    return bool(np.any((i < VARIANTS) != (j < VARIANTS)))


def test_shapes_and_the_uncropped_variant_is_imagededups_phash():
    data = jpeg(7, 480, 360)
    signature = image_signature(data)
    assert signature.hashes.shape == (VARIANTS,) and signature.hashes.dtype == np.uint64
    assert signature.colours.shape == (VARIANTS, 32) and signature.colours.dtype == np.uint8
    assert signature.box == 0  # a picture that fills its frame has no content box
    assert len(signature.detail(3)) == DETAIL_BYTES
    assert (int(signature.hashes[0]) ^ phash(data)).bit_count() <= 2
    assert len(set(signature.hashes.tolist())) > 1  # the crops do hash differently


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("box", [(0.04, 0, 0, 0.05), (0.05, 0.05, 0, 0), (0, 0.03, 0.05, 0.05), (0.02,) * 4])
def test_copies_cropped_up_to_5_percent_a_side_are_linked(seed, box):
    original = jpeg(seed, 480, 360)
    assert linked(original, cropped(original, box))


def test_different_pictures_are_not_linked():
    assert not any(linked(jpeg(a, 480, 360), jpeg(b, 480, 360)) for a, b in [(1, 2), (3, 4), (5, 6)])


def test_same_luma_other_colours_are_told_apart():
    """Two pictures with equal luma everywhere but other hues (what pie charts with other slices
    look like in grayscale): the hashes agree, the chroma thumbnails do not."""
    rng = np.random.default_rng(0)
    luma = np.kron(rng.integers(60, 200, (6, 8)), np.ones((60, 60))).astype(np.uint8)  # [360, 480]
    cb = np.kron(rng.integers(60, 200, (6, 8)), np.ones((60, 60))).astype(np.uint8)
    one = Image.merge("YCbCr", [Image.fromarray(c) for c in (luma, cb, 255 - cb)]).convert("RGB")
    two = Image.merge("YCbCr", [Image.fromarray(c) for c in (luma, 255 - cb, cb)]).convert("RGB")
    a, b = encode(one, quality=90), encode(two, quality=90)
    sa, sb = image_signature(a), image_signature(b)
    assert (int(sa.hashes[0]) ^ int(sb.hashes[0])).bit_count() <= 4
    assert not linked(a, b)
    assert linked(a, encode(one, quality=40))


def test_content_on_a_blank_canvas_is_compared_by_its_box():
    """Two banners that differ only in their words hash alike as wholes; their content boxes do
    not. A copy of one (cropped 4% a side, resized, re-encoded) keeps its box and stays linked."""
    one, two = banner("Doctors Bus Students Minister"), banner("Council Farmers Mayor Players")
    a, b = encode(one, quality=90), encode(two, quality=90)
    sa, sb = image_signature(a), image_signature(b)
    assert sa.box and sb.box
    assert np.bitwise_count(sa.hashes[:, None] ^ sb.hashes[None, :]).min() <= 6  # the crops can't tell
    assert (sa.box ^ sb.box).bit_count() > DEFAULTS.box_distance
    assert not linked(a, b)
    assert linked(a, b, box_distance=64)  # without the box check they would be linked
    assert linked(a, cropped(a, (0.04, 0.04, 0.04, 0.04), scale=0.7, quality=50))


def test_content_box_ignores_specks_and_full_pictures():
    canvas = np.full((200, 300, 3), (235, 128, 128), dtype=np.uint8)
    canvas[80:120, 50:250] = (40, 128, 128)
    canvas[5, 5] = canvas[190, 290] = (0, 255, 0)  # painted specks
    box = content_box(canvas)  # the trim takes 1% of the content pixels off each side
    assert box is not None and np.allclose(box, (80, 120, 50, 250), atol=3)
    canvas[20:180, 20:280] = (40, 128, 128)
    assert content_box(canvas) is None  # content covers most of the picture
    assert content_box(np.full((50, 50, 3), 128, dtype=np.uint8)) is None  # nothing at all


def test_exif_orientation_is_applied():
    base = Image.open(io.BytesIO(jpeg(9, 480, 360)))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    tagged = encode(base, quality=90, exif=exif)
    upright = encode(base.transpose(Image.Transpose.ROTATE_270), quality=90)
    assert (int(image_signature(tagged).hashes[0]) ^ int(image_signature(upright).hashes[0])).bit_count() <= 2


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "I", "F", "CMYK", "1"])
def test_every_mode_gives_a_signature(mode):
    rgb = Image.open(io.BytesIO(jpeg(11, 300, 200))).convert("RGB")
    if mode in ("I;16", "I", "F"):
        image = Image.fromarray((np.asarray(rgb.convert("L"), dtype=np.uint16) * 200).astype(np.uint16))
        image = image if mode == "I;16" else image.convert(mode)
        data = encode(image, "TIFF")
    else:
        data = encode(rgb.convert(mode), "PNG" if mode != "CMYK" else "JPEG")
    signature = image_signature(data)
    assert signature.hashes.shape == (VARIANTS,)


def test_large_non_jpeg_images_are_reduced_first():
    big = Image.open(io.BytesIO(jpeg(12, 480, 360))).resize((3000, 2250))
    small = encode(big, "PNG")
    assert (
        int(image_signature(small).hashes[0]) ^ int(image_signature(jpeg(12, 480, 360)).hashes[0])
    ).bit_count() <= 4


@pytest.mark.parametrize("data", [b"", b"not an image", jpeg(1)[:200]])
def test_undecodable_bytes_raise_value_error(data):
    with pytest.raises(ValueError, match="image signature: cannot decode image"):
        image_signature(data)


def test_signature_keys_guarantee_candidates_within_band_distance():
    signature = image_signature(jpeg(3, 480, 360))
    rows = signature_keys(signature, 2)
    assert len(rows) <= VARIANTS * 6
    assert len({(key, int(signature.hashes[v])) for key, v in rows}) == len(rows)  # each pair once
    value = int(signature.hashes[5])
    flipped = value ^ 0b11 << 40  # two bits off: shares a band key with variant 5
    other = signature._replace(hashes=np.full(VARIANTS, flipped, dtype=np.uint64))
    assert {k for k, v in rows if v == 5} & {k for k, _ in signature_keys(other, 2)}


def test_detail_column_round_trips_through_key_rows(tmp_path: Path):
    folder = get_datafolder(str(tmp_path))
    writer = KeyRowsWriter(folder, partitions=2, rank=0, flush_rows=3)  # several row groups
    rows = np.random.default_rng(1).integers(0, 256, (10, DETAIL_BYTES), dtype=np.uint8)
    for i in range(10):
        writer.add(IMAGE_PHASH, 2 * i, ref=i, value=i, detail=rows[i].tobytes())
    writer.add(1, 100, ref=99)  # another kind: no detail
    writer.close()
    table = read_partition(folder, 0)
    assert len(table) == 11
    assert table.column("detail").to_pylist()[-1] == b""
    phash_rows = table.filter(pa.compute.equal(table.column("kind"), IMAGE_PHASH))
    got = detail_matrix(phash_rows.column("detail"))
    assert np.array_equal(got, rows[phash_rows.column("ref").to_numpy()])
    with pytest.raises(ValueError, match="detail values must have"):
        detail_matrix(table.column("detail"))


def test_one_blas_thread_limits_blas_while_signing():
    from threadpoolctl import threadpool_info

    with one_blas_thread():
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and set(blas) == {1}  # numpy's OpenBLAS is loaded, and held to one thread
        assert image_signature(jpeg(2)).hashes.shape == (VARIANTS,)
