"""The ``docmatix`` job (Docmatix): ocr shards -> LLM question/answer pairs -> filtered ``qa`` shards.

Stage ``generate`` (``executor.tasks`` tasks; on Ray with ``gpus_per_task=llm.gpus_per_task`` when
the backend is a vLLM / SGLang server per task):

- ``OcrPdfReader`` (pipelines/steps/ocr_reader.py) reads the ocr datasets through their manifests
  and yields one document per PDF (``generation.unit=pdf``) or per page, pages in order;
- ``BuildPrompts`` draws a prompt template per document (seeded by ``seed`` and the document id,
  synth/qa_prompts.py), cuts the pages to the model's context with a token budget
  (``llm.context_tokens - llm.max_new_tokens -`` the template's own tokens) and keeps the images of
  the pages the prompt shows;
- ``GenerateResponses`` asks the LLM (synth/llm.py) for every document whose response is not
  staged yet, ``llm.concurrency`` at a time, and stages each response as Parquet under
  ``_stage/responses/`` keyed by document id and a hash of the request (``flush_every`` rows per
  file). A re-run, or a re-run after a kill, reads them back instead of asking again; a changed
  prompt, model or sampling setting asks again. Requests that still fail after
  ``llm.max_attempts`` tries fail the task once the other documents are done (a re-run asks only
  for them); a request the server refuses (400, 413, 422) is staged as refused and its document
  dropped (``request_rejected``); a wrong setup (401, 403, 404) stops the task at once;
- ``ParseResponses`` turns the text into pairs (synth/qa_parse.py), dropping documents whose
  response yields none (``unparseable_<reason>``) and counting what parsing had to repair;
- ``QaFilters`` (filters/qa_filters.py) drops pairs per reason and documents left without one;
- ``CauldronTurns`` writes the surviving pairs as The Cauldron's turns, with the template, model,
  token counts and filter figures in ``meta``; the documents are staged in ``_stage/generate/``.

Then the shared tail (pipelines/pack.py) writes the ``qa`` shards and the manifest. Given the same
staged responses and config the shards are byte-identical: documents leave every task in sorted
PDF order, whatever order the responses arrived in.
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

from filters.qa_filters import QaFilters
from pipelines.pack import shard_stages
from pipelines.stages import Stage
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.ocr_reader import OcrPdfReader, TokenCounter, fit_pages, ocr_shards
from pipelines.steps.stage_io import StageReader, StageWriter
from schemas.config import ConfigError, DocmatixConfig
from schemas.histograms import HISTOGRAMS_DIR
from synth.llm import REJECTED_STATUSES, ChatClient, ChatResult, chat_payload, open_transport
from synth.qa_parse import parse_pairs
from synth.qa_prompts import TEMPLATE_NAMES, choose_template, pages_block, pairs_wanted

GENERATE = "generate"
RESPONSES = "responses"
CHAT_OVERHEAD_TOKENS = 16  # per message: role markers and separators of a chat template
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


class BuildPrompts(PipelineStep):
    """Template per document, pages cut to the token budget, the chat messages (see module doc)."""

    name = "✍️ QA prompts"

    def __init__(self, cfg: DocmatixConfig):
        super().__init__()
        self.cfg = cfg
        self.names = tuple(cfg.generation.templates) or TEMPLATE_NAMES

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counter = TokenCounter(self.cfg.llm.tokenizer)
        gen, llm = self.cfg.generation, self.cfg.llm
        for doc in data:
            with self.track_time():
                template = choose_template(doc.id, self.cfg.seed, self.names)
                pages = [(p["page"], p["text"]) for p in doc.metadata["pages"]]
                n_pairs = pairs_wanted(len(pages), gen.pairs_per_page, gen.max_pairs)
                frame = template.messages("", n_pairs)
                fixed = sum(counter.count(m["content"]) + CHAT_OVERHEAD_TOKENS for m in frame)
                budget = llm.context_tokens - llm.max_new_tokens - fixed
                kept, cut = fit_pages(pages, budget, counter)
                if not kept:
                    self.stat_update("dropped_no_room_for_text")
                    continue
                shown = {number for number, _ in kept}
                doc.media = [m for m in doc.media if m.metadata.get("page") in shown]
                doc.text = pages_block(kept)
                n_pairs = pairs_wanted(len(kept), gen.pairs_per_page, gen.max_pairs)
                doc.metadata["messages"] = template.messages(doc.text, n_pairs)
                doc.metadata["meta"] |= {
                    "template": template.name,
                    "pages": [number for number, _ in kept],
                    "pages_cut": cut,
                    "pairs_asked": n_pairs,
                    "prompt_tokens_counted": fixed + counter.count(doc.text),
                }
            self.stat_update("pages_cut" if cut else "pages_whole")
            yield doc


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


class _LoopThread:
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
        return {
            "doc_id": doc.id,
            "request_sha256": request_hash(payload),
            "model": self.cfg.llm.model,
            "text": result.text,
            "finish_reason": result.finish_reason,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "attempts": result.attempts,
            "error": result.error,
        }

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        llm = self.cfg.llm
        stage = ResponseStage(self.folder, rank)
        staged = stage.load()
        window = max(4 * llm.concurrency, llm.flush_every)
        loop = stack = client = None
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
                    if client is None:
                        loop, stack = _LoopThread(), AsyncExitStack()
                        transport = loop.run(
                            stack.enter_async_context(open_transport(llm, rank, self.log_dir))
                        )
                        if transport is None:  # a worker node of a multi-node server: it only serves
                            return
                        client = ChatClient(transport, llm, seed=rank)
                    with self.track_time():
                        results = loop.run(self._ask(client, [(d, p) for _, d, p in todo], stage))
                    for (i, d, p), result in zip(todo, results, strict=True):
                        if result.ok or rejected(result):
                            rows[i] = self._row(d, p, result)
                        elif not result.transient:
                            raise RuntimeError(
                                f"llm request for {d.id} failed: {result.error}; check llm.endpoint_url, "
                                f"llm.model and llm.api_key_env"
                            )
                    logger.info(f"rank {rank}: {client.throughput.line()}")
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
            if client is not None:
                counts = client.throughput
                for key in (
                    "requests",
                    "retries",
                    "succeeded",
                    "failed",
                    "prompt_tokens",
                    "completion_tokens",
                ):
                    self.stat_update(f"llm_{key}", value=getattr(counts, key))
                logger.info(f"rank {rank}: llm totals: {counts.line()}")
            if loop is not None:
                loop.run(stack.aclose())
                loop.close()
        if failed:
            raise RuntimeError(
                f"{failed} documents got no response after llm.max_attempts={llm.max_attempts} tries "
                f"(transient errors); the other responses are staged in {self.folder}: run the same "
                "command again to ask only for the missing ones"
            )


class ParseResponses(PipelineStep):
    """Response text -> ``metadata["qa_pairs"]``; drops documents whose response yields no pair."""

    name = "🧩 QA parse"

    def __init__(self, exclusion_writer: ExclusionRecorder | None = None):
        super().__init__()
        self.exclusion_writer = exclusion_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        try:
            for doc in data:
                response = doc.metadata["response"]
                with self.track_time():
                    result = parse_pairs(response["text"])
                for note in result.notes:
                    self.stat_update(f"parse_{note}")
                if response.get("finish_reason") == "length":
                    self.stat_update("parse_hit_max_new_tokens")
                if not result.ok:
                    reason = f"unparseable_{result.reason}"
                    self.stat_update(f"dropped_{reason}")
                    if self.exclusion_writer is not None:
                        doc.metadata["filter_reason"] = reason
                        self.exclusion_writer.write(
                            Document(text=response["text"] or "", id=doc.id, metadata=doc.metadata), rank
                        )
                    continue
                doc.metadata["qa_pairs"] = [{"question": q, "answer": a} for q, a in result.pairs]
                doc.metadata["meta"]["parse_notes"] = result.notes
                self.stat_update("pairs_parsed", value=len(result.pairs))
                yield doc
        finally:
            if self.exclusion_writer is not None:
                self.exclusion_writer.close()


class CauldronTurns(PipelineStep):
    """Kept pairs -> The Cauldron's turns in ``metadata["qa"]``; figures into ``meta``."""

    name = "📝 Cauldron turns"

    def __init__(self, cfg: DocmatixConfig):
        super().__init__()
        self.cfg = cfg

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        source = self.cfg.generation.turn_source
        for doc in data:
            response = doc.metadata.pop("response")
            doc.metadata["qa"] = [
                {"user": pair["question"], "assistant": pair["answer"], "source": source}
                for pair in doc.metadata.pop("qa_pairs")
            ]
            doc.metadata["meta"] |= {
                "model": response["model"],
                "backend": self.cfg.llm.backend,
                "finish_reason": response["finish_reason"],
                "prompt_tokens": response["prompt_tokens"],
                "completion_tokens": response["completion_tokens"],
            }
            for key in ("messages", "pages"):
                doc.metadata.pop(key, None)
            self.stat_update("turns", value=len(doc.metadata["qa"]))
            yield doc


def generate_stage(cfg: DocmatixConfig) -> Stage:
    if not cfg.ocr:
        raise ConfigError(
            "ocr: give at least one ocr dataset (OUT/<dataset> of a pdf_ocr run, or its manifest.json)"
        )
    for dataset in cfg.ocr:
        try:
            ocr_shards(dataset)
        except (FileNotFoundError, ValueError) as error:
            raise ConfigError(f"ocr: {error}") from None
    if cfg.llm.backend == "endpoint" and not cfg.llm.endpoint_url:
        raise ConfigError(
            "llm.endpoint_url is required with llm.backend=endpoint (e.g. http://127.0.0.1:8000/v1)"
        )
    unknown = sorted(set(cfg.generation.templates) - set(TEMPLATE_NAMES))
    if unknown:
        raise ConfigError(f"generation.templates: unknown {unknown}; known: {', '.join(TEMPLATE_NAMES)}")

    def recorder(step: str) -> ExclusionRecorder:
        return ExclusionRecorder.for_job(cfg, GENERATE, step)

    pipeline = [
        OcrPdfReader(cfg.ocr, cfg.generation.unit),
        BuildPrompts(cfg),
        GenerateResponses(cfg),
        ParseResponses(exclusion_writer=recorder("qa_parse")),
        QaFilters(
            cfg.qa_filters,
            exclusion_writer=recorder("qa_filters"),
            histograms_dir=f"{cfg.dataset_dir}/{HISTOGRAMS_DIR}",
            histograms_stage=GENERATE,
        ),
        CauldronTurns(cfg),
        StageWriter(f"{cfg.dataset_dir}/_stage/{GENERATE}"),
    ]
    gpus = cfg.llm.gpus_per_task if cfg.llm.backend != "endpoint" else 0
    return Stage(GENERATE, pipeline, cfg.executor.tasks, options={"gpus_per_task": gpus} if gpus else {})


def build_docmatix(cfg: DocmatixConfig) -> list[Stage]:
    generate = generate_stage(cfg)
    return [generate, *shard_stages(cfg, "qa", StageReader(f"{cfg.dataset_dir}/_stage/{GENERATE}"))]
