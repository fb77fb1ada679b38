"""Shards read back unchanged by the standard readers: webdataset, wids, Hugging Face datasets."""

import json

import pytest
import webdataset as wds

from schemas.samples import KINDS, make_key
from tests.helpers import pack


def expected_samples(documents):
    """key -> (texts, image bytes in order) as the documents describe them."""
    out = {}
    for doc in documents:
        if "nodes" in doc.metadata:
            texts = [n["text"] if n["type"] == "text" else None for n in doc.metadata["nodes"]]
            images = [
                doc.media[n["media"]].media_bytes for n in doc.metadata["nodes"] if n["type"] == "image"
            ]
        elif "qa" in doc.metadata:
            texts = [{**t} for t in doc.metadata["qa"]]
            images = [m.media_bytes for m in doc.media]
        else:
            texts, images = [None, doc.text], [doc.media[0].media_bytes]
        out[make_key(doc.id)] = (texts, images)
    return out


def check_sample(sample_json, image_bytes, expected):
    texts, images = expected
    assert sample_json["texts"] == texts
    assert image_bytes == images


@pytest.mark.parametrize("kind", KINDS)
def test_webdataset_and_wids_read_every_kind(kind, staged, tmp_path):
    folder, documents = staged(kind, 25)
    out = pack(folder, tmp_path / "out", kind, "ds", "shards.max_samples=6")
    expected = expected_samples(documents)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["totals"]["samples"] == 25 and len(manifest["shardlist"]) == 3 + 2
    )  # 13 + 12 documents per task, 6 per shard

    urls = [str(out / e["url"]) for e in manifest["shardlist"]]
    seen = 0
    for sample in wds.WebDataset(urls, shardshuffle=False):
        body = json.loads(sample["json"])
        assert body["kind"] == kind
        check_sample(body, [sample[m] for m in body["images"] if m], expected[sample["__key__"]])
        seen += 1
    assert seen == 25

    import wids

    dataset = wids.ShardListDataset(str(out / "manifest.json"), keep=True, transformations=[])  # raw bytes
    assert len(dataset) == 25
    keys = set()
    for i in range(len(dataset)):
        sample = dataset[i]
        body = json.loads(sample[".json"].read())
        images = [sample["." + m].read() for m in body["images"] if m]
        check_sample(body, images, expected[sample["__key__"]])
        keys.add(sample["__key__"])
    assert keys == set(expected)


@pytest.mark.parametrize("kind", ["pair", "ocr"])
def test_hugging_face_datasets_reads_single_image_kinds(kind, staged, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from datasets import load_dataset

    folder, documents = staged(kind, 12)
    out = pack(folder, tmp_path / "out", kind, "ds", "shards.max_samples=5")
    shards = sorted(str(p) for p in (out / "shards").glob("*.tar"))
    table = load_dataset(
        "webdataset", data_files={"train": shards}, split="train", cache_dir=str(tmp_path / "cache")
    )
    assert len(table) == 12
    expected = expected_samples(documents)
    for row in table:
        texts, _ = expected[row["__key__"]]
        assert row["json"]["texts"] == texts
        image = row["000.jpg"]
        assert image.size[0] > 0  # decoded by datasets' Image feature
