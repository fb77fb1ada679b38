"""Image fetching as a library: an SSRF-safe resolver, a bounded polite aiohttp fetcher, image decoding.

The fetch stage (issue 5) wires these into jobs; nothing here knows about documents. Every way a
URL can fail is one of `FAILURE_REASONS` (or ``http_<status>``), listed in `reasons`.
"""

from pipelines.fetch.client import FetchConfig, Fetcher, FetchResult, fetch_all
from pipelines.fetch.images import decode_image
from pipelines.fetch.politeness import HostPacer, OptOutList, RobotsRules, noai_in
from pipelines.fetch.reasons import FAILURE_REASONS, is_failure_reason
from pipelines.fetch.resolver import AddressPolicy, DnsError, RefusedAddress, Resolver

__all__ = [
    "FAILURE_REASONS",
    "AddressPolicy",
    "DnsError",
    "FetchConfig",
    "FetchResult",
    "Fetcher",
    "HostPacer",
    "OptOutList",
    "RefusedAddress",
    "Resolver",
    "RobotsRules",
    "decode_image",
    "fetch_all",
    "is_failure_reason",
    "noai_in",
]
