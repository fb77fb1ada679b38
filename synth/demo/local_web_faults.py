"""The faults the local web server (`synth.demo.local_web`) can inject, and how each one misbehaves.

A fault is picked per URL, by a rule `(fnmatch pattern on "host/path", fault)` or by the query
parameter `?fault=NAME`. Each one imitates a way real servers break a fetcher: slow or endless
bodies, error codes, rate limits that clear after a few tries, dropped connections, lying
headers, redirect loops and AI opt-out headers (any X-Robots-Tag value via `tag`). Kept apart from the server so the list of
misbehaviours reads in one place.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, fields

from aiohttp import web

FAULTS = (
    "slow",
    "404",
    "429",
    "500",
    "503",
    "reset",
    "wrong_type",
    "oversized",
    "endless",
    "truncated",
    "redirect_loop",
    "redirect",
    "wrong_length",
    "noai",
    "noimageai",
)
REDIRECTED_PREFIX = "/redirected"  # where `redirect` sends a path; never redirected again
LOOP_PARAM = "loop"  # toggled by `redirect_loop` to make the cycle a -> b -> a
_STREAM_CHUNK = 64 * 1024
_PADDING = bytes(_STREAM_CHUNK)


@dataclass(frozen=True)
class Fault:
    """One fault and its knobs; only the knobs of the named fault are used."""

    name: str
    chunk: int = 256  # slow: bytes per write
    delay: float = 0.05  # slow: seconds between writes
    retry_after: int = 1  # 429: value of the Retry-After header, seconds
    succeed_after: int = 1  # 429: how many hits of one URL get a 429 before it succeeds
    size: int = 50 * 1024 * 1024  # oversized: body size in bytes
    extra: int = 1024  # wrong_length: bytes announced beyond the body
    tag: str = ""  # noai, noimageai: the X-Robots-Tag value sent instead of the name, e.g. "vlmdata: noai"
    to: str = ""  # redirect: the Location to send (any URL, another host too) instead of /redirected/...

    def __post_init__(self) -> None:
        if self.name not in FAULTS:
            raise ValueError(f"unknown fault {self.name!r}; choose one of: {', '.join(FAULTS)}")
        if self.chunk < 1 or self.delay < 0 or self.size < 0 or self.succeed_after < 0:
            raise ValueError(f"fault {self.name!r}: chunk must be >= 1, delay, size, succeed_after >= 0")

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Fault | None:
        """The fault a URL asks for with `?fault=NAME` (knobs as more parameters, e.g. `&delay=0.01`)."""
        name = query.get("fault")
        if name is None:
            return None
        knobs = {}
        for field in fields(cls):
            if field.name != "name" and field.name in query:
                cast = {"delay": float, "tag": str, "to": str}.get(field.name, int)
                try:
                    knobs[field.name] = cast(query[field.name])
                except ValueError:
                    raise ValueError(
                        f"fault {name!r}: {field.name}={query[field.name]!r} is not a number"
                    ) from None
        return cls(name, **knobs)


def as_fault(fault: str | Fault) -> Fault:
    """Accept a bare fault name wherever a `Fault` is expected."""
    return fault if isinstance(fault, Fault) else Fault(fault)


def applies(fault: Fault, path: str, hit: int) -> bool:
    """Whether the fault fires on this request: a 429 clears after `succeed_after` hits of the URL,
    and a path that `redirect` produced is served as it is so a catch-all rule cannot chain."""
    if fault.name == "429":
        return hit <= fault.succeed_after
    if fault.name == "redirect":
        return not path.startswith(REDIRECTED_PREFIX + "/")
    return True


async def serve_fault(
    request: web.BaseRequest, fault: Fault, body: bytes, content_type: str
) -> web.StreamResponse:
    """Answer `request` with the fault applied to what would have been sent (`body`, `content_type`)."""
    name = fault.name
    if name in ("404", "500", "503"):
        return web.Response(status=int(name), text=f"{name} injected by local web\n")
    if name == "429":
        return web.Response(status=429, text="slow down\n", headers={"Retry-After": str(fault.retry_after)})
    if name in ("noai", "noimageai"):
        return web.Response(
            body=body, headers={"Content-Type": content_type, "X-Robots-Tag": fault.tag or name}
        )
    if name == "wrong_type":
        wrong = "text/html; charset=utf-8" if content_type.startswith("image/") else "image/jpeg"
        return web.Response(body=body, headers={"Content-Type": wrong})
    if name == "redirect":
        target = request.rel_url.without_query_params("fault").with_path(REDIRECTED_PREFIX + request.path)
        return web.Response(status=302, headers={"Location": fault.to or str(target)})
    if name == "redirect_loop":
        url = request.rel_url
        target = (
            url.without_query_params(LOOP_PARAM) if LOOP_PARAM in url.query else url.update_query(loop="1")
        )
        return web.Response(status=302, headers={"Location": str(target)})
    response = web.StreamResponse(headers={"Content-Type": content_type})
    try:
        if name == "slow":
            response.content_length = len(body)
            await response.prepare(request)
            for start in range(0, len(body), fault.chunk):
                if start:
                    await asyncio.sleep(fault.delay)
                await response.write(body[start : start + fault.chunk])
        elif name == "oversized":
            response.content_length = max(fault.size, len(body))
            await response.prepare(request)
            await response.write(body)
            left = response.content_length - len(body)
            while left > 0:  # a decoder stops at the image's end marker; the padding only costs bytes
                await response.write(_PADDING[: min(left, _STREAM_CHUNK)])
                left -= _STREAM_CHUNK
        elif name == "endless":
            await response.prepare(request)  # no Content-Length: chunked, with no last chunk ever
            await response.write(body)
            while True:
                await response.write(_PADDING)
        elif name in ("truncated", "wrong_length", "reset"):
            response.content_length = len(body) + fault.extra if name == "wrong_length" else len(body)
            await response.prepare(request)
            await response.write({"truncated": body[: len(body) // 2], "wrong_length": body}.get(name, b""))
            if name == "reset":
                await asyncio.sleep(0.05)  # let the client read the headers, then cut it off with a RST
                _reset(request)
            elif request.transport is not None:
                request.transport.close()  # flushes what was written, then FIN, short of the announced length
    except ConnectionError:
        pass  # the client went away: the normal end of oversized and endless bodies
    return response


def _reset(request: web.BaseRequest) -> None:
    """Drop the connection with a TCP RST (linger 0) so the client sees 'connection reset by peer'."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
