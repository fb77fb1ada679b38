"""The ``pairs`` job (PMD, LAION-COCO): image-caption pairs filtered like LAION and DataComp.

Stage ``read`` reads the URL + caption tables (``pairs``) and mines pairs from WARC pages
(``warcs`` / ``pointers``: each image with its alt text or figure caption, through the
interleaved job's extraction), runs the caption filters (filters/caption_filters.py: URL-only or
file-name captions, length, language, flagged words) and stages the survivors in
``_stage/read/``. Bad table rows are counted ``bad_row_<reason>`` in ``_logs/read/stats.json``.

Then, as in the interleaved job and with its stages (pipelines/fetching.py, pipelines/dedup.py):

- ``image_urls`` -> ``fetch`` -> ``join``: each distinct image URL fetched once (by host
  partition), joined back into its pair; the image filters (shorter side >= 200 and aspect ratio
  <= 3 by default), the NSFW filter (``image`` policy: the NSFW image removes its pair) and
  pairs left without an image dropped (``no_images_left``, which also counts failed fetches,
  detailed ``images_dropped_fetch_<reason>``);
- CLIP score (filters/clip_score.py; a GPU stage where there is one), in ``clip.mode``:
  ``threshold``: one stage ``clip`` scoring and keeping pairs at or above ``clip.threshold``;
  ``top_fraction``: ``clip_score`` -> ``clip_threshold`` (one task, the global quantile) ->
  ``clip_filter`` (pipelines/steps/images/clip_stage.py);
- image dedup (``image_keys`` -> ``image_groups`` -> ``image_clusters`` -> ``image_dedup``);
- ``recaption`` (``recaption.enabled``): synthetic captions written by a VLM, re-ranked, kept in
  ``meta.captions`` beside the original (pipelines/steps/images/recaption.py);
- ``write_shards`` and ``finalize``: shards of kind ``pair`` whose ``meta`` holds the image URL,
  the caption, the caption's language and score, ``nsfw_score``, ``clip_score``, the captions
  and provenance.
"""

from __future__ import annotations

import glob
from pathlib import Path

import fsspec

from filters.caption_filters import CaptionFilters
from filters.clip_score import ClipScoreFilter, ClipScorer
from filters.image_filters import ImageFilters, MinImagesFilter
from filters.nsfw import NsfwFilter
from pipelines.dedup import image_dedup_stages
from pipelines.fetching import JOIN, image_fetch_stages
from pipelines.governance import governance_steps
from pipelines.interleaved import histograms, warc_reader
from pipelines.pack import shard_stages
from pipelines.stages import Stage
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.images.clip_stage import THRESHOLD_FILE, ClipQuantile, CopyScores, ScoreRows
from pipelines.steps.images.recaption import Recaption
from pipelines.steps.stage_io import StageReader, StageWriter
from pipelines.steps.web.html_extract import HtmlExtractor
from pipelines.steps.web.pairs_reader import PairsTableReader, WarcPairs
from schemas.config import ConfigError
from schemas.config_pairs import PairsConfig
from synth.llm import EndpointUnusable, check_endpoint

READ = "read"
CLIP = "clip"
CLIP_SCORE = "clip_score"
CLIP_THRESHOLD = "clip_threshold"
CLIP_FILTER = "clip_filter"
RECAPTION = "recaption"


def table_files(cfg: PairsConfig) -> list[str]:
    """The table files ``cfg.pairs`` names (globs expanded), as full paths or fsspec URLs."""
    files: list[str] = []
    for pattern in cfg.pairs:
        fs, path = fsspec.core.url_to_fs(pattern)
        found = [p for p in (fs.glob(path) if glob.has_magic(path) else [path]) if fs.isfile(p)]
        if not found:
            raise ConfigError(f"pairs: {pattern!r} matches no file")
        files += [fs.unstrip_protocol(p) if "://" in pattern else p for p in found]
    return sorted(set(files))


def recorder(cfg: PairsConfig, stage: str, step: str) -> ExclusionRecorder:
    return ExclusionRecorder.for_job(cfg, stage, step)


def read_stage(cfg: PairsConfig) -> Stage:
    """Tables and WARC pages -> pairs -> caption filters -> ``_stage/read``."""
    if not cfg.pairs and not cfg.warcs and not cfg.pointers:
        raise ConfigError(
            "give the input: pairs=[TABLE, ...] (url + caption tables) and/or warcs=[...] or pointers=TABLE"
        )
    pipeline = []
    if cfg.warcs or cfg.pointers:  # first: the table reader passes the mined pairs through
        reader = warc_reader(cfg.warcs, cfg.pointers, cfg.dataset_dir)
        pipeline += [reader, HtmlExtractor(), WarcPairs(cfg.warc_captions)]
    if cfg.pairs:
        pipeline.append(PairsTableReader(table_files(cfg), cfg.table))
    if cfg.caption_filters.enabled:
        pipeline.append(
            CaptionFilters(cfg.caption_filters, exclusion_writer=recorder(cfg, READ, "caption_filters"))
        )
    pipeline += governance_steps(cfg, READ, "text")
    pipeline.append(StageWriter(f"{cfg.dataset_dir}/_stage/{READ}"))
    return Stage(READ, pipeline, cfg.executor.tasks)


def clip_stages(cfg: PairsConfig, source: str) -> tuple[list[Stage], str]:
    """CLIP scoring and filtering of the pairs staged in ``source``; returns (stages, result folder)."""
    if not cfg.clip.weights:
        raise ConfigError(
            f"clip.weights: give the path of an open_clip checkpoint of clip.model={cfg.clip.model} "
            "(or clip.enabled=false)"
        )
    stage = f"{cfg.dataset_dir}/_stage"
    gpus = {"gpus_per_task": cfg.clip.gpus_per_task}

    def scorer(name: str) -> ClipScorer:
        return ClipScorer(
            cfg.clip, exclusion_writer=recorder(cfg, name, "clip_score"), **histograms(cfg, name)
        )

    if cfg.clip.mode == "threshold":
        keep = ClipScoreFilter(cfg.clip.threshold, exclusion_writer=recorder(cfg, CLIP, "clip_filter"))
        pipeline = [StageReader(source), scorer(CLIP), keep, StageWriter(f"{stage}/{CLIP}")]
        return [Stage(CLIP, pipeline, cfg.executor.tasks, options=gpus)], f"{stage}/{CLIP}"
    scores = f"{stage}/{CLIP_THRESHOLD}"
    keep = ClipScoreFilter(
        threshold_file=f"{scores}/{THRESHOLD_FILE}",
        exclusion_writer=recorder(cfg, CLIP_FILTER, "clip_filter"),
    )
    stages = [
        Stage(
            CLIP_SCORE,
            [
                StageReader(source),
                scorer(CLIP_SCORE),
                ScoreRows(scores),
                StageWriter(f"{stage}/{CLIP_SCORE}"),
            ],
            cfg.executor.tasks,
            options=gpus,
        ),
        Stage(CLIP_THRESHOLD, [ClipQuantile(scores, cfg.clip.top_fraction)], 1),
        Stage(
            CLIP_FILTER,
            [StageReader(f"{stage}/{CLIP_SCORE}"), keep, StageWriter(f"{stage}/{CLIP_FILTER}")],
            cfg.executor.tasks,
        ),
    ]
    return stages, f"{stage}/{CLIP_FILTER}"


def check_recaption(cfg: PairsConfig) -> None:
    """An endpoint backend is asked for its models, so a missing server or model stops the job
    before any work; a CLIP scorer needs CLIP weights."""
    llm = cfg.recaption.llm
    if cfg.recaption.backend == "transformers":
        if not cfg.recaption.model_path or not Path(cfg.recaption.model_path, "config.json").exists():
            raise ConfigError(
                f"recaption.model_path={cfg.recaption.model_path!r}: give a checkpoint folder with "
                "config.json, weights and tokenizer.json (backend=transformers)"
            )
    elif llm.backend == "endpoint":
        try:
            check_endpoint(llm)
        except EndpointUnusable as error:
            raise ConfigError(f"recaption.llm: {error}") from None
    if cfg.recaption.scorer == "clip" and not cfg.clip.weights:
        raise ConfigError(
            "recaption.scorer=clip needs clip.weights (or recaption.scorer=first / module:function)"
        )


def recaption_stage(cfg: PairsConfig, source: str) -> tuple[Stage, str]:
    """Synthetic captions of the pairs staged in ``source`` (see ``steps/images/recaption.py``)."""
    llm = cfg.recaption.llm
    out = f"{cfg.dataset_dir}/_stage/{RECAPTION}"
    step = Recaption(cfg, recorder(cfg, RECAPTION, "recaption"))
    gpus = llm.gpus_per_task if llm.backend != "endpoint" else 0
    options = {"gpus_per_task": gpus} if gpus else {}
    return Stage(
        RECAPTION, [StageReader(source), step, StageWriter(out)], cfg.executor.tasks, options=options
    ), out


def build_pairs(cfg: PairsConfig) -> list[Stage]:
    if cfg.recaption.enabled:
        check_recaption(cfg)
    stages = [read_stage(cfg)]
    join_steps = [
        ImageFilters(cfg.image_filters, **histograms(cfg, JOIN)),
        *(
            [NsfwFilter(cfg.nsfw, recorder(cfg, JOIN, "nsfw"), **histograms(cfg, JOIN))]
            if cfg.nsfw.enabled
            else []
        ),
        *governance_steps(cfg, JOIN, "images"),
        MinImagesFilter(1, exclusion_writer=recorder(cfg, JOIN, "image_filters")),
        CopyScores({"nsfw": "nsfw_score"}),
    ]
    fetch, result = image_fetch_stages(cfg, cfg.fetch, f"{cfg.dataset_dir}/_stage/{READ}", join_steps)
    stages += fetch
    if cfg.clip.enabled:
        clip, result = clip_stages(cfg, result)
        stages += clip
    if cfg.image_dedup.enabled:
        dedup, result = image_dedup_stages(cfg, cfg.image_dedup, result, 1)
        stages += dedup
    if cfg.recaption.enabled:
        recaption, result = recaption_stage(cfg, result)
        stages.append(recaption)
    return stages + shard_stages(cfg, "pair", StageReader(result))
