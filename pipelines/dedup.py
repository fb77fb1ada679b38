"""The dedup stages every job can add to its chain (DESIGN.md: signature rows, a global grouping
stage, drop lists applied while streaming; nothing gathers all documents in one process).

Text dedup (before fetching), seven stages over ``executor.tasks`` tasks, grouping stages over
``text_dedup.partitions`` tasks, clustering in one task:

    doc_keys -> doc_groups -> doc_clusters        round 1: URL, MinHash, image-URL frequency
    set_keys -> set_groups -> set_clusters        round 2: image set, paragraphs per domain
    text_dedup                                    applies both rounds, stages the survivors

Image dedup (after fetching): ``image_keys -> image_groups -> image_clusters -> image_dedup``.

Each builder returns its stages and the staged folder holding its result, so a job chains the
next stage onto it. Stages of a round write into one folder, ``_stage/<groups stage>/``
(``edges/``, ``frequent/``, ``drops/``); key rows go to ``_stage/<keys stage>/``.
"""

from __future__ import annotations

from filters.image_filters import MinImagesFilter
from pipelines.stages import Stage
from pipelines.steps.dedup.dedup_groups import ClusterEdges, GroupKeys
from pipelines.steps.dedup.dedup_keys import (
    IMAGE_PHASH,
    IMAGE_SET,
    IMAGE_SHA256,
    IMAGE_URL,
    MINHASH,
    PARAGRAPH,
    URL,
)
from pipelines.steps.dedup.image_dedup import ApplyImageDedup, ImageKeys
from pipelines.steps.dedup.text_dedup import ApplyTextDedup, DocKeys, SetKeys
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.stage_io import StageReader, StageWriter
from schemas.config import JobConfig
from schemas.config_images import ImageDedupConfig
from schemas.config_interleaved import TextDedupConfig

TEXT_DEDUP = "text_dedup"
IMAGE_DEDUP = "image_dedup"


def _round(cfg: JobConfig, name: str, keys_step, partitions: int, **decisions) -> list[Stage]:
    """keys (all tasks) -> groups (one task per partition) -> clusters (one task)."""
    stage = f"{cfg.dataset_dir}/_stage"
    return [
        Stage(f"{name}_keys", keys_step, cfg.executor.tasks),
        Stage(
            f"{name}_groups",
            [GroupKeys(f"{stage}/{name}_keys", f"{stage}/{name}_groups", **decisions)],
            partitions,
        ),
        Stage(
            f"{name}_clusters",
            [ClusterEdges(f"{stage}/{name}_groups", f"{stage}/{name}_groups", origins=cfg.executor.tasks)],
            1,
        ),
    ]


def text_dedup_stages(cfg: JobConfig, dedup: TextDedupConfig, source: str) -> tuple[list[Stage], str]:
    """The text dedup of the documents staged in ``source``; returns (stages, result folder)."""
    stage = f"{cfg.dataset_dir}/_stage"
    partitions = dedup.partitions or cfg.executor.tasks
    round1, round2 = f"{stage}/doc_groups", f"{stage}/set_groups"
    links = tuple(kind for kind, on in ((URL, dedup.url), (MINHASH, dedup.minhash)) if on)
    image_limit = {IMAGE_URL: dedup.image_url_max_docs} if dedup.image_url_max_docs is not None else {}
    paragraph_limit = {PARAGRAPH: dedup.paragraph_max_docs} if dedup.paragraph_max_docs is not None else {}
    recorder = ExclusionRecorder.for_job(cfg, TEXT_DEDUP, "text_dedup")
    stages = [
        *_round(
            cfg, "doc",
            [StageReader(source), DocKeys(f"{stage}/doc_keys", partitions, dedup)],
            partitions, link=links, count_limits=image_limit,
        ),
        *_round(
            cfg, "set",
            [StageReader(source), SetKeys(f"{stage}/set_keys", partitions, dedup, round1)],
            partitions, link=(IMAGE_SET,) if dedup.image_set else (), count_limits=paragraph_limit,
        ),
        Stage(
            TEXT_DEDUP,
            [StageReader(source), ApplyTextDedup(round1, round2, exclusion_writer=recorder), StageWriter(f"{stage}/{TEXT_DEDUP}")],
            cfg.executor.tasks,
        ),
    ]  # fmt: skip
    return stages, f"{stage}/{TEXT_DEDUP}"


def image_dedup_stages(
    cfg: JobConfig, dedup: ImageDedupConfig, source: str, min_images: int
) -> tuple[list[Stage], str]:
    """Exact and near-duplicate image dedup of the documents staged in ``source``; documents left
    with fewer than ``min_images`` images are dropped. Returns (stages, result folder)."""
    stage = f"{cfg.dataset_dir}/_stage"
    partitions = dedup.partitions or cfg.executor.tasks
    keys = ImageKeys(f"{stage}/image_keys", partitions, dedup.exact, dedup.near, dedup.band_distance)

    stages = [
        *_round(
            cfg, "image", [StageReader(source), keys], partitions,
            link=(IMAGE_SHA256,) if dedup.exact else (),
            verified={IMAGE_PHASH: (dedup.max_distance, dedup.colour_tolerance, dedup.box_distance)} if dedup.near else {},
        ),
        Stage(
            IMAGE_DEDUP,
            [
                StageReader(source),
                ApplyImageDedup(f"{stage}/image_groups", exclusion_writer=ExclusionRecorder.for_job(cfg, IMAGE_DEDUP, "image_dedup")),
                MinImagesFilter(min_images, exclusion_writer=ExclusionRecorder.for_job(cfg, IMAGE_DEDUP, "min_images")),
                StageWriter(f"{stage}/{IMAGE_DEDUP}"),
            ],
            cfg.executor.tasks,
        ),
    ]  # fmt: skip
    return stages, f"{stage}/{IMAGE_DEDUP}"
