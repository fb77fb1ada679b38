"""The ``pdf_ocr`` job (OCR-IDL / PDFA in the Idefics2 mixture): PDFs -> one ``ocr`` sample per page.

Stage ``pages`` reads PDF files and the PDF responses of WARC files (``pipelines/steps/pdf_reader``),
drops unusable PDFs and those outside the page count limits (``PdfFilter``: encrypted, corrupt,
truncated, damaged, zero pages, too few / many pages), renders every page and reads its text layer
in reading order (``PdfPages``), drops blank pages (``BlankPageFilter``), OCRs pages without a
usable text layer with Tesseract (``PageOcr``), drops pages with too little text, too many tokens
or another language (``PageTextFilter``), and writes the kept pages straight into its shards with
the shard writer of the shared tail (pipelines/pack.py ``shard_stages``), whose ``finalize`` stage
then writes the manifest. Every drop is counted per reason in ``_logs/pages/stats.json`` and sampled
into ``_excluded/pages/``.

The pages are not staged as Parquet first: a page is mostly its image, and a staging round trip
(Parquet write, read, JSON of the word boxes twice) cost about a fifth of the job's time
(benchmarks/bench_pdf.py). Input files are split among tasks by file and a task writes its pages in
the order it made them, so the pages of one PDF stay together and in page order (keys
``<pdf id>-p<page:05d>``), as the Docmatix job needs. An interrupted task is redone whole: the
shard writer first removes what that task's earlier run left.
"""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep

from filters.page_filters import BlankPageFilter, PageTextFilter, PdfFilter
from pipelines.pack import shard_stages
from pipelines.stages import Stage
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.pdf.page_ocr import PageOcr
from pipelines.steps.pdf.pdf_pages import PdfPages
from pipelines.steps.pdf.pdf_reader import PdfReader, list_inputs
from schemas.config import ConfigError
from schemas.config_pdf import PdfOcrConfig
from schemas.histograms import HISTOGRAMS_DIR

PAGES = "pages"


def pages_stage(cfg: PdfOcrConfig) -> Stage:
    if not cfg.pdfs and not cfg.warcs:
        raise ConfigError("give at least one input: pdfs=[FOLDER|FILE|GLOB,...] or warcs=[...]")
    try:
        inputs = list_inputs(cfg.pdfs, cfg.warcs)
    except FileNotFoundError as error:
        raise ConfigError(str(error)) from None
    if cfg.shards.image_format not in ("jpg", "png", "webp"):
        raise ConfigError(f"shards.image_format={cfg.shards.image_format}: pdf_ocr renders jpg, png or webp")

    def recorder(step: str) -> ExclusionRecorder:
        return ExclusionRecorder.for_job(cfg, PAGES, step)

    histograms = {"histograms_dir": f"{cfg.dataset_dir}/{HISTOGRAMS_DIR}", "histograms_stage": PAGES}
    pipeline = [
        PdfReader(cfg.pdfs, cfg.warcs),
        PdfFilter(cfg.page_filters, exclusion_writer=recorder("pdf_filter"), **histograms),
        PdfPages(
            cfg.render,
            cfg.shards.image_format,
            cfg.shards.jpeg_quality,
            exclusion_writer=recorder("pages"),
            router=cfg.router,
            ocr=cfg.ocr,
        ),
        BlankPageFilter(cfg.page_filters, exclusion_writer=recorder("blank_pages"), **histograms),
        PageOcr(
            cfg.ocr,
            cfg.render.page_timeout_s,
            cfg.render.word_boxes,
            exclusion_writer=recorder("ocr"),
            router=cfg.router,
        ),
        PageTextFilter(
            cfg.page_filters, cfg.shards.tokenizer, exclusion_writer=recorder("page_text"), **histograms
        ),
        shard_writer(cfg),
    ]
    return Stage(PAGES, pipeline, min(cfg.executor.tasks, len(inputs)))


def shard_writer(cfg: PdfOcrConfig) -> PipelineStep:
    """The shard writer of the shared tail (its ``write_shards`` stage minus the reader)."""
    write_shards, _ = shard_stages(cfg, "ocr", None)
    return write_shards.pipeline[-1]


def build_pdf_ocr(cfg: PdfOcrConfig) -> list[Stage]:
    pages = pages_stage(cfg)
    # each pages task writes its own shards, in page order; then the shared finalize stage
    _, finalize = shard_stages(cfg, "ocr", None, pages.tasks)
    return [pages, finalize]
