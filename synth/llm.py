"""LLM backends for QA generation: OpenAI-compatible chat completions, concurrent and retried.

Two transports carry the same chat-completions payload:

- ``HttpTransport`` (``llm.backend=endpoint``): any OpenAI-compatible server given by URL (a
  hosted API, a vLLM / SGLang / TGI server started by hand, the test server on 127.0.0.1), over
  one ``aiohttp`` session per task with ``llm.concurrency`` connections.
- ``DatatroveServerTransport`` (``llm.backend=vllm`` or ``sglang``): datatrove's inference runner
  (``datatrove.pipeline.inference``) starts a vLLM or SGLang server for the task on the GPUs the
  task holds, waits until it answers, and forwards each request to it. The job gives the
  generate stage ``gpus_per_task=llm.gpus_per_task`` so that Ray places each task on a GPU
  worker. How to run it on a Ray cluster of GPU machines::

      pip install vllm httpx                # on every GPU worker (or sglang[all] for sglang)
      ray start --head ...; ray start --address=HEAD:6379 --num-gpus=8 ...   # the workers
      vlmdata run docmatix --config configs/docmatix.yaml --ray-address HEAD:6379 \\
          llm.backend=vllm llm.model=/models/Llama-3.1-8B-Instruct llm.gpus_per_task=1 \\
          llm.tp=1 executor.tasks=64 llm.concurrency=256

  Each task then serves the model on its GPU (``llm.tp`` GPUs when ``gpus_per_task`` matches),
  sends ``llm.concurrency`` requests at once, and writes the server log under
  ``OUT/<dataset>/_logs/llm_server/``. Neither vLLM nor SGLang can be installed on the machines
  this project is developed on; there the endpoint transport is the one the tests exercise.

``ChatClient`` sends requests with at most ``llm.concurrency`` in flight, retries transient
failures (HTTP 408, 429, 5xx, timeouts, refused or reset connections, a 200 whose body is not
JSON) with the project's one retry policy (`schemas.retry`): capped exponential backoff with
jitter, ``Retry-After`` honoured in seconds or as an HTTP date and cut to ``llm.retry_after_max_s``,
up to ``llm.max_attempts`` tries, each limited to ``llm.request_timeout_s``, all of them within
``llm.deadline_s``. Other 4xx answers are permanent failures. It
counts requests, retries, failures and tokens (``Throughput``) for the progress log and stats.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from schemas.config_docmatix import LlmConfig
from schemas.retry import RetryPolicy, parse_retry_after

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure worth retrying; ``retry_after`` is the server's hint in seconds, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A failure that another try will not fix: a 400, 413 or 422 (this request is refused: see
    ``REJECTED_STATUSES``) or a 401, 403, 404 (the setup is wrong: key, URL or model name)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def rejected(self) -> bool:
        """The request itself was refused (another request may pass); else the setup is wrong."""
        return self.status in REJECTED_STATUSES


REJECTED_STATUSES = frozenset({400, 413, 422})


Transport = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class ChatResult:
    """One request's outcome: the text and usage, or the error after ``attempts`` tries."""

    text: str | None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None
    transient: bool = False  # the error was transient: a re-run asks again
    status: int | None = None  # HTTP status of a permanent failure

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Throughput:
    """Counters of one client, for the stats and the progress log."""

    requests: int = 0  # HTTP requests sent, retries included
    succeeded: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (
            f"{self.succeeded} ok, {self.failed} failed, {self.retries} retries; "
            f"{self.succeeded / elapsed:.2f} requests/s, {self.completion_tokens / elapsed:.0f} output tokens/s, "
            f"{(self.prompt_tokens + self.completion_tokens) / elapsed:.0f} tokens/s"
        )


def chat_payload(cfg: LlmConfig, messages: list[dict[str, str]], seed: int) -> dict[str, Any]:
    """The OpenAI chat-completions request body of one prompt."""
    return {
        "model": cfg.model,
        "messages": messages,
        "max_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "seed": seed,
    }


class HttpTransport:
    """POSTs to ``<endpoint_url>/chat/completions`` over one aiohttp session."""

    def __init__(self, endpoint_url: str, concurrency: int, timeout_s: float, api_key: str | None = None):
        self.url = endpoint_url.rstrip("/") + "/chat/completions"
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.session = None

    async def __aenter__(self) -> HttpTransport:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers=self.headers,
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()

    async def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        import aiohttp

        try:
            async with self.session.post(self.url, json=payload) as response:
                body = await response.read()
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise TransientError(f"{type(error).__name__}: {error}".rstrip(": ")) from None
        if status in RETRY_STATUSES:
            raise TransientError(f"HTTP {status}", retry_after)
        if status != 200:
            raise PermanentError(f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}", status)
        try:
            return json.loads(body)
        except ValueError:
            raise TransientError("HTTP 200 with a body that is not JSON") from None


class EndpointUnusable(Exception):
    """The endpoint does not answer ``GET /models``, or does not serve the configured model."""


def check_endpoint(cfg: LlmConfig, timeout_s: float = 10.0) -> list[str]:
    """Ask ``<endpoint_url>/models`` (the OpenAI API's model list) before any work; returns the
    served model ids, or raises `EndpointUnusable` saying what to start or which key to set."""
    import urllib.error
    import urllib.request

    url = cfg.endpoint_url.rstrip("/") + "/models"
    api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    start = (
        f"start an OpenAI-compatible server there (e.g. `vllm serve {cfg.model}`) or pass "
        "llm.endpoint_url=URL (llm.backend=vllm or sglang starts one per task on GPU workers)"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        hint = " (the key: llm.api_key_env names its variable)" if error.code in (401, 403) else ""
        raise EndpointUnusable(
            f"llm.endpoint_url={cfg.endpoint_url}: GET {url} answered HTTP {error.code}{hint}; {start}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise EndpointUnusable(
            f"llm.endpoint_url={cfg.endpoint_url}: nothing answers GET {url} ({reason}); {start}"
        ) from None
    try:
        served = [str(entry["id"]) for entry in json.loads(body)["data"]]
    except (ValueError, KeyError, TypeError):
        raise EndpointUnusable(
            f"llm.endpoint_url={cfg.endpoint_url}: GET {url} did not answer an OpenAI model list; {start}"
        ) from None
    if cfg.model not in served:
        raise EndpointUnusable(
            f"llm.model={cfg.model!r} is not served at {cfg.endpoint_url} (it serves {', '.join(served) or 'nothing'}); "
            "pass llm.model=NAME or serve that model"
        )
    return served


def inference_kwargs(cfg: LlmConfig, log_dir: str | None) -> dict[str, Any]:
    """Arguments of datatrove's ``InferenceConfig`` for a vLLM / SGLang server per task, from our
    ``llm`` section."""
    delay = 5.0
    return dict(
        server_type=cfg.backend,
        model_name_or_path=cfg.model,
        model_max_context=cfg.context_tokens,
        use_chat=True,
        tp=cfg.tp,
        max_concurrent_generations=cfg.concurrency,
        request_timeout=cfg.request_timeout_s,
        model_kwargs=dict(cfg.model_kwargs) or None,
        server_log_folder=log_dir,
        server_ready_delay_sec=delay,
        server_ready_max_attempts=max(1, int(cfg.server_start_timeout_s / delay)),
    )


def datatrove_server(cfg: LlmConfig, rank: int, log_dir: str | None):
    """The datatrove inference server (``VLLMServer`` / ``SGLangServer``) for one task.

    Needs datatrove's ``inference`` extra (orjson, httpx) and vLLM or SGLang on the GPU workers."""
    try:
        from datatrove.pipeline.inference.run_inference import InferenceConfig
        from datatrove.pipeline.inference.servers import SGLangServer, VLLMServer

        server_class = {"vllm": VLLMServer, "sglang": SGLangServer}[cfg.backend]
        return server_class(InferenceConfig(**inference_kwargs(cfg, log_dir)), rank)
    except ImportError as error:
        raise RuntimeError(
            f"llm.backend={cfg.backend}: {error}; install {cfg.backend} and datatrove[inference] (orjson, "
            "httpx) on the GPU workers, or use llm.backend=endpoint with llm.endpoint_url"
        ) from None


class DatatroveServerTransport:
    """Forwards requests to a datatrove-managed vLLM / SGLang server, mapping its errors."""

    def __init__(self, server):
        self.server = server

    async def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        from datatrove.pipeline.inference.types import InferenceError

        try:
            return await self.server.make_request(dict(payload))
        except InferenceError as error:
            if "BadRequestError" in str(error):
                raise PermanentError(str(error.error), 400) from None
            raise TransientError(str(error.error)) from None
        except (ConnectionError, OSError, asyncio.TimeoutError) as error:
            raise TransientError(f"{type(error).__name__}: {error}") from None
        # datatrove's ServerError (the server died for good) propagates: the task fails, a re-run resumes


@asynccontextmanager
async def open_transport(
    cfg: LlmConfig, rank: int = 0, log_dir: str | None = None
) -> AsyncIterator[Transport | None]:
    """The transport of one task; None on a non-master node of a multi-node server (it only serves)."""
    if cfg.backend == "endpoint":
        if not cfg.endpoint_url:
            raise ValueError(
                "llm.endpoint_url is required with llm.backend=endpoint (e.g. http://host:8000/v1)"
            )
        api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        async with HttpTransport(
            cfg.endpoint_url, cfg.concurrency, cfg.request_timeout_s, api_key
        ) as transport:
            yield transport
        return
    async with datatrove_server(cfg, rank, log_dir) as server:
        yield DatatroveServerTransport(server) if server else None


class ChatClient:
    """Concurrent, retried, time-limited chat completions over one transport."""

    def __init__(self, transport: Transport, cfg: LlmConfig, seed: int = 0):
        self.transport = transport
        self.cfg = cfg
        self.rng = random.Random(seed)  # jitter only; never affects what is generated
        self.semaphore = asyncio.Semaphore(cfg.concurrency)
        self.throughput = Throughput()
        self.policy = RetryPolicy(
            max_attempts=cfg.max_attempts,
            backoff_s=cfg.backoff_s,
            backoff_max_s=cfg.backoff_max_s,
            retry_after_max_s=cfg.retry_after_max_s,
            deadline_s=cfg.deadline_s,
        )

    async def chat(self, messages: list[dict[str, str]], seed: int = 0) -> ChatResult:
        payload = chat_payload(self.cfg, messages, seed)
        started = time.monotonic()
        error, transient, status = "", True, None
        counts = self.throughput
        for attempt in range(1, self.cfg.max_attempts + 1):
            async with self.semaphore:
                counts.requests += 1
                try:
                    left = self.cfg.deadline_s - (time.monotonic() - started)
                    body = await asyncio.wait_for(
                        self.transport(payload), min(self.cfg.request_timeout_s, left)
                    )
                    choice = body["choices"][0]
                    text = (choice.get("message") or {}).get("content")
                    if text is None:
                        text = choice.get("text") or ""
                    usage = body.get("usage") or {}
                except PermanentError as failure:
                    error, transient, status = str(failure), False, failure.status
                    break
                except (TransientError, asyncio.TimeoutError) as failure:
                    error = str(failure) or "timed out"
                    hint = getattr(failure, "retry_after", None)
                except (KeyError, IndexError, TypeError, AttributeError):
                    error, hint = "response without choices[0].message", None
                else:
                    counts.succeeded += 1
                    counts.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                    counts.completion_tokens += int(usage.get("completion_tokens") or 0)
                    return ChatResult(
                        text=text,
                        finish_reason=choice.get("finish_reason"),
                        prompt_tokens=int(usage.get("prompt_tokens") or 0),
                        completion_tokens=int(usage.get("completion_tokens") or 0),
                        attempts=attempt,
                        seconds=time.monotonic() - started,
                    )
            wait = self.policy.next_delay(attempt, started, hint, self.rng)
            if wait is None:
                if attempt < self.cfg.max_attempts:
                    error = f"{error} (llm.deadline_s={self.cfg.deadline_s:g} reached)"
                break
            counts.retries += 1
            await asyncio.sleep(wait)
        counts.failed += 1
        return ChatResult(
            None,
            attempts=attempt,
            seconds=time.monotonic() - started,
            error=error,
            transient=transient,
            status=status,
        )
