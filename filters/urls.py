"""URL helpers shared by dedup, blocklists and other URL rules: one definition of how URLs are
compared, which host they name and which list files hold them."""

from __future__ import annotations

from urllib.parse import urlsplit

import fsspec


def normalize_url(url: str) -> str:
    """The form in which URLs are compared: scheme and host lower-cased, default port and fragment
    removed; the path and query stay as they are."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}{'?' + parts.query if parts.query else ''}"


def url_host(url: str) -> str:
    """The URL's host name, lower case ("" when it has none or does not parse)."""
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def domain_of(url: str) -> str:
    """The URL's host without a leading ``www.``: the domain paragraphs are counted in."""
    return url_host(url).removeprefix("www.")


def read_list(path: str) -> list[str]:
    """Entries of a list file (local or fsspec): one a line, blank lines and ``#`` comments skipped."""
    try:
        with fsspec.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: list file not found (one entry a line)") from None
    return [entry for line in lines if (entry := line.split("#", 1)[0].strip())]
