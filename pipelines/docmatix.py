"""The ``docmatix`` job (Docmatix): ocr shards -> LLM question/answer pairs -> filtered ``qa`` shards.

Stage ``generate`` (``executor.tasks`` tasks; on Ray with ``gpus_per_task=llm.gpus_per_task`` when
the backend is a vLLM / SGLang server per task):

- ``OcrPdfReader`` (pipelines/steps/docmatix/ocr_reader.py) reads the ocr datasets through their manifests
  and yields one document per PDF (``generation.unit=pdf``) or per page, pages in order;
- ``BuildPrompts`` draws a prompt template per document (seeded by ``seed`` and the document id,
  synth/qa_prompts.py), cuts the pages to the model's context with a token budget
  (``llm.context_tokens - llm.max_new_tokens -`` the template's own tokens) and keeps the images of
  the pages the prompt shows;
- ``GenerateResponses`` (pipelines/steps/docmatix/llm_responses.py) asks the LLM (synth/llm.py) for every
  document whose response is not staged yet and stages each response under ``_stage/responses/``,
  so a re-run, or a re-run after a kill, reads them back instead of asking again; refused
  requests drop their document (``request_rejected``), failed ones fail the task at the end;
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

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from filters.qa_filters import QaFilters
from pipelines.pack import shard_stages
from pipelines.stages import Stage
from pipelines.steps.docmatix.llm_responses import GenerateResponses
from pipelines.steps.docmatix.ocr_reader import OcrPdfReader, TokenCounter, fit_pages, ocr_shards
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.stage_io import StageReader, StageWriter
from schemas.config import ConfigError
from schemas.config_docmatix import DocmatixConfig
from schemas.histograms import HISTOGRAMS_DIR
from synth.llm import EndpointUnusable, check_endpoint
from synth.qa_parse import parse_pairs
from synth.qa_prompts import TEMPLATE_NAMES, choose_template, pages_block, pairs_wanted

GENERATE = "generate"
CHAT_OVERHEAD_TOKENS = 16  # per message: role markers and separators of a chat template


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
            pairs = doc.metadata.pop("qa_pairs")
            doc.metadata["qa"] = [
                {"user": pair["question"], "assistant": pair["answer"], "source": source} for pair in pairs
            ]
            doc.metadata["meta"] |= {
                # per turn: the share of its answer's words in its best passage, and that page
                "grounding": [{"support": pair.get("support"), "page": pair.get("page")} for pair in pairs],
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
        OcrPdfReader(cfg.ocr, cfg.generation.unit, cfg.generation.languages),
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


def build_docmatix(cfg: DocmatixConfig, check: bool = True) -> list[Stage]:
    """The job's stages; with `check` (the default) an endpoint backend is asked for its models
    first, so a missing server or model stops the job before any work."""
    generate = generate_stage(cfg)
    if check and cfg.llm.backend == "endpoint":
        try:
            check_endpoint(cfg.llm)
        except EndpointUnusable as error:
            raise ConfigError(str(error)) from None
    return [generate, *shard_stages(cfg, "qa", StageReader(f"{cfg.dataset_dir}/_stage/{GENERATE}"))]
