"""``vlmdata takedown`` on real shards from ``pack``: only affected shards rewritten (same names),
manifest and sizes updated, a record written, and the dataset still validates."""

from __future__ import annotations

import hashlib
import json

import webdataset as wds

from pipelines.cli import main
from schemas.manifest import Manifest
from schemas.validate import validate_dataset
from tests.dedup_fixtures import document, jpeg, paragraph, stage_documents
from tests.helpers import pack, shard_hashes

DATE = "2021-01-01T00:00:00Z"


def published(tmp_path):
    docs = []
    for i in range(12):
        url = f"http://img.org/{i}.jpg"
        docs.append(
            document(f"doc{i:02d}", f"http://site.org/page{i}", DATE, [paragraph(i)], [url], {url: jpeg(i)})
        )
    staged = stage_documents(tmp_path / "in", [docs[:6], docs[6:]])
    return pack(
        tmp_path / "in", tmp_path / "out", "interleaved", "web", "shards.max_samples=3", "executor.tasks=2"
    ), staged


def keys(dataset_dir):
    manifest = Manifest.from_json((dataset_dir / "manifest.json").read_text())
    urls = [str(dataset_dir / e.url) for e in manifest.shardlist]
    return sorted(s["__key__"] for s in wds.WebDataset(urls, shardshuffle=False))


def test_takedown_by_url_sha256_and_list(tmp_path, capsys):
    out, _ = published(tmp_path)
    before = shard_hashes(out)
    assert len(before) == 4 and len(keys(out)) == 12
    image3 = jpeg(3)  # stored as is (already jpg): its sha256 is the member's
    (tmp_path / "list.txt").write_text("# request 42\nhttp://SITE.org:80/page7#x\n")
    code = main([
        "takedown", str(out), "--url", "http://site.org/page1", "--sha256", hashlib.sha256(image3).hexdigest(),
        "--list", str(tmp_path / "list.txt"), "--reason", "request 42",
    ])  # fmt: skip
    assert code == 0
    assert "3 samples removed (12 -> 9)" in capsys.readouterr().out
    after = shard_hashes(out)
    assert sorted(after) == sorted(before)  # same names
    changed = sorted(name for name in before if before[name] != after[name])
    # page1 (shard 0), page3 (shard 1) and page7 (rank 1's shard 0); the others untouched
    assert changed == ["web-00000-0000.tar", "web-00000-0001.tar", "web-00001-0000.tar"]
    assert keys(out) == [f"doc{i:02d}" for i in range(12) if i not in (1, 3, 7)]
    assert validate_dataset(str(out)).ok, validate_dataset(str(out)).problems
    manifest = Manifest.from_json((out / "manifest.json").read_text())
    assert manifest.totals.samples == 9 and manifest.totals.images == 9
    assert json.loads((out / "sizes.json").read_text())["web-00000-0000.tar"] == 2
    [record] = list((out / "_takedowns").glob("*.json"))
    data = json.loads(record.read_text())
    assert data["reason"] == "request 42"
    assert {r["key"]: r["matched"].split()[0] for r in data["removed"]} == {
        "doc01": "url",
        "doc03": "sha256",
        "doc07": "url",
    }
    assert not list((out / "shards").glob("*.tmp*"))


def test_emptied_shard_leaves_the_manifest_and_bad_input(tmp_path):
    out, _ = published(tmp_path)
    urls = [f"--url=http://site.org/page{i}" for i in (0, 1, 2)]
    assert main(["takedown", str(out), *urls]) == 0
    assert not (out / "shards/web-00000-0000.tar").exists()
    report = validate_dataset(str(out))
    assert report.ok and report.samples == 9 and report.shards == 3
    assert (
        main(["takedown", str(out), "--url", "http://nowhere.org/"]) == 0
    )  # nothing matched: nothing rewritten
    assert main(["takedown", str(out)]) == 2
    assert main(["takedown", str(out), "--sha256", "xyz"]) == 2
    assert main(["takedown", str(tmp_path / "missing"), "--url", "http://a/"]) == 2
