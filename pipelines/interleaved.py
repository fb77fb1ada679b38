"""The ``interleaved`` job (OBELICS): WARC pages -> interleaved image-text documents.

In crawl mode (``page_urls``), stage ``crawl`` first fetches the listed pages with the shared
fetcher and archives the responses as WARC (pipelines/steps/web/crawl.py); extraction reads that archive.

Stage ``extract`` reads WARC/ARC files (or a table of record pointers), decodes and simplifies
each page into ordered text and image nodes, identifies its language, applies the node-level
filters (drop a paragraph or an image) and the document-level filters (drop the document), and
stages the survivors as Parquet under ``_stage/extract/``. Every drop is counted per reason in
``_logs/extract/stats.json`` and sampled into ``_excluded/extract/``.

Then, decided from URLs and text alone before anything is fetched (``text_dedup``, see
pipelines/dedup.py): document URL dedup and MinHash near-duplicates (keep the newest by WARC-Date),
image URLs on more than ``text_dedup.image_url_max_docs`` pages removed, image-set dedup, and
paragraphs repeated in more than ``text_dedup.paragraph_max_docs`` pages of one domain removed;
the survivors are staged in ``_stage/text_dedup/``.

With ``fetch_images`` on, image fetching follows (DESIGN.md: image-centric, partitioned by host):

- ``image_urls`` (executor.tasks tasks): distinct image URLs per task, split by a stable hash of
  their host into ``_stage/image_urls/p<partition>/<rank>.parquet``;
- ``fetch`` (``fetch.partitions`` tasks): each partition's URLs fetched once, decoded and resized,
  staged keyed by URL in ``_stage/fetched/<partition>.parquet`` (failures counted
  ``failed_<reason>`` in ``_logs/fetch/stats.json``);
- ``join``: the documents get their images back (failed ones removed), the image filters drop
  images by size and aspect ratio, the NSFW filter scores every image and applies its policy
  (drop the image or the document), documents left with too few images are dropped, and the
  survivors are staged in ``_stage/join/``;
- image dedup (``image_keys`` -> ``image_groups`` -> ``image_clusters`` -> ``image_dedup``): exact
  and near-duplicate images across the dataset, one kept per cluster;
- ``write_shards`` and ``finalize`` (pipelines/pack.py) turn them into shards and a manifest.

The join stays a stage of its own, ending in staged Parquet, rather than writing shards itself:
the shard tail is then exactly the one every job shares, and a re-run after a failed shard write
resumes without re-joining. Without ``fetch_images`` the job ends at staged documents that carry
image URLs.
"""

from __future__ import annotations

import glob
import os

import fsspec

from filters.document_filters import DocumentQualityFilter
from filters.image_filters import ImageFilters, MinImagesFilter
from filters.language import LanguageFilter, LanguageTagger
from filters.node_filters import NodeFilters
from filters.nsfw import NsfwFilter
from pipelines.dedup import image_dedup_stages, text_dedup_stages
from pipelines.fetching import JOIN, image_fetch_stages
from pipelines.governance import governance_steps
from pipelines.pack import shard_stages
from pipelines.stages import Stage
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.stage_io import StageReader, StageWriter
from pipelines.steps.web.crawl import CrawlPages
from pipelines.steps.web.html_extract import HtmlExtractor
from pipelines.steps.web.warc_reader import WarcPointerReader, WarcReader
from schemas.config import ConfigError
from schemas.config_interleaved import InterleavedConfig
from schemas.histograms import HISTOGRAMS_DIR

CRAWL = "crawl"
EXTRACT = "extract"


def warc_reader(warcs: list[str], pointers: str | None, dataset_dir: str, crawled: bool = False):
    """A reader over WARC inputs (one folder, or files and globs on one filesystem), over a table
    of record pointers, or (``crawled``) over the crawl stage's archive; shared with the pairs job."""
    if sum(map(bool, (warcs, pointers, crawled))) > 1:
        raise ConfigError("give one input: warcs, pointers or page_urls")
    if crawled:
        return WarcReader(f"{dataset_dir}/_stage/{CRAWL}", glob_pattern="*.warc.gz")
    if pointers:
        return WarcPointerReader(pointers)
    if not warcs:
        raise ConfigError("warcs: give at least one WARC/ARC file, folder or glob (or pointers=TABLE)")
    if len(warcs) == 1:
        fs, path = fsspec.core.url_to_fs(warcs[0])
        if fs.isdir(path):
            return WarcReader(warcs[0])
    files: list[str] = []
    protocols = set()
    for pattern in warcs:
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
    listing = f"{dataset_dir}/_stage/warc_paths.txt"
    with fsspec.open(listing, "w", auto_mkdir=True) as f:
        f.writelines(f"{os.path.relpath(p, root)}\n" for p in sorted(set(files)))
    return WarcReader(root if protocol == "file" else f"{protocol}://{root}", paths_file=listing)


def histograms(cfg: InterleavedConfig, stage: str) -> dict[str, str]:
    """Where a filter of ``stage`` writes the histograms of what it measures (for the report)."""
    return {"histograms_dir": f"{cfg.dataset_dir}/{HISTOGRAMS_DIR}", "histograms_stage": stage}


def extract_stage(cfg: InterleavedConfig) -> Stage:
    def recorder(step: str) -> ExclusionRecorder:
        return ExclusionRecorder.for_job(cfg, EXTRACT, step)

    pipeline = [
        warc_reader(cfg.warcs, cfg.pointers, cfg.dataset_dir, crawled=bool(cfg.page_urls)),
        HtmlExtractor(),
        LanguageTagger(),
        NodeFilters(cfg.node_filters, exclusion_writer=recorder("node_filters"), **histograms(cfg, EXTRACT)),
        LanguageFilter(cfg.doc_filters, exclusion_writer=recorder("language"), **histograms(cfg, EXTRACT)),
        DocumentQualityFilter(
            cfg.doc_filters, exclusion_writer=recorder("document_filters"), **histograms(cfg, EXTRACT)
        ),
        *governance_steps(cfg, EXTRACT, "text"),
        StageWriter(f"{cfg.dataset_dir}/_stage/{EXTRACT}"),
    ]
    return Stage(EXTRACT, pipeline, cfg.executor.tasks)


def fetch_stages(cfg: InterleavedConfig, source: str) -> list[Stage]:
    """image_urls -> fetch -> join (image filters, NSFW, too few images) -> image dedup -> shards,
    for the documents staged in ``source``."""

    def recorder(step: str) -> ExclusionRecorder:
        return ExclusionRecorder.for_job(cfg, JOIN, step)

    join_steps = [
        ImageFilters(cfg.image_filters, **histograms(cfg, JOIN)),
        *([NsfwFilter(cfg.nsfw, recorder("nsfw"), **histograms(cfg, JOIN))] if cfg.nsfw.enabled else []),
        *governance_steps(cfg, JOIN, "images"),
        MinImagesFilter(cfg.doc_filters.min_images, exclusion_writer=recorder("image_filters")),
    ]
    stages, result = image_fetch_stages(cfg, cfg.fetch, source, join_steps)
    if cfg.image_dedup.enabled:
        dedup, result = image_dedup_stages(cfg, cfg.image_dedup, result, cfg.doc_filters.min_images)
        stages += dedup
    return stages + shard_stages(cfg, "interleaved", StageReader(result))


def crawl_stage(cfg: InterleavedConfig) -> Stage:
    partitions = cfg.fetch.partitions or cfg.executor.tasks
    crawler = CrawlPages(cfg.page_urls, f"{cfg.dataset_dir}/_stage/{CRAWL}", partitions, cfg.fetch)
    return Stage(CRAWL, [crawler], partitions)


def build_interleaved(cfg: InterleavedConfig) -> list[Stage]:
    stages = [crawl_stage(cfg)] if cfg.page_urls else []
    stages.append(extract_stage(cfg))
    result = f"{cfg.dataset_dir}/_stage/{EXTRACT}"
    if cfg.text_dedup.enabled:
        dedup, result = text_dedup_stages(cfg, cfg.text_dedup, result)
        stages += dedup
    if cfg.fetch_images:
        stages += fetch_stages(cfg, result)
    return stages
