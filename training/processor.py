"""Samples -> token ids, labels and image tiles, the way the Idefics3 processor lays them out.

Images (follows ``Idefics3Processor`` / ``Idefics3ImageProcessor``): the image is resized so its
longest side is ``max_image_size``, each side rounded up to a whole number of tiles, and cut into
``rows x cols`` tiles of the vision encoder's input size; a downscaled global image follows. In
the text each tile becomes ``<fake_token_around_image><row_r_col_c>`` + ``image_seq_len`` x
``<image>``, rows end with a newline, and the global image is
``\\n<fake_token_around_image><global-img>`` + ``<image>``... + ``<fake_token_around_image>``.
An image that fits in one tile is only the global image. Idefics2 gets the same layout (its
tokenizer learns the position tokens like any other).

Loss: every text token of ``interleaved``/``pair``/``ocr`` samples and the end-of-text token;
for ``qa`` samples (Idefics3 chat template, ``User:<images>question<end_of_utterance>\\n
Assistant: answer<end_of_utterance>\\n``) only the answers and their ``<end_of_utterance>``.
Image tokens, their markers and the first token of a sample never carry loss.

A sample longer than ``max_length`` is cut at a text token or before a whole image (an image's
tokens and its tiles stay together); one left with no loss token is dropped and counted.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer

from schemas.samples import KINDS
from training.tokenizer import MAX_GRID, SpecialIds

IGNORE = -100


@dataclass
class Encoded:
    """One sample ready for packing."""

    input_ids: list[int]
    labels: list[int]
    tiles: list[torch.Tensor] = field(default_factory=list)  # [3, tile, tile] each, in token order
    position: tuple[int, int] = (0, 0)  # where the raw sample sits in its stream


def image_seq_len(model_config) -> int:
    """``<image>`` tokens per tile: the connector's output length."""
    if model_config.model_type == "idefics2":
        return model_config.perceiver_config.resampler_n_latents
    vision = model_config.vision_config
    return (vision.image_size // vision.patch_size) ** 2 // model_config.scale_factor**2


class Processor:
    def __init__(
        self,
        tokenizer: Tokenizer,
        ids: SpecialIds,
        tile_size: int,
        seq_len: int,
        max_image_size: int,
        max_length: int,
        image_splitting: bool = True,
    ):
        self.tokenizer, self.ids = tokenizer, ids
        self.tile_size, self.seq_len, self.max_image_size = tile_size, seq_len, max_image_size
        self.max_length, self.image_splitting = max_length, image_splitting

    def text(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    # -- images -------------------------------------------------------------------------------
    def _tensor(self, image: Image.Image) -> torch.Tensor:
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0  # mean 0.5, std 0.5 as SigLIP
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()  # [3, H, W]

    def grid(self, width: int, height: int) -> tuple[int, int]:
        """Tile rows and columns of an image once resized to ``max_image_size``."""
        if not self.image_splitting:
            return 1, 1
        scale = self.max_image_size / max(width, height)
        rows = min(MAX_GRID, max(1, math.ceil(height * scale / self.tile_size)))
        cols = min(MAX_GRID, max(1, math.ceil(width * scale / self.tile_size)))
        return rows, cols

    def image(self, data: bytes) -> tuple[list[int], list[torch.Tensor]]:
        """Token ids and tiles of one image (tiles first, the global image last)."""
        image = Image.open(io.BytesIO(data)).convert("RGB")
        rows, cols = self.grid(*image.size)
        t, ids = self.tile_size, self.ids
        glob = [ids.fake, ids.global_img] + [ids.image] * self.seq_len + [ids.fake]
        global_tile = self._tensor(image.resize((t, t), Image.Resampling.BICUBIC))
        if rows * cols == 1:
            return glob, [global_tile]
        newline = self.text("\n")
        resized = image.resize((cols * t, rows * t), Image.Resampling.BICUBIC)
        tokens, tiles = [], []
        for r in range(rows):
            for c in range(cols):
                tokens += [ids.fake, ids.grid[(r + 1, c + 1)]] + [ids.image] * self.seq_len
                tiles.append(self._tensor(resized.crop((c * t, r * t, (c + 1) * t, (r + 1) * t))))
            tokens += newline
        return tokens + newline + glob, tiles + [global_tile]

    # -- samples ------------------------------------------------------------------------------
    def pieces(self, sample: dict, members: dict[str, bytes]) -> list[tuple[list[int], bool, list]]:
        """The sample as (token ids, carries loss, tiles) pieces in order."""
        kind = sample["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        ids = self.ids
        if kind == "qa":
            out = [([ids.bos], False, []), (self.text("User:"), False, [])]
            for member in sample["images"]:
                tokens, tiles = self.image(members[member])
                out.append((tokens, False, tiles))
            for turn, qa in enumerate(sample["texts"]):
                user = ("User:" if turn else "") + qa["user"]
                out.append((self.text(user) + [ids.end_of_utterance] + self.text("\nAssistant:"), False, []))
                out.append((self.text(" " + qa["assistant"]) + [ids.end_of_utterance], True, []))
                out.append((self.text("\n"), False, []))
            return out
        out = [([ids.bos], False, [])]
        previous_text = False
        for text, member in zip(sample["texts"], sample["images"], strict=True):
            if member is not None:
                tokens, tiles = self.image(members[member])
                out.append((tokens, False, tiles))
                previous_text = False
            elif text:
                out.append((self.text(("\n\n" if previous_text else "") + text), True, []))
                previous_text = True
        out.append(([ids.eos], True, []))
        return out

    def encode(self, sample: dict, members: dict[str, bytes]) -> Encoded | None:
        """Token ids, labels and tiles of a sample, cut to ``max_length``; None when nothing
        that carries loss fits."""
        never = self.ids.never_predicted
        input_ids: list[int] = []
        labels: list[int] = []
        tiles: list[torch.Tensor] = []
        for tokens, loss, piece_tiles in self.pieces(sample, members):
            room = self.max_length - len(input_ids)
            if len(tokens) > room:
                if piece_tiles or room <= 0:
                    break  # an image is all or nothing
                tokens = tokens[:room]
            input_ids += tokens
            labels += [t if loss and t not in never else IGNORE for t in tokens]
            tiles += piece_tiles
        if all(label == IGNORE for label in labels[1:]):
            return None
        labels[0] = IGNORE  # never predicted from the previous sample of a packed row
        return Encoded(input_ids, labels, tiles)


def encode_raw(processor: Processor, members: dict[str, bytes], counters: Counter) -> Encoded | None:
    """Decode and encode one raw sample; a broken one is counted by reason and skipped."""
    try:
        sample = json.loads(members["json"])
    except KeyError:
        counters["no_json"] += 1
        return None
    except (ValueError, UnicodeDecodeError):
        counters["bad_json"] += 1
        return None
    try:
        encoded = processor.encode(sample, members)
    except KeyError:
        counters["missing_member"] += 1
        return None
    except (OSError, Image.DecompressionBombError):
        counters["bad_image"] += 1
        return None
    except (TypeError, ValueError, AttributeError):
        counters["bad_sample"] += 1
        return None
    if encoded is None:
        counters["too_long"] += 1
    return encoded
