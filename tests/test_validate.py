"""`vlmdata validate` finds flipped bytes, missing and extra shards, and schema violations."""

import io
import json
import shutil
import tarfile

import pytest

from pipelines.cli import main
from schemas.samples import dumps
from schemas.validate import validate_dataset
from tests.helpers import pack


@pytest.fixture
def dataset(staged, tmp_path):
    folder, _ = staged("pair", 20)
    return pack(folder, tmp_path / "out", "pair", "p", "shards.max_samples=4")


def shards(dataset):
    return sorted((dataset / "shards").glob("*.tar"))


def test_clean_dataset_passes(dataset, capsys):
    assert main(["validate", str(dataset)]) == 0
    assert "20 samples checked: ok" in capsys.readouterr().out


def test_flipped_byte(dataset, capsys):
    path = shards(dataset)[1]
    data = bytearray(path.read_bytes())
    data[700] ^= 0xFF  # inside the first member's bytes: the tar still parses
    path.write_bytes(bytes(data))
    assert main(["validate", str(dataset)]) == 1
    out = capsys.readouterr().out
    assert f"shards/{path.name}: sha256 is" in out


def test_missing_and_extra_shards(dataset):
    missing = shards(dataset)[0]
    shutil.move(missing, dataset / "elsewhere.tar")
    (dataset / "shards" / "p-00009-0000.tar").write_bytes(b"")
    (dataset / "shards" / "p-00000-0009.tar.tmp").write_bytes(b"partial")
    problems = validate_dataset(str(dataset)).problems
    assert f"shards/{missing.name}: missing (listed in the manifest)" in problems
    assert "shards/p-00009-0000.tar: extra file, not in the manifest" in problems
    assert "shards/p-00000-0009.tar.tmp: extra file, not in the manifest" in problems


def test_sample_breaking_its_schema(dataset):
    path = shards(dataset)[2]
    with tarfile.open(path) as tar:
        items = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    member, body = items[0]
    sample = json.loads(body)
    sample["texts"] = [None, 42]  # a caption must be a string
    broken = dumps(sample)
    member.size = len(broken)
    items[0] = (member, broken)
    with tarfile.open(path, "w") as tar:
        for info, data in items:
            tar.addfile(info, io.BytesIO(data))
    problems = validate_dataset(str(dataset)).problems
    key = member.name.split(".")[0]
    assert f"shards/{path.name}: sample {key}: texts/1: 42 is not of type 'string'" in problems
    assert any("sha256 is" in p for p in problems)


def test_unfinished_dataset_has_no_manifest(dataset):
    (dataset / "manifest.json").unlink()
    assert validate_dataset(str(dataset)).problems == [
        f"{dataset}/manifest.json: missing (the job has not finished; run it again)"
    ]
