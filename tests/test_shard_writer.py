"""The shard writer and finalize stage: layout, cuts, determinism, bad documents, counts."""

import io
import json
import tarfile

from datatrove.data import Document, Media, MediaType
from PIL import Image

from pipelines.staging import stage_documents
from schemas.records import step_stats
from schemas.validate import validate_dataset
from synth.demo.documents import make_documents
from tests.helpers import pack, shard_hashes


def writer_stats(dataset_dir):
    return step_stats(json.loads((dataset_dir / "_logs/write_shards/stats.json").read_text()), "Shard writer")


def members(tar_path):
    with tarfile.open(tar_path) as tar:
        return [(m.name, m.mtime, m.uid, m.mode) for m in tar.getmembers()]


def test_layout_names_and_adjacency(staged, tmp_path):
    folder, _ = staged("interleaved", 30)
    out = pack(folder, tmp_path / "out", "interleaved", "web", "shards.max_samples=8")
    names = sorted(p.name for p in (out / "shards").iterdir())
    assert names == [f"web-{r:05d}-{s:04d}.tar" for r in range(2) for s in range(2)]
    sizes = json.loads((out / "sizes.json").read_text())
    assert sizes == {
        "web-00000-0000.tar": 8,
        "web-00000-0001.tar": 7,
        "web-00001-0000.tar": 8,
        "web-00001-0001.tar": 7,
    }
    for name in names:
        rows = members(out / "shards" / name)
        keys = [n.split(".", 1)[0] for n, *_ in rows]
        # a key's members are adjacent (one run per key) and the .json comes first
        runs = [k for i, k in enumerate(keys) if i == 0 or k != keys[i - 1]]
        assert len(runs) == len(set(runs))
        assert all(not any(c == "." for c in k) for k in keys)
        assert all(mtime == 0 and uid == 0 and mode == 0o444 for _, mtime, uid, mode in rows)
        firsts = [n for i, (n, *_) in enumerate(rows) if i == 0 or keys[i] != keys[i - 1]]
        assert all(n.endswith(".json") for n in firsts)
    assert not list((out / "shards").glob("*.tmp-*"))
    assert validate_dataset(str(out)).ok


def test_byte_identical_across_runs_and_worker_counts(staged, tmp_path):
    folder, _ = staged("qa", 40, files=4)
    first = pack(folder, tmp_path / "a", "qa", "qa", "shards.max_samples=9", "executor.tasks=4")
    second = pack(
        folder, tmp_path / "b", "qa", "qa", "shards.max_samples=9", "executor.tasks=4", "executor.workers=2"
    )
    assert shard_hashes(first) == shard_hashes(second)
    manifest = json.loads((first / "manifest.json").read_text())
    assert {e["url"].split("/")[-1]: e["sha256"] for e in manifest["shardlist"]} == shard_hashes(first)


def test_cut_by_bytes(staged, tmp_path):
    folder, documents = staged("pair", 20, files=1, size=(320, 240))
    largest = max(len(d.media[0].media_bytes) for d in documents)
    out = pack(
        folder, tmp_path / "out", "pair", "p", f"shards.max_bytes={3 * largest + 4096}", "executor.tasks=1"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["shardlist"]) >= 6
    assert all(e["filesize"] <= 3 * largest + 4096 + 3 * 2048 + 10240 for e in manifest["shardlist"])
    assert sum(e["nsamples"] for e in manifest["shardlist"]) == 20


def test_images_reencoded_to_the_dataset_format(tmp_path):
    folder = tmp_path / "in"
    stage_documents(make_documents("ocr", 6, fmt="png"), str(folder), files=1)
    out = pack(folder, tmp_path / "out", "ocr", "o", "executor.tasks=1")
    with tarfile.open(next((out / "shards").glob("*.tar"))) as tar:
        images = [m for m in tar.getmembers() if not m.name.endswith(".json")]
        assert images and all(m.name.endswith(".000.jpg") for m in images)
        assert Image.open(io.BytesIO(tar.extractfile(images[0]).read())).format == "JPEG"
    assert writer_stats(out)["images_reencoded"] == 6


def test_bad_documents_are_counted_and_skipped(tmp_path):
    good = make_documents("pair", 5)
    broken = Document(
        "a caption that is fine",
        "broken-image",
        media=[
            Media(
                id="x",
                type=MediaType.IMAGE,
                url="http://x/y.jpg",
                media_bytes=b"\xff\xd8\xffnot really a jpeg",
            )
        ],
    )
    broken.media[0].media_bytes = b"GIF89a-garbage"  # not the dataset format, and undecodable
    no_image = Document("caption", "no-image", media=[])
    stage_documents([*good[:2], broken, no_image, *good[2:]], str(tmp_path / "in"), files=1)
    out = pack(tmp_path / "in", tmp_path / "out", "pair", "p", "executor.tasks=1")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["samples"] == 5
    writer = writer_stats(out)
    assert writer["dropped_undecodable_image"] == 1
    assert writer["dropped_image_count"] == 1


def test_word_and_token_counts(staged, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        ["the a of data model image"], trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    )
    tokenizer.save(str(tmp_path / "tokenizer.json"))

    folder, documents = staged("pair", 10)
    out = pack(folder, tmp_path / "out", "pair", "p", f"shards.tokenizer={tmp_path / 'tokenizer.json'}")
    totals = json.loads((out / "manifest.json").read_text())["totals"]
    assert totals["words"] == sum(len(d.text.split()) for d in documents)
    # Whitespace pre-tokenisation splits off the final '.', one extra token per caption
    assert totals["tokens"] == totals["words"] + 10
    assert totals["images"] == 10
