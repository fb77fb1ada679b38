"""Token counts of texts: a ``tokenizer.json`` when one is given, else a word-based estimate.

Its own module (it was in ``filters.page_filters``) so that the instruction imports count tokens
without importing PyMuPDF, which alone adds ~130 MB to a process.
"""

from __future__ import annotations

import math
from functools import cache

TOKENS_PER_WORD = 1.5
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """The documented word-based token estimate (see the module docstring)."""
    return max(math.ceil(TOKENS_PER_WORD * len(text.split())), math.ceil(len(text) / CHARS_PER_TOKEN))


@cache
def _tokenizer(path: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def count_tokens(text: str, tokenizer: str | None) -> int:
    """Tokens of ``text``: by the tokenizer file when given, else ``estimate_tokens``."""
    if tokenizer is None:
        return estimate_tokens(text)
    return len(_tokenizer(tokenizer).encode(text, add_special_tokens=False).ids)
