"""Config of the instruction-data imports: ``vlmdata import messages|alpaca|llava|sharegpt PATH``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.config import JobConfig
from schemas.config_governance import GovernanceConfig

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
