"""`fetch.local_web`: a job over the demo corpus fetches its images from an in-process local web.

The demo corpus (`synth.demo.corpus`) points at fictional hosts under the names RFC 2606 reserves
for documentation (``*.example``, ``example.org`` / ``.com`` / ``.net``); `vlmdata demo` answers
them from `synth.demo.local_web`. With ``fetch.local_web=true`` any job does the same for the length of
its run, so the per-job make targets work on what ``make demo`` wrote. Only reserved names are
mapped: a real host in the same run is fetched from the network as usual.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from schemas.config import ConfigError, JobConfig

# RFC 2606 section 3: example.com, example.net, example.org, and the TLD .example
RESERVED_HOSTS = (
    "*.example",
    "example.com",
    "*.example.com",
    "example.net",
    "*.example.net",
    "example.org",
    "*.example.org",
)


@contextlib.contextmanager
def local_web_for(cfg: JobConfig) -> Iterator[int | None]:
    """While the block runs, a local web answers the reserved hosts of `cfg`'s fetches when
    ``cfg.fetch.local_web`` is set (yields its port; None when nothing was started)."""
    fetch = getattr(cfg, "fetch", None)
    if fetch is None or not fetch.local_web:
        yield None
        return
    if cfg.executor.kind == "slurm" or (
        cfg.executor.kind == "ray" and (cfg.executor.ray_address or os.environ.get("RAY_ADDRESS"))
    ):
        raise ConfigError(
            "fetch.local_web serves the demo's hosts from this machine: run with executor.kind=local "
            "or the embedded Ray (no ray_address), or set fetch.local_web=false"
        )
    from synth.demo.local_web import LocalWeb

    with LocalWeb() as web:
        fetch.resolver_override = {
            **dict.fromkeys(RESERVED_HOSTS, f"127.0.0.1:{web.port}"),
            **fetch.resolver_override,
        }
        fetch.override_plain_http = True  # the local web speaks no TLS
        yield web.port
