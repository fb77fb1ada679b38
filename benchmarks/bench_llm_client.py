"""The LLM client's own cost: CPU-seconds per 1,000 chat requests, ours against a bare aiohttp loop.

A fake OpenAI-compatible server answers every ``POST /v1/chat/completions`` at once with the same
small completion; it runs in another process, so its CPU is not counted. In this process:

* ours: `synth.llm.ChatClient` over `HttpTransport` (payload building, the concurrency limit,
  retries and their policy, time limits, counters, reply decoding), ``--concurrency`` in flight;
* peer: a bare loop, one aiohttp session, the same payloads and concurrency, ``json.loads`` of
  each body: the least a client can do.

CPU-seconds are this process's user + system time over the run (``resource.getrusage``), best of
``--repeats`` alternating runs. What a real model costs is on the GPU; this is what the client
adds on the CPU of the machine that drives it (vLLM / SGLang, which need a GPU, were never run
here). RESULT also in ``benchmarks/results/bench_llm_client.json`` (``results.emit``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import socket
import time

CONTENT = json.dumps([{"question": "What does the page say?", "answer": "It says what it says."}] * 4)
BODY = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": CONTENT}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960},
    }
).encode()


def serve(port: int, body: bytes = BODY) -> None:
    """The instant server: every chat completion answered with ``body``."""
    from aiohttp import web

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    app = web.Application(client_max_size=64 * 1024 * 1024)  # requests may carry images
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_server(body: bytes = BODY):
    """(the server process, its base URL) once it accepts connections."""
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(port, body), daemon=True)
    server.start()
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def ours(url: str, n: int, concurrency: int, pages: str) -> int:
    from schemas.config import load_config
    from schemas.config_docmatix import LlmConfig
    from synth.llm import ChatClient, HttpTransport

    cfg = load_config(LlmConfig, None, [f"endpoint_url={url}", f"concurrency={concurrency}"])
    async with HttpTransport(cfg.endpoint_url, concurrency, cfg.request_timeout_s) as transport:
        client = ChatClient(transport, cfg)
        messages = [{"role": "user", "content": pages}]
        results = await asyncio.gather(*(client.chat(messages, seed=i) for i in range(n)))
    return sum(r.ok for r in results)


async def bare(url: str, n: int, concurrency: int, pages: str) -> int:
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(i: int) -> bool:
            payload = {"model": "m", "messages": [{"role": "user", "content": pages}], "seed": i}
            async with limit, session.post(url + "/chat/completions", json=payload) as response:
                return "choices" in json.loads(await response.read())

        return sum(await asyncio.gather(*(one(i) for i in range(n))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    from results import emit

    server, url = start_server()
    pages = "Page 1:\n" + "The council met on Monday and approved the budget for the library. " * 60
    best: dict[str, tuple[float, float]] = {}
    try:
        for _ in range(args.repeats):
            for name, run in (("ours", ours), ("bare_aiohttp", bare)):
                start_cpu, start = cpu(), time.perf_counter()
                done = asyncio.run(run(url, args.requests, args.concurrency, pages))
                seconds, cpu_s = time.perf_counter() - start, cpu() - start_cpu
                assert done == args.requests, (name, done)
                if cpu_s < best.get(name, (float("inf"), 0))[0]:
                    best[name] = (cpu_s, seconds)
    finally:
        server.terminate()
    for name, (cpu_s, seconds) in best.items():
        print(
            f"{name:14} {cpu_s / args.requests * 1000:6.2f} CPU-s per 1000 requests, {args.requests / seconds:7.0f} requests/s"
        )
    result = {
        name: {
            "cpu_s_per_1000": round(cpu_s / args.requests * 1000, 3),
            "requests_s": round(args.requests / seconds),
        }
        for name, (cpu_s, seconds) in best.items()
    }
    result["ratio_cpu"] = round(
        result["ours"]["cpu_s_per_1000"] / result["bare_aiohttp"]["cpu_s_per_1000"], 2
    )
    result |= {"requests": args.requests, "concurrency": args.concurrency}
    emit("bench_llm_client", result, ["aiohttp"])


if __name__ == "__main__":
    main()
