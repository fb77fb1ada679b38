"""Raw samples from shard datasets, in a deterministic order: the manifest-driven WebDataset reader.

Shards are listed from each dataset's ``manifest.json`` (``schemas.manifest``) and read with the
standard library's streaming tar reader (a WebDataset shard is a plain tar whose members are
grouped by key), so a trainer needs neither the crawler nor ``webdataset`` itself.

Two modes, as open_clip's loader has:

- one pass per epoch (``resampled=False``): the shard list is shuffled with (seed, epoch) and
  split by node and worker (by shard when there are enough shards, else by sample), so the
  workers of all nodes cover every sample exactly once per epoch;
- resampled (``resampled=True``, for mixtures): every worker draws shards with replacement from
  its own seeded generator, and each sample is taken from a dataset chosen by its weight.

Either way a seeded shuffle buffer reorders samples, and the stream is a pure function of
(seed, node, worker): its position is ``(epoch, index)``, and resuming replays the stream's
bytes up to that position without decoding them. Unreadable shards end early with a count;
the held-out split keeps the keys whose hash falls under ``heldout_fraction``.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.manifest import Manifest
from schemas.shard_reader import SHARD_ERRORS, iter_samples

Position = tuple[int, int]  # (epoch, index of the sample in this worker's stream)


@dataclass
class RawSample:
    key: str
    members: dict[str, bytes]  # member suffix ("json", "000.jpg") -> bytes
    source: int  # index of the dataset in the mixture
    position: Position


def manifest_shards(path: str | Path) -> list[str]:
    """Shard paths of a dataset, from its manifest (URLs are relative to the manifest's folder)."""
    path = Path(path)
    try:
        manifest = Manifest.from_json(path.read_text("utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no manifest; give OUT/<dataset>/manifest.json of a finished job"
        ) from None
    if not manifest.shardlist:
        raise ValueError(f"{path}: the manifest lists no shards")
    return [str(path.parent / entry.url) for entry in manifest.shardlist]


def in_heldout(key: str, fraction: float) -> bool:
    """Whether a sample key belongs to the held-out split: a hash of the key, so the split is the
    same on every machine, every epoch and whatever the shard layout."""
    if fraction <= 0:
        return False
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64 < fraction


def read_shard(url: str, counters: Counter) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, members) of one shard in order (`schemas.shard_reader`). A shard that cannot be read
    (missing, truncated, not a tar) ends where the damage starts and is counted as
    ``unreadable_shard``."""
    try:
        with open(url, "rb") as shard:
            for sample in iter_samples(shard):
                yield sample.key, sample.members
    except SHARD_ERRORS:
        counters["unreadable_shard"] += 1


def shuffled(items: Iterator, size: int, rng: random.Random) -> Iterator:
    """A seeded shuffle buffer of ``size`` items (1: order unchanged)."""
    buffer: list = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = rng.randrange(size)
        yield buffer[j]
        buffer[j] = item
    rng.shuffle(buffer)
    yield from buffer


@dataclass
class StreamSpec:
    """What fixes one worker's stream."""

    shards: list[list[str]]  # per dataset
    weights: list[float]
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    worker: int = 0
    num_workers: int = 1
    resampled: bool = False
    shuffle_buffer: int = 64
    heldout_fraction: float = 0.0
    split: str = "train"  # "train" or "heldout"

    @property
    def global_worker(self) -> tuple[int, int]:
        return self.rank * self.num_workers + self.worker, self.world_size * self.num_workers


def _keep(spec: StreamSpec, key: str) -> bool:
    return in_heldout(key, spec.heldout_fraction) == (spec.split == "heldout")


def _epoch_samples(spec: StreamSpec, epoch: int, counters: Counter) -> Iterator[tuple[int, str, dict]]:
    """One epoch of this worker's share, before the shuffle buffer."""
    shards = [(source, url) for source, urls in enumerate(spec.shards) for url in urls]
    random.Random(f"{spec.seed}-shards-{epoch}").shuffle(shards)  # the same order on every worker
    me, workers = spec.global_worker
    by_shard = len(shards) >= workers
    seen = 0
    for source, url in shards[me::workers] if by_shard else shards:
        for key, members in read_shard(url, counters):
            if not _keep(spec, key):
                continue
            seen += 1
            if by_shard or (seen - 1) % workers == me:
                yield source, key, members


def _resampled_source(spec: StreamSpec, source: int, counters: Counter) -> Iterator[tuple[int, str, dict]]:
    me, _ = spec.global_worker
    rng = random.Random(f"{spec.seed}-resample-{me}-{source}")
    empty_in_a_row = 0
    while True:
        url = rng.choice(spec.shards[source])
        got = 0
        for key, members in read_shard(url, counters):
            if _keep(spec, key):
                got += 1
                yield source, key, members
        empty_in_a_row = 0 if got else empty_in_a_row + 1
        if empty_in_a_row > 4 * len(spec.shards[source]) + 8:
            raise RuntimeError(
                f"dataset {source} ({spec.shards[source][0]} ...): no readable samples in "
                f"{empty_in_a_row} shard draws; check the shards or the held-out fraction"
            )


def raw_samples(
    spec: StreamSpec, start: Position = (0, 0), counters: Counter | None = None
) -> Iterator[RawSample]:
    """This worker's endless stream of raw samples from ``start`` on (epochs follow each other)."""
    counters = counters if counters is not None else Counter()
    me, _ = spec.global_worker
    if spec.resampled:
        total = sum(spec.weights)
        weights = [w / total for w in spec.weights]
        sources = [
            shuffled(
                _resampled_source(spec, s, counters),
                spec.shuffle_buffer,
                random.Random(f"{spec.seed}-buf-{me}-{s}"),
            )
            for s in range(len(spec.shards))
        ]
        choose = random.Random(f"{spec.seed}-mix-{me}")
        index = 0
        while True:
            source, key, members = next(sources[choose.choices(range(len(sources)), weights)[0]])
            if index >= start[1]:
                yield RawSample(key, members, source, (0, index))
            index += 1
    epoch = start[0]
    while True:
        rng = random.Random(f"{spec.seed}-buf-{me}-{epoch}")
        index = -1
        for index, (source, key, members) in enumerate(
            shuffled(_epoch_samples(spec, epoch, counters), spec.shuffle_buffer, rng)
        ):
            if epoch > start[0] or index >= start[1]:
                yield RawSample(key, members, source, (epoch, index))
        if index < 0:
            raise RuntimeError("no readable samples in an epoch: check the manifests and heldout_fraction")
        epoch += 1


def epoch_keys(spec: StreamSpec, epoch: int = 0) -> list[str]:
    """The keys of one worker's share of one epoch, in stream order (for tests and audits)."""
    rng = random.Random(f"{spec.seed}-buf-{spec.global_worker[0]}-{epoch}")
    return [key for _, key, _ in shuffled(_epoch_samples(spec, epoch, Counter()), spec.shuffle_buffer, rng)]
