"""Bytes -> text for crawled pages: undo the HTTP transfer and content encodings
(``http_payload``), then find the charset the way a browser would and decode (``decode_html``).

Order (WHATWG "encoding sniffing", simplified): a byte-order mark, the charset declared in the
HTTP ``Content-Type`` header, a ``<meta>`` declaration in the first 4 KB, valid UTF-8, detection
(charset-normalizer), and last UTF-8 with replacement characters. A BOM comes first because it
is a fact about the bytes, while a header is often a server default that contradicts them
(browsers do the same). A declared charset that Python does not know, or that fails on more than
a stray byte or two (``DECLARED_TOLERANCE``), is passed over rather than trusted into mojibake.
Labels are mapped as browsers map them (``iso-8859-1`` and ``ascii`` mean windows-1252).
"""

from __future__ import annotations

import codecs
import io
import re

import charset_normalizer
from warcio.bufferedreaders import BufferedReader, ChunkedDataException, ChunkedDataReader

META_SCAN_BYTES = 4096
DECLARED_TOLERANCE = 0.001  # share of undecodable characters a declared charset may replace
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:+-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^\s;"']+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# WHATWG Encoding Standard: labels browsers decode with a superset (Python codec names as keys)
_WHATWG = {
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}
# Python codecs that are not web charsets (and would turn markup into something else)
_NOT_CHARSETS = {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "utf-7"}


def http_payload(
    raw: bytes, content_encoding: str | None, transfer_encoding: str | None
) -> tuple[bytes, bool]:
    """The HTTP body de-chunked and decompressed, and whether its chunked encoding was broken
    (then warcio's best guess is used: the rest is read as not chunked, or stops where data does)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding not in BufferedReader.get_supported_decompressors():
        encoding = None  # unknown (or identity): the bytes as they are
    if (transfer_encoding or "").strip().lower() == "chunked":
        try:
            return ChunkedDataReader(
                io.BytesIO(raw), raise_exceptions=True, decomp_type=encoding
            ).read(), False
        except ChunkedDataException:
            return ChunkedDataReader(io.BytesIO(raw), decomp_type=encoding).read(), True
    if encoding:
        return BufferedReader(io.BytesIO(raw), decomp_type=encoding).read(), False
    return raw, False


def canonical_charset(label: str | bytes | None, from_meta: bool = False) -> str | None:
    """Python codec name a browser would use for ``label``; None when it names no known charset."""
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().strip("\"'"))
    except LookupError:
        return None
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        return None
    name = _WHATWG.get(info.name, info.name)
    if from_meta and name.startswith("utf-16"):
        return "utf-8"  # a meta tag readable as ASCII cannot be UTF-16 (WHATWG)
    return name


def _try_decode(body: bytes, charset: str | None, tolerance: float = 0.0) -> str | None:
    if charset is None:
        return None
    try:
        return body.decode(charset)
    except LookupError:
        return None
    except UnicodeDecodeError:
        text = body.decode(charset, errors="replace") if tolerance else ""
        return text if text and text.count("\ufffd") <= tolerance * len(text) else None


def decode_html(body: bytes, http_content_type: str | None) -> tuple[str, str]:
    """Decode a page body; returns ``(text, charset)`` with the Python codec name that was used.

    Never raises: when nothing fits, the body is decoded as UTF-8 with replacement characters
    (callers may treat a text full of U+FFFD as undecodable).
    """
    for bom, charset in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(charset, errors="replace"), charset
    declared = _HEADER_CHARSET.search(http_content_type or "")
    charset = canonical_charset(declared.group(1)) if declared else None
    if (text := _try_decode(body, charset, DECLARED_TOLERANCE)) is not None:
        return text, charset
    meta = _META_CHARSET.search(body[:META_SCAN_BYTES])
    charset = canonical_charset(meta.group(1), from_meta=True) if meta else None
    if (text := _try_decode(body, charset, DECLARED_TOLERANCE)) is not None:
        return text, charset
    # valid UTF-8 (ASCII included) is what it looks like; detection is slow and can only disagree
    if (text := _try_decode(body, "utf-8")) is not None:
        return text, "utf-8"
    matches = charset_normalizer.from_bytes(body)
    best = matches.best()
    if best is not None:
        # among equally good guesses prefer windows-1252, the fallback browsers use for most locales
        tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
        best = next((m for m in tied if "cp1252" in m.could_be_from_charset), best)
        for charset in (canonical_charset(best.encoding), best.encoding):
            if (text := _try_decode(body, charset)) is not None:
                return text, codecs.lookup(charset).name
    return body.decode("utf-8", errors="replace"), "utf-8"
