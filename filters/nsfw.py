"""NSFW stage (OBELICS / LAION): score every fetched image, then drop the image or its document.

Two models, both offline (``NsfwConfig.model``):

- ``nudenet`` (default): NudeNet's ONNX body-part detector ``320n.onnx``, shipped inside the
  ``nudenet`` wheel (AGPL licence files) and run with onnxruntime. An image's score is the
  highest detection score among the *exposed* body-part classes of :data:`EXPOSED_CLASSES`,
  0.0 when there is none. Detections are exactly NudeNet's own (its preprocessing, its 0.2
  score cut and its NMS): the score equals the maximum over ``NudeDetector().detect(bytes)``.
- ``clip_head``: LAION's CLIP-embedding NSFW head (github.com/LAION-AI/CLIP-based-NSFW-Detector),
  a small MLP on the L2-normalised open_clip image embedding; the CLIP checkpoint
  (``clip_weights``) and the head's state dict (``head_weights``) come from paths. Needs the
  ``clip`` extra (open_clip, torch).

A score is in [0, 1]; an image scoring at least ``threshold`` is NSFW. The ``document`` policy
(OBELICS) drops the whole document when any of its images is NSFW (reason ``nsfw``); the
``image`` policy removes only those images (reason ``nsfw_image``) and the document goes on.
Under both policies an image whose bytes decode with neither OpenCV nor Pillow is removed
(reason ``nsfw_undecodable``): it cannot be checked. Kept images carry their score in
``Media.metadata["nsfw"]``. The exclusion recorder blurs the thumbnails of every ``nsfw*``
reason.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import cv2
import nudenet
import numpy as np
import onnxruntime
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from nudenet.nudenet import _postprocess, _read_image  # NudeNet's own pre/post-processing (nudenet<4)
from PIL import Image

from filters.node_filters import drop_images
from schemas.config import NsfwConfig
from schemas.histograms import HistogramRecorder

# NudeNet classes whose detection makes an image NSFW. MALE_BREAST_EXPOSED is left out on
# purpose: a bare male chest (sport, beach, swimming, medical pages) is not sexual content, and
# counting it would remove a large share of ordinary news and sports photos.
EXPOSED_CLASSES = frozenset(
    {
        "BUTTOCKS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_EXPOSED",
    }
)
NUDENET_INPUT_PX = 320  # the side NudeDetector resizes to for the shipped "320n" model
SCORE_DECIMALS = 4


class Scorer(Protocol):
    """What ``NsfwFilter`` calls: one score in [0, 1] per image, None when it does not decode."""

    def score(self, images: list[bytes]) -> list[float | None]: ...


def decode_bgr(data: bytes) -> np.ndarray | None:
    """The image as an 8-bit OpenCV array, None when neither OpenCV nor Pillow decodes it.

    OpenCV reads the bytes as NudeNet does (``cv2.imdecode(..., IMREAD_UNCHANGED)``), so 8-bit
    images reach the detector exactly as through ``NudeDetector.detect``. 16-bit images are
    scaled to 8 bits (NudeNet would feed values up to 257 to the model); formats OpenCV does not
    read (ICO, TGA, some GIFs and TIFFs) and other depths go through Pillow, first frame, as BGR."""
    try:
        mat = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        mat = None
    if mat is not None and mat.dtype == np.uint16:
        return (mat >> 8).astype(np.uint8)
    if mat is not None and mat.dtype == np.uint8:
        return mat
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = np.asarray(image.convert("RGB"))
    except Exception:
        return None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def postprocess(output: np.ndarray, prepared: tuple, size: int) -> list[dict]:
    """NudeNet's detections from one image's raw output [1, 4 + classes, boxes] and its
    ``_read_image`` result: NudeNet's own ``_postprocess`` (0.2 cut, NMS), given only the boxes it
    would keep past the 0.2 cut, in their order. Same detections; it skips the Python loop over
    all 2,100 boxes."""
    _, x_ratio, y_ratio, x_pad, y_pad, width, height = prepared
    keep = output[0, 4:].max(axis=0) >= 0.2
    if not keep.any():
        return []
    boxes = output[:, :, keep]
    if boxes.shape[2] == 1:  # _postprocess squeezes: add an all-zero box, which the 0.2 cut skips
        boxes = np.concatenate([boxes, np.zeros_like(boxes)], axis=2)
    return _postprocess([boxes], x_pad, y_pad, x_ratio, y_ratio, width, height, size, size)


class NudeNetScorer:
    """NudeNet's ONNX detector, loaded once per process on first use (so the scorer pickles to
    Ray workers without its session).

    ``score`` runs ``batch_size`` images per onnxruntime call when the model's batch dimension
    is dynamic (the shipped ``320n.onnx``: ``['batch', 3, 'height', 'width']``); a detector
    exported with a fixed batch of 1 runs one call per image behind the same API."""

    def __init__(
        self,
        detector_path: str | None = None,
        batch_size: int = 16,
        classes: Iterable[str] = EXPOSED_CLASSES,
        threads: int = 0,
    ):
        self.detector_path = detector_path
        self.batch_size = batch_size
        self.classes = frozenset(classes)
        self.threads = threads  # onnxruntime intra-op threads; 0 = its default (all cores)
        self._session: Any = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_session": None}

    @property
    def model_path(self) -> str:
        return self.detector_path or os.path.join(os.path.dirname(nudenet.__file__), "320n.onnx")

    @property
    def session(self):
        if self._session is None:
            path = self.model_path
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"nsfw.detector_path: {path} not found (an ONNX detector of NudeNet's format)"
                )
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            self._session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return self._session

    def detections(self, images: Sequence[bytes]) -> list[list[dict] | None]:
        """NudeNet's detections (``{"class", "score", "box"}``) per image; None when the bytes
        don't decode."""
        session = self.session
        model_input = session.get_inputs()[0]
        batch_dim, side = model_input.shape[0], model_input.shape[2]
        size = side if isinstance(side, int) else NUDENET_INPUT_PX
        per_call = batch_dim if isinstance(batch_dim, int) else self.batch_size

        results: list[list[dict] | None] = [None] * len(images)
        for start in range(0, len(images), per_call):
            chunk = []  # (index, NudeNet's preprocessing: blob, ratios, paddings, size)
            for i in range(start, min(start + per_call, len(images))):
                mat = decode_bgr(images[i])
                if mat is None:
                    continue
                try:
                    chunk.append((i, _read_image(mat, size)))
                except cv2.error:  # a channel layout NudeNet's colour conversion refuses
                    continue
            if not chunk:
                continue
            blob = np.concatenate([prepared[0] for _, prepared in chunk])  # [B, 3, size, size]
            output = session.run(None, {model_input.name: blob})[0]  # [B, 4 + classes, boxes]
            for row, (i, prepared) in enumerate(chunk):
                results[i] = postprocess(output[row : row + 1], prepared, size)
        return results

    def score(self, images: list[bytes]) -> list[float | None]:
        """Per image, the highest detection score among ``classes``; 0.0 when none, None when
        the bytes don't decode."""
        return [
            None
            if found is None
            else max((d["score"] for d in found if d["class"] in self.classes), default=0.0)
            for found in self.detections(images)
        ]


# --- LAION's CLIP-embedding head (torch and open_clip are imported on first use) -----------


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as error:
        raise ImportError(
            f"nsfw.model=clip_head needs {module}, which is not installed: pip install 'vlmdata[clip]'"
        ) from error


@functools.cache
def _head_classes() -> dict[str, type]:
    """The two PyTorch layouts of LAION's head (defined on first use: torch takes seconds to import)."""
    torch = _require("torch")
    nn = torch.nn

    class L14Head(nn.Module):
        """The ViT-L/14 head: PyTorch port of LAION's Autokeras model ``clip_autokeras_binary_nsfw``
        (keys ``norm.mean``, ``norm.variance``, ``linear_1`` .. ``linear_4``); a probability."""

        def __init__(self, embed_dim: int = 768):
            super().__init__()
            self.norm = nn.Module()  # Keras Normalization layer: (x - mean) / sqrt(variance)
            self.norm.register_buffer("mean", torch.zeros(embed_dim))
            self.norm.register_buffer("variance", torch.ones(embed_dim))
            self.linear_1 = nn.Linear(embed_dim, 64)
            self.linear_2 = nn.Linear(64, 512)
            self.linear_3 = nn.Linear(512, 256)
            self.linear_4 = nn.Linear(256, 1)

        def forward(self, x):  # [B, D] -> [B]
            x = (x - self.norm.mean) / self.norm.variance.sqrt()
            x = torch.relu(self.linear_1(x))
            x = torch.relu(self.linear_2(x))
            x = torch.relu(self.linear_3(x))
            return torch.sigmoid(self.linear_4(x)).squeeze(-1)

    class H14Head(nn.Module):
        """The ViT-H/14 head, LAION's ``h14_nsfw.pth`` (``h14_nsfw_model.py``: keys ``layers.N``),
        trained by MSE on 0/1 labels: its output is clamped to [0, 1]."""

        def __init__(self, embed_dim: int = 1024):
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(embed_dim, 1024),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(1024, 2048),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(2048, 1024),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(1024, 256),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(256, 128),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(128, 16),
                nn.Linear(16, 1),
            )

        def forward(self, x):  # [B, D] -> [B]
            return self.layers(x).squeeze(-1).clamp(0, 1)

    return {"l14": L14Head, "h14": H14Head}


# The first weight of each layout, which tells the two state dicts apart.
HEAD_FIRST_KEYS = {"l14": "linear_1.weight", "h14": "layers.0.weight"}


def nsfw_head(layout: str = "l14", embed_dim: int = 768):
    """An untrained LAION NSFW head (``layout`` "l14" or "h14") for embeddings of ``embed_dim``."""
    return _head_classes()[layout](embed_dim)


def load_nsfw_head(path: str):
    """LAION's NSFW head from a state dict saved with ``torch.save``; the layout and the
    embedding size are read from the keys and the first layer's shape."""
    torch = _require("torch")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"nsfw.head_weights: {path} not found (a state dict of LAION's NSFW head)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for layout, first_key in HEAD_FIRST_KEYS.items():
        if first_key in state:
            head = nsfw_head(layout, embed_dim=state[first_key].shape[1])
            head.load_state_dict(state)
            return head.eval()
    raise ValueError(
        f"nsfw.head_weights: {path} is not a LAION NSFW head: expected the keys linear_1.* (ViT-L/14 "
        f"port) or layers.* (h14_nsfw.pth), found {sorted(state)[:4]}"
    )


def head_scores(head, embeddings):
    """Scores of ``head`` on CLIP image embeddings [B, D], L2-normalised first as LAION's
    training embeddings were."""
    torch = _require("torch")
    with torch.no_grad():
        return head(torch.nn.functional.normalize(embeddings.float(), dim=-1))


class ClipNsfwHead:
    """``model="clip_head"``: open_clip image embeddings scored by LAION's NSFW head. The CLIP
    model and the head load once per process on first use (so the scorer pickles)."""

    def __init__(self, cfg: NsfwConfig):
        if not cfg.clip_weights or not cfg.head_weights:
            raise ValueError("nsfw.model=clip_head needs nsfw.clip_weights and nsfw.head_weights (paths)")
        self.cfg = cfg
        self._models: tuple | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_models": None}

    def _load(self) -> tuple:
        if self._models is None:
            open_clip = _require("open_clip")
            torch = _require("torch")
            if not os.path.isfile(self.cfg.clip_weights):
                raise FileNotFoundError(f"nsfw.clip_weights: {self.cfg.clip_weights} not found")
            head = load_nsfw_head(self.cfg.head_weights)
            device = "cuda" if torch.cuda.is_available() else "cpu"
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.cfg.clip_model, pretrained=self.cfg.clip_weights, device=device
            )
            clip_dim = getattr(model.visual, "output_dim", None)
            head_dim = next(head.parameters()).shape[1]
            if clip_dim is not None and clip_dim != head_dim:
                raise ValueError(
                    f"nsfw.head_weights: {self.cfg.head_weights} takes {head_dim}-d embeddings but "
                    f"{self.cfg.clip_model} gives {clip_dim}-d ones: use the head trained on that CLIP"
                )
            self._models = (model.eval(), preprocess, head.to(device), device)
        return self._models

    def score(self, images: list[bytes]) -> list[float | None]:
        model, preprocess, head, device = self._load()
        torch = _require("torch")
        scores: list[float | None] = [None] * len(images)
        for start in range(0, len(images), self.cfg.batch_size):
            tensors, rows = [], []
            for i in range(start, min(start + self.cfg.batch_size, len(images))):
                try:
                    with Image.open(io.BytesIO(images[i])) as image:
                        tensors.append(preprocess(image.convert("RGB")))
                    rows.append(i)
                except Exception:
                    continue
            if not rows:
                continue
            with torch.no_grad():
                embeddings = model.encode_image(torch.stack(tensors).to(device))  # [B, D]
            for i, value in zip(rows, head_scores(head, embeddings).tolist(), strict=True):
                scores[i] = value
        return scores


def make_scorer(cfg: NsfwConfig) -> Scorer:
    """The scorer ``cfg.model`` names; nothing is loaded until the first ``score`` call."""
    if cfg.model == "clip_head":
        return ClipNsfwHead(cfg)
    return NudeNetScorer(cfg.detector_path, cfg.batch_size, threads=cfg.threads)


# --- the pipeline step ---------------------------------------------------------------------


def _images_to_score(doc: Document) -> list[int]:
    """Media indices of the document's images that have bytes (the others are not scored)."""
    return [i for i, m in enumerate(doc.media) if m.type == MediaType.IMAGE and m.media_bytes]


class NsfwFilter(PipelineStep):
    """Scores the images of each document and applies ``cfg.policy`` (see the module docstring).

    Documents are buffered until about ``batch_size`` images are pending, scored in one call and
    yielded in their original order. Dropped documents and removed images go to
    ``exclusion_writer`` (an ``ExclusionRecorder``), images as small documents like
    ``NodeFilters`` writes them (id ``<doc id>#<node index>``, the image's ``Media``)."""

    name = "🔞 NSFW"
    type = "✂️ - FILTER"

    def __init__(
        self,
        cfg: NsfwConfig | None = None,
        exclusion_writer=None,
        scorer: Scorer | None = None,
        histograms_dir: str | None = None,
        histograms_stage: str = "join",
    ):
        super().__init__()
        self.cfg = cfg or NsfwConfig()
        self.exclusion_writer = exclusion_writer
        self.scorer = scorer if scorer is not None else make_scorer(self.cfg)
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, "nsfw")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if not self.cfg.enabled:
            yield from data
            return
        self.histograms.start()
        writer_context = self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext()
        with writer_context as writer:
            pending: list[Document] = []
            pending_images = 0
            for doc in data:
                self.stat_update("documents_in")
                pending.append(doc)
                to_score = len(_images_to_score(doc))
                pending_images += to_score
                images = sum(1 for m in doc.media if m.type == MediaType.IMAGE)
                self.stat_update("images_without_bytes", value=images - to_score)
                if pending_images >= self.cfg.batch_size:
                    yield from self.process(pending, writer, rank)
                    pending, pending_images = [], 0
            yield from self.process(pending, writer, rank)
        self.histograms.finish(rank)

    def process(self, docs: list[Document], writer=None, rank: int = 0) -> Iterable[Document]:
        """Score the images of ``docs`` in one call; yield the documents the policy keeps."""
        wanted = [(doc, i) for doc in docs for i in _images_to_score(doc)]
        raw: list[float | None] = []
        if wanted:
            with self.track_time(unit="batch"):
                raw = self.scorer.score([doc.media[i].media_bytes for doc, i in wanted])
        scores: dict[int, dict[int, float | None]] = {}  # id(doc) -> media index -> score
        for (doc, i), value in zip(wanted, raw, strict=True):
            scores.setdefault(id(doc), {})[i] = None if value is None else round(float(value), SCORE_DECIMALS)
            if value is not None:
                self.histograms.add("nsfw_score", float(value))
        for doc in docs:
            if self.apply_policy(doc, scores.get(id(doc), {}), writer, rank):
                self.stat_update("documents_out")
                yield doc

    def apply_policy(
        self, doc: Document, scores: dict[int, float | None], writer=None, rank: int = 0
    ) -> bool:
        """Write the scores into the images' metadata and apply the policy; False when the whole
        document is dropped. Decisions use the rounded score that is stored, so the stored value
        always explains them (a score equal to ``threshold`` is NSFW)."""
        removed: dict[int, tuple[str, float | None]] = {}
        for i, value in scores.items():
            if value is None:
                self.stat_update("nsfw_undecodable")
                removed[i] = ("nsfw_undecodable", None)
                continue
            self.stat_update("images_scored")
            doc.media[i].metadata["nsfw"] = value
            if value >= self.cfg.threshold:
                removed[i] = ("nsfw_image", value)
        nsfw = [value for reason, value in removed.values() if reason == "nsfw_image"]
        if nsfw and self.cfg.policy == "document":
            self.stat_update("dropped_nsfw")
            if writer:
                doc.metadata["filter_reason"] = "nsfw"
                doc.metadata["filter_value"] = max(nsfw)
                writer.write(doc, rank)
            return False
        for i, (reason, value) in removed.items():
            if reason == "nsfw_image":
                self.stat_update("images_dropped_nsfw")
            if writer:
                writer.write(self._excluded(doc, i, reason, value), rank)
        drop_images(doc, set(removed))
        return True

    @staticmethod
    def _excluded(doc: Document, media_index: int, reason: str, value: float | None) -> Document:
        """The record of one removed image: a small document the exclusion writer understands."""
        media: Media = doc.media[media_index]
        nodes = doc.metadata.get("nodes") or []
        node_index = next(
            (k for k, n in enumerate(nodes) if n.get("type") == "image" and n.get("media") == media_index),
            media_index,
        )
        metadata = {
            "filter_reason": reason,
            "filter_value": value,
            "source": str(doc.metadata.get("url") or doc.metadata.get("source") or ""),
        }
        return Document(text=media.url or "", id=f"{doc.id}#{node_index}", media=[media], metadata=metadata)
