"""Step ``Recaption`` of the ``pairs`` job: synthetic captions by a vision-language model,
re-ranked, as LAION-COCO made them (a captioning model wrote candidates, CLIP chose).

For every pair the VLM is asked once per template (``recaption.templates``) and sample
(``recaption.samples``): a chat request with the image as a base64 data URL (the stored bytes,
never re-encoded) and the template as text, through the docmatix job's client (concurrency,
retries, time limits; ``synth/llm.py``). At most ``max_inflight_bytes`` of base64 are in flight.
Answers are staged under ``_stage/recaption_responses/`` keyed by the image's sha256 and a hash of
(template, model, sampling settings, seed), so a re-run, after a kill or with more templates,
asks only what is missing; identical images are asked once.

With ``recaption.backend=transformers`` a local checkpoint answers instead of a server
(``training.generate.LocalVlm``: batched on the task's GPU, else the CPU), staged the same way.

Each candidate is checked (``filters/synthetic_captions.py``: empty, refusal, repetition, too
short / long, wrong language), PII placeholders are applied, and the valid ones are scored by
``recaption.scorer`` (CLIP similarity with the job's model by default; ``first``; or any
``module:function``); the best is the synthetic caption. The pair keeps its original caption as
its text (the CLIP filter judged that one); ``meta.captions`` holds the original, every candidate
(text, template, seed, score or the reason it was dropped), the model and the chosen one. Which
caption trains is the trainer's choice (``caption: original | synthetic | random`` per dataset).
Counters: ``candidates``, ``candidate_<reason>``, ``recaptioned``, ``no_valid_candidate``; each
dropped candidate goes to the exclusion gallery with its image (reason ``caption_<reason>``).
A request the server refuses (400, 413, 422) marks its candidate ``request_rejected`` and the
job goes on; requests still failing after the retries fail the task once the rest is staged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib
import itertools
import json
from collections.abc import Callable
from typing import Any

from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep

from filters.language import LanguageIdentifier
from filters.pii import PiiRedactor
from filters.synthetic_captions import candidate_reason
from pipelines.steps.docmatix.llm_responses import (
    ClientSession,
    ResponseStage,
    rejected,
    request_seed,
    staged_row,
)
from pipelines.steps.shards.samples import sniff_format
from schemas.config_pairs import PairsConfig
from synth.llm import ChatClient, ChatResult

RESPONSES = "recaption_responses"
MIME = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}

Scorer = Callable[[bytes, list[str]], list[float]]


def load_scorer(cfg: PairsConfig) -> Scorer:
    """``recaption.scorer`` as a function (image bytes, captions) -> scores."""
    name = cfg.recaption.scorer
    if name == "first":
        return lambda image, captions: [float(-i) for i in range(len(captions))]
    if name == "clip":
        from filters.clip_score import ClipModel

        model = ClipModel(cfg.clip)
        return lambda image, captions: [
            s if s is not None else float("-inf") for s in model.score([image] * len(captions), captions)
        ]
    module, _, function = name.partition(":")
    if not function:
        raise ValueError(f"recaption.scorer={name!r}: give clip, first or module:function")
    return getattr(importlib.import_module(module), function)


class BytesBudget:
    """At most ``limit`` bytes held at once across coroutines (one request may exceed it alone)."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self.condition = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, size: int):
        async with self.condition:
            await self.condition.wait_for(lambda: self.used == 0 or self.used + size <= self.limit)
            self.used += size
        try:
            yield
        finally:
            async with self.condition:
                self.used -= size
                self.condition.notify_all()


class Recaption(PipelineStep):
    """Asks the VLM for caption candidates of every pair, chooses one (see the module docstring)."""

    name = "🖼 Recaption"
    type = "Model call"

    def __init__(self, cfg: PairsConfig, exclusion_writer=None):
        super().__init__()
        self.cfg = cfg
        self.exclusion_writer = exclusion_writer
        self.folder = f"{cfg.dataset_dir}/_stage/{RESPONSES}"
        self.log_dir = f"{cfg.dataset_dir}/_logs/recaption_server"
        self.local = None  # backend=transformers: the model, loaded on first use

    # -- requests -----------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        rc = self.cfg.recaption
        return rc.model_path if rc.backend == "transformers" else rc.llm.model

    def requests(self, image_sha: str) -> list[dict[str, Any]]:
        """(template, seed, staging key) of every candidate of one image."""
        rc, llm = self.cfg.recaption, self.cfg.recaption.llm
        out = []
        for template, k in itertools.product(rc.templates, range(rc.samples)):
            seed = request_seed(self.cfg.seed, f"{image_sha}\0{template}\0{k}")
            what = {"template": template, "model": self.model_name, "temperature": llm.temperature,
                    "top_p": llm.top_p, "max_new_tokens": llm.max_new_tokens, "seed": seed}  # fmt: skip
            key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
            out.append({"template": template, "seed": seed, "key": key})
        return out

    async def _ask(
        self, client: ChatClient, todo: list[tuple[str, bytes, dict]], stage: ResponseStage
    ) -> list:
        budget = BytesBudget(self.cfg.recaption.max_inflight_bytes)
        pending: list[dict[str, Any]] = []
        results: list[ChatResult | None] = [None] * len(todo)

        async def one(i: int, sha: str, image: bytes, request: dict) -> None:
            size = (len(image) + 2) // 3 * 4
            async with budget.hold(size):
                url = f"data:{MIME.get(sniff_format(image) or 'jpg', 'image/jpeg')};base64,{base64.b64encode(image).decode()}"
                messages = [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": request["template"]},
                ]}]  # fmt: skip
                result = results[i] = await client.chat(messages, request["seed"])
            if result.ok or rejected(result):
                pending.append(self._row(sha, request, result))
                if len(pending) >= self.cfg.recaption.llm.flush_every:
                    rows = pending[:]
                    pending.clear()
                    await asyncio.to_thread(stage.write, rows)

        await asyncio.gather(*(one(i, *item) for i, item in enumerate(todo)))
        await asyncio.to_thread(stage.write, pending)
        return results

    def _row(self, sha: str, request: dict, result: ChatResult) -> dict[str, Any]:
        return staged_row(sha, request["key"], self.model_name, result)

    def _generate_here(
        self, items: list[tuple[str, bytes, dict]], stage: ResponseStage, staged: dict
    ) -> None:
        """backend=transformers: the local model answers every request, staged like the server's."""
        if self.local is None:
            from training.generate import LocalVlm  # torch only where this backend runs

            self.local = LocalVlm(self.cfg.recaption.model_path, self.cfg.recaption.batch_size)
        llm = self.cfg.recaption.llm
        rows = []
        for start in range(0, len(items), llm.flush_every):
            chunk = items[start : start + llm.flush_every]
            with self.track_time():
                texts = self.local.answer(
                    [(image, r["template"], r["seed"]) for _, image, r in chunk],
                    llm.max_new_tokens, llm.temperature, llm.top_p,
                )  # fmt: skip
            rows = [
                self._row(sha, r, ChatResult(text=text, finish_reason="stop", attempts=1))
                for (sha, _, r), text in zip(chunk, texts, strict=True)
            ]
            stage.write(rows)
            for row in rows:
                staged[(row["doc_id"], row["request_sha256"])] = row
            self.stat_update("local_generations", value=len(rows))

    # -- choosing -----------------------------------------------------------------------------
    def choose(self, doc: Document, rows: list[tuple[dict, dict | None]], writer, rank: int) -> None:
        """Check, score and record the candidates of one pair in ``meta.captions``."""
        rc = self.cfg.recaption
        candidates: list[dict[str, Any]] = []
        for request, row in rows:
            candidate: dict[str, Any] = {"template": request["template"], "seed": request["seed"]}
            if row is None:
                candidate["reason"] = "request_failed"
            elif row["error"]:
                candidate["reason"] = "request_rejected"
            else:
                text = (row["text"] or "").strip()
                if rc.pii:
                    text, _ = self.redactor.redact(text)
                candidate["text"] = text
                if reason := candidate_reason(text, rc, self.identifier):
                    candidate["reason"] = reason
            self.stat_update("candidates", f"candidate_{candidate.get('reason', 'valid')}")
            if "reason" in candidate and writer is not None:
                writer.write(self._excluded(doc, candidate), rank)
            candidates.append(candidate)
        valid = [c for c in candidates if "reason" not in c]
        chosen = None
        if valid:
            with self.track_time():
                scores = list(self.scorer(doc.media[0].media_bytes, [c["text"] for c in valid]))
            for candidate, score in zip(valid, scores, strict=True):
                candidate["score"] = round(float(score), 4)
            chosen = max(valid, key=lambda c: c["score"])  # the first of equals: template order
            self.stat_update("recaptioned")
        else:
            self.stat_update("no_valid_candidate")
        meta = doc.metadata.setdefault("meta", {})
        meta["captions"] = {
            "original": doc.text,
            "synthetic": chosen["text"] if chosen else None,
            "score": chosen["score"] if chosen else None,
            "model": self.model_name,
            "candidates": candidates,
        }

    def _excluded(self, doc: Document, candidate: dict) -> Document:
        image = doc.media[0]
        return Document(
            text=candidate.get("text") or "",
            id=f"{doc.id}-{candidate['seed']}",
            media=[Media(id=image.id, type=MediaType.IMAGE, url=image.url, media_bytes=image.media_bytes)],
            metadata={
                "filter_reason": f"caption_{candidate['reason']}",
                "source": doc.metadata.get("source"),
                "template": candidate["template"],
            },  # fmt: skip
        )

    # -- the step -----------------------------------------------------------------------------
    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        rc, llm = self.cfg.recaption, self.cfg.recaption.llm
        self.scorer = load_scorer(self.cfg)
        self.identifier = LanguageIdentifier() if rc.languages else None
        self.redactor = PiiRedactor(self.cfg.governance.pii)
        stage = ResponseStage(self.folder, rank)
        staged = stage.load()
        window = max(4 * llm.concurrency, llm.flush_every)
        session = ClientSession(llm, rank, self.log_dir)
        failed = 0
        batch: list[Document] = []
        writer_context = self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext()
        with writer_context as writer:
            try:
                for doc in itertools.chain(data, [None]):
                    if doc is not None:
                        batch.append(doc)
                        if len(batch) < window:
                            continue
                    plans = []
                    todo: dict[tuple[str, str], tuple[str, bytes, dict]] = {}
                    for d in batch:
                        image = d.media[0].media_bytes if d.media else None
                        if not image:
                            plans.append((d, None, []))
                            continue
                        sha = hashlib.sha256(image).hexdigest()
                        requests = self.requests(sha)
                        plans.append((d, sha, requests))
                        for r in requests:
                            if (sha, r["key"]) not in staged:
                                todo.setdefault((sha, r["key"]), (sha, image, r))
                    self.stat_update("responses_reused", value=sum(len(r) for _, _, r in plans) - len(todo))
                    if todo and self.cfg.recaption.backend == "transformers":
                        self._generate_here(list(todo.values()), stage, staged)
                    elif todo:
                        client = session.open()
                        if client is None:  # a worker node of a multi-node server: it only serves
                            return
                        items = list(todo.values())
                        with self.track_time():
                            results = session.run(self._ask(client, items, stage))
                        for (sha, _, request), result in zip(items, results, strict=True):
                            if result.ok or rejected(result):
                                staged[(sha, request["key"])] = self._row(sha, request, result)
                            elif not result.transient:
                                raise RuntimeError(
                                    f"recaption request failed: {result.error}; check recaption.llm.endpoint_url "
                                    "and recaption.llm.model"
                                )
                    for d, sha, requests in plans:
                        if sha is None:
                            self.stat_update("no_image")
                            yield d
                            continue
                        rows = [(r, staged.get((sha, r["key"]))) for r in requests]
                        failed += sum(row is None for _, row in rows)
                        self.choose(d, rows, writer, rank)
                        yield d
                    batch = []
            finally:
                session.close(self, "recaption")
        if failed:
            raise RuntimeError(
                f"{failed} caption requests got no answer after recaption.llm.max_attempts={llm.max_attempts} "
                f"tries; the other answers are staged in {self.folder}: run the same command again to ask "
                "only for the missing ones"
            )
