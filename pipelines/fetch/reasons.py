"""The failure reasons of fetching one image URL, in one place: the fetch stage counts each as
``failed_<reason>`` and the join stage as ``images_dropped_fetch_<reason>``.

Network (``client.Fetcher``):
    ``timeout``            a request or the URL's deadline (straggler cut-off) ran out
    ``dns``                the host has no address
    ``refused_address``    the host resolves to a private/loopback/link-local/... address (SSRF)
    ``scheme``             not http(s), also as a redirect target
    ``invalid_url``        the URL (or a redirect's Location) does not parse
    ``connection``         refused or reset connections, after retries
    ``http_<status>``      a final non-2xx status, exactly as sent (``http_404``, ``http_503``, ...)
    ``too_large``          the body is over ``max_bytes``
    ``truncated``          the body ended short of its Content-Length
    ``too_many_redirects`` more than ``max_redirects`` hops
Politeness (``politeness``):
    ``robots``             the host's robots.txt disallows the URL for our user agent (or could
                           not be fetched: RFC 9309 then means "disallow all")
    ``noai``               the response carried ``X-Robots-Tag: noai`` / ``noimageai``
    ``opt_out``            the URL or its domain is on the run's opt-out list (never requested)
Decoding (``images.decode_image``):
    ``not_an_image``       Pillow does not recognise the bytes (the Content-Type is not trusted)
    ``decode_error``       a known format that does not decode
    ``bomb``               more pixels than the limit (decompression bomb)
"""

from __future__ import annotations

import re

FAILURE_REASONS = (
    "timeout",
    "dns",
    "refused_address",
    "scheme",
    "invalid_url",
    "connection",
    "too_large",
    "truncated",
    "too_many_redirects",
    "robots",
    "noai",
    "opt_out",
    "not_an_image",
    "decode_error",
    "bomb",
)
HTTP_REASON = re.compile(r"http_[1-5][0-9][0-9]")


def http_reason(status: int) -> str:
    """The reason a final non-2xx `status` is counted under, e.g. ``http_404``."""
    return f"http_{status}"


def is_failure_reason(reason: str) -> bool:
    """Whether `reason` is one the fetch stage may emit: a name above or ``http_<status>``."""
    return reason in FAILURE_REASONS or HTTP_REASON.fullmatch(reason) is not None
