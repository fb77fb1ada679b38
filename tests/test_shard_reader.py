"""`schemas.shard_reader`, the one reader of shards: grouping, order, offsets, damage."""

from __future__ import annotations

import io
import tarfile

import pytest

from schemas.shard_reader import SHARD_ERRORS, iter_samples


def tar_bytes(members: list[tuple[str, bytes | None]]) -> bytes:
    """A tar of (name, data) in order; data None is a directory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


MEMBERS = [
    ("a.json", b'{"kind": "pair"}'),
    ("a.000.JPG", b"jpeg-a0"),
    ("a.001.jpg", b"jpeg-a1"),
    ("folder", None),
    ("b.json", b'{"kind": "pair", "n": 2}'),
    ("b.000.jpg", b"jpeg-b0"),
    ("b.000.jpg", b"jpeg-b0-again"),
    ("a.json", b'{"kind": "pair", "late": true}'),
]


class Stream(io.RawIOBase):
    """A stream that cannot seek, like a socket or validate's hashing reader."""

    def __init__(self, data: bytes):
        self.inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("as_stream", [False, True], ids=["seekable", "stream"])
def test_members_grouped_by_adjacent_key_in_order(as_stream):
    data = tar_bytes(MEMBERS)
    samples = list(iter_samples(Stream(data) if as_stream else io.BytesIO(data)))
    assert [s.key for s in samples] == ["a", "b", "a"]  # a key that comes back is a second sample
    a, b, late = samples
    assert list(a.members) == ["json", "000.JPG", "001.jpg"]  # shard order, suffix case kept
    assert a.json() == {"kind": "pair"} and a.images() == [("000.JPG", b"jpeg-a0"), ("001.jpg", b"jpeg-a1")]
    assert b.repeated == ["000.jpg"] and b.members["000.jpg"] == b"jpeg-b0-again"
    assert late.json() == {"kind": "pair", "late": True} and late.images() == []


@pytest.mark.timeout(30)
def test_unread_members_keep_offsets_to_their_bytes():
    data = tar_bytes(MEMBERS[:3])
    (sample,) = iter_samples(io.BytesIO(data), read=lambda suffix: suffix == "json")
    assert list(sample.members) == ["json"]
    offset, size = sample.offsets["001.jpg"]
    assert data[offset : offset + size] == b"jpeg-a1"


@pytest.mark.timeout(30)
def test_a_truncated_shard_gives_what_precedes_the_damage_then_raises():
    data = tar_bytes(MEMBERS[:6])
    cut = data.index(b'{"kind": "pair", "n": 2}') + 5
    samples = []
    with pytest.raises(SHARD_ERRORS):
        for sample in iter_samples(io.BytesIO(data[:cut])):
            samples.append(sample)
    assert [s.key for s in samples] == ["a"]
    with pytest.raises(SHARD_ERRORS):
        list(iter_samples(io.BytesIO(b"not a tar at all" * 64)))
