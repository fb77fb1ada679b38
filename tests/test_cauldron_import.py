"""``vlmdata import cauldron PATH``: The Cauldron-format parquet -> valid qa shards, same turns and images."""

import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.cli import main
from schemas.validate import validate_dataset
from synth.demo.documents import make_image

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
TURN = pa.struct([("user", pa.string()), ("assistant", pa.string()), ("source", pa.string())])
SCHEMA = pa.schema([("images", pa.list_(IMAGE)), ("texts", pa.list_(TURN))])


def rows(offset: int, n: int) -> list[dict]:
    out = []
    for i in range(offset, offset + n):
        images = [
            {"bytes": make_image(i * 10 + j, 64, 48, "png"), "path": f"img_{i}_{j}.png"}
            for j in range(1 + i % 2)
        ]
        texts = [
            {
                "user": f"Question {i}.{t}: what is shown?",
                "assistant": f"Answer {i}.{t}.",
                "source": "" if t else "ai2d",
            }
            for t in range(1 + i % 3)
        ]
        out.append({"images": images, "texts": texts})
    return out


def write_subset(folder, files: int = 2, per_file: int = 5) -> list[dict]:
    """The published layout: <subset>/train-0000N-of-0000M.parquet."""
    folder.mkdir(parents=True)
    written = []
    for f in range(files):
        data = rows(f * per_file, per_file)
        pq.write_table(
            pa.Table.from_pylist(data, schema=SCHEMA), folder / f"train-{f:05d}-of-{files:05d}.parquet"
        )
        written += data
    return written


def read_samples(dataset_dir):
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    assert manifest["kind"] == "qa"
    samples = {}
    for entry in manifest["shardlist"]:
        with tarfile.open(dataset_dir / entry["url"]) as tar:
            for member in tar.getmembers():
                key, _, suffix = member.name.partition(".")
                samples.setdefault(key, {})[suffix] = tar.extractfile(member).read()
    return samples


def test_import_keeps_turns_and_images(tmp_path, capsys):
    subset = tmp_path / "the_cauldron" / "ai2d"
    written = write_subset(subset)
    # a row without images is a text-only sample; one without a usable turn is counted and skipped
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"images": [], "texts": rows(0, 1)[0]["texts"]},
                {"images": rows(0, 1)[0]["images"], "texts": [{"user": "q", "assistant": " ", "source": ""}]},
            ],
            schema=SCHEMA,
        ),
        subset / "train-bad.parquet",
    )
    out = tmp_path / "out"
    code = main(
        [
            "import",
            "cauldron",
            "--config",
            str(Path(__file__).resolve().parents[1] / "configs" / "cauldron.yaml"),
            str(subset),
            f"output_dir={out}",
            "executor.kind=local",
            "executor.workers=1",
            "shards.image_format=png",
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr().err
    dataset = out / "ai2d"  # dataset named after PATH
    report = validate_dataset(str(dataset))
    assert report.ok, report.problems
    samples = read_samples(dataset)
    assert len(samples) == len(written) + 1 == 11
    by_row = {}
    text_only = []
    for members in samples.values():
        sample = json.loads(members["json"])
        file, row = sample["meta"]["file"], sample["meta"]["rows"][0]
        if file.endswith("train-bad.parquet"):
            text_only.append(sample)
            continue
        assert file.startswith("ai2d/train-0000") and sample["source"].endswith(f"#row={row}")
        index = int(file.split("train-")[1][:5]) * 5 + row
        images = [members[name] for name in sample["images"]]
        by_row[index] = (sample["texts"], images, sample)
    for index, row in enumerate(written):
        texts, images, sample = by_row[index]
        assert texts == [{**t, "source": t["source"] or "ai2d"} for t in row["texts"]]
        assert images == [image["bytes"] for image in row["images"]]  # png in, png out: same bytes
        assert [i["url"] for i in sample["meta"]["images"]] == [image["path"] for image in row["images"]]
    stats = json.loads((dataset / "_logs/write_shards/stats.json").read_text())
    reader = next(s for s in stats if "Instruct" in s["name"])["stats"]
    assert reader["ai2d/text_only"] == 1 and reader["ai2d/dropped_no_turns"] == 1
    assert not any("missing_image" in key for key in reader)
    (sample,) = text_only
    assert sample["images"] == [] and [t["user"] for t in sample["texts"]] == [
        t["user"] for t in rows(0, 1)[0]["texts"]
    ]


def test_import_names_bad_input(tmp_path, capsys):
    assert main(["import", "cauldron", str(tmp_path / "missing"), "executor.kind=local"]) == 2
    assert "does not exist" in capsys.readouterr().err
