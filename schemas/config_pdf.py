"""Config of the ``pdf_ocr`` job (OCR-IDL / PDFA): page rendering, OCR, page filters, the job."""

from __future__ import annotations

from pydantic import Field

from schemas.config import JobConfig, StrictModel


class PdfRenderConfig(StrictModel):
    """How the ``pdf_ocr`` job turns a PDF page into an image and a text-layer transcription.

    The image format and JPEG quality are ``shards.image_format`` / ``shards.jpeg_quality``."""

    dpi: int = Field(144, ge=18, le=1200, description="render resolution in dots per inch, before max_side")
    max_side: int = Field(
        1540, ge=64, description="the longer side of a rendered page is at most this many px (aspect kept)"
    )
    min_side: int = Field(
        32,
        ge=1,
        description="pages whose rendered shorter side is below this many px are dropped (page_too_small)",
    )
    max_page_side_pt: float = Field(
        14400,
        gt=0,
        description="pages with a side over this many points (200 in) are dropped (page_too_large)",
    )
    page_timeout_s: float = Field(
        30.0, gt=0, description="time limit per page for rendering and transcription, and again for OCR"
    )
    watchdog: bool = Field(
        True,
        description="render pages in a child process that is killed when a page passes page_timeout_s "
        "(MuPDF's C calls cannot be interrupted otherwise); off: in the task's process, a page is only "
        "interrupted between C calls",
    )
    word_boxes: bool = Field(
        True,
        description="keep each word's box (0..1000 of the image) in meta.words for layout-aware training",
    )


class RouterConfig(StrictModel):
    """Per page, whether the transcription comes from the text layer or from OCR
    (``pipelines.steps.pdf.pdf_pages``). Its decision and the features it used go to
    ``meta.router`` and to the step's counters ``route_<decision>``."""

    min_text_chars: int = Field(
        16,
        ge=0,
        description="a text layer with fewer non-space characters is not usable: the page goes to OCR",
    )
    max_garbage_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="a text layer with more unmapped/replacement characters than this is not usable",
    )
    check_image_cover: float = Field(
        0.5,
        ge=0,
        le=1.01,
        description="a usable text layer on a page whose images cover at least this share of it (a scan "
        "under an OCR layer) is checked against OCR of a few of its lines; above 1: never checked",
    )
    check_lines: int = Field(
        6, ge=1, le=50, description="how many of the layer's longest lines the check OCRs"
    )
    min_agreement: float = Field(
        0.8,
        ge=0,
        le=1,
        description="the checked lines' text and their OCR must agree this much (character ratio 0..1), "
        "else the page is OCRed whole (route ocr, reason layer_disagrees)",
    )


class OcrConfig(StrictModel):
    """Tesseract OCR for pages without a usable text layer (the Debian package tesseract-ocr)."""

    enabled: bool = Field(
        True, description="OCR pages without a usable text layer; off: they are dropped (ocr_disabled)"
    )
    tesseract: str = Field(
        "tesseract",
        description="the tesseract binary (name on PATH or path); missing: pages dropped (ocr_unavailable)",
    )
    languages: str = Field(
        "eng+deu+fra", description="tesseract -l value: installed traineddata names joined by +"
    )
    psm: int = Field(3, ge=0, le=13, description="tesseract page segmentation mode (3: automatic)")
    dpi: int = Field(
        300,
        ge=72,
        le=1200,
        description="OCR reads its own greyscale render of the page at this resolution, whatever render.dpi "
        "is (Tesseract is trained on ~300 dpi text)",
    )
    max_side: int = Field(
        5000, ge=256, description="the OCR render's longer side is at most this many px (aspect kept)"
    )
    deskew: bool = Field(True, description="straighten the OCR render (projection profiles, +-5 degrees)")
    denoise_below_dpi: int = Field(
        200,
        ge=0,
        description="3x3 median filter on the OCR render of scans whose image is under this resolution "
        "(fax-like: it removes speckle; on sharper scans it erases accents); 0: never",
    )


class PageFilterConfig(StrictModel):
    """Filters of the ``pdf_ocr`` job: per PDF (page counts), then per page."""

    min_pages: int = Field(1, ge=0, description="PDFs with fewer pages are dropped (too_few_pages)")
    max_pages: int = Field(1000, ge=1, description="PDFs with more pages are dropped (too_many_pages)")
    max_ink_share: float = Field(
        0.00015,
        ge=0,
        le=1,
        description="pages whose share of non-background pixels is at most this are blank (a page number "
        "alone: ~0.00007; one short line of text: ~0.0003)",
    )
    min_words: int = Field(
        3, ge=0, description="pages whose transcription has fewer words are dropped (too_little_text)"
    )
    max_tokens: int | None = Field(
        4096, ge=1, description="pages whose transcription exceeds this token budget are dropped; None = off"
    )
    tokenizer: str | None = Field(
        None,
        description="tokenizer.json counting tokens for max_tokens; None: shards.tokenizer, else the estimate "
        "max(1.5 per word, 1 per 4 characters)",
    )
    languages: list[str] = Field(
        default_factory=list,
        description="keep pages in these languages (lid.176 codes); empty = every language",
    )
    min_language_score: float = Field(
        0.5, ge=0, le=1, description="fastText score a kept language must reach"
    )
    language_min_words: int = Field(
        10, ge=0, description="the language rule applies to pages with at least this many words"
    )


class PdfOcrConfig(JobConfig):
    """The ``pdf_ocr`` job: PDFs -> one ``ocr`` sample per page (rendered image + transcription)."""

    pdfs: list[str] = Field(
        default_factory=list,
        description="PDF files, folders (searched recursively) or globs; local paths or fsspec URLs",
    )
    warcs: list[str] = Field(
        default_factory=list,
        description="WARC files, folders or globs whose application/pdf responses are read (Common Crawl)",
    )
    render: PdfRenderConfig = PdfRenderConfig()
    router: RouterConfig = RouterConfig()
    ocr: OcrConfig = OcrConfig()
    page_filters: PageFilterConfig = PageFilterConfig()
