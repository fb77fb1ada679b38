"""``vlmdata validate``: check a dataset folder against its manifest and the sample schemas.

Reads each shard once, as a stream: the sha256 is computed from the same bytes tarfile parses.
Problems are collected, never raised, so one run lists everything that is wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import fsspec

from schemas.manifest import MANIFEST, SHARDS_DIR, Manifest
from schemas.samples import sample_errors
from schemas.shard_reader import SHARD_ERRORS, ShardSample, iter_samples


class _HashingReader:
    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


@dataclass
class Report:
    dataset_dir: str
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    samples: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_sample(sample: ShardSample, url: str, kind: str, report: Report) -> None:
    where = f"{url}: sample {sample.key}"
    report.problems.extend(f"{where}: member .{suffix} appears twice" for suffix in sample.repeated)
    if "json" not in sample.members:
        report.problems.append(f"{where}: has no .json member")
        return
    try:
        data = sample.json()
    except ValueError as error:
        report.problems.append(f"{where}: .json is not valid JSON ({error})")
        return
    if isinstance(data, dict) and data.get("kind") != kind:
        report.problems.append(f"{where}: kind {data.get('kind')!r}, the manifest says {kind!r}")
    images = {suffix for suffix in sample.members if suffix != "json"}
    report.problems.extend(f"{where}: {problem}" for problem in sample_errors(data, images))


def _check_shard(fs, path: str, url: str, kind: str, report: Report) -> tuple[int, int, int, str]:
    """Returns (samples, images, size, sha256) and appends this shard's problems."""
    samples = images = 0
    seen: set[str] = set()
    with fs.open(path, "rb") as raw:
        reader = _HashingReader(raw)  # not seekable: the shard is read as one stream, and hashed
        try:
            for sample in iter_samples(reader):
                if sample.key in seen:
                    report.problems.append(f"{url}: members of sample {sample.key} are not adjacent")
                seen.add(sample.key)
                samples += 1
                images += len(sample.members) - ("json" in sample.members)
                _check_sample(sample, url, kind, report)
        except SHARD_ERRORS as error:
            report.problems.append(f"{url}: not a readable tar file ({error})")
        reader.drain()
    return samples, images, reader.size, reader.sha256.hexdigest()


def validate_dataset(dataset_dir: str) -> Report:
    report = Report(dataset_dir)
    fs, root = fsspec.core.url_to_fs(dataset_dir)
    root = root.rstrip("/")
    manifest_path = f"{root}/{MANIFEST}"
    if not fs.exists(manifest_path):
        report.problems.append(f"{dataset_dir}/{MANIFEST}: missing (the job has not finished; run it again)")
        return report
    try:
        with fs.open(manifest_path, "r") as f:
            manifest = Manifest.from_json(f.read())
    except ValueError as error:
        report.problems.append(f"{dataset_dir}/{MANIFEST}: not a valid manifest ({error})")
        return report

    on_disk = (
        {p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/{SHARDS_DIR}", detail=False)}
        if fs.isdir(f"{root}/{SHARDS_DIR}")
        else set()
    )
    listed = {entry.url.rsplit("/", 1)[-1] for entry in manifest.shardlist}
    for extra in sorted(on_disk - listed):
        report.problems.append(f"{SHARDS_DIR}/{extra}: extra file, not in the manifest")
    for entry in manifest.shardlist:
        path = f"{root}/{entry.url}"
        if not fs.exists(path):
            report.problems.append(f"{entry.url}: missing (listed in the manifest)")
            continue
        report.shards += 1
        samples, images, size, sha256 = _check_shard(fs, path, entry.url, manifest.kind, report)
        report.samples += samples
        checks = [
            ("sha256", sha256, entry.sha256),
            ("size", size, entry.filesize),
            ("samples", samples, entry.nsamples),
            ("images", images, entry.images),
        ]
        report.problems += [
            f"{entry.url}: {what} is {got}, the manifest says {want}"
            for what, got, want in checks
            if got != want
        ]
    if sum(e.nsamples for e in manifest.shardlist) != manifest.totals.samples:
        report.problems.append(f"{MANIFEST}: totals.samples does not equal the sum over shards")
    return report
