"""Dedup signatures: MinHash band keys, paragraph keys, perceptual hashes and their band keys."""

from __future__ import annotations

import io
import random
from math import comb

import numpy as np
import pytest
from PIL import Image

from filters.dedup import MinHasher, band_keys, hamming, normalize_text, paragraph_key, phash, sha256_hex
from filters.dedup.image_hash import BLOCKS_FOR_DISTANCE, band_layout
from tests import corpora

IMAGES = corpora.path("pillow")

ARTICLE = (
    "The city council of Bremen approved a new bridge over the river on Tuesday after months of "
    "debate. The mayor said the bridge would cost about twelve million euros and take three years "
    "to build. Residents near the old harbour welcomed the plan, but some shop owners worry about "
    "the noise and the traffic during construction. The council will publish the full report next "
    "week, and a public meeting is planned at the town library for everyone who wants to comment. "
    "Engineers expect the first foundations to be laid in the spring, weather permitting."
)
OTHER = (
    "A small museum in Lyon opened an exhibition of medieval maps on Saturday. The curator explained "
    "how sailors used the charts to cross the sea, and children could draw their own maps in a "
    "workshop. Tickets are free for students, and the exhibition runs until the end of the summer. "
    "Volunteers guide visitors through the rooms every afternoon and answer questions in three languages."
)


def jpeg(image: Image.Image, quality: int = 90, exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, **({"exif": exif} if exif else {}))
    return out.getvalue()


# ---------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello,   World!", "hello world"),
        ("  The year 2024-05-01\n\tends. ", "the year 0000 00 00 ends"),
        ("Ｆｕｌｌ　ｗｉｄｔｈ", "full width"),  # NFKC
        ("Café — naïve «quotes» snake_case", "café naïve quotes snake case"),
        ("emoji 😀 and ① ٣", "emoji and 0 0"),
        ("हिन्दी पाठ", "हिन्दी पाठ"),  # combining marks stay inside words
        ("...!?", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_minhash_identical_texts_equal_and_normalised_alike() -> None:
    hasher = MinHasher()
    keys = hasher.band_keys(ARTICLE)
    assert len(keys) == 14 and len(set(keys)) == 14
    assert all(isinstance(k, int) and 0 <= k < 2**63 for k in keys)
    assert hasher.band_keys(ARTICLE) == keys
    assert MinHasher().band_keys(ARTICLE.upper().replace(" ", "  ")) == keys  # same after normalize_text
    assert hasher.signature(ARTICLE).shape == (112,)


def test_minhash_key_is_stable() -> None:
    # A change of shingling, hashing or permutations changes this value: that breaks every index
    # built before it, so change it only on purpose.
    assert MinHasher().band_keys(ARTICLE)[0] == 7745339242313670693


def test_minhash_small_edit_shares_a_band() -> None:
    edited = ARTICLE.replace("twelve million", "eleven million").replace("the spring", "spring")
    hasher = MinHasher()
    assert set(hasher.band_keys(ARTICLE)) & set(hasher.band_keys(edited))


def test_minhash_distinct_texts_share_no_band() -> None:
    hasher = MinHasher()
    same_topic = ARTICLE.replace("Bremen", "Ghent").replace("bridge", "tunnel").replace("river", "canal")
    same_topic = same_topic.replace("harbour", "station").replace("library", "school")
    assert not set(hasher.band_keys(ARTICLE)) & set(hasher.band_keys(OTHER))
    assert not set(hasher.band_keys(ARTICLE)) & set(hasher.band_keys(same_topic))


def test_minhash_short_and_empty_texts() -> None:
    hasher = MinHasher(ngram=5, bands=4, rows=2)
    assert hasher.band_keys("") == [] and hasher.band_keys(" ... !! ") == []
    short = hasher.band_keys("two words")
    assert len(short) == 4 and short == hasher.band_keys("Two, words!")
    assert short != hasher.band_keys("words two")
    assert MinHasher(seed=2).band_keys("two words") != MinHasher(seed=1).band_keys("two words")


def test_paragraph_key() -> None:
    key = paragraph_key("example.org", "Subscribe to our newsletter!")
    assert key == paragraph_key("Example.ORG", "subscribe to our  newsletter")
    assert key != paragraph_key("example.com", "Subscribe to our newsletter!")
    assert key != paragraph_key("example.org", "Subscribe to our podcast!")
    assert 0 <= key < 2**63


# ---------------------------------------------------------------- images


@pytest.mark.corpus("pillow")
def test_phash_matches_imagededup_and_is_stable() -> None:
    # imagededup 0.3.3's PHash().encode_image gives "8c977c0983cf9e8d" for this file
    assert phash((IMAGES / "hopper.jpg").read_bytes()) == 0x8C977C0983CF9E8D


@pytest.mark.corpus("pillow")
def test_phash_same_image_reencoded_or_resized_is_close() -> None:
    image = Image.open(IMAGES / "flower.jpg").convert("RGB")
    h = phash(jpeg(image, 95))
    assert hamming(h, phash(jpeg(image, 30))) <= 4
    assert hamming(h, phash(jpeg(image.resize((image.width // 2, image.height // 2)), 80))) <= 4
    assert hamming(h, phash(jpeg(image.resize((image.width * 2, image.height * 2)), 80))) <= 4
    png = io.BytesIO()
    image.save(png, "PNG")
    assert hamming(h, phash(png.getvalue())) <= 4


@pytest.mark.corpus("pillow")
def test_phash_different_images_are_far() -> None:
    names = ["hopper.jpg", "flower.jpg", "flower2.jpg"]
    hashes = [phash((IMAGES / name).read_bytes()) for name in names]
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            assert hamming(hashes[i], hashes[j]) > 16, (names[i], names[j])


@pytest.mark.corpus("pillow")
@pytest.mark.parametrize(
    ("orientation", "transpose"),
    [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_270), (8, Image.Transpose.ROTATE_90)]
    + [(2, Image.Transpose.FLIP_LEFT_RIGHT), (5, Image.Transpose.TRANSPOSE), (7, Image.Transpose.TRANSVERSE)],
)
def test_phash_applies_exif_orientation(orientation: int, transpose: Image.Transpose) -> None:
    image = Image.open(IMAGES / "hopper.jpg").convert("RGB").resize((300, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = phash(jpeg(image, exif=exif.tobytes()))
    assert tagged == phash(jpeg(image.transpose(transpose)))
    assert hamming(tagged, phash(jpeg(image))) > 16


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\xff\xd8\xff\xe0" + b"\0" * 64],
    ids=["empty", "text", "jpeg-header-only"],
)
def test_phash_undecodable_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="phash: cannot decode image"):
        phash(data)


@pytest.mark.corpus("pillow")
def test_phash_truncated_file_raises_value_error() -> None:
    data = (IMAGES / "flower.jpg").read_bytes()
    with pytest.raises(ValueError, match="truncated"):
        phash(data[: len(data) // 2])


@pytest.mark.corpus("pillow")
def test_phash_other_modes() -> None:
    for name in ["hopper.bmp", "1_trns.png", "16_bit_binary_pgm.tiff", "hopper.webp"]:
        if (IMAGES / name).exists():
            assert 0 <= phash((IMAGES / name).read_bytes()) < 2**64


def test_hamming_and_sha256() -> None:
    assert hamming(0, 0) == 0 and hamming(0, 2**64 - 1) == 64 and hamming(0b1011, 0b0110) == 3
    assert sha256_hex(b"abc").startswith("ba7816bf")


def flip(h: int, bits: int, rng: random.Random) -> int:
    for bit in rng.sample(range(64), bits):
        h ^= 1 << bit
    return h


@pytest.mark.parametrize("k", sorted(BLOCKS_FOR_DISTANCE))
def test_band_keys_guarantee_at_distance_exactly_k(k: int) -> None:
    rng = random.Random(k)
    b = BLOCKS_FOR_DISTANCE[k]
    for _ in range(300):
        h = rng.getrandbits(64)
        other = flip(h, k, rng)
        assert hamming(h, other) == k
        keys = band_keys(h, k)
        assert len(keys) == comb(b, k) and all(0 <= key < 2**63 for key in keys)
        assert set(keys) & set(band_keys(other, k))


def key_bits(k: int) -> np.ndarray:
    """Bits of each key of ``band_keys(., k)``: the widths of its blocks added up."""
    _, masks, combos, _ = band_layout(k)
    return np.array([int(m).bit_length() for m in masks])[combos].sum(axis=1)


@pytest.mark.parametrize("k", sorted(BLOCKS_FOR_DISTANCE))
def test_band_keys_have_at_least_16_bits(k: int) -> None:
    assert key_bits(k).min() >= 16


@pytest.mark.parametrize("k", [4, 6, 8])
def test_band_keys_collide_on_unrelated_hashes_as_their_bits_predict(k: int) -> None:
    rng = random.Random(k)
    hashes = [rng.getrandbits(64) for _ in range(2000)]
    groups: dict[int, list[int]] = {}
    for i, h in enumerate(hashes):
        for key in band_keys(h, k):
            groups.setdefault(key, []).append(i)
    pairs = {(a, b) for members in groups.values() for a in members for b in members if a < b}
    expected = len(hashes) * (len(hashes) - 1) / 2 * (2.0 ** -key_bits(k)).sum()  # 0.04, 60, 2000
    assert len(pairs) <= 1.3 * expected + 3, (k, len(pairs), expected)
    assert len(set(band_keys(0, k))) == len(band_keys(0, k))  # the combination index is mixed in


def test_band_keys_unsupported_distance() -> None:
    with pytest.raises(ValueError, match="max_distance=40"):
        band_keys(0, 40)


@pytest.mark.corpus("pillow")
def test_phash_bits_are_balanced() -> None:
    # 63 AC coefficients against their median: 32 set, plus the DC bit
    h = phash((IMAGES / "hopper.jpg").read_bytes())
    assert bin(h).count("1") == 33
    assert np.uint64(h) == h
