"""The ``interleaved`` job (OBELICS): WARC pages -> interleaved image-text documents.

Stage ``extract`` reads WARC/ARC files (or a table of record pointers), decodes and simplifies
each page into ordered text and image nodes, identifies its language, applies the node-level
filters (drop a paragraph or an image) and the document-level filters (drop the document), and
stages the survivors as Parquet under ``_stage/extract/``. Every drop is counted per reason in
``_logs/extract/stats.json`` and sampled into ``_excluded/extract/``.

With ``fetch_images`` on, image fetching follows (DESIGN.md: image-centric, partitioned by host):

- ``image_urls`` (executor.tasks tasks): distinct image URLs per task, split by a stable hash of
  their host into ``_stage/image_urls/p<partition>/<rank>.parquet``;
- ``fetch`` (``fetch.partitions`` tasks): each partition's URLs fetched once, decoded and resized,
  staged keyed by URL in ``_stage/fetched/<partition>.parquet`` (failures counted
  ``failed_<reason>`` in ``_logs/fetch/stats.json``);
- ``join``: the extract documents get their images back (failed ones removed), the image filters
  drop images by size and aspect ratio, documents left with too few images are dropped, and the
  survivors are staged in ``_stage/join/``;
- ``write_shards`` and ``finalize`` (pipelines/pack.py) turn them into shards and a manifest.

The join stays a stage of its own, ending in staged Parquet, rather than writing shards itself:
the shard tail is then exactly the one every job shares, and a re-run after a failed shard write
resumes without re-joining. What else follows in DESIGN.md's order (URL and text dedup, NSFW,
image dedup) joins this job as those stages land. Without ``fetch_images`` the job ends at staged
documents that carry image URLs.
"""

from __future__ import annotations

import glob
import os

import fsspec

from filters.document_filters import DocumentQualityFilter
from filters.image_filters import ImageFilters, MinImagesFilter
from filters.language import LanguageFilter, LanguageTagger
from filters.node_filters import NodeFilters
from pipelines.pack import shard_stages
from pipelines.stages import Stage
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.fetch_stage import FetchImages, ImageUrlPartitioner, JoinImages
from pipelines.steps.html_extract import HtmlExtractor
from pipelines.steps.stage_io import StageReader, StageWriter
from pipelines.steps.warc_reader import WarcPointerReader, WarcReader
from schemas.config import ConfigError, InterleavedConfig

EXTRACT = "extract"
IMAGE_URLS = "image_urls"
FETCH = "fetch"
FETCHED = "fetched"
JOIN = "join"


def warc_reader(cfg: InterleavedConfig):
    """A reader over the configured WARC inputs (one folder, or files and globs on one
    filesystem), or over the table of record pointers."""
    if cfg.pointers:
        return WarcPointerReader(cfg.pointers)
    if not cfg.warcs:
        raise ConfigError("warcs: give at least one WARC/ARC file, folder or glob (or pointers=TABLE)")
    if len(cfg.warcs) == 1:
        fs, path = fsspec.core.url_to_fs(cfg.warcs[0])
        if fs.isdir(path):
            return WarcReader(cfg.warcs[0])
    files: list[str] = []
    protocols = set()
    for pattern in cfg.warcs:
        fs, path = fsspec.core.url_to_fs(pattern)
        found = [p for p in (fs.glob(path) if glob.has_magic(path) else [path]) if fs.isfile(p)]
        if not found:
            raise ConfigError(f"warcs: {pattern!r} matches no file")
        protocols.add(pattern.split("://")[0] if "://" in pattern else "file")
        files += found
    if len(protocols) > 1:
        raise ConfigError(f"warcs: all inputs must be on one filesystem, got {sorted(protocols)}")
    root = os.path.dirname(files[0]) if len(files) == 1 else os.path.commonpath(files)
    protocol = protocols.pop()
    listing = f"{cfg.dataset_dir}/_stage/warc_paths.txt"
    with fsspec.open(listing, "w", auto_mkdir=True) as f:
        f.writelines(f"{os.path.relpath(p, root)}\n" for p in sorted(set(files)))
    return WarcReader(root if protocol == "file" else f"{protocol}://{root}", paths_file=listing)


def extract_stage(cfg: InterleavedConfig) -> Stage:
    excluded = f"{cfg.dataset_dir}/_excluded"

    def recorder(step: str) -> ExclusionRecorder:
        return ExclusionRecorder(
            excluded, EXTRACT, step, cfg.audit.reservoir_size, cfg.audit.thumbnail_px, seed=cfg.seed
        )

    pipeline = [
        warc_reader(cfg),
        HtmlExtractor(),
        LanguageTagger(),
        NodeFilters(cfg.node_filters, exclusion_writer=recorder("node_filters")),
        LanguageFilter(cfg.doc_filters, exclusion_writer=recorder("language")),
        DocumentQualityFilter(cfg.doc_filters, exclusion_writer=recorder("document_filters")),
        StageWriter(f"{cfg.dataset_dir}/_stage/{EXTRACT}"),
    ]
    return Stage(EXTRACT, pipeline, cfg.executor.tasks)


def fetch_stages(cfg: InterleavedConfig) -> list[Stage]:
    """image_urls -> fetch -> join, then the shared shard tail."""
    stage = f"{cfg.dataset_dir}/_stage"
    partitions = cfg.fetch.partitions or cfg.executor.tasks
    recorder = ExclusionRecorder(
        f"{cfg.dataset_dir}/_excluded", JOIN, "image_filters", cfg.audit.reservoir_size,
        cfg.audit.thumbnail_px, seed=cfg.seed,
    )  # fmt: skip
    return [
        Stage(
            IMAGE_URLS,
            [StageReader(f"{stage}/{EXTRACT}"), ImageUrlPartitioner(f"{stage}/{IMAGE_URLS}", partitions)],
            cfg.executor.tasks,
        ),
        Stage(
            FETCH,
            [
                FetchImages(
                    f"{stage}/{IMAGE_URLS}",
                    f"{stage}/{FETCHED}",
                    cfg.fetch,
                    image_format=cfg.shards.image_format,
                    jpeg_quality=cfg.shards.jpeg_quality,
                )
            ],
            partitions,
        ),
        Stage(
            JOIN,
            [
                StageReader(f"{stage}/{EXTRACT}"),
                JoinImages(f"{stage}/{FETCHED}", partitions),
                ImageFilters(cfg.image_filters),
                MinImagesFilter(cfg.doc_filters.min_images, exclusion_writer=recorder),
                StageWriter(f"{stage}/{JOIN}"),
            ],
            cfg.executor.tasks,
        ),
        *shard_stages(cfg, "interleaved", StageReader(f"{stage}/{JOIN}")),
    ]


def build_interleaved(cfg: InterleavedConfig) -> list[Stage]:
    stages = [extract_stage(cfg)]
    if cfg.fetch_images:
        stages += fetch_stages(cfg)
    return stages
