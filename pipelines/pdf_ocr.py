"""The ``pdf_ocr`` job (OCR-IDL / PDFA in the Idefics2 mixture): PDFs -> one ``ocr`` sample per page.

Stage ``pages`` reads PDF files and the PDF responses of WARC files (``pipelines/steps/pdf_reader``),
drops unusable PDFs and those outside the page count limits (``PdfFilter``: encrypted, corrupt,
truncated, damaged, zero pages, too few / many pages), renders every page and reads its text layer
in reading order (``PdfPages``), drops blank pages (``BlankPageFilter``), OCRs pages without a
usable text layer with Tesseract (``PageOcr``), drops pages with too little text, too many tokens
or another language (``PageTextFilter``), and stages the pages as Parquet under ``_stage/pages/``.
Every drop is counted per reason in ``_logs/pages/stats.json`` and sampled into ``_excluded/pages/``.

Then the shared tail (pipelines/pack.py) writes the shards and the manifest. Input files are
split among tasks by file and a task writes its pages in the order it made them, so the pages of
one PDF stay together and in page order (keys ``<pdf id>-p<page:05d>``), as the Docmatix job needs.
"""

from __future__ import annotations

from datatrove.utils.logging import logger

from filters.page_filters import BlankPageFilter, PageTextFilter, PdfFilter
from pipelines.pack import shard_stages
from pipelines.stages import Stage
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.pdf_pages import PageOcr, PdfPages
from pipelines.steps.pdf_reader import PdfReader, list_inputs
from pipelines.steps.stage_io import StageReader, StageWriter
from schemas.config import ConfigError, PdfOcrConfig
from schemas.histograms import HISTOGRAMS_DIR

PAGES = "pages"


class StagedPages(StageReader):
    """The staged pages; none at all (every page dropped) gives an empty dataset, not a failure."""

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        if not self.data_folder.isdir("") or not self.data_folder.list_files(glob_pattern="*.parquet"):
            logger.warning(f"{self.data_folder.path}: no staged pages, every page was dropped")
            return
        yield from super().run(None, rank, world_size)


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
            cfg.render, cfg.shards.image_format, cfg.shards.jpeg_quality, exclusion_writer=recorder("pages")
        ),
        BlankPageFilter(cfg.page_filters, exclusion_writer=recorder("blank_pages"), **histograms),
        PageOcr(cfg.ocr, cfg.render.page_timeout_s, cfg.render.word_boxes, exclusion_writer=recorder("ocr")),
        PageTextFilter(
            cfg.page_filters, cfg.shards.tokenizer, exclusion_writer=recorder("page_text"), **histograms
        ),
        StageWriter(f"{cfg.dataset_dir}/_stage/{PAGES}"),
    ]
    return Stage(PAGES, pipeline, min(cfg.executor.tasks, len(inputs)))


def build_pdf_ocr(cfg: PdfOcrConfig) -> list[Stage]:
    pages = pages_stage(cfg)
    # one staged file per pages task, read by one write_shards task: a PDF's pages stay in order
    return [pages, *shard_stages(cfg, "ocr", StagedPages(f"{cfg.dataset_dir}/_stage/{PAGES}"), pages.tasks)]
