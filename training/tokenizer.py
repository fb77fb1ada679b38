"""Tokenizers: a tiny byte-level BPE trained locally with ``tokenizers`` (no hub), or the
``tokenizer.json`` of a checkpoint. Either way it carries the tokens the processor needs, named
as the Idefics3 / SmolVLM tokenizers name them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

MAX_GRID = 8  # row/column position tokens exist for up to MAX_GRID x MAX_GRID tiles
BOS, EOS, PAD = "<|im_start|>", "<|endoftext|>", "<pad>"
IMAGE, FAKE, GLOBAL, END_OF_UTTERANCE = (
    "<image>",
    "<fake_token_around_image>",
    "<global-img>",
    "<end_of_utterance>",
)


def tile_token(row: int, col: int) -> str:
    """Position token of a tile, 1-based as in the Idefics3 processor: ``<row_1_col_2>``."""
    return f"<row_{row}_col_{col}>"


SPECIAL_TOKENS = [PAD, EOS, BOS, IMAGE, FAKE, GLOBAL, END_OF_UTTERANCE] + [
    tile_token(r, c) for r in range(1, MAX_GRID + 1) for c in range(1, MAX_GRID + 1)
]


@dataclass(frozen=True)
class SpecialIds:
    pad: int
    bos: int
    eos: int
    image: int
    fake: int
    global_img: int
    end_of_utterance: int
    grid: dict[tuple[int, int], int]

    @property
    def never_predicted(self) -> set[int]:
        """Ids that never carry loss: the image placeholders and their markers."""
        return {self.image, self.fake, self.global_img, self.pad, *self.grid.values()}


def special_ids(tokenizer: Tokenizer) -> SpecialIds:
    def need(token: str) -> int:
        found = tokenizer.token_to_id(token)
        if found is None:
            raise ValueError(
                f"tokenizer has no {token!r} token; the processor needs it (Idefics3 vocabulary)"
            )
        return found

    eos = tokenizer.token_to_id(EOS)
    eos = eos if eos is not None else need(END_OF_UTTERANCE)
    bos = tokenizer.token_to_id(BOS)
    pad = tokenizer.token_to_id(PAD)
    return SpecialIds(
        pad=pad if pad is not None else eos,
        bos=bos if bos is not None else eos,
        eos=eos,
        image=need(IMAGE),
        fake=need(FAKE),
        global_img=need(GLOBAL),
        end_of_utterance=need(END_OF_UTTERANCE),
        grid={(r, c): need(tile_token(r, c)) for r in range(1, MAX_GRID + 1) for c in range(1, MAX_GRID + 1)},
    )


def train_tokenizer(texts: Iterable[str], vocab_size: int, path: str | Path) -> Tokenizer:
    """Train a byte-level BPE on ``texts`` and save it as ``path`` (a ``tokenizer.json``)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A ``tokenizer.json`` file, or a checkpoint folder holding one."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{file}: no tokenizer.json; a checkpoint folder must carry its tokenizer")
    return Tokenizer.from_file(str(file))


def extend(tokenizer: Tokenizer) -> Tokenizer:
    """A language model's tokenizer with the tokens the processor needs (image, markers, tile
    positions, end of utterance) added as special tokens where it lacks them; its own ids keep
    their meaning, the new ones come after them."""
    missing = [token for token in SPECIAL_TOKENS[3:] if tokenizer.token_to_id(token) is None]
    if missing:
        tokenizer.add_special_tokens(missing)
    return tokenizer
