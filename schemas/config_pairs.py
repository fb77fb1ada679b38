"""Config of the ``pairs`` job (PMD / LAION-COCO): tables, caption filters, CLIP score, the job."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.config import JobConfig, StrictModel
from schemas.config_docmatix import LlmConfig
from schemas.config_governance import GovernanceConfig
from schemas.config_images import FetchSettings, ImageDedupConfig, ImageFilterConfig, NsfwConfig


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


def _caption_llm() -> LlmConfig:
    return LlmConfig(
        model="HuggingFaceTB/SmolVLM-Instruct", max_new_tokens=96, temperature=0.7, concurrency=16
    )


class RecaptionConfig(StrictModel):
    """Synthetic captions written by a vision-language model and re-ranked, as LAION-COCO
    (``pipelines.steps.images.recaption``)."""

    enabled: bool = Field(False, description="ask a VLM for caption candidates of every kept image")
    backend: Literal["llm", "transformers"] = Field(
        "llm",
        description="llm: the chat client (llm.backend: endpoint, vllm or sglang); transformers: a local "
        "Idefics2/Idefics3/SmolVLM checkpoint folder (model_path) on the task's GPU or CPU",
    )
    model_path: str | None = Field(None, description="the checkpoint folder of backend=transformers")
    batch_size: int = Field(8, ge=1, description="images per generate call of backend=transformers")
    llm: LlmConfig = Field(
        default_factory=_caption_llm,
        description="the VLM: backend endpoint (any OpenAI-compatible server taking image_url parts), "
        "vllm or sglang; retries, time limits and concurrency as docmatix's",
    )
    templates: list[str] = Field(
        [
            "Write a short caption for this image.",
            "Describe this image in one sentence.",
            "What does this image show? Answer in one sentence.",
        ],
        min_length=1,
        description="prompts, one request each (times `samples`): the candidates",
    )
    samples: int = Field(1, ge=1, description="requests per template, each with its own seed")
    scorer: str = Field(
        "clip",
        description="how the best candidate is chosen: clip (the job's CLIP model, clip.weights), first "
        "(the first valid one), or module:function taking (image bytes, captions) -> scores",
    )
    min_words: int = Field(3, ge=1, description="candidates with fewer words are dropped (too_short)")
    max_words: int = Field(60, ge=1, description="candidates with more words are dropped (too_long)")
    languages: list[str] = Field(
        ["en"], description="candidates in other languages are dropped (wrong_language); empty: any"
    )
    min_language_score: float = Field(
        0.5, ge=0, le=1, description="fastText score a kept language must reach"
    )
    max_inflight_bytes: int = Field(
        64_000_000, ge=1_000_000, description="base64 image bytes in flight at once, per task"
    )
    pii: bool = Field(
        True, description="PII placeholders in candidates, as in any text (governance.pii kinds)"
    )


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
    recaption: RecaptionConfig = RecaptionConfig()
    governance: GovernanceConfig = GovernanceConfig()
