"""The job registry: the names ``vlmdata run`` accepts, their config model and stage builder.

Builders are named as ``"module:function"`` and imported when a job is built, so that
``vlmdata --help`` (and every ``run JOB --help``) starts without importing pymupdf, torch or the
other heavy libraries of jobs that are not being run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pipelines.stages import Stage
from schemas.config import JobConfig, PackConfig
from schemas.config_docmatix import DocmatixConfig
from schemas.config_instruct import InstructConfig
from schemas.config_interleaved import InterleavedConfig
from schemas.config_pairs import PairsConfig
from schemas.config_pdf import PdfOcrConfig
from schemas.config_rendered_text import RenderedTextConfig


@dataclass(frozen=True)
class Job:
    name: str
    summary: str
    config_model: type[JobConfig]
    builder: str  # "module:function" taking the job's config and returning its stages

    def build(self, cfg: JobConfig) -> list[Stage]:
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)(cfg)


JOBS: dict[str, Job] = {
    job.name: job
    for job in [
        Job(
            "interleaved",
            "WARC pages -> OBELICS-style interleaved documents (extraction, filters, dedup, images, NSFW)",
            InterleavedConfig,
            "pipelines.interleaved:build_interleaved",
        ),
        Job(
            "pack",
            "staged Parquet documents of one kind -> shards, manifest.json, sizes.json",
            PackConfig,
            "pipelines.pack:build_pack",
        ),
        Job(
            "pairs",
            "URL + caption tables / WARC page images -> filtered, CLIP-scored, deduplicated pair shards",
            PairsConfig,
            "pipelines.pairs:build_pairs",
        ),
        Job(
            "pdf_ocr",
            "PDF files / WARC PDF records -> one ocr sample per page (rendered image + transcription)",
            PdfOcrConfig,
            "pipelines.pdf_ocr:build_pdf_ocr",
        ),
        Job(
            "rendered_text",
            "text files / staged interleaved documents -> text drawn onto images as ocr samples (Rendered Text)",
            RenderedTextConfig,
            "pipelines.rendered_text:build_rendered_text",
        ),
        Job(
            "docmatix",
            "ocr shards -> LLM question/answer pairs per PDF, parsed and filtered -> qa shards (The Cauldron)",
            DocmatixConfig,
            "pipelines.docmatix:build_docmatix",
        ),
        Job(
            "instruct",
            "The Cauldron's sources in their own layouts -> converted, multi-turn qa shards (one merged or one per source)",
            InstructConfig,
            "pipelines.instruct.job:build_instruct",
        ),
    ]
}
