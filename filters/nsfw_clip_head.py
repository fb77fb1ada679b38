"""LAION's CLIP-embedding NSFW head as an NSFW scorer (``nsfw.model=clip_head``).

The head (github.com/LAION-AI/CLIP-based-NSFW-Detector) is a small MLP on the L2-normalised
open_clip image embedding; the CLIP checkpoint (``clip_weights``) and the head's state dict
(``head_weights``) come from paths. Needs the ``clip`` extra (open_clip, torch), imported on
first use.
"""

from __future__ import annotations

import functools
import io
import os

from PIL import Image

from schemas.config_images import NsfwConfig


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
