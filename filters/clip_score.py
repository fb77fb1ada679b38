"""CLIP score (LAION, DataComp): the cosine similarity of a pair's image and caption embeddings
under an open_clip model, and the filter keeping pairs that score well.

The model comes from config (``ClipScoreConfig``): an open_clip architecture name and the path of
its checkpoint, loaded with ``open_clip.create_model_and_transforms(model, pretrained=weights)``
exactly as a user's ViT-B-32 checkpoint is (tests save a tiny random model and load it the same
way). An architecture open_clip does not ship is registered first from ``architecture_file``.
The tokenizer is the one open_clip names for the model (the default ``SimpleTokenizer`` ships its
vocabulary in the wheel: nothing downloads). The model loads once per process on first use, on
the GPU when one is visible (``device: auto``); torch and open_clip are imported then too (the
``clip`` extra).

``ClipScorer`` scores pairs in batches of ``batch_size`` and writes the score, rounded to
:data:`SCORE_DECIMALS`, into the image's metadata and the pair's meta (``clip_score``).
``ClipScoreFilter`` keeps pairs scoring at least a threshold: a fixed one (LAION kept 0.28 with
ViT-B-32), or the one a global quantile stage wrote to a file (``top_fraction`` mode). Decisions
use the stored, rounded score, so the stored value always explains them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
from collections.abc import Iterable

import fsspec
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from PIL import Image

from schemas.config_pairs import ClipScoreConfig
from schemas.histograms import HistogramRecorder

SCORE_DECIMALS = 4
SCORE_KEY = "clip_score"


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as error:
        raise ImportError(
            f"clip.enabled needs {module}, which is not installed: pip install 'vlmdata[clip]' "
            "(or clip.enabled=false)"
        ) from error


@functools.cache
def register_architecture(path: str) -> None:
    """Register an open_clip model config (JSON) once per process; its name is the file's stem."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"clip.architecture_file: {path} not found (an open_clip model config, JSON)")
    _require("open_clip").add_model_config(path)


class ClipModel:
    """An open_clip model with its preprocessing and tokenizer, loaded on first use (so the object
    pickles to workers without the weights)."""

    def __init__(self, cfg: ClipScoreConfig):
        if not cfg.weights:
            raise ValueError(
                f"clip.weights: give the path of an open_clip checkpoint of {cfg.model} (or clip.enabled=false)"
            )
        self.cfg = cfg
        self._loaded: tuple | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_loaded": None}

    def load(self) -> tuple:
        """(model, preprocess, tokenizer, device), loaded once."""
        if self._loaded is None:
            torch = _require("torch")
            open_clip = _require("open_clip")
            cfg = self.cfg
            if cfg.architecture_file:
                register_architecture(os.path.abspath(cfg.architecture_file))
            looks_like_path = os.sep in cfg.weights or cfg.weights.endswith(
                (".pt", ".pth", ".bin", ".safetensors")
            )
            if looks_like_path and not os.path.isfile(cfg.weights):
                raise FileNotFoundError(
                    f"clip.weights: {cfg.weights} not found (an open_clip checkpoint of {cfg.model})"
                )
            if cfg.model not in open_clip.list_models():
                raise ValueError(
                    f"clip.model: {cfg.model!r} is not an open_clip architecture; give one of "
                    "open_clip.list_models() or its JSON config as clip.architecture_file"
                )
            device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
            if cfg.threads:
                torch.set_num_threads(cfg.threads)
            model, _, preprocess = open_clip.create_model_and_transforms(
                cfg.model, pretrained=cfg.weights, device=device
            )
            self._loaded = (model.eval(), preprocess, open_clip.get_tokenizer(cfg.model), device)
        return self._loaded

    def score(self, images: list[bytes], texts: list[str]) -> list[float | None]:
        """Cosine similarity of each image and its text, in [-1, 1]; None for an image that does
        not decode. One model call per ``batch_size`` pairs."""
        torch = _require("torch")
        model, preprocess, tokenizer, device = self.load()
        scores: list[float | None] = [None] * len(images)
        for start in range(0, len(images), self.cfg.batch_size):
            pixels, rows = [], []
            for i in range(start, min(start + self.cfg.batch_size, len(images))):
                try:
                    with Image.open(io.BytesIO(images[i])) as image:
                        pixels.append(preprocess(image.convert("RGB")))
                    rows.append(i)
                except Exception:  # Pillow raises many types for bad bytes
                    continue
            if not rows:
                continue
            with torch.no_grad():
                image_emb = model.encode_image(torch.stack(pixels).to(device)).float()  # [B, D]
                text_emb = model.encode_text(tokenizer([texts[i] for i in rows]).to(device)).float()  # [B, D]
                similarity = torch.nn.functional.cosine_similarity(image_emb, text_emb, dim=-1)  # [B]
            for i, value in zip(rows, similarity.cpu().tolist(), strict=True):
                scores[i] = value
        return scores


class ClipScorer(PipelineStep):
    """Scores the image and caption of every pair (the first image with bytes against
    ``doc.text``), writing ``clip_score`` into the image's metadata and ``metadata["meta"]``.

    Pairs whose image does not decode are dropped (``dropped_clip_undecodable``, to
    ``exclusion_writer``); pairs without image bytes pass unscored (``unscored``). With
    ``histograms_dir`` set, the scores go to the ``clip_score`` histogram."""

    name = "📎 CLIP scorer"
    type = "🏷 - TAGGER"

    def __init__(
        self,
        cfg: ClipScoreConfig,
        exclusion_writer=None,
        histograms_dir: str | None = None,
        histograms_stage: str = "clip",
        model: ClipModel | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        self.model = model or ClipModel(cfg)
        self.exclusion_writer = exclusion_writer
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, "clip_score")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.histograms.start()
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            pending: list[Document] = []
            for doc in data:
                pending.append(doc)
                if len(pending) >= self.cfg.batch_size:
                    yield from self.process(pending, writer, rank)
                    pending = []
            yield from self.process(pending, writer, rank)
        self.histograms.finish(rank)

    def process(self, docs: list[Document], writer=None, rank: int = 0) -> Iterable[Document]:
        wanted = [(doc, next((m for m in doc.media if m.media_bytes), None)) for doc in docs]
        scored = [(doc, media) for doc, media in wanted if media is not None]
        scores: list[float | None] = []
        if scored:
            with self.track_time(unit="batch"):
                scores = self.model.score([m.media_bytes for _, m in scored], [d.text for d, _ in scored])
        by_doc = {id(doc): score for (doc, _), score in zip(scored, scores, strict=True)}
        for doc, media in wanted:
            self.stat_update("pairs_in")
            if media is None:
                self.stat_update("unscored")
                yield doc
                continue
            value = by_doc[id(doc)]
            if value is None:
                self.stat_update("dropped_clip_undecodable")
                if writer:
                    doc.metadata["filter_reason"] = "clip_undecodable"
                    writer.write(doc, rank)
                continue
            value = round(float(value), SCORE_DECIMALS)
            media.metadata[SCORE_KEY] = value
            doc.metadata.setdefault("meta", {})[SCORE_KEY] = value
            self.histograms.add("clip_score", value)
            self.stat_update("pairs_scored")
            yield doc


def clip_score(doc: Document) -> float | None:
    """The CLIP score ``ClipScorer`` stored for a pair, None when it has none."""
    return (doc.metadata.get("meta") or {}).get(SCORE_KEY)


def read_threshold(path: str) -> float | None:
    """The threshold a quantile stage wrote to ``path`` (JSON ``{"threshold": ...}``)."""
    with fsspec.open(path, "r") as f:
        return json.load(f)["threshold"]


class ClipScoreFilter(BaseFilter):
    """Keeps pairs whose stored CLIP score is at least the threshold: ``threshold``, or the value
    in ``threshold_file`` read once per task (None there: no pair was scored, all pass). Drops
    with reason ``clip_score`` (``filter_value`` = the score) or ``clip_unscored``."""

    name = "📎 CLIP score filter"

    def __init__(
        self, threshold: float | None = None, threshold_file: str | None = None, exclusion_writer=None
    ):
        super().__init__(exclusion_writer)
        if (threshold is None) == (threshold_file is None):
            raise ValueError("ClipScoreFilter: give threshold or threshold_file, not both")
        self.threshold = threshold
        self.threshold_file = threshold_file
        self._loaded = threshold_file is None

    def current_threshold(self) -> float | None:
        if not self._loaded:
            self.threshold = read_threshold(self.threshold_file)
            self._loaded = True
        return self.threshold

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        threshold = self.current_threshold()
        score = clip_score(doc)
        if score is None:
            return False, "clip_unscored"
        if threshold is not None and score < threshold:
            doc.metadata["filter_value"] = score
            return False, "clip_score"
        return True
