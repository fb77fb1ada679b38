"""Helpers of the fetcher tests: a fast config aimed at the local web server, an extra tiny server."""

from __future__ import annotations

import contextlib
import socket

from aiohttp import web

from pipelines.fetch import FetchConfig
from synth.demo.local_web import LocalWeb

PUBLIC_IP = "93.184.216.34"  # only ever returned by a stub lookup; never connected to


def config(server: LocalWeb, **changes) -> FetchConfig:
    """A fast config sending every host to the local server."""
    base = dict(
        resolver_override=server.resolver_override(),
        connect_timeout=2.0,
        total_timeout=5.0,
        deadline=20.0,
        max_bytes=200_000,
        max_attempts=3,
        backoff_base=0.02,
        retry_after_max=5.0,
    )
    base.update(changes)
    return FetchConfig(**base)


@contextlib.asynccontextmanager
async def tiny_server(handler):
    """An extra aiohttp server on 127.0.0.1 in the running loop, for what LocalWeb cannot do."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    runner = web.ServerRunner(web.Server(handler), shutdown_timeout=0.25)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield sock.getsockname()[1]
    finally:
        await runner.cleanup()
        sock.close()
