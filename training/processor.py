"""Samples -> token ids, labels and image tiles, laid out as the Idefics3 and Idefics2 processors do.

Images, ``arch="idefics3"`` (``Idefics3Processor`` / ``Idefics3ImageProcessor``): with splitting,
the image is resized so its longest side is ``max_image_size``, each side rounded up to a whole
number of tiles, and cut into ``rows x cols`` tiles of the vision encoder's input size; a
downscaled global image (squared, as Idefics3 does) follows. In the text each tile becomes
``<fake_token_around_image><row_r_col_c>`` + ``image_seq_len`` x ``<image>``, rows end with a
newline, and the global image is ``\\n<fake_token_around_image><global-img>`` + ``<image>``... +
``<fake_token_around_image>``. An image that fits in one tile, or one not split, is only the global
image; not split, it keeps its aspect ratio: resized so its longest side is one tile, padded, and
the padding masked (``pixel_attention_mask``) where Idefics3's processor squashes it to a square.

Images, ``arch="idefics2"`` (``Idefics2ImageProcessor``, the paper's native resolution): the image
keeps its size and aspect ratio within ``min_image_size`` .. ``max_image_size`` (the longest side
scaled down to the maximum, then each side raised to the minimum; sides rounded to whole
patches), padded to the batch's largest image with a pixel attention mask; the perceiver
resampler makes ``image_seq_len`` tokens of any size. Text: ``<fake_token_around_image>`` +
``<image>`` x n + ``<fake_token_around_image>``; split (the optional 4-crop split), the four
quarters then the whole image, each ``<image>`` x n, one ``<fake_token_around_image>`` between.

Per dataset (``training.config.DatasetSpec``; one ``Processor`` per dataset of the mixture):
``image_splitting`` true, false or a probability (drawn per image), ``random_resolution`` (the
longest side drawn per image from a range, in place of ``max_image_size``), ``shuffle_turns``
(the order of a multi-turn ``qa`` sample's turns, drawn per sample), ``caption`` (which caption
of a recaptioned pair trains: ``original``, ``synthetic`` or ``random``), ``max_length``. Draws come
from a generator seeded with (seed, sample key): the same sample is encoded the same way on
every run, resume and worker.

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
import random
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
    tiles: list[torch.Tensor] = field(default_factory=list)  # [3, H, W] each, in token order
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (h, w) of each tile's content
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
        image_splitting: bool | float = True,
        *,
        arch: str = "idefics3",
        patch_size: int = 1,
        min_image_size: int = 0,
        random_resolution: tuple[int, int] | None = None,
        shuffle_turns: bool = False,
        caption: str = "original",
        seed: int = 0,
    ):
        if arch not in ("idefics2", "idefics3"):
            raise ValueError(f"arch {arch!r}: expected idefics2 or idefics3")
        self.tokenizer, self.ids, self.arch = tokenizer, ids, arch
        self.tile_size, self.seq_len, self.max_image_size = tile_size, seq_len, max_image_size
        self.max_length, self.image_splitting = max_length, image_splitting
        self.patch_size, self.min_image_size = max(1, patch_size), min_image_size
        self.random_resolution, self.shuffle_turns, self.seed = random_resolution, shuffle_turns, seed
        self.caption = caption

    def text(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    # -- images -------------------------------------------------------------------------------
    def _tensor(self, image: Image.Image) -> torch.Tensor:
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0  # mean 0.5, std 0.5 as SigLIP
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()  # [3, H, W]

    def grid(
        self, width: int, height: int, longest: int | None = None, split: bool | None = None
    ) -> tuple[int, int]:
        """Idefics3 tile rows and columns of an image once resized to ``longest`` (default
        ``max_image_size``); (1, 1) when not split."""
        if not (self.image_splitting is True if split is None else split):
            return 1, 1
        scale = (longest or self.max_image_size) / max(width, height)
        rows = min(MAX_GRID, max(1, math.ceil(height * scale / self.tile_size)))
        cols = min(MAX_GRID, max(1, math.ceil(width * scale / self.tile_size)))
        return rows, cols

    def native_size(self, width: int, height: int, longest: int | None = None) -> tuple[int, int]:
        """Idefics2's size rule: (width, height) with the longest side at most ``longest`` (default
        ``max_image_size``), then each side at least ``min_image_size``; whole patches."""
        longest = longest or self.max_image_size
        if max(width, height) > longest:
            scale = longest / max(width, height)
            width, height = width * scale, height * scale
        p = self.patch_size
        width, height = max(width, self.min_image_size), max(height, self.min_image_size)
        return max(p, round(width / p) * p), max(p, round(height / p) * p)

    def _draws(self, rng: random.Random | None) -> tuple[bool, int | None]:
        """(split this image?, its longest side or None for ``max_image_size``)."""
        rng = rng or random.Random(self.seed)
        split = self.image_splitting
        if not isinstance(split, bool):
            split = rng.random() < split
        longest = rng.randint(*self.random_resolution) if self.random_resolution else None
        return split, longest

    def image(
        self, data: bytes, rng: random.Random | None = None
    ) -> tuple[list[int], list[torch.Tensor], list[tuple[int, int]]]:
        """Token ids, tiles and their content sizes of one image (in token order)."""
        image = Image.open(io.BytesIO(data)).convert("RGB")
        split, longest = self._draws(rng)
        if self.arch == "idefics2":
            return self._idefics2(image, split, longest)
        return self._idefics3(image, split, longest)

    def _padded(self, image: Image.Image, side: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """The image resized so its longest side is ``side`` (aspect kept, whole patches), on a
        ``side`` x ``side`` canvas at the top left; (tensor, content size)."""
        scale = side / max(image.size)
        p = self.patch_size
        w = min(side, max(p, round(image.width * scale / p) * p))
        h = min(side, max(p, round(image.height * scale / p) * p))
        tile = torch.zeros((3, side, side))
        tile[:, :h, :w] = self._tensor(image.resize((w, h), Image.Resampling.BICUBIC))
        return tile, (h, w)

    def _idefics3(self, image: Image.Image, split: bool, longest: int | None):
        rows, cols = self.grid(*image.size, longest=longest, split=split)
        t, ids = self.tile_size, self.ids
        glob = [ids.fake, ids.global_img] + [ids.image] * self.seq_len + [ids.fake]
        if rows * cols == 1:
            if split:  # fits one tile: the global image, squared as Idefics3 does
                return glob, [self._tensor(image.resize((t, t), Image.Resampling.BICUBIC))], [(t, t)]
            tile, size = self._padded(image, t)
            return glob, [tile], [size]
        global_tile = self._tensor(image.resize((t, t), Image.Resampling.BICUBIC))
        newline = self.text("\n")
        resized = image.resize((cols * t, rows * t), Image.Resampling.BICUBIC)
        tokens, tiles = [], []
        for r in range(rows):
            for c in range(cols):
                tokens += [ids.fake, ids.grid[(r + 1, c + 1)]] + [ids.image] * self.seq_len
                tiles.append(self._tensor(resized.crop((c * t, r * t, (c + 1) * t, (r + 1) * t))))
            tokens += newline
        tiles.append(global_tile)
        return tokens + newline + glob, tiles, [(t, t)] * len(tiles)

    def _idefics2(self, image: Image.Image, split: bool, longest: int | None):
        frames = [image]
        if split:  # the 4-crop split: quarters first, the whole image last
            w, h = image.width // 2, image.height // 2
            quarters = [
                (0, 0, w, h),
                (w, 0, image.width, h),
                (0, h, w, image.height),
                (w, h, image.width, image.height),
            ]
            frames = [image.crop(box) for box in quarters] + [image]
        tokens, tiles, sizes = [self.ids.fake], [], []
        for frame in frames:
            width, height = self.native_size(*frame.size, longest=longest)
            tiles.append(self._tensor(frame.resize((width, height), Image.Resampling.BICUBIC)))
            sizes.append((height, width))
            tokens += [self.ids.image] * self.seq_len + [self.ids.fake]
        return tokens, tiles, sizes

    # -- samples ------------------------------------------------------------------------------
    def pieces(
        self, sample: dict, members: dict[str, bytes], rng: random.Random | None = None
    ) -> list[tuple[list[int], bool, list, list]]:
        """The sample as (token ids, carries loss, tiles, tile sizes) pieces in order."""
        kind = sample["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        ids = self.ids
        if kind == "qa":
            out = [([ids.bos], False, [], []), (self.text("User:"), False, [], [])]
            for member in sample["images"]:
                tokens, tiles, sizes = self.image(members[member], rng)
                out.append((tokens, False, tiles, sizes))
            turns = list(sample["texts"])
            if self.shuffle_turns and len(turns) > 1:
                (rng or random.Random(self.seed)).shuffle(turns)
            for turn, qa in enumerate(turns):
                user = ("User:" if turn else "") + qa["user"]
                out.append(
                    (self.text(user) + [ids.end_of_utterance] + self.text("\nAssistant:"), False, [], [])
                )
                out.append((self.text(" " + qa["assistant"]) + [ids.end_of_utterance], True, [], []))
                out.append((self.text("\n"), False, [], []))
            return out
        out = [([ids.bos], False, [], [])]
        previous_text = False
        texts = sample["texts"]
        if kind == "pair" and self.caption != "original":
            texts = [self._caption(sample, rng) if t else t for t in texts]
        for text, member in zip(texts, sample["images"], strict=True):
            if member is not None:
                tokens, tiles, sizes = self.image(members[member], rng)
                out.append((tokens, False, tiles, sizes))
                previous_text = False
            elif text:
                out.append((self.text(("\n\n" if previous_text else "") + text), True, [], []))
                previous_text = True
        out.append(([ids.eos], True, [], []))
        return out

    def _caption(self, sample: dict, rng: random.Random | None) -> str:
        """The caption a pair trains on: ``caption`` synthetic (``meta.captions.synthetic``, the
        original where there is none) or random (either, drawn per sample)."""
        original = next(t for t in sample["texts"] if t)
        synthetic = ((sample.get("meta") or {}).get("captions") or {}).get("synthetic")
        if not synthetic:
            return original
        if self.caption == "random":
            return synthetic if (rng or random.Random(self.seed)).random() < 0.5 else original
        return synthetic

    def encode(self, sample: dict, members: dict[str, bytes], key: str = "") -> Encoded | None:
        """Token ids, labels and tiles of a sample, cut to ``max_length``; None when nothing
        that carries loss fits. ``key`` (the sample's) seeds this sample's draws."""
        rng = random.Random(f"{self.seed}:{key}")
        never = self.ids.never_predicted
        input_ids: list[int] = []
        labels: list[int] = []
        tiles: list[torch.Tensor] = []
        sizes: list[tuple[int, int]] = []
        for tokens, loss, piece_tiles, piece_sizes in self.pieces(sample, members, rng):
            room = self.max_length - len(input_ids)
            if len(tokens) > room:
                if piece_tiles or room <= 0:
                    break  # an image is all or nothing
                tokens = tokens[:room]
            input_ids += tokens
            labels += [t if loss and t not in never else IGNORE for t in tokens]
            tiles += piece_tiles
            sizes += piece_sizes
        if all(label == IGNORE for label in labels[1:]):
            return None
        labels[0] = IGNORE  # never predicted from the previous sample of a packed row
        return Encoded(input_ids, labels, tiles, sizes)


def encode_raw(
    processor: Processor, members: dict[str, bytes], counters: Counter, key: str = ""
) -> Encoded | None:
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
        encoded = processor.encode(sample, members, key)
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
