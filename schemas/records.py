"""What every job writes for auditors: per-stage statistics and exclusion records.

Statistics are datatrove's own (``_logs/<stage>/stats.json``): one entry per pipeline step with
counters. Filters count ``total``, ``forwarded``, ``dropped`` and ``dropped_<reason>``; our steps
add the keys in ``StatKeys``. Exclusions are ours (``_excluded/<stage>/<rank>.json``): exact
counts per reason and a bounded, seeded reservoir sample of the dropped items.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StatKeys:
    """Counter names our steps use, so the report reads them by name."""

    DOCUMENTS = "documents"
    SAMPLES = "samples"
    IMAGES = "images"
    WORDS = "words"
    SHARDS = "shards"
    BYTES = "bytes"
    IMAGES_REENCODED = "images_reencoded"
    DROPPED = "dropped"  # datatrove BaseFilter: total drops; dropped_<reason> per reason
    DROPPED_PREFIX = "dropped_"


class ExclusionRecord(BaseModel):
    """One dropped item kept as an example for the auditor."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    reason: str
    doc_id: str
    source: str = Field("", description="URL, WARC file + offset, or PDF path + page")
    value: int | float | str | None = Field(None, description="what the filter measured, when it says")
    snippet: str = Field("", description="the first characters of the text")
    thumbnail: str | None = Field(
        None, description="base64 JPEG of the first image; blurred when the reason is NSFW"
    )


class ExclusionSummary(BaseModel):
    """Everything one task dropped in one stage: exact counts, and examples per reason."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    rank: int
    counts: dict[str, int] = Field(default_factory=dict)
    examples: dict[str, list[ExclusionRecord]] = Field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), ensure_ascii=False, indent=1) + "\n"


def merge_summaries(summaries: list[ExclusionSummary], limit: int) -> dict[str, Any]:
    """Counts summed over tasks, examples concatenated in rank order and cut to ``limit``."""
    counts: dict[str, int] = {}
    examples: dict[str, list[ExclusionRecord]] = {}
    for summary in sorted(summaries, key=lambda s: s.rank):
        for reason, count in summary.counts.items():
            counts[reason] = counts.get(reason, 0) + count
        for reason, records in summary.examples.items():
            examples.setdefault(reason, []).extend(records)
    return {"counts": counts, "examples": {r: recs[:limit] for r, recs in examples.items()}}


def stat_total(value: int | float | dict[str, Any] | None) -> float:
    """The total of one counter in datatrove's stats.json, which writes plain counters as a number
    and counters with a distribution (or a unit) as ``{"total": ..., ...}``."""
    if value is None:
        return 0
    return value["total"] if isinstance(value, dict) else value


def step_stats(stats: list[dict[str, Any]], name_part: str) -> dict[str, float]:
    """Counter totals of the first step whose name contains ``name_part``, from a stats.json list."""
    for step in stats:
        if name_part in step["name"]:
            return {key: stat_total(value) for key, value in step.get("stats", {}).items()}
    raise KeyError(f"no step named like {name_part!r} in stats (steps: {[s['name'] for s in stats]})")
