"""``vlmdata import cauldron PATH``: The Cauldron-format parquet -> ``qa`` shards.

The Cauldron (HuggingFaceM4/the_cauldron, the instruction data of Idefics2) publishes one parquet
folder per subset, each row with ``images`` (a list of ``{bytes, path}``, the Hugging Face Image
feature) and ``texts`` (a list of ``{user, assistant, source}`` turns). The import is one
converter of ``run instruct`` (``pipelines.instruct``): ``cauldron``, whose ``Published`` style
keeps the turns as they are (a turn without ``source`` gets the import's ``source``, else the
subset's folder name), with the column names of this config. Each row is one sample: the images
in order (their paths in ``meta.images``), provenance ``<file>#row=<n>`` in ``source``, the file
and row in ``meta``. Rows without images become text-only samples (counted
``<dataset>/text_only``); turns without a user or an assistant text are left out
(``dropped_empty_turn``), a row without any is dropped (``dropped_no_turns``), an image without
bytes whose path does not resolve is ``dropped_missing_image``. ``governance`` (decontamination
against evaluation sets, PII placeholders) runs before the shard writer, as in every import.
"""

from __future__ import annotations

from dataclasses import replace

from pipelines.instruct.job import build_instruct
from pipelines.instruct.sources import SOURCES
from pipelines.instruct.styles import Published
from schemas.config import ConfigError
from schemas.config_docmatix import CauldronImportConfig
from schemas.config_instruct import InstructConfig, InstructSource


def build_cauldron_import(cfg: CauldronImportConfig):
    if not cfg.input:
        raise ConfigError(
            "input: give The Cauldron parquet files, folders or globs (vlmdata import cauldron PATH)"
        )
    images, texts = cfg.images_column, cfg.texts_column
    converter = replace(
        SOURCES["cauldron"],
        label=cfg.source or "",
        fields=(images, texts),
        images=(images,),
        style=Published(texts),
    )
    instruct = InstructConfig(
        **cfg.model_dump(
            include={"dataset", "output_dir", "executor", "shards", "audit", "seed", "governance"}
        ),
        sources=[InstructSource(converter="cauldron", input=cfg.input, name=cfg.dataset)],
        max_turns=1_000_000,  # published rows keep their turns together
        max_tokens=None,
    )
    return build_instruct(instruct, {0: converter})
