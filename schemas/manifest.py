"""The shard manifest: a wids shard index (``wids-shard-index-v1``) plus vlmdata's own fields.

``wids.ShardListDataset("OUT/<dataset>/manifest.json")`` reads it as is: wids uses
``__kind__``, ``wids_version`` and ``shardlist`` and ignores the other keys. Shard URLs are
relative to the manifest's folder.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MANIFEST = "manifest.json"
CROSS_SOURCE = "cross_source_images.json"  # run instruct: images found in several sources
SIZES = "sizes.json"
SHARDS_DIR = "shards"


class ShardEntry(BaseModel):
    """One shard, as wids expects it, with our counts."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., description="path relative to the manifest, e.g. shards/x-00000-0000.tar")
    nsamples: int
    filesize: int
    sha256: str
    words: int = 0
    images: int = 0
    tokens: int | None = None
    sources: dict[str, int] | None = Field(None, description="samples per instruction source (run instruct)")


class Totals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shards: int = 0
    samples: int = 0
    bytes: int = 0
    words: int = 0
    images: int = 0
    tokens: int | None = None
    sources: dict[str, int] | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind_marker: str = Field("wids-shard-index-v1", alias="__kind__")
    wids_version: int = 1
    name: str
    kind: str = Field(..., description="sample kind of every sample in the dataset")
    shardlist: list[ShardEntry]
    totals: Totals
    config: dict[str, Any] = Field(default_factory=dict, description="the job's resolved configuration")
    versions: dict[str, str] = Field(default_factory=dict, description="vlmdata, git commit, dependencies")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(by_alias=True), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.model_validate(json.loads(text))


def sizes_json(manifest: Manifest) -> str:
    """``sizes.json`` as open_clip reads it: shard file name -> number of samples."""
    return json.dumps({e.url.rsplit("/", 1)[-1]: e.nsamples for e in manifest.shardlist}, indent=2) + "\n"


def shard_name(dataset: str, rank: int, seq: int) -> str:
    return f"{dataset}-{rank:05d}-{seq:04d}.tar"


def totals_of(entries: list[ShardEntry]) -> Totals:
    tokens = [e.tokens for e in entries]
    sources: dict[str, int] = {}
    for entry in entries:
        for name, count in (entry.sources or {}).items():
            sources[name] = sources.get(name, 0) + count
    return Totals(
        shards=len(entries),
        samples=sum(e.nsamples for e in entries),
        bytes=sum(e.filesize for e in entries),
        words=sum(e.words for e in entries),
        images=sum(e.images for e in entries),
        tokens=None if not entries or any(t is None for t in tokens) else sum(tokens),
        sources=dict(sorted(sources.items())) or None,
    )
