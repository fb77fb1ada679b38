"""Packing encoded samples into fixed-length rows, and rows into model batches.

Attention never crosses samples: each sample's ``position_ids`` restart at 0 and the batch has
no ``attention_mask``. transformers (>= 4.54, ``masking_utils.find_packed_sequence_indices``)
then reads every restart of the positions as a new sequence and builds a block-diagonal causal
mask for the eager and SDPA kernels (flash-attention gets the same boundaries as ``cu_seqlens``).
Padding at the end of a row is one more such segment, with no loss. ``segment_ids`` in the batch
name each token's sample for tests and audits; the model does not read it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from training.processor import IGNORE, Encoded


def pack_rows(
    samples: Iterator[Encoded], batch_size: int, max_length: int, packing: bool = True
) -> Iterator[tuple[list[list[Encoded]], tuple[int, int]]]:
    """Greedy, in stream order: a sample goes into the current row if it fits, else starts the
    next one. Yields (rows, resume position): the stream position of the first sample not in
    this batch or an earlier one, so a restart from it replays nothing and loses nothing."""
    rows: list[list[Encoded]] = []
    row: list[Encoded] = []
    used = 0
    for sample in samples:
        if row and (not packing or used + len(sample.input_ids) > max_length):
            rows.append(row)
            row, used = [], 0
            if len(rows) == batch_size:
                yield rows, sample.position
                rows = []
        row.append(sample)
        used += len(sample.input_ids)


def collate(rows: list[list[Encoded]], max_length: int, pad_id: int) -> dict[str, torch.Tensor]:
    """Rows -> ``input_ids``/``labels``/``position_ids``/``segment_ids`` [B, T], ``pixel_values``
    [B, N, 3, H, W] (N: most tiles in a row; H, W: the largest tile; all-zero tiles are padding,
    which the Idefics models drop) and ``pixel_attention_mask`` [B, N, H, W] (True on each tile's
    content, which sits at the top left)."""
    batch = len(rows)
    input_ids = torch.full((batch, max_length), pad_id, dtype=torch.long)
    labels = torch.full((batch, max_length), IGNORE, dtype=torch.long)
    position_ids = torch.zeros((batch, max_length), dtype=torch.long)
    segment_ids = torch.full((batch, max_length), -1, dtype=torch.long)
    tiles = [[tile for sample in row for tile in sample.tiles] for row in rows]
    sizes = [
        [size for sample in row for size in (sample.sizes or [t.shape[1:] for t in sample.tiles])]
        for row in rows
    ]
    most = max(len(t) for t in tiles)
    pixel_values = mask = None
    if most:
        height = max(t.shape[1] for row in tiles for t in row)
        width = max(t.shape[2] for row in tiles for t in row)
        pixel_values = torch.zeros((batch, most, 3, height, width))
        mask = torch.zeros((batch, most, height, width), dtype=torch.bool)
    tokens = 0
    for b, row in enumerate(rows):
        at = 0
        for s, sample in enumerate(row):
            n = len(sample.input_ids)
            input_ids[b, at : at + n] = torch.tensor(sample.input_ids)
            labels[b, at : at + n] = torch.tensor(sample.labels)
            position_ids[b, at : at + n] = torch.arange(n)
            segment_ids[b, at : at + n] = s
            at += n
        tokens += at
        position_ids[b, at:] = torch.arange(max_length - at)  # padding: a segment of its own
        for i, (tile, (h, w)) in enumerate(zip(tiles[b], sizes[b], strict=True)):
            pixel_values[b, i, :, : tile.shape[1], : tile.shape[2]] = tile
            mask[b, i, :h, :w] = True
    out = {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": position_ids,
        "segment_ids": segment_ids,
        "tokens": torch.tensor(tokens),
        "samples": torch.tensor(sum(len(row) for row in rows)),
    }
    if pixel_values is not None:
        out["pixel_values"] = pixel_values
        out["pixel_attention_mask"] = mask
    return out
