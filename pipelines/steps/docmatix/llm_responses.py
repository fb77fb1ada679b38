"""Step ``GenerateResponses`` of the ``docmatix`` job: the LLM's answers, asked once and staged.

For every document whose response is not staged yet the LLM (synth/llm.py) is asked,
``llm.concurrency`` requests at a time, and each response is staged as Parquet under
``_stage/responses/`` keyed by document id and a hash of the request (``flush_every`` rows per
file). A re-run, or a re-run after a kill, reads them back instead of asking again; a changed
prompt, model or sampling setting asks again. Requests that still fail after ``llm.max_attempts``
tries fail the task once the other documents are done (a re-run asks only for them); a request
the server refuses (400, 413, 422) is staged as refused and its document dropped
(``request_rejected``); a wrong setup (401, 403, 404) stops the task at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
from contextlib import AsyncExitStack
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from schemas.config_docmatix import DocmatixConfig
from synth.llm import REJECTED_STATUSES, ChatClient, ChatResult, chat_payload, open_transport

RESPONSES = "responses"
RESPONSE_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("request_sha256", pa.string()),
        ("model", pa.string()),
        ("text", pa.string()),
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("attempts", pa.int32()),
        ("error", pa.string()),  # set for a request the server refused: not asked again
    ]
)


def request_seed(seed: int, doc_id: str) -> int:
    """The sampling seed sent with a document's request: fixed by (seed, document id)."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{doc_id}".encode()).digest()[:4], "big") >> 1


def rejected(result: ChatResult) -> bool:
    """The server refused this request for good (400, 413, 422): staged, not asked again."""
    return not result.ok and not result.transient and result.status in REJECTED_STATUSES


def request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def staged_row(doc_id: str, request_sha256: str, model: str, result: ChatResult) -> dict[str, Any]:
    """One staged answer (a row of the response stage): what was asked of whom, and the reply."""
    return {
        "doc_id": doc_id,
        "request_sha256": request_sha256,
        "model": model,
        "text": result.text,
        "finish_reason": result.finish_reason,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "attempts": result.attempts,
        "error": result.error,
    }


class ResponseStage:
    """Staged LLM responses: Parquet files ``<rank>-<n>.parquet`` under one folder, keyed by
    (document id, request hash). Files are written under a temporary name and renamed, so a
    kill leaves no half file; every task reads all files (responses are small)."""

    def __init__(self, folder: str, rank: int):
        self.fs, self.path = fsspec.core.url_to_fs(folder)
        self.rank = rank
        self.fs.makedirs(self.path, exist_ok=True)
        self.files = sorted(self.fs.glob(f"{self.path}/*.parquet"))
        self.next = sum(1 for f in self.files if f.rsplit("/", 1)[-1].startswith(f"{rank:05d}-"))

    def load(self) -> dict[tuple[str, str], dict[str, Any]]:
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for file in self.files:
            with self.fs.open(file, "rb") as f:
                for row in pq.read_table(f).to_pylist():
                    rows.setdefault((row["doc_id"], row["request_sha256"]), row)
        return rows

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        name = f"{self.path}/{self.rank:05d}-{self.next:05d}.parquet"
        self.next += 1
        with self.fs.open(f"{name}.tmp", "wb") as f:
            pq.write_table(pa.Table.from_pylist(rows, schema=RESPONSE_SCHEMA), f)
        self.fs.mv(f"{name}.tmp", name)


class LoopThread:
    """An asyncio loop in a thread, so a generator step can await between the documents it yields."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class ClientSession:
    """A task's chat client, opened on first use: an asyncio loop in a thread, the transport
    (``synth.llm.open_transport``) and a ``ChatClient``; ``close`` puts the client's counts into
    the step's stats (``llm_<key>``) and shuts the transport down. The docmatix and recaption
    steps share it."""

    COUNTS = ("requests", "retries", "succeeded", "failed", "prompt_tokens", "completion_tokens")

    def __init__(self, llm, rank: int, log_dir: str):
        self.llm, self.rank, self.log_dir = llm, rank, log_dir
        self.loop: LoopThread | None = None
        self.stack: AsyncExitStack | None = None
        self.client: ChatClient | None = None

    def open(self) -> ChatClient | None:
        """The client; None on a worker node of a multi-node server (it only serves)."""
        if self.client is None:
            self.loop, self.stack = LoopThread(), AsyncExitStack()
            transport = self.loop.run(
                self.stack.enter_async_context(open_transport(self.llm, self.rank, self.log_dir))
            )
            if transport is None:
                return None
            self.client = ChatClient(transport, self.llm, seed=self.rank)
        return self.client

    def run(self, coroutine):
        return self.loop.run(coroutine)

    def close(self, step: PipelineStep, label: str) -> None:
        if self.client is not None:
            counts = self.client.throughput
            for key in self.COUNTS:
                step.stat_update(f"llm_{key}", value=getattr(counts, key))
            logger.info(f"rank {self.rank}: {label}: {counts.line()}")
        if self.loop is not None:
            self.loop.run(self.stack.aclose())
            self.loop.close()


class GenerateResponses(PipelineStep):
    """Asks the LLM for the documents without a staged response, stages what it answers."""

    name = "🤖 LLM generation"
    type = "Model call"

    def __init__(self, cfg: DocmatixConfig):
        super().__init__()
        self.cfg = cfg
        self.folder = f"{cfg.dataset_dir}/_stage/{RESPONSES}"
        self.log_dir = cfg.llm.server_log_dir or f"{cfg.dataset_dir}/_logs/llm_server"

    async def _ask(self, client: ChatClient, todo: list[tuple[Document, dict]], stage: ResponseStage) -> list:
        pending: list[dict[str, Any]] = []
        results: list[ChatResult | None] = [None] * len(todo)

        async def one(i: int, doc: Document, payload: dict) -> None:
            result = results[i] = await client.chat(payload["messages"], payload["seed"])
            if result.ok or rejected(result):
                pending.append(self._row(doc, payload, result))
                if len(pending) >= self.cfg.llm.flush_every:
                    rows = pending[:]
                    pending.clear()
                    await asyncio.to_thread(stage.write, rows)

        await asyncio.gather(*(one(i, doc, payload) for i, (doc, payload) in enumerate(todo)))
        await asyncio.to_thread(stage.write, pending)
        return results

    def _row(self, doc: Document, payload: dict, result: ChatResult) -> dict[str, Any]:
        return staged_row(doc.id, request_hash(payload), self.cfg.llm.model, result)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        llm = self.cfg.llm
        stage = ResponseStage(self.folder, rank)
        staged = stage.load()
        window = max(4 * llm.concurrency, llm.flush_every)
        session = ClientSession(llm, rank, self.log_dir)
        failed = 0
        batch: list[Document] = []
        try:
            for doc in itertools.chain(data, [None]):
                if doc is not None:
                    batch.append(doc)
                    if len(batch) < window:
                        continue
                payloads = [
                    chat_payload(llm, d.metadata["messages"], request_seed(self.cfg.seed, d.id))
                    for d in batch
                ]
                rows = [staged.get((d.id, request_hash(p))) for d, p in zip(batch, payloads, strict=True)]
                todo = [
                    (i, d, p)
                    for i, (d, p, r) in enumerate(zip(batch, payloads, rows, strict=True))
                    if r is None
                ]
                self.stat_update("responses_reused", value=len(batch) - len(todo))
                if todo:
                    client = session.open()
                    if client is None:  # a worker node of a multi-node server: it only serves
                        return
                    with self.track_time():
                        results = session.run(self._ask(client, [(d, p) for _, d, p in todo], stage))
                    for (i, d, p), result in zip(todo, results, strict=True):
                        if result.ok or rejected(result):
                            rows[i] = self._row(d, p, result)
                        elif not result.transient:
                            raise RuntimeError(
                                f"llm request for {d.id} failed: {result.error}; check llm.endpoint_url, "
                                f"llm.model and llm.api_key_env"
                            )
                    logger.info(f"rank {rank}: {session.client.throughput.line()}")
                for d, row in zip(batch, rows, strict=True):
                    if row is None:
                        failed += 1
                        self.stat_update("dropped_request_failed")
                    elif row["error"]:
                        self.stat_update("dropped_request_rejected")
                    else:
                        d.metadata["response"] = row
                        yield d
                batch = []
        finally:
            session.close(self, "llm totals")
        if failed:
            raise RuntimeError(
                f"{failed} documents got no response after llm.max_attempts={llm.max_attempts} tries "
                f"(transient errors); the other responses are staged in {self.folder}: run the same "
                "command again to ask only for the missing ones"
            )
