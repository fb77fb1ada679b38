"""The one reader of our shards: samples in order, each with its members grouped by key.

Every consumer of shards reads through here: the trainer (`training.data`), takedown (which
rewrites shards from the raw member bytes), Docmatix's reader of ``ocr`` shards (which keeps only
the image members' offsets and reads their bytes later), the audit report (the first samples of a
shard) and ``vlmdata validate`` (which hashes the very bytes tarfile parses, and wants to hear of
a key that comes back after other samples: members that are not adjacent).

A sample is ``KEY.json``, ``KEY.000.jpg``, ... (DESIGN.md, "Output contract"): the key is the
member's base name up to its first dot, the suffix the rest, case kept. Members of one key that
follow each other form one sample; the same key again later is a second sample with that key
(the caller decides whether that is a problem). Directories and other non-files are skipped.

Why not webdataset's ``tar_file_iterator`` + ``group_by_keys``: importing ``webdataset`` imports
torch (5.8 s here, and torch is an optional extra that validate, takedown and the audit must not
need); ``group_by_keys`` lower-cases suffixes and raises on a repeated member, which validate must
report, not die of; and it cannot leave a member unread while keeping its offset. ``wids`` reads
one sample by index through the manifest, not a shard as a stream. This module is ~80 lines of
``tarfile``.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from schemas.samples import split_member

# what reading a damaged, truncated or missing shard raises: callers count or report these
SHARD_ERRORS = (tarfile.TarError, EOFError, OSError)


@dataclass
class ShardSample:
    """One sample of a shard: `members` maps each member's suffix (``json``, ``000.jpg``) to its
    bytes, in shard order (a member the reader was told not to read is absent there);
    `offsets` maps every member's suffix to (offset of its data in the tar, size)."""

    key: str
    members: dict[str, bytes] = field(default_factory=dict)
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    repeated: list[str] = field(default_factory=list)  # suffixes that came twice (the last one kept)

    def json(self) -> Any:
        """The decoded ``KEY.json`` (raises KeyError without one, ValueError when it is not JSON)."""
        return json.loads(self.members["json"])

    def images(self) -> list[tuple[str, bytes]]:
        """(suffix, bytes) of every member but the JSON, in shard order."""
        return [(suffix, data) for suffix, data in self.members.items() if suffix != "json"]


def _tar(fileobj: IO[bytes]) -> tarfile.TarFile:
    """A seekable file is opened so that members left unread are skipped, not read through; a
    stream (a socket, a hashing wrapper) is read in order."""
    seekable = getattr(fileobj, "seekable", None)
    return tarfile.open(fileobj=fileobj, mode="r:*" if seekable is not None and seekable() else "r|*")


def iter_samples(fileobj: IO[bytes], read: Callable[[str], bool] | None = None) -> Iterator[ShardSample]:
    """The samples of the tar shard `fileobj`, in order. `read(suffix)` says which members' bytes
    to read (default: all); the others get only their offsets. Raises what tarfile raises for a
    broken shard (`SHARD_ERRORS`) where the damage starts, after yielding the samples before it."""
    current: ShardSample | None = None
    with _tar(fileobj) as tar:
        for info in tar:
            if not info.isfile():
                continue
            key, suffix = split_member(info.name.rsplit("/", 1)[-1])
            if current is None or key != current.key:
                if current is not None:
                    yield current
                current = ShardSample(key)
            if suffix in current.offsets:
                current.repeated.append(suffix)
            current.offsets[suffix] = (info.offset_data, info.size)
            if read is None or read(suffix):
                current.members[suffix] = tar.extractfile(info).read()
    if current is not None:
        yield current


def read_shard(path: str, read: Callable[[str], bool] | None = None) -> Iterator[ShardSample]:
    """`iter_samples` of a shard given by local path or fsspec URL."""
    import fsspec

    with fsspec.open(path, "rb") as fileobj:
        yield from iter_samples(fileobj, read)
