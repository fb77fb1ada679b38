"""Steps around CLIP scoring in the pairs job: the global quantile of ``top_fraction`` mode, and
the image scores copied into a pair's meta.

``top_fraction`` keeps the best-scoring share of ALL pairs, so the threshold is a quantile over
every task's scores. Nothing gathers documents for it (DESIGN.md "global decisions"):

1. stage ``clip_score``: ``ClipScorer`` then ``ScoreRows``, which writes each task's scores as a
   small table ``<scores folder>/<rank:05d>.parquet`` (one float per pair) while the scored
   pairs are staged;
2. stage ``clip_threshold`` (one task): ``ClipQuantile`` reads every score table and writes
   ``threshold.json``: ``numpy.quantile(scores, 1 - top_fraction)`` (numpy's default, linear
   interpolation), the number of scores and the fraction;
3. stage ``clip_filter``: ``ClipScoreFilter(threshold_file=...)`` keeps the pairs scoring at least
   that threshold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from filters.clip_score import clip_score

SCORES_SCHEMA = pa.schema([("score", pa.float64())])
THRESHOLD_FILE = "threshold.json"


class ScoreRows(PipelineStep):
    """Passes pairs through and writes this task's CLIP scores to ``<folder>/<rank:05d>.parquet``
    (written even when empty: the quantile stage then knows the task is done)."""

    name = "📎 CLIP score rows"
    type = "🔀 - PARTITION"

    def __init__(self, folder: DataFolderLike):
        super().__init__()
        self.folder = get_datafolder(folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        scores: list[float] = []
        for doc in data:
            if (score := clip_score(doc)) is not None:
                scores.append(score)
            yield doc
        with self.folder.open(f"{rank:05d}.parquet", "wb") as f:
            pq.write_table(pa.Table.from_pydict({"score": scores}, schema=SCORES_SCHEMA), f)
        self.stat_update("scores", value=len(scores))


class ClipQuantile(PipelineStep):
    """One task: the score below which pairs fall outside the top ``top_fraction`` of all scores,
    written to ``<folder>/threshold.json`` (``threshold`` null when no pair was scored)."""

    name = "📎 CLIP quantile"
    type = "🔢 - STATS"

    def __init__(self, folder: DataFolderLike, top_fraction: float):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.top_fraction = top_fraction

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        parts = []
        for path in self.folder.list_files(glob_pattern="*.parquet"):
            with self.folder.open(path, "rb") as f:
                parts.append(pq.read_table(f, schema=SCORES_SCHEMA).column("score").to_numpy())
        scores = np.concatenate(parts) if parts else np.empty(0)
        threshold = float(np.quantile(scores, 1 - self.top_fraction)) if len(scores) else None
        with self.folder.open(THRESHOLD_FILE, "w") as f:
            json.dump({"threshold": threshold, "top_fraction": self.top_fraction, "scores": len(scores)}, f)
        self.stat_update("scores", value=len(scores))
        return
        yield


class CopyScores(PipelineStep):
    """Copies scores of a pair's image into ``metadata["meta"]`` under new names (image metadata
    key -> meta key, e.g. ``nsfw`` -> ``nsfw_score``), so a shard's ``meta`` holds every score of
    the pair at its top level."""

    name = "📎 Scores into meta"
    type = "🏷 - TAGGER"

    def __init__(self, keys: Mapping[str, str]):
        super().__init__()
        self.keys = dict(keys)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            meta = doc.metadata.setdefault("meta", {})
            for media in doc.media[:1]:
                for key, name in self.keys.items():
                    if key in media.metadata:
                        meta[name] = media.metadata[key]
            yield doc
