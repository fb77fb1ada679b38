"""Governance steps every job can add: blocklists, decontamination, PII placeholders, face blur.

``governance_steps(cfg, stage, phase)`` returns the steps ``cfg.governance`` switches on, each
with its exclusion recorder under ``_excluded/<stage>/``, for one phase of a job:

- ``"text"``: what is decidable before any image is fetched (cheap before dear): documents and
  image URLs on the URL/domain lists, text overlap with evaluation sets, then PII placeholders
  (after decontamination, which must see the text as published);
- ``"images"``: what needs the image bytes: sha256 / perceptual-hash lists, evaluation images,
  then face blurring (last, so the hash checks see the bytes as fetched);
- ``"all"``: both, for a stage whose documents already carry their images (``pack``, pairs).

A job builder adds them in one line, e.g. in the extract stage
``*governance_steps(cfg, EXTRACT, "text")`` and in the join stage
``*governance_steps(cfg, JOIN, "images")``.
"""

from __future__ import annotations

from typing import Literal

from datatrove.pipeline.base import PipelineStep

from filters.pii import PiiFormatter
from pipelines.steps.exclusions import ExclusionRecorder
from schemas.config import JobConfig
from schemas.config_governance import GovernanceConfig

Phase = Literal["text", "images", "all"]


def governance_steps(
    cfg: JobConfig, stage: str, phase: Phase = "all", governance: GovernanceConfig | None = None
) -> list[PipelineStep]:
    """The governance steps of ``phase`` for a job (``governance`` defaults to ``cfg.governance``)."""
    gov = governance or getattr(cfg, "governance", None) or GovernanceConfig()
    text, images = phase in ("text", "all"), phase in ("images", "all")

    def recorder(step: str) -> ExclusionRecorder:
        return ExclusionRecorder.for_job(cfg, stage, step)

    lists, decon = gov.blocklists, gov.decontamination
    check_urls = text and bool(lists.urls or lists.domains)
    check_hashes = images and bool(lists.image_sha256 or lists.image_phash)
    steps: list[PipelineStep] = []
    # the filters are imported where switched on: blocklists, decontamination and faces pull in
    # SciPy, imagehash and ONNX Runtime (~120 MB of a process that uses none of them)
    if check_urls or check_hashes:
        from filters.blocklists import BlocklistFilter

        steps.append(
            BlocklistFilter(lists, recorder("blocklists"), check_urls=check_urls, check_hashes=check_hashes)
        )
    if (text and decon.texts) or (images and (decon.images or decon.pairs)):
        from filters.decontamination import DecontaminationFilter

        steps.append(
            DecontaminationFilter(decon, recorder("decontamination"), check_texts=text, check_images=images)
        )
    if text and gov.pii.enabled:
        steps.append(PiiFormatter(gov.pii))
    if images and gov.faces.enabled:
        from filters.faces import FaceBlur

        steps.append(FaceBlur(gov.faces, cfg.shards.image_format, cfg.shards.jpeg_quality))
    return steps
