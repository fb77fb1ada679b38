"""Remote storage: the ``pack`` job reads staged documents from and writes shards to an
S3-compatible server (moto's real server on 127.0.0.1), through fsspec/s3fs URLs; the manifest
and shards there validate and read back; a takedown works on them too."""

from __future__ import annotations

import json
import socket

import fsspec
import pytest

from pipelines.steps.stage_io import StageWriter
from pipelines.takedown import takedown
from schemas.manifest import Manifest
from schemas.validate import validate_dataset
from tests.dedup_fixtures import document, jpeg, paragraph
from tests.helpers import pack

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")

BUCKET = "vlm-bucket"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server for this test; fsspec's config points every ``s3://`` URL at it."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(
        fsspec.config.conf,
        "s3",
        {"client_kwargs": {"endpoint_url": endpoint}, "key": "testing", "secret": "testing"},
    )
    s3fs.S3FileSystem.clear_instance_cache()
    fs = fsspec.filesystem("s3")
    fs.mkdir(BUCKET)
    try:
        yield fs
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def test_pack_job_through_s3(s3):
    staged = f"s3://{BUCKET}/staged"
    docs = []
    for i in range(7):
        url = f"http://img.org/{i}.jpg"
        docs.append(
            document(
                f"doc{i}",
                f"http://site.org/{i}",
                "2021-01-01T00:00:00Z",
                [paragraph(i)],
                [url],
                {url: jpeg(i)},
            )
        )
    with StageWriter(staged) as writer:  # the staging writer itself writes to s3
        for doc in docs:
            writer.write(doc, 0)
    assert [p.rsplit("/", 1)[1] for p in s3.ls(f"{BUCKET}/staged")] == ["000_00000.parquet"]

    pack(staged, f"s3://{BUCKET}/out", "interleaved", "web", "shards.max_samples=3", "executor.tasks=1")
    dataset = f"s3://{BUCKET}/out/web"
    manifest = Manifest.from_json(s3.cat(f"{BUCKET}/out/web/manifest.json").decode())
    assert manifest.totals.samples == 7 and [e.url for e in manifest.shardlist] == [
        "shards/web-00000-0000.tar", "shards/web-00000-0001.tar", "shards/web-00000-0002.tar",
    ]  # fmt: skip
    assert json.loads(s3.cat(f"{BUCKET}/out/web/sizes.json")) == {
        "web-00000-0000.tar": 3, "web-00000-0001.tar": 3, "web-00000-0002.tar": 1,
    }  # fmt: skip
    assert s3.exists(f"{BUCKET}/out/web/_logs/write_shards/stats.json")
    assert not [p for p in s3.find(f"{BUCKET}/out/web/shards") if ".tmp" in p]
    report = validate_dataset(dataset)
    assert report.ok and report.samples == 7, report.problems

    result = takedown(dataset, urls=["http://site.org/4"])
    assert result.shards_rewritten == ["shards/web-00000-0001.tar"]
    assert s3.exists(f"{BUCKET}/out/web/{result.record}")
    report = validate_dataset(dataset)
    assert report.ok and report.samples == 6, report.problems
