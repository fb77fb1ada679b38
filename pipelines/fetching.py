"""The image-fetching stages every job with image URLs shares (DESIGN.md: image-centric fetching,
partitioned by host, as OBELICS did with img2dataset):

- ``image_urls`` (executor.tasks tasks): the distinct image URLs of each task's documents, split
  by a stable hash of their host into ``_stage/image_urls/p<partition>/<rank>.parquet``;
- ``fetch`` (``fetch.partitions`` tasks): each partition's URLs fetched once, decoded and resized,
  staged keyed by URL in ``_stage/fetched/<partition>.parquet`` (failures counted
  ``failed_<reason>`` in ``_logs/fetch/stats.json``);
- ``join``: the documents get their images back (failed ones removed with their nodes), then the
  job's own steps run (image filters, NSFW, ...), and the survivors are staged in ``_stage/join/``.

The join stays a stage of its own, ending in staged Parquet: what follows (image dedup, shards)
reads it, and a re-run after a later failure resumes without fetching or joining again.
"""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep

from pipelines.stages import Stage
from pipelines.steps.images.fetch_stage import FetchImages, ImageUrlPartitioner, JoinImages
from pipelines.steps.stage_io import StageReader, StageWriter
from schemas.config import JobConfig
from schemas.config_images import FetchSettings

IMAGE_URLS = "image_urls"
FETCH = "fetch"
FETCHED = "fetched"
JOIN = "join"


def image_fetch_stages(
    cfg: JobConfig, settings: FetchSettings, source: str, join_steps: list[PipelineStep]
) -> tuple[list[Stage], str]:
    """image_urls -> fetch -> join for the documents staged in ``source``; ``join_steps`` run on
    the joined documents before they are staged. Returns (stages, the join's staged folder)."""
    stage = f"{cfg.dataset_dir}/_stage"
    partitions = settings.partitions or cfg.executor.tasks
    fetcher = FetchImages(
        f"{stage}/{IMAGE_URLS}", f"{stage}/{FETCHED}", settings,
        image_format=cfg.shards.image_format, jpeg_quality=cfg.shards.jpeg_quality,
    )  # fmt: skip
    stages = [
        Stage(
            IMAGE_URLS,
            [StageReader(source), ImageUrlPartitioner(f"{stage}/{IMAGE_URLS}", partitions)],
            cfg.executor.tasks,
        ),
        Stage(FETCH, [fetcher], partitions),
        Stage(
            JOIN,
            [
                StageReader(source),
                JoinImages(f"{stage}/{FETCHED}", partitions),
                *join_steps,
                StageWriter(f"{stage}/{JOIN}"),
            ],
            cfg.executor.tasks,
        ),
    ]
    return stages, f"{stage}/{JOIN}"
