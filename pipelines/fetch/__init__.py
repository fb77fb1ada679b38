"""Image fetching as a library: an SSRF-safe resolver, a bounded aiohttp fetcher, image decoding.

The fetch stage (issue 5) wires these into jobs; nothing here knows about documents.
"""

from pipelines.fetch.client import FetchConfig, Fetcher, FetchResult, fetch_all
from pipelines.fetch.images import decode_image
from pipelines.fetch.resolver import AddressPolicy, DnsError, RefusedAddress, Resolver

__all__ = [
    "AddressPolicy",
    "DnsError",
    "FetchConfig",
    "FetchResult",
    "Fetcher",
    "RefusedAddress",
    "Resolver",
    "decode_image",
    "fetch_all",
]
