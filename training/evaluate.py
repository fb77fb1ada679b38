"""Multiple-choice accuracy on held-out ``qa`` samples: each candidate answer is scored by the
model's loss on it, and the lowest loss is the model's choice.

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
from training.processor import IGNORE, Processor

INPUTS = ("input_ids", "position_ids", "pixel_values", "pixel_attention_mask")


def read_samples(spec: StreamSpec, count: int) -> list[RawSample]:
    """The first ``count`` samples of the stream's first epoch (fewer if the epoch is shorter);
    ``spec.split = "heldout"`` reads the held-out split of a training mixture."""
    first_epoch = takewhile(lambda raw: raw.position[0] == 0, raw_samples(spec))
    return list(islice(first_epoch, count))


@torch.no_grad()
def choice_losses(
    model: nn.Module, processor: Processor, samples: Sequence[RawSample], choices: Sequence[str]
) -> torch.Tensor:
    """Summed loss of every choice as the answer of each sample's last turn: [samples, choices]."""
    rows = []
    for raw in samples:
        sample = json.loads(raw.members["json"])
        for choice in choices:
            texts = [*sample["texts"][:-1], {**sample["texts"][-1], "assistant": choice}]
            encoded = processor.encode({**sample, "texts": texts}, raw.members, raw.key)
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
            truths = [json.loads(raw.members["json"])["texts"][-1]["assistant"] for raw in chunk]
            correct += sum(choices[int(p)] == truth for p, truth in zip(picked, truths, strict=True))
    finally:
        model.train(was_training)
    return correct / len(samples)
