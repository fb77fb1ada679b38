"""Evaluation on held-out samples: multiple-choice accuracy (each candidate answer scored by the
model's loss on it, the lowest loss is the model's choice) and greedy exact match (the model's
own text, decoded greedily, against the truth). The answer is the last turn's for ``qa``
samples and the text for single-text samples (``ocr`` and ``pair``: a transcription, a caption).

Samples are read with the training reader (``training.data``) and encoded by the training
processor with the candidate in place of the answer, so the evaluation sees exactly the token
layout, image tiles and loss mask of training; only the answer tokens (and their
``<end_of_utterance>``) are scored, as only they carry loss.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import islice, takewhile

import torch
from torch import nn
from torch.nn import functional as F

from training.data import RawSample, StreamSpec, raw_samples
from training.packing import collate
from training.processor import IGNORE, Encoded, Processor

INPUTS = ("input_ids", "position_ids", "pixel_values", "pixel_attention_mask")


def read_samples(spec: StreamSpec, count: int) -> list[RawSample]:
    """The first ``count`` samples of the stream's first epoch (fewer if the epoch is shorter);
    ``spec.split = "heldout"`` reads the held-out split of a training mixture."""
    first_epoch = takewhile(lambda raw: raw.position[0] == 0, raw_samples(spec))
    return list(islice(first_epoch, count))


def answer_of(sample: dict) -> str:
    """What the model is asked to produce: the last turn's answer (``qa``) or the sample's text."""
    if sample["kind"] == "qa":
        return sample["texts"][-1]["assistant"]
    texts = [t for t in sample["texts"] if t]
    if len(texts) != 1:
        raise ValueError(f"a {sample['kind']} sample with {len(texts)} texts has no single answer")
    return texts[0]


def with_answer(sample: dict, answer: str) -> dict:
    """The sample with ``answer`` in place of its answer (see ``answer_of``)."""
    if sample["kind"] == "qa":
        return {**sample, "texts": [*sample["texts"][:-1], {**sample["texts"][-1], "assistant": answer}]}
    return {**sample, "texts": [answer if t else t for t in sample["texts"]]}


@torch.no_grad()
def choice_losses(
    model: nn.Module, processor: Processor, samples: Sequence[RawSample], choices: Sequence[str]
) -> torch.Tensor:
    """Summed loss of every choice as the answer of each sample's last turn: [samples, choices]."""
    rows = []
    for raw in samples:
        sample = json.loads(raw.members["json"])
        for choice in choices:
            encoded = processor.encode(with_answer(sample, choice), raw.members, raw.key)
            if encoded is None:
                raise ValueError(f"sample {raw.key}: no room for the answer within max_length")
            rows.append([encoded])
    longest = max(len(row[0].input_ids) for row in rows)
    batch = collate(rows, longest, processor.ids.pad)
    device = next(model.parameters()).device
    inputs = {k: batch[k].to(device) for k in INPUTS if k in batch}
    logits = model(**inputs, use_cache=False).logits.float()  # [B, T, V]
    labels = batch["labels"][:, 1:].to(device)  # token t is predicted at t - 1
    losses = F.cross_entropy(
        logits[:, :-1].transpose(1, 2), labels, ignore_index=IGNORE, reduction="none"
    )  # [B, T-1]
    return losses.sum(dim=1).view(len(samples), len(choices)).cpu()


def evaluate_choices(
    model: nn.Module,
    processor: Processor,
    samples: Sequence[RawSample],
    choices: Sequence[str],
    batch_samples: int = 16,
) -> float:
    """Share of samples whose true answer (the last turn's) is the choice with the lowest loss."""
    if not samples:
        raise ValueError("no samples to evaluate")
    was_training = model.training
    model.eval()
    correct = 0
    try:
        for start in range(0, len(samples), batch_samples):
            chunk = samples[start : start + batch_samples]
            picked = choice_losses(model, processor, chunk, choices).argmin(dim=1)
            truths = [answer_of(json.loads(raw.members["json"])) for raw in chunk]
            correct += sum(choices[int(p)] == truth for p, truth in zip(picked, truths, strict=True))
    finally:
        model.train(was_training)
    return correct / len(samples)


@torch.no_grad()
def greedy_answer(model: nn.Module, processor: Processor, raw: RawSample, max_new_tokens: int = 16) -> str:
    """The model's answer to one sample, decoded greedily: the sample is encoded up to where its
    answer starts (the prompt, images included), then one token at a time is appended until the
    end of the answer (``<end_of_utterance>`` for ``qa``, end of text otherwise)."""
    sample = json.loads(raw.members["json"])
    encoded = answer_prompt(processor, sample, raw.members, raw.key)
    prompt = encoded.input_ids
    stop = {processor.ids.end_of_utterance if sample["kind"] == "qa" else processor.ids.eos}
    device = next(model.parameters()).device
    never = sorted(processor.ids.never_predicted)
    new: list[int] = []
    for _ in range(max_new_tokens):
        ids = prompt + new
        step = Encoded(ids, [IGNORE] * len(ids), encoded.tiles, encoded.sizes)
        batch = collate([[step]], len(ids), processor.ids.pad)
        inputs = {k: batch[k].to(device) for k in INPUTS if k in batch}
        logits = model(**inputs, use_cache=False).logits[0, -1]
        logits[never] = float("-inf")  # an image placeholder would ask for features there are none of
        token = int(logits.argmax())
        if token in stop:
            break
        new.append(token)
    return processor.tokenizer.decode(new).strip()


def answer_prompt(processor: Processor, sample: dict, members: dict[str, bytes], key: str = "") -> Encoded:
    """The sample encoded up to where its answer starts (the prompt, images included): the
    input of generation. Its labels are all ``IGNORE``."""
    encoded = processor.encode(with_answer(sample, "\x00"), members, key)
    if encoded is None:
        raise ValueError(f"sample {key}: no room for an answer within max_length")
    marker = processor.text("\x00" if sample["kind"] != "qa" else " \x00")
    ids = _before(encoded.input_ids, marker)
    return Encoded(ids, [IGNORE] * len(ids), encoded.tiles, encoded.sizes)


def _before(ids: list[int], marker: list[int]) -> list[int]:
    """``ids`` up to the last occurrence of ``marker``."""
    for at in range(len(ids) - len(marker), -1, -1):
        if ids[at : at + len(marker)] == marker:
            return ids[:at]
    raise ValueError("the answer's place was not found in the encoded sample")


def exact_match(
    model: nn.Module, processor: Processor, samples: Sequence[RawSample], max_new_tokens: int = 16
) -> float:
    """Share of samples whose greedy answer equals the truth (whitespace-trimmed)."""
    if not samples:
        raise ValueError("no samples to evaluate")
    was_training = model.training
    model.eval()
    try:
        hits = sum(
            greedy_answer(model, processor, raw, max_new_tokens)
            == answer_of(json.loads(raw.members["json"])).strip()
            for raw in samples
        )
    finally:
        model.train(was_training)
    return hits / len(samples)


def similarity_score(
    model: nn.Module, processor: Processor, samples: Sequence[RawSample], anls: bool, max_new_tokens: int
) -> float:
    """Mean of 1 - normalised edit distance between the greedy answer and the truth (case
    ignored): character accuracy, or with ``anls`` DocVQA's ANLS (a distance of 0.5 or more
    scores 0)."""
    from rapidfuzz.distance import Levenshtein

    scores = []
    for raw in samples:
        truth = answer_of(json.loads(raw.members["json"])).strip()
        distance = Levenshtein.normalized_distance(
            greedy_answer(model, processor, raw, max_new_tokens).lower(), truth.lower()
        )
        scores.append(0.0 if anls and distance >= 0.5 else 1 - distance)
    return sum(scores) / len(scores)


@torch.no_grad()
def answer_loss(model: nn.Module, processor: Processor, samples: Sequence[RawSample]) -> float:
    """Mean loss per loss-carrying token over the samples (a held-out loss)."""
    model.eval()
    losses, tokens = 0.0, 0
    for raw in samples:
        encoded = processor.encode(json.loads(raw.members["json"]), raw.members, raw.key)
        if encoded is None:
            continue
        batch = collate([[encoded]], len(encoded.input_ids), processor.ids.pad)
        inputs = {k: batch[k] for k in (*INPUTS, "labels") if k in batch}
        count = int((batch["labels"][:, 1:] != IGNORE).sum())
        losses += float(model(**inputs, use_cache=False).loss) * count
        tokens += count
    return losses / max(tokens, 1)


def metric_score(
    model: nn.Module,
    processor: Processor,
    samples: Sequence[RawSample],
    metric: str,
    choices: Sequence[str] | None = None,
    max_new_tokens: int = 16,
) -> float:
    """One metric over the samples: ``exact_match``, ``char_accuracy``, ``anls``, ``choice``, ``loss``."""
    if metric == "choice":
        return evaluate_choices(model, processor, samples, choices or [])
    if metric == "exact_match":
        return exact_match(model, processor, samples, max_new_tokens)
    if metric in ("char_accuracy", "anls"):
        model.eval()
        return similarity_score(model, processor, samples, metric == "anls", max_new_tokens)
    if metric == "loss":
        return answer_loss(model, processor, samples)
    raise ValueError(f"unknown metric {metric!r}")
