"""Docmatix generation throughput: transformers' batched ``generate`` on a ~1B Llama with random weights.

What the docmatix job asks of its LLM server, measured on the engine the GPU machine has
(torch + transformers; no vLLM, Ray, datatrove or network there). ``--pages`` requests, one
page each: a deterministic page transcription (seeded sentences about names, places, dates and
amounts) put into one of our prompt templates (``synth/qa_prompts.py``, chosen per page with
``choose_template`` as the job does) and cut to about ``--prompt-tokens`` tokens (each request's
length is drawn in [0.9, 1.0] x the budget, so left padding is exercised; only page text is cut).
Each request generates exactly ``--new-tokens`` tokens (greedy, ``min_new_tokens`` = max: random
weights would otherwise stop at an early EOS) in batches of ``--batch``, left-padded, bf16 on GPU.

Model: ``LlamaForCausalLM`` with hidden 2048, 16 layers, 32 heads, 8 KV heads, intermediate 8192,
vocab 32000, untied embeddings: 1,104,218,112 parameters, randomly initialised (seeded).
Tokenizer: a word-level mapping built here (no download): words and punctuation of the
templates and the page lexicon get fixed ids, any other word a crc32-hashed one.

Timing: one untimed warm-up batch, then wall clock over all batches (CUDA synchronised).
output_tokens_s = generated tokens / seconds; requests_s = pages / seconds. The generations are
parsed with ``synth/qa_parse.py`` when it imports (random weights write garbage, so expect every
one unparseable; the point is throughput). ``--tiny``: a CPU smoke run (tiny Llama, 4 prompts,
8 new tokens). Last line: ``RESULT {json}``.

Imports only the standard library, numpy, torch, transformers and our two stdlib-only modules
``synth.qa_prompts`` and ``synth.qa_parse``, so it runs on the GPU machine from a plain checkout:
``python benchmarks/bench_docmatix.py``.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

REPO = Path(__file__).resolve().parents[1]

PAD, BOS, EOS = 0, 1, 2
ROLE_MARKERS = ("<|system|>", "<|user|>", "<|assistant|>")
_WORD = re.compile(r"<\|\w+\|>|\w+|[^\w\s]")

FIRST = ("Emma", "James", "Olivia", "Daniel", "Grace", "Samuel", "Anna", "Jonas", "Lena", "Felix")
LAST = ("Clarke", "Porter", "Hayes", "Brooks", "Turner", "Reed", "Becker", "Weber", "Martin")
PLACES = ("Riverton", "Lakeside", "Northbridge", "Elmford", "Westhaven", "Kingsport", "Millbrook")
ORGS = ("the council", "the board", "the committee", "the finance office", "the regional agency")
ACTS = ("approved", "reviewed", "postponed", "funded", "rejected", "extended", "audited")
THINGS = ("budget", "bridge repair", "school extension", "water contract", "bus route", "grant")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September")
SENTENCES = (
    "On {day} {month} {year}, {org} {act} the {thing} for {place}, at a cost of {amount} euros.",
    "{first} {last}, head of {org}, said the {thing} would be finished by {month} {year}.",
    "The {thing} in {place} served {count} residents last year, up {pct} percent.",
    "According to {first} {last}, {org} {act} {count} applications before {month}.",
    "Table {count}: the {thing} received {amount} euros, {pct} percent of the total for {place}.",
    "Section {pct} states that {org} must report on the {thing} every {count} months.",
)


@dataclass(frozen=True)
class Bench:
    pages: int
    batch: int
    new_tokens: int
    prompt_tokens: int
    tiny: bool
    seed: int = 0


def model_config(tiny: bool) -> LlamaConfig:
    """The full ~1.1B Llama (TinyLlama-like shape), or a few-MB one for the CPU smoke run."""
    if tiny:
        return LlamaConfig(
            vocab_size=32000,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
        )
    return LlamaConfig(
        vocab_size=32000,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
    )


class WordTokenizer:
    """Deterministic word-level ids: known words in sorted order after the specials and role
    markers, unknown words hashed (crc32) into the rest of the vocabulary."""

    def __init__(self, known: set[str], vocab_size: int) -> None:
        words = list(ROLE_MARKERS) + sorted(known - set(ROLE_MARKERS))
        self.vocab_size = vocab_size
        self.first_free = 3 + len(words)
        if self.first_free >= vocab_size:
            raise ValueError(f"{len(words)} known words do not fit a vocabulary of {vocab_size}")
        self.ids = {word: 3 + i for i, word in enumerate(words)}
        self.words = ["<pad>", "<s>", "</s>", *words]

    def encode(self, text: str) -> list[int]:
        span = self.vocab_size - self.first_free
        return [self.ids.get(w, self.first_free + zlib.crc32(w.encode()) % span) for w in _WORD.findall(text)]

    def decode(self, ids: list[int]) -> str:
        """Known ids as their words; hashed ones as a word from the vocabulary (not invertible)."""
        return " ".join(self.words[i % len(self.words)] for i in ids if i != PAD)


def _sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES).format(
        day=rng.randint(1, 28),
        month=rng.choice(MONTHS),
        year=rng.randint(1990, 2024),
        org=rng.choice(ORGS),
        act=rng.choice(ACTS),
        thing=rng.choice(THINGS),
        place=rng.choice(PLACES),
        amount=f"{rng.randint(1, 900)},{rng.randint(0, 999):03d}",
        count=rng.randint(2, 400),
        pct=rng.randint(1, 60),
        first=rng.choice(FIRST),
        last=rng.choice(LAST),
    )


def page_text(index: int, seed: int, tokens: int, tokenizer: WordTokenizer) -> str:
    """A page transcription of at least ``tokens`` tokens, the same on every run and machine."""
    rng = random.Random(f"{seed}-page-{index}")
    sentences: list[str] = []
    count = 0
    while count < tokens:
        sentences.append(_sentence(rng))
        count += len(tokenizer.encode(sentences[-1]))
    return " ".join(sentences)


def _load_prompts():
    """``synth.qa_prompts`` (stdlib only) from this checkout, wherever the script is run from."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from synth import qa_prompts

    return qa_prompts


def _load_parser():
    """``synth.qa_parse.parse_pairs`` when it imports, else None (the run goes on unparsed)."""
    try:
        from synth.qa_parse import parse_pairs
    except ImportError:
        return None
    return parse_pairs


def render(messages: list[dict[str, str]]) -> str:
    """A minimal chat format (our tokenizer has no chat template): role marker, then content."""
    parts = [f"<|{m['role']}|>\n{m['content']}" for m in messages]
    return "\n".join(parts) + "\n<|assistant|>\n"


def build_prompts(bench: Bench, vocab_size: int) -> tuple[WordTokenizer, list[list[int]], list[str]]:
    """Token ids of each request and the template it used. Pages come last in every template,
    so cutting to the budget cuts page text only; the assistant marker is put back at the end."""
    qa_prompts = _load_prompts()
    lexicon = {
        w
        for parts in (FIRST, LAST, PLACES, ORGS, ACTS, THINGS, MONTHS, SENTENCES)
        for p in parts
        for w in _WORD.findall(p)
    }
    for template in qa_prompts.TEMPLATES:
        lexicon.update(_WORD.findall(render(template.messages("Page 1:", 4))))
    lexicon.update(str(n) for n in range(1000))
    tokenizer = WordTokenizer(lexicon, vocab_size)
    tail = tokenizer.encode("\n<|assistant|>\n")
    rng = random.Random(bench.seed)
    prompts, names = [], []
    for index in range(bench.pages):
        budget = int(bench.prompt_tokens * rng.uniform(0.9, 1.0))
        template = qa_prompts.choose_template(f"page-{index:05d}", bench.seed)
        pages = qa_prompts.pages_block([(1, page_text(index, bench.seed, budget, tokenizer))])
        pairs = qa_prompts.pairs_wanted(1, per_page=4, max_pairs=12)
        ids = tokenizer.encode(render(template.messages(pages, pairs)))
        prompts.append([BOS, *ids[: budget - 1 - len(tail)], *tail])
        names.append(template.name)
    return tokenizer, prompts, names


def left_pad(batch: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, T] input ids and attention mask, padded on the left as decoder-only generation needs."""
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    return input_ids.to(device), mask.to(device)


def generate(model: LlamaForCausalLM, batch: list[list[int]], new_tokens: int) -> torch.Tensor:
    """[B, new_tokens] generated ids: greedy, exactly ``new_tokens`` each."""
    input_ids, mask = left_pad(batch, model.device)
    out = model.generate(
        input_ids=input_ids,
        attention_mask=mask,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
    )
    return out[:, input_ids.shape[1] :]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(bench: Bench) -> dict:
    if bench.tiny:
        device, dtype = torch.device("cpu"), torch.float32
    elif torch.cuda.is_available():
        device, dtype = torch.device("cuda"), torch.bfloat16
    else:
        raise SystemExit("no CUDA device: the full benchmark needs a GPU; use --tiny for a CPU smoke run")
    torch.manual_seed(bench.seed)
    config = model_config(bench.tiny)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype).eval()
    params = sum(p.numel() for p in model.parameters())
    tokenizer, prompts, templates = build_prompts(bench, config.vocab_size)
    prompt_lengths = np.array([len(p) for p in prompts])
    print(
        f"model: Llama {params:,} params, {dtype} on {device}; {bench.pages} pages, batch {bench.batch}, "
        f"prompt tokens {prompt_lengths.min()}-{prompt_lengths.max()} (mean {prompt_lengths.mean():.0f}), "
        f"{bench.new_tokens} new tokens each",
        flush=True,
    )
    batches = [prompts[i : i + bench.batch] for i in range(0, len(prompts), bench.batch)]
    with torch.inference_mode():
        generate(model, batches[0], min(4, bench.new_tokens))  # warm-up: kernels, allocator
        _sync(device)
        outputs: list[list[int]] = []
        start = time.perf_counter()
        for number, batch in enumerate(batches, 1):
            outputs.extend(generate(model, batch, bench.new_tokens).tolist())
            if len(batches) > 1:
                print(f"  batch {number}/{len(batches)}: {time.perf_counter() - start:.1f} s", flush=True)
        _sync(device)
        seconds = time.perf_counter() - start
    generated = sum(len(ids) for ids in outputs)  # min = max new tokens: no row stops early
    parse_pairs = _load_parser()
    parsed: dict[str, int] | None = None
    if parse_pairs is not None:
        parsed = {"ok": 0, "unparseable": 0}
        for ids in outputs:
            parsed["ok" if parse_pairs(tokenizer.decode(ids)).ok else "unparseable"] += 1
    return {
        "output_tokens_s": round(generated / seconds, 1),
        "requests_s": round(len(outputs) / seconds, 3),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "params": params,
        "dtype": str(dtype).removeprefix("torch."),
        "pages": len(outputs),
        "batch": bench.batch,
        "prompt_tokens_mean": round(float(prompt_lengths.mean()), 1),
        "new_tokens": bench.new_tokens,
        "output_tokens": generated,
        "seconds": round(seconds, 3),
        "templates": dict(sorted((n, templates.count(n)) for n in set(templates))),
        "parsed": parsed,
        "torch": torch.__version__,
    }


def main() -> None:
    from results import emit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, help="requests, one page each (default 128; --tiny: 4)")
    parser.add_argument("--batch", type=int, help="requests per generate call (default 32; --tiny: 4)")
    parser.add_argument(
        "--new-tokens", type=int, help="tokens generated per request (default 256; --tiny: 8)"
    )
    parser.add_argument(
        "--prompt-tokens", type=int, help="prompt budget in tokens (default 1500; --tiny: 400)"
    )
    parser.add_argument(
        "--tiny", action="store_true", help="CPU smoke run: tiny Llama, 4 prompts, 8 new tokens"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-save", action="store_true", help="print RESULT without writing benchmarks/results/"
    )
    args = parser.parse_args()
    small = args.tiny
    bench = Bench(
        pages=args.pages or (4 if small else 128),
        batch=args.batch or (4 if small else 32),
        new_tokens=args.new_tokens or (8 if small else 256),
        prompt_tokens=args.prompt_tokens or (400 if small else 1500),
        tiny=small,
        seed=args.seed,
    )
    name = "bench_docmatix-tiny" if small else "bench_docmatix"
    emit(name, run(bench), ["torch", "transformers"])


if __name__ == "__main__":
    main()
