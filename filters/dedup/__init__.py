"""Deduplication signatures: MinHash LSH band keys and paragraph keys for text, sha256 and
perceptual hashes with LSH band keys for images. The dedup stages group rows by these keys."""

from filters.dedup.image_hash import band_keys, hamming, phash, sha256_hex
from filters.dedup.minhash import MinHasher, normalize_text, paragraph_key

__all__ = ["MinHasher", "band_keys", "hamming", "normalize_text", "paragraph_key", "phash", "sha256_hex"]
