"""The training data loader: raw samples -> encoded -> packed batches, one stream per worker.

Each DataLoader worker plays a *logical* worker role, ``(worker_id + offset) % num_workers``.
The DataLoader hands out batches round-robin starting from worker 0, so after ``n`` batches a
resumed loader with ``offset = n % num_workers`` continues exactly the global batch order of an
uninterrupted run. Every batch carries its role, the role's resume position and the role's
counts of skipped samples; :class:`DataState` keeps the latest of each for checkpoints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from training.data import StreamSpec, raw_samples
from training.packing import collate, pack_rows
from training.processor import Processor, encode_raw


@dataclass
class DataState:
    """Where every logical worker stands: saved in checkpoints, given back on resume."""

    batches: int = 0
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)
    counters: dict[int, dict[str, int]] = field(default_factory=dict)

    def update(self, batch: dict) -> None:
        role = int(batch["role"])
        self.batches += 1
        self.positions[role] = tuple(batch["position"].tolist())
        self.counters[role] = dict(batch["counters"])

    def skipped(self) -> dict[str, int]:
        total: Counter = Counter()
        for counts in self.counters.values():
            total.update(counts)
        return dict(total)

    def to_dict(self) -> dict:
        return {"batches": self.batches, "positions": self.positions, "counters": self.counters}

    @classmethod
    def from_dict(cls, data: dict) -> DataState:
        return cls(
            data["batches"],
            {int(k): tuple(v) for k, v in data["positions"].items()},
            {int(k): dict(v) for k, v in data["counters"].items()},
        )


class PackedBatches(IterableDataset):
    def __init__(
        self,
        spec: StreamSpec,
        processors: Processor | list[Processor],
        batch_size: int,
        packing: bool = True,
        state: DataState | None = None,
        row_length: int | None = None,
    ):
        """``processors``: one per dataset of ``spec`` (its per-dataset settings), or one for all;
        ``row_length``: tokens per packed row (default: the first processor's ``max_length``)."""
        super().__init__()
        self.processors = processors if isinstance(processors, list) else [processors] * len(spec.shards)
        self.spec, self.batch_size, self.packing = spec, batch_size, packing
        self.row_length = row_length or self.processors[0].max_length
        self.state = state or DataState()

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        workers = info.num_workers if info else 1
        role = ((info.id if info else 0) + self.state.batches) % workers
        spec = StreamSpec(**{**self.spec.__dict__, "worker": role, "num_workers": workers})
        counters = Counter(self.state.counters.get(role, {}))
        start = self.state.positions.get(role, (0, 0))

        def encoded():
            for raw in raw_samples(spec, start, counters):
                sample = encode_raw(self.processors[raw.source], raw.members, counters, raw.key)
                if sample is not None:
                    sample.position = raw.position
                    yield sample

        max_length = self.row_length
        for rows, position in pack_rows(encoded(), self.batch_size, max_length, self.packing):
            batch = collate(rows, max_length, self.processors[0].ids.pad)
            batch["role"] = torch.tensor(role)
            batch["position"] = torch.tensor(position)
            batch["counters"] = dict(counters)
            yield batch


def make_loader(dataset: PackedBatches, num_workers: int = 0, seed: int = 0) -> DataLoader:
    """Its own generator: starting a loader must not draw from the global RNG, which a resumed
    run restores exactly (NEFTune noise and dropout read it)."""
    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=num_workers,
        prefetch_factor=4 if num_workers else None,
        generator=torch.Generator().manual_seed(seed),
    )
