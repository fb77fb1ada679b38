"""Near-duplicate text keys: MinHash LSH band keys and paragraph keys.

The signature follows datatrove's ``MinhashDedupSignature`` (``pipeline/dedup/minhash.py``):
word n-gram shingles of normalised text hashed to uint64, ``bands * rows`` permutations
``(a * x + b) mod (2**61 - 1)`` drawn from ``np.random.RandomState(seed)``, the minimum per
permutation. Instead of writing sorted signature files per bucket, each band becomes one int key
(band index mixed in), so that the dedup stages can hash-partition plain rows: two documents
with an equal key are LSH candidates. With ``b`` bands of ``r`` rows, documents of Jaccard
similarity ``s`` share a key with probability ``1 - (1 - s**r)**b`` (14 x 8: 0.92 at s=0.8,
0.28 at s=0.6; the threshold is about ``(1/b)**(1/r)`` = 0.72).

Every hash here is stable across processes, machines and Python versions (blake2b and fixed
integer mixing, never Python's ``hash()``): keys computed by different workers must agree.
"""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np

MERSENNE_PRIME = np.uint64((1 << 61) - 1)
MASK63 = (1 << 63) - 1


class _FoldTable(dict):
    """``str.translate`` table filled on first sight of each character: decimal digits of any
    script -> "0"; punctuation, symbols, separators and controls (``_`` included) -> space."""

    def __missing__(self, cp: int) -> int:
        cat = unicodedata.category(chr(cp))
        value = 48 if cat == "Nd" else 32 if cat[0] in "PSZC" else cp
        self[cp] = value
        return value


_FOLD = _FoldTable()  # a memo of a pure function of the character, shared by every call


def normalize_text(text: str) -> str:
    """Text as dedup compares it: NFKC, lower case, every digit folded to ``0`` ("2024" ->
    "0000"), punctuation and symbols removed, whitespace collapsed to single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().translate(_FOLD).split())


def stable_hash64(data: bytes, salt: bytes = b"") -> int:
    """A uint64 of ``data`` that every machine computes alike (blake2b, 8 bytes, little endian)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, salt=salt).digest(), "little")


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64 (a bijection that spreads every bit)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _mod_mersenne(x: np.ndarray) -> np.ndarray:
    """``x % (2**61 - 1)`` in place for uint64 without a division: 2**61 = 1 (mod p)."""
    high = x >> np.uint64(61)
    x &= MERSENNE_PRIME
    x += high
    np.subtract(x, MERSENNE_PRIME, out=x, where=x >= MERSENNE_PRIME)
    return x


def paragraph_key(domain: str, paragraph: str) -> int:
    """Key of a paragraph within a domain (< 2**63): equal for paragraphs that normalise alike."""
    data = domain.strip().lower().encode() + b"\0" + normalize_text(paragraph).encode()
    return stable_hash64(data, salt=b"paragraph") & MASK63


class MinHasher:
    """MinHash signatures and LSH band keys of word ``ngram`` shingles (datatrove's defaults)."""

    def __init__(self, ngram: int = 5, bands: int = 14, rows: int = 8, seed: int = 1) -> None:
        if ngram < 1 or bands < 1 or rows < 1:
            raise ValueError(f"MinHasher(ngram={ngram}, bands={bands}, rows={rows}): all must be >= 1")
        self.ngram, self.bands, self.rows, self.seed = ngram, bands, rows, seed
        gen = np.random.RandomState(seed)  # datatrove's parameters for the same seed
        n = bands * rows
        self._a = gen.randint(1, MERSENNE_PRIME, dtype=np.uint64, size=(1, n))
        self._b = gen.randint(0, MERSENNE_PRIME, dtype=np.uint64, size=(1, n))
        self._band_ids = mix64(np.arange(bands, dtype=np.uint64) + np.uint64(stable_hash64(b"%d" % seed)))

    def __repr__(self) -> str:
        return f"MinHasher(ngram={self.ngram}, bands={self.bands}, rows={self.rows}, seed={self.seed})"

    def shingles(self, text: str) -> np.ndarray:
        """Distinct uint64 hashes of the word n-grams of ``normalize_text(text)``; a text shorter
        than ``ngram`` words is one shingle; no words, no shingles."""
        words = normalize_text(text).split()
        if not words:
            return np.empty(0, dtype=np.uint64)
        vocab = {w: stable_hash64(w.encode()) for w in set(words)}  # each distinct word hashed once
        ids = np.fromiter((vocab[w] for w in words), dtype=np.uint64, count=len(words))
        n = min(self.ngram, len(words))
        acc = np.full(len(words) - n + 1, n, dtype=np.uint64)
        for j in range(n):  # order-sensitive fold of the n word hashes of each window
            acc = mix64(acc ^ ids[j : len(words) - n + 1 + j])
        return np.unique(acc)

    def signature(self, text: str) -> np.ndarray:
        """The ``bands * rows`` minimum hashes (uint64, each < 2**61); empty when no words."""
        shingles = self.shingles(text)
        if shingles.size == 0:
            return np.empty(0, dtype=np.uint64)
        with np.errstate(over="ignore"):  # wraps at 2**64 before the modulo, as datatrove does
            phv = shingles[:, None] * self._a  # [shingles, bands * rows]
            phv += self._b
        return _mod_mersenne(phv).min(axis=0)

    def band_keys(self, text: str) -> list[int]:
        """One key per band (ints < 2**63, band index mixed in): two texts with an equal key
        agree on every row of that band. Empty list when the text has no words."""
        sig = self.signature(text)
        if sig.size == 0:
            return []
        acc = self._band_ids
        for row in sig.reshape(self.bands, self.rows).T:  # [rows, bands]
            acc = mix64(acc ^ row)
        return (acc >> np.uint64(1)).tolist()
