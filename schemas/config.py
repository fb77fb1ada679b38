"""Job configuration models: one YAML per job, overridden by ``key=value`` on the command line.

Every model forbids unknown keys, so a typo fails loudly with the key's dotted path instead of
silently running with a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SlurmConfig(StrictModel):
    partition: str | None = Field(None, description="Slurm partition to submit to")
    time: str = Field("24:00:00", description="time limit per Slurm job")
    cpus_per_task: int = Field(1, ge=1, description="CPUs requested per Slurm task")
    mem_per_cpu_gb: float = Field(2, gt=0, description="memory requested per CPU, in GB")
    qos: str | None = Field(None, description="Slurm quality of service")


class ExecutorConfig(StrictModel):
    kind: Literal["local", "ray", "slurm"] = Field(
        "ray",
        description="ray: Ray cluster at ray_address / RAY_ADDRESS, else an embedded local Ray; "
        "local: local processes; slurm: a chain of Slurm jobs",
    )
    tasks: int = Field(2, ge=1, description="tasks per parallel stage (input files are split among them)")
    workers: int = Field(-1, description="tasks run at once; -1 means as many as tasks")
    ray_address: str | None = Field(None, description="Ray cluster address; unset starts an embedded Ray")
    cpus_per_task: int = Field(1, ge=1, description="CPUs Ray reserves for each task")
    mem_per_cpu_gb: float = Field(2, gt=0, description="memory Ray reserves per CPU, in GB")
    slurm: SlurmConfig = SlurmConfig()


class ShardConfig(StrictModel):
    max_bytes: int = Field(1_000_000_000, ge=1024, description="a shard is closed once it reaches this size")
    max_samples: int = Field(10_000, ge=1, description="a shard is closed once it holds this many samples")
    image_format: Literal["jpg", "png", "webp"] = Field(
        "jpg", description="every image of a dataset is stored in this format; others are re-encoded"
    )
    jpeg_quality: int = Field(90, ge=1, le=100, description="quality used when re-encoding to JPEG or WebP")
    tokenizer: str | None = Field(
        None, description="path of a tokenizer.json; when set the manifest counts tokens as well"
    )


class AuditConfig(StrictModel):
    reservoir_size: int = Field(32, ge=0, description="dropped items kept as examples per stage and reason")
    thumbnail_px: int = Field(128, ge=16, le=512, description="longest side of example thumbnails")


class JobConfig(StrictModel):
    """Options every job shares."""

    dataset: str = Field(..., pattern=NAME_PATTERN, description="dataset name, used in shard names")
    output_dir: str = Field("out", description="OUT: the dataset is written to OUT/<dataset>/")
    executor: ExecutorConfig = ExecutorConfig()
    shards: ShardConfig = ShardConfig()
    audit: AuditConfig = AuditConfig()
    seed: int = Field(0, description="seed of every random choice a job makes")

    @property
    def dataset_dir(self) -> str:
        return f"{self.output_dir.rstrip('/')}/{self.dataset}"


class PackConfig(JobConfig):
    """The ``pack`` job: staged documents (Parquet) of one kind -> shards + manifest."""

    input: str = Field(..., description="folder of staged Parquet documents (local path or fsspec URL)")
    kind: Literal["interleaved", "pair", "ocr", "qa"] = Field(..., description="sample kind of the documents")


class NodeFilterConfig(StrictModel):
    """Node level (OBELICS): drop one paragraph or image, keep the document."""

    image_url_blocklist: list[str] = Field(
        ["logo", "button", "icon", "plugin", "widget"],
        description="drop images whose URL contains one of these",
    )
    image_formats: list[str] = Field(
        ["jpg", "jpeg", "png", "webp"], description="drop images whose URL extension is another known format"
    )
    min_words: int = Field(4, ge=0, description="drop paragraphs with fewer words")
    max_words: int = Field(1000, ge=1, description="drop paragraphs with more words")
    max_char_10gram_repetition: float = Field(
        0.1, ge=0, le=1, description="share of characters in repeated 10-grams"
    )
    max_word_5gram_repetition: float = Field(
        0.1, ge=0, le=1, description="share of words in repeated 5-grams"
    )
    max_special_char_ratio: float = Field(
        0.3, ge=0, le=1, description="share of non-letter, non-space characters"
    )
    min_stopword_ratio: float = Field(0.3, ge=0, le=1, description="share of words that are stopwords")
    max_flagged_word_ratio: float = Field(0.01, ge=0, le=1, description="share of words on the flagged list")
    min_punctuation_ratio: float = Field(0.001, ge=0, le=1, description="share of punctuation characters")
    punctuation_min_words: int = Field(
        12, ge=0, description="the punctuation rule applies from this many words"
    )
    max_spam_word_ratio: float = Field(
        0.12, ge=0, le=1, description="drop paragraphs whose spam-word share reaches this"
    )


class DocFilterConfig(StrictModel):
    """Document level (OBELICS): drop the whole document."""

    min_images: int = Field(1, ge=0, description="fewest images a document may keep")
    max_images: int = Field(30, ge=0, description="most images a document may keep")
    min_words: int = Field(10, ge=0, description="fewest words")
    max_words: int = Field(2000, ge=1, description="most words")
    max_char_10gram_repetition: float = Field(
        0.1, ge=0, le=1, description="share of characters in repeated 10-grams"
    )
    max_word_5gram_repetition: float = Field(
        0.2, ge=0, le=1, description="share of words in repeated 5-grams"
    )
    max_special_char_ratio: float = Field(
        0.275, ge=0, le=1, description="share of non-letter, non-space characters"
    )
    min_stopword_ratio: float = Field(0.35, ge=0, le=1, description="share of words that are stopwords")
    max_flagged_word_ratio: float = Field(0.01, ge=0, le=1, description="share of words on the flagged list")
    min_punctuation_ratio: float = Field(0.03, ge=0, le=1, description="share of punctuation characters")
    languages: list[str] = Field(
        ["en", "de", "fr"], description="keep documents in these languages (lid.176 codes)"
    )
    min_language_score: float = Field(0.8, ge=0, le=1, description="fastText score the language must reach")


class FetchSettings(StrictModel):
    """How the fetch stage downloads images (see ``pipelines.fetch.FetchConfig``)."""

    concurrency: int = Field(64, ge=1, description="requests in flight overall, per fetch task")
    per_host: int = Field(4, ge=1, description="requests in flight per host (a host lives in one partition)")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to open a connection")
    total_timeout: float = Field(30.0, gt=0, description="seconds for one request, headers and body")
    deadline: float = Field(
        120.0, gt=0, description="seconds for one URL, retries and backoff included (straggler cut-off)"
    )
    max_bytes: int = Field(20 * 1024 * 1024, ge=1, description="bytes one image may have; more is too_large")
    max_attempts: int = Field(
        3, ge=1, description="tries per request for retryable failures (429, 503, resets)"
    )
    allow_private: bool = Field(
        False, description="let URLs reach private/loopback addresses (never for real crawls)"
    )
    resolver_override: dict[str, str] = Field(
        default_factory=dict,
        description='host pattern (exact or fnmatch, e.g. "*") -> "ip:port" to connect to instead; tests and demo',
    )
    override_plain_http: bool = Field(
        False, description="request https URLs of overridden hosts over plain HTTP (the local test server)"
    )
    max_side: int = Field(
        1024, ge=1, description="fetched images are resized so their longest side fits this"
    )
    batch_size: int = Field(
        256, ge=1, description="URLs in flight per task, and rows per write (bounds a task's memory)"
    )
    partitions: int | None = Field(
        None, ge=1, description="fetch tasks; image URLs are split among them by host; None = executor.tasks"
    )
    user_agent: str = Field(
        "vlmdata/0.1 (+https://github.com/vlmdata)",
        description="User-Agent header; robots.txt and X-Robots-Tag rules for its first word apply",
    )
    respect_robots: bool = Field(
        True, description="honour each host's robots.txt (4xx: allow all; 5xx/unreachable: disallow all)"
    )
    per_host_rate: float | None = Field(
        None,
        gt=0,
        description="requests per second per host across the job (a host lives in one task); "
        "time queued behind the rate counts against deadline",
    )
    opt_out: str | None = Field(
        None,
        description="file (local or fsspec URL) of URLs or domains, one a line, whose images are never fetched",
    )
    decode_threads: int = Field(
        2, ge=1, description="threads per fetch task decoding/resizing images beside the network loop"
    )
    resample: Literal["box", "bilinear", "bicubic", "lanczos"] = Field(
        "box",
        description="downscaling filter: box (area averaging, fastest) ... lanczos (sharpest, ~3x slower)",
    )


class ImageFilterConfig(StrictModel):
    """Image filters applied to fetched images (OBELICS)."""

    min_side: int = Field(150, ge=0, description="drop images whose shorter original side is smaller")
    max_side: int = Field(20000, ge=1, description="drop images whose longer original side is larger")
    max_aspect_ratio: float = Field(
        2.0, ge=1, description="drop images whose long side / short side exceeds this"
    )


class NsfwConfig(StrictModel):
    """NSFW scoring of fetched images (NudeNet's detector by default)."""

    enabled: bool = Field(True, description="score every kept image and apply the policy")
    model: Literal["nudenet", "clip_head"] = Field(
        "nudenet",
        description="nudenet: the ONNX detector inside the nudenet wheel; clip_head: LAION's MLP on CLIP embeddings",
    )
    threshold: float = Field(0.5, ge=0, le=1, description="images scoring at least this are NSFW")
    policy: Literal["image", "document"] = Field(
        "document", description="what an NSFW image removes: the image, or its whole document (OBELICS)"
    )
    batch_size: int = Field(16, ge=1, description="images scored per model call")
    threads: int = Field(
        1, ge=0, description="onnxruntime threads per worker (0 = all cores; 1 suits one task per CPU)"
    )
    detector_path: str | None = Field(
        None, description="an ONNX detector of NudeNet's format to use instead of the wheel's own"
    )
    clip_model: str = Field("ViT-L-14", description="clip_head: open_clip architecture of the embeddings")
    clip_weights: str | None = Field(None, description="clip_head: path of the open_clip checkpoint")
    head_weights: str | None = Field(None, description="clip_head: path of the NSFW head's weights")


class TextDedupConfig(StrictModel):
    """Deduplication decided from URLs and text alone, before any image is fetched (OBELICS)."""

    enabled: bool = Field(True, description="run the URL and text dedup stages")
    partitions: int | None = Field(
        None, ge=1, description="tasks of the global grouping stages; None = executor.tasks"
    )
    url: bool = Field(True, description="documents with the same URL: keep the newest (WARC-Date)")
    image_url_max_docs: int | None = Field(
        10, ge=1, description="drop images whose URL appears in more pages than this (logos); None = off"
    )
    image_set: bool = Field(True, description="documents with the same set of image URLs: keep the newest")
    paragraph_max_docs: int | None = Field(
        2, ge=1, description="remove paragraphs found in more pages of one domain than this; None = off"
    )
    minhash: bool = Field(True, description="near-duplicate documents by MinHash LSH: keep the newest")
    minhash_ngram: int = Field(5, ge=1, description="words per shingle")
    # 20 x 6 (candidates from Jaccard ~0.61): recall 0.96 at precision 1.0 on benchmarks/bench_dedup.py,
    # where datatrove's 14 x 8 (~0.72) found 0.86 of the planted small edits
    minhash_bands: int = Field(20, ge=1, description="LSH bands")
    minhash_rows: int = Field(6, ge=1, description="hashes per band")


class ImageDedupConfig(StrictModel):
    """Exact (sha256) and near-duplicate (64-bit perceptual hash) image dedup across the dataset."""

    enabled: bool = Field(True, description="run the image dedup stages")
    exact: bool = Field(True, description="identical bytes (sha256 of the stored image)")
    near: bool = Field(True, description="perceptual hash within max_distance bits")
    max_distance: int = Field(
        6,
        ge=0,
        le=8,
        description="Hamming distance of near duplicates (bits of 64; the band index covers 0..8)",
    )
    partitions: int | None = Field(
        None, ge=1, description="tasks of the global grouping stage; None = executor.tasks"
    )


class PiiConfig(StrictModel):
    """PII in text replaced by placeholders (<EMAIL>, <PHONE>, <IP>) in every text node."""

    enabled: bool = Field(True, description="replace the PII kinds switched on below (cheap: regexes)")
    email: bool = Field(True, description="e-mail addresses -> <EMAIL>")
    phone: bool = Field(
        True, description="phone numbers (E.164 and the national formats of phone_languages) -> <PHONE>"
    )
    ip: bool = Field(True, description="IPv4 and IPv6 addresses -> <IP>")
    only_public_ips: bool = Field(
        True, description="replace only global IP addresses (private, loopback, documentation ranges stay)"
    )
    phone_languages: list[str] = Field(
        ["en", "de", "fr"],
        description="national phone formats applied to documents of these languages (metadata lang); "
        "international +CC numbers are replaced in every language",
    )


class FaceBlurConfig(StrictModel):
    """Faces in kept images blurred, with NudeNet's detector (FACE_FEMALE / FACE_MALE boxes)."""

    enabled: bool = Field(False, description="detect faces in every kept image and blur them")
    min_score: float = Field(0.25, ge=0, le=1, description="lowest detector score of a face that is blurred")
    margin: float = Field(
        0.15, ge=0, le=1, description="each box grows by this share of its size on every side"
    )
    batch_size: int = Field(16, ge=1, description="images per detector call")
    threads: int = Field(1, ge=0, description="onnxruntime threads per worker (0 = all cores)")
    detector_path: str | None = Field(
        None, description="an ONNX detector of NudeNet's format to use instead of the wheel's own"
    )


class BlocklistConfig(StrictModel):
    """Hash and URL lists: listed images and documents are dropped (files: one entry a line, # comments)."""

    image_sha256: str | None = Field(None, description="file of sha256 hex digests of images to drop")
    image_phash: str | None = Field(
        None, description="file of 64-bit perceptual hashes (16 hex digits, filters.dedup.image_hash.phash)"
    )
    phash_max_distance: int = Field(
        4, ge=0, le=8, description="an image within this many bits of a listed perceptual hash is dropped"
    )
    urls: str | None = Field(
        None, description="file of document or image URLs to drop (normalised before matching)"
    )
    domains: str | None = Field(
        None, description="file of domains whose documents and images are dropped (subdomains too)"
    )
    image_policy: Literal["image", "document"] = Field(
        "document", description="what a listed image removes: the image, or its whole document"
    )


class DecontaminationConfig(StrictModel):
    """Samples overlapping evaluation sets dropped (GPT-3 / Llama style n-gram overlap; image phash)."""

    texts: list[str] = Field(
        default_factory=list,
        description="evaluation texts: .txt (one item a line), .jsonl/.json or .parquet (string fields of text_fields)",
    )
    text_fields: list[str] = Field(
        ["question", "text", "context", "passage", "query", "prompt"],
        description="fields of jsonl/json/parquet rows whose strings are evaluation text",
    )
    ngram: int = Field(
        13, ge=3, description="words per n-gram (normalised: lower case, letters and digits only)"
    )
    min_matches: int = Field(
        1,
        ge=1,
        description="a sample sharing at least this many distinct n-grams with the evaluation sets is dropped",
    )
    min_item_words: int = Field(
        8,
        ge=1,
        description="evaluation items shorter than ngram words but with this many count as one whole n-gram",
    )
    images: list[str] = Field(
        default_factory=list,
        description="evaluation images: folders or files of images, or .txt files of 16-hex-digit perceptual hashes",
    )
    image_max_distance: int = Field(
        4,
        ge=0,
        le=8,
        description="an image within this many bits of an evaluation image's perceptual hash matches",
    )


class GovernanceConfig(StrictModel):
    """What a dataset needs before publication: PII, faces, blocklists, decontamination."""

    pii: PiiConfig = PiiConfig()
    faces: FaceBlurConfig = FaceBlurConfig()
    blocklists: BlocklistConfig = BlocklistConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()


class InterleavedConfig(JobConfig):
    """The ``interleaved`` job: WARC pages -> OBELICS-style interleaved documents."""

    warcs: list[str] = Field(
        default_factory=list, description="WARC/ARC files or globs (local paths or fsspec URLs, gzip or not)"
    )
    pointers: str | None = Field(
        None, description="table (parquet/csv/jsonl) of WARC record pointers: columns file, offset, length"
    )
    page_urls: str | None = Field(
        None,
        description="crawl mode: a list of page URLs (text, one per line, or parquet/csv/jsonl with a url column) "
        "fetched with the fetch.* settings and archived as WARC under _stage/crawl, then extracted",
    )
    node_filters: NodeFilterConfig = NodeFilterConfig()
    doc_filters: DocFilterConfig = DocFilterConfig()
    fetch_images: bool = Field(
        False,
        description="fetch the documents' images (stages image_urls, fetch, join) and end with shards; "
        "off by default until the demo turns it on, so the job never reaches the network unasked",
    )
    fetch: FetchSettings = FetchSettings()
    image_filters: ImageFilterConfig = ImageFilterConfig()
    text_dedup: TextDedupConfig = TextDedupConfig()
    nsfw: NsfwConfig = NsfwConfig()
    image_dedup: ImageDedupConfig = ImageDedupConfig()
    governance: GovernanceConfig = GovernanceConfig()


class ConfigError(ValueError):
    """A configuration problem, with a message naming the file and key."""


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}=...: '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["shards.max_samples=100", "dataset=x"]`` -> nested dict; values parsed as YAML scalars."""
    data: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. shards.max_samples=100)")
        _set_dotted(data, key.strip(), yaml.safe_load(raw) if raw else "")
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(error: ValidationError, origin: str) -> str:
    lines = [f"{origin}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        if item["type"] == "extra_forbidden":
            lines.append(
                f"  {key}: unknown key (check the spelling; `vlmdata run JOB --help` lists the keys)"
            )
        elif item["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def load_config(model: type[JobConfig], path: str | Path | None, overrides: list[str] = ()) -> JobConfig:
    """Read a YAML config, apply ``key=value`` overrides, validate against ``model``."""
    origin = str(path) if path else "config"
    data: dict[str, Any] = {}
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    data = _merge(data, parse_overrides(list(overrides)))
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, origin)) from None


def describe_options(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, description) for every option of a config model, for ``--help``."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += describe_options(annotation, f"{key}.")
            continue
        default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
        rows.append((key, default, field.description or ""))
    return rows


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
    word_boxes: bool = Field(
        True,
        description="keep each word's box (0..1000 of the image) in meta.words for layout-aware training",
    )
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
    ocr: OcrConfig = OcrConfig()
    page_filters: PageFilterConfig = PageFilterConfig()


# --- the pairs job -------------------------------------------------------------------


class PairsTableConfig(StrictModel):
    """How the URL + caption tables of the pairs job are read (img2dataset / LAION layouts)."""

    format: Literal["auto", "parquet", "csv", "tsv", "jsonl"] = Field(
        "auto",
        description="table format; auto: from the file extension (.parquet, .csv, .tsv, .jsonl or .json, "
        "optionally compressed, e.g. .csv.gz)",
    )
    url_column: str = Field("url", description="column holding the image URL (LAION: URL)")
    caption_column: str = Field("caption", description="column holding the caption (LAION: TEXT)")
    keep_columns: list[str] = Field(
        default_factory=list, description="other columns copied as they are into each sample's meta"
    )


class CaptionFilterConfig(StrictModel):
    """Caption filters of the pairs job (LAION, DataComp), decided before any image is fetched."""

    enabled: bool = Field(True, description="run the caption filters")
    languages: list[str] = Field(
        ["en"], description="keep captions in these languages (lid.176 codes); [] keeps every language"
    )
    min_language_score: float = Field(
        0.5,
        ge=0,
        le=1,
        description="fastText score the language must reach (short texts score lower than pages)",
    )
    min_words: int = Field(3, ge=0, description="fewest words a caption may have (3: more than 2)")
    min_chars: int = Field(
        6, ge=0, description="fewest characters a caption may have, outer spaces excluded (6: more than 5)"
    )
    max_flagged_word_ratio: float = Field(
        0.0,
        ge=0,
        le=1,
        description="drop captions whose share of flagged words exceeds this (0: any flagged word)",
    )


class PairImageFilterConfig(ImageFilterConfig):
    """Image filters of the pairs job: LAION-style defaults, larger and less elongated than OBELICS."""

    min_side: int = Field(200, ge=0, description="drop images whose shorter original side is smaller")
    max_aspect_ratio: float = Field(
        3.0, ge=1, description="drop images whose long side / short side exceeds this"
    )


class PairNsfwConfig(NsfwConfig):
    """NSFW scoring of the pairs job: an NSFW image removes its pair, nothing else."""

    policy: Literal["image", "document"] = Field(
        "image", description="what an NSFW image removes: the image (its pair), or its whole document"
    )


class ClipScoreConfig(StrictModel):
    """CLIP image-caption similarity (LAION, DataComp): score every pair, keep the best."""

    enabled: bool = Field(True, description="score every pair with open_clip and filter on the score")
    model: str = Field("ViT-B-32", description="open_clip architecture name")
    weights: str | None = Field(
        None,
        description="path of the open_clip checkpoint of model (required when enabled; an open_clip "
        "pretrained tag such as 'openai' also works where its hub is reachable)",
    )
    architecture_file: str | None = Field(
        None,
        description="JSON model config of an architecture open_clip does not ship, registered before "
        "loading; model is then its file name without .json",
    )
    mode: Literal["threshold", "top_fraction"] = Field(
        "threshold",
        description="threshold: keep pairs scoring at least clip.threshold; top_fraction: keep the "
        "best-scoring clip.top_fraction of all pairs (a one-task global quantile stage)",
    )
    threshold: float = Field(
        0.28,
        ge=-1,
        le=1,
        description="lowest cosine similarity kept in threshold mode (0.28: LAION, ViT-B-32)",
    )
    top_fraction: float = Field(
        0.5, gt=0, le=1, description="share of all pairs kept in top_fraction mode (by score, dataset-wide)"
    )
    batch_size: int = Field(64, ge=1, description="pairs scored per model call")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: cuda when a GPU is visible to the task, else cpu"
    )
    gpus_per_task: float = Field(0, ge=0, description="GPUs Ray reserves for each CLIP scoring task")
    threads: int = Field(0, ge=0, description="torch CPU threads per task (0: torch's default)")


class PairsConfig(JobConfig):
    """The ``pairs`` job: URL + caption tables, or images mined from WARC pages -> pair shards."""

    pairs: list[str] = Field(
        default_factory=list,
        description="URL + caption tables: files or globs (parquet, csv, tsv, jsonl; local paths or fsspec URLs)",
    )
    table: PairsTableConfig = PairsTableConfig()
    warcs: list[str] = Field(
        default_factory=list,
        description="WARC/ARC files or globs whose pages' images are mined with their alt text or figure caption",
    )
    pointers: str | None = Field(
        None,
        description="table (parquet/csv/jsonl) of WARC record pointers to mine: columns file, offset, length",
    )
    warc_captions: list[Literal["alt", "caption"]] = Field(
        ["alt", "caption"],
        description="the text of a page image that becomes its caption, first non-empty wins: alt (its alt "
        "attribute), caption (its <figcaption>)",
    )
    caption_filters: CaptionFilterConfig = CaptionFilterConfig()
    fetch: FetchSettings = FetchSettings()
    image_filters: PairImageFilterConfig = PairImageFilterConfig()
    nsfw: PairNsfwConfig = PairNsfwConfig()
    clip: ClipScoreConfig = ClipScoreConfig()
    image_dedup: ImageDedupConfig = ImageDedupConfig()
    governance: GovernanceConfig = GovernanceConfig()


# --- the docmatix job and the Cauldron import ---------------------------------------


class LlmConfig(StrictModel):
    """The LLM that writes the question/answer pairs (synth/llm.py).

    backend=endpoint: any OpenAI-compatible chat-completions server given by endpoint_url (tests
    use one on 127.0.0.1). backend=vllm / sglang: datatrove's inference servers start one server
    per generate task on the task's GPUs (executor.kind=ray with gpus_per_task); vLLM or SGLang
    must be installed on the GPU workers."""

    backend: Literal["endpoint", "vllm", "sglang"] = Field(
        "endpoint",
        description="endpoint: an OpenAI-compatible server at endpoint_url; vllm / sglang: a server per "
        "generate task started by datatrove's inference runner on the task's GPUs",
    )
    endpoint_url: str | None = Field(
        None,
        description="base URL of the OpenAI-compatible API for backend=endpoint, e.g. http://host:8000/v1",
    )
    api_key_env: str | None = Field(
        None, description="environment variable holding the endpoint's API key (sent as Bearer); never stored"
    )
    model: str = Field(
        "HuggingFaceTB/SmolLM2-1.7B-Instruct",
        description="model name sent to the endpoint; for vllm / sglang the model path or hub name to serve",
    )
    context_tokens: int = Field(
        8192, ge=256, description="the model's context length: prompt plus max_new_tokens must fit in it"
    )
    max_new_tokens: int = Field(1024, ge=16, description="most tokens generated per request")
    temperature: float = Field(0.3, ge=0, le=2, description="sampling temperature")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass")
    tokenizer: str | None = Field(
        None,
        description="tokenizer.json of the model (tokenizers library), counting the prompt's tokens for the "
        "budget; None: the estimate max(1.5 per word, 1 per 4 characters), which errs high",
    )
    concurrency: int = Field(32, ge=1, description="requests in flight per generate task")
    request_timeout_s: float = Field(
        120.0, gt=0, description="time limit of one request (connect to last byte)"
    )
    max_attempts: int = Field(
        5, ge=1, description="tries per request; 429, 5xx, timeouts and connection errors are retried"
    )
    backoff_s: float = Field(
        1.0, ge=0, description="wait before the first retry; doubles per retry (with jitter)"
    )
    backoff_max_s: float = Field(
        30.0, ge=0, description="longest wait between retries (a Retry-After header wins)"
    )
    flush_every: int = Field(
        16,
        ge=1,
        description="responses staged per Parquet file: at most this many are asked again after a kill",
    )
    gpus_per_task: float = Field(
        1, ge=0, description="GPUs Ray reserves per generate task with backend vllm / sglang (endpoint: none)"
    )
    tp: int = Field(1, ge=1, description="tensor parallel size of the vllm / sglang server (GPUs per server)")
    model_kwargs: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="extra server flags for vllm / sglang, e.g. {gpu-memory-utilization: 0.9, dtype: bfloat16}",
    )
    server_start_timeout_s: float = Field(
        1800.0, gt=0, description="how long a vllm / sglang server may take to become ready (model load)"
    )
    server_log_dir: str | None = Field(
        None,
        description="folder for the vllm / sglang server logs, one per task; None: OUT/<dataset>/_logs/llm_server",
    )


class QaGenerationConfig(StrictModel):
    """What the docmatix job asks the LLM for (synth/qa_prompts.py)."""

    unit: Literal["pdf", "page"] = Field(
        "pdf", description="pdf: one qa sample per PDF with all its page images; page: one sample per page"
    )
    pairs_per_page: int = Field(
        4, ge=1, description="question/answer pairs asked per page (Docmatix: about 4)"
    )
    max_pairs: int = Field(24, ge=1, description="most pairs asked per request, whatever the page count")
    templates: list[str] = Field(
        default_factory=list,
        description="prompt template names to draw from (seeded per document); empty: every template",
    )
    turn_source: str = Field(
        "docmatix", description="the 'source' of every generated turn (The Cauldron layout)"
    )


class QaFilterConfig(StrictModel):
    """Filters of generated pairs (filters/qa_filters.py); a document left without pairs is dropped."""

    max_question_words: int = Field(
        60, ge=1, description="questions with more words are dropped (question_too_long)"
    )
    max_answer_words: int = Field(
        120, ge=1, description="answers with more words are dropped (answer_too_long)"
    )
    min_support: float = Field(
        0.5,
        ge=0,
        le=1,
        description="share of the answer's content words that must be found in the page text (fuzzily); "
        "fewer: unsupported; 0 turns the rule off",
    )
    fuzzy_ratio: float = Field(
        0.85, ge=0, le=1, description="similarity (difflib ratio) at which an answer word matches a page word"
    )


class DocmatixConfig(JobConfig):
    """The ``docmatix`` job: ocr shards -> LLM question/answer pairs -> filtered ``qa`` shards."""

    ocr: list[str] = Field(
        default_factory=list,
        description="ocr datasets to read: OUT/<dataset> folders or their manifest.json (local or fsspec URLs)",
    )
    llm: LlmConfig = LlmConfig()
    generation: QaGenerationConfig = QaGenerationConfig()
    qa_filters: QaFilterConfig = QaFilterConfig()


class CauldronImportConfig(JobConfig):
    """``vlmdata import cauldron PATH``: The Cauldron-format parquet -> ``qa`` shards."""

    input: list[str] = Field(
        default_factory=list,
        description="parquet files, folders (searched recursively) or globs in The Cauldron layout",
    )
    images_column: str = Field("images", description="column of the images: a list of {bytes, path}")
    texts_column: str = Field("texts", description="column of the turns: a list of {user, assistant, source}")
    source: str | None = Field(
        None, description="turn 'source' for turns without one; None: the parquet file's parent folder name"
    )


# --- the rendered_text job -----------------------------------------------------------


class RenderedTextConfig(JobConfig):
    """The ``rendered_text`` job (Rendered Text in the Idefics2 mixture): text drawn onto images ->
    ``ocr`` shards. Every random choice is drawn from ``seed`` and the sample's index."""

    texts: list[str] = Field(
        default_factory=list,
        description="UTF-8 text files (paragraphs split at blank lines) or folders of staged Parquet "
        "documents (e.g. OUT/<dataset>/_stage/extract of the interleaved job); local paths",
    )
    samples: int = Field(1000, ge=1, description="samples to draw, split among the tasks by index")
    min_font_size: int = Field(14, ge=4, description="smallest font size in pixels")
    max_font_size: int = Field(44, ge=4, description="largest font size in pixels")
    min_width: int = Field(320, ge=32, description="narrowest text block in pixels, before rotation")
    max_width: int = Field(1024, ge=32, description="widest text block in pixels, before rotation")
    min_words: int = Field(3, ge=1, description="fewest words drawn in one sample")
    max_words: int = Field(60, ge=1, description="most words drawn in one sample")
    max_rotation: float = Field(4.0, ge=0, le=45, description="largest rotation in degrees, either way")
    max_noise: float = Field(0.12, ge=0, le=1, description="largest share of pixel noise blended in")
    blur_chance: float = Field(0.2, ge=0, le=1, description="chance that a sample is slightly blurred")
    min_contrast: int = Field(
        110, ge=0, le=255, description="least grey-level difference between text and background"
    )
    max_side: int = Field(1540, ge=64, description="images are scaled down so their longer side fits")
