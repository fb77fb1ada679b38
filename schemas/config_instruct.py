"""Config of the instruction data: ``vlmdata import messages|alpaca|llava|sharegpt PATH`` and
``vlmdata run instruct`` (The Cauldron built from its sources)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.config import NAME_PATTERN, JobConfig, StrictModel
from schemas.config_governance import GovernanceConfig, PiiConfig

Layout = Literal["messages", "alpaca", "llava", "sharegpt"]


class ConversationImportConfig(JobConfig):
    """Instruction and conversation data -> ``qa`` shards in The Cauldron's layout
    (``pipelines.conversations``); text-only rows give samples without images."""

    input: list[str] = Field(
        default_factory=list, description="files (.jsonl, .json, .parquet), folders of them or globs"
    )
    layout: Layout = Field(
        "messages",
        description="messages: `messages` [{role, content}] (+ `images`); alpaca: `instruction`, "
        "`input`, `output`; llava: `conversations` [{from, value}] + `image`; sharegpt: `conversations`",
    )
    image_folder: str | None = Field(
        None, description="where image paths of the rows are relative to; None: the input file's folder"
    )
    max_tokens: int | None = Field(
        4096,
        ge=1,
        description="samples whose turns exceed this many tokens are dropped (too_many_tokens); None: no cap",
    )
    tokenizer: str | None = Field(
        None,
        description="tokenizer.json counting tokens for max_tokens; None: shards.tokenizer, else the estimate "
        "max(1.5 per word, 1 per 4 characters)",
    )
    source: str | None = Field(None, description="turn `source`; None: the input file's name")
    licence: str | None = Field(None, description="licence of the data set, kept in every sample's meta")
    governance: GovernanceConfig = GovernanceConfig()


class InstructSource(StrictModel):
    """One source of ``run instruct``: its converter and its files."""

    converter: str = Field(
        ..., description="the converter of the source's layout (README: The Cauldron's sources)"
    )
    input: list[str] = Field(..., min_length=1, description="the source's files, folders of them or globs")
    image_folder: str | None = Field(
        None, description="where the rows' image paths are relative to; None: each row file's folder"
    )
    licence: str | None = Field(
        None, description="licence kept in meta; None: the converter's (the source's own)"
    )
    name: str | None = Field(
        None, pattern=NAME_PATTERN, description="the source's name; None: the converter's"
    )


class InstructConfig(JobConfig):
    """The Cauldron built from its sources: each source converted by its declarative converter
    (``pipelines.instruct``), several questions about one image grouped into one multi-turn sample,
    -> ``qa`` shards, one merged dataset or one per source."""

    sources: list[InstructSource] = Field(default_factory=list, description="the sources to convert")
    merge: bool = Field(
        True,
        description="true: one qa dataset of every source; false: one per source, OUT/<dataset>/<source>/",
    )
    max_turns: int = Field(
        16,
        ge=1,
        description="turns of one sample at most: more questions about an image start another sample",
    )
    max_tokens: int | None = Field(
        2048,
        ge=1,
        description="tokens of one sample at most (the same split); a longer single turn is dropped",
    )
    open_groups: int = Field(
        4096,
        ge=1,
        description="images whose questions are gathered at once; rows about one image further apart than "
        "this in a file give several samples (sources list an image's questions together or sorted)",
    )
    open_images_mb: float = Field(
        16,
        gt=0,
        description="image bytes of the gathered images at most (MiB): past it the oldest image's sample is "
        "written, which keeps memory flat on large sources",
    )
    cross_source: Literal["sha256", "phash", "off"] = Field(
        "sha256",
        description="how the same image is found across sources: sha256 of the bytes (exact copies); phash: "
        "perceptual hashes within cross_source_distance bits (re-encoded copies too; decodes every image)",
    )
    cross_source_distance: int = Field(4, ge=0, le=16, description="phash: bits two images may differ by")
    tokenizer: str | None = Field(
        None, description="tokenizer.json counting tokens; None: shards.tokenizer or the estimate"
    )
    # PII placeholders off by default: a converted answer must say what its image shows ("What is
    # the phone number?" over a letter): a placeholder would teach a model to answer "<PHONE>"
    # for a number it can read. Switch on (governance.pii.enabled) for sources that need it.
    governance: GovernanceConfig = GovernanceConfig(pii=PiiConfig(enabled=False))
