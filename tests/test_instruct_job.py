"""``vlmdata run instruct``: The Cauldron's sources in their own layouts -> qa shards, counted per source."""

import json
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.instruct.sources import SOURCES
from schemas.validate import validate_dataset
from synth.demo.instruct_sources import EXPECTED, write_sources

pytestmark = pytest.mark.timeout(180)
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "instruct.yaml"


def config(tmp: Path, sources: Path, **keys) -> Path:
    """configs/instruct.yaml with its demo paths pointing at ``sources``."""
    cfg = yaml.safe_load(CONFIG.read_text())
    for source in cfg["sources"]:
        source["input"] = [i.replace("demo-out/instruct-sources", str(sources)) for i in source["input"]]
    cfg.update(output_dir=str(tmp / "out"), **keys)
    path = tmp / f"instruct-{len(keys)}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def stats(dataset_dir: Path, stage: str = "write_shards") -> dict:
    steps = json.loads((dataset_dir / "_logs" / stage / "stats.json").read_text())
    reader = next(s for s in steps if "Instruct" in s["name"])
    return {k: (v["total"] if isinstance(v, dict) else v) for k, v in reader["stats"].items()}


def samples(dataset_dir: Path) -> list[dict]:
    out = []
    for tar in sorted((dataset_dir / "shards").glob("*.tar")):
        with tarfile.open(tar) as f:
            out += [json.loads(f.extractfile(m).read()) for m in f.getmembers() if m.name.endswith(".json")]
    return out


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("instruct")
    write_sources(tmp / "sources")
    assert main(["run", "instruct", "--config", str(config(tmp, tmp / "sources")), "--no-progress"]) == 0
    return tmp, tmp / "out" / "instruct"


def test_every_source_converted_and_dropped_rows_counted_per_reason(merged):
    _, dataset = merged
    counted = stats(dataset)
    for name, expected in EXPECTED.items():
        assert counted.get(f"{name}/samples", 0) == expected["samples"], name
        assert counted.get(f"{name}/turns", 0) == expected["turns"], name
        dropped = {k.split("/dropped_")[1]: v for k, v in counted.items() if k.startswith(f"{name}/dropped_")}
        assert dropped == expected["dropped"], name
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["totals"]["samples"] == sum(e["samples"] for e in EXPECTED.values())
    assert manifest["totals"]["sources"] == {n: e["samples"] for n, e in EXPECTED.items()}
    assert validate_dataset(dataset).ok


def test_samples_carry_source_licence_and_grouped_turns(merged):
    _, dataset = merged
    by_source: dict[str, list[dict]] = {}
    for sample in samples(dataset):
        by_source.setdefault(sample["meta"]["instruct_source"], []).append(sample)
        name = sample["meta"]["instruct_source"]
        assert sample["meta"]["licence"] == SOURCES[name].licence
        assert sample["meta"]["family"] == SOURCES[name].family
        assert {t["source"] for t in sample["texts"]} == {SOURCES[name].label}
        assert len(sample["meta"]["image_sha256"]) == len(sample["images"])
    coco = next(s for s in by_source["vqav2"] if len(s["texts"]) == 2)  # two questions about one image
    assert [t["assistant"] for t in coco["texts"]] == ["Net.", "Blue."]
    assert coco["meta"]["rows"] == [0, 1]  # row 2 asked row 0's question again
    figure = sorted(len(s["texts"]) for s in by_source["figureqa"])
    assert figure == [1, 2]
    assert len(by_source["nlvr2"][0]["images"]) == 2


def test_the_image_two_sources_share_is_reported(merged):
    _, dataset = merged
    report = json.loads((dataset / "cross_source_images.json").read_text())
    assert report["images_in_several_sources"] == 1
    assert report["pairs"] == {"tallyqa + vqav2": 1}


def test_a_second_run_writes_the_same_samples(merged, tmp_path):
    """Draws are seeded per source row: another run, split among 3 tasks instead of 2, writes the
    same samples (same keys, turns, images)."""
    tmp, dataset = merged
    again = config(tmp_path, tmp / "sources")  # the same sources, another output folder
    assert main(["run", "instruct", "--config", str(again), "--no-progress", "executor.tasks=3"]) == 0

    def members(folder: Path) -> dict[str, bytes]:
        out = {}
        for tar in (folder / "shards").glob("*.tar"):
            with tarfile.open(tar) as f:
                out |= {m.name: f.extractfile(m).read() for m in f.getmembers()}
        return out

    assert members(tmp_path / "out" / "instruct") == members(dataset)


def test_caps_split_an_image_into_several_samples(merged, tmp_path):
    tmp, _ = merged
    cfg = config(tmp_path, tmp / "sources", max_turns=1, dataset="capped")
    assert main(["run", "instruct", "--config", str(cfg), "--no-progress"]) == 0
    counted = stats(tmp_path / "out" / "capped")
    assert (
        counted["vqav2/samples"] == 3 and counted["figureqa/samples"] == 3 and counted["tat_qa/samples"] == 2
    )


def test_one_dataset_per_source(merged, tmp_path):
    tmp, _ = merged
    cfg = config(tmp_path, tmp / "sources", merge=False, dataset="cauldron")
    assert main(["run", "instruct", "--config", str(cfg), "--no-progress"]) == 0
    root = tmp_path / "out" / "cauldron"
    for name, expected in EXPECTED.items():
        manifest = json.loads((root / name / "manifest.json").read_text())
        assert manifest["totals"]["samples"] == expected["samples"], name
    assert json.loads((root / "cross_source_images.json").read_text())["pairs"] == {"tallyqa + vqav2": 1}


def test_a_file_of_another_layout_fails_at_once(merged, tmp_path, capsys):
    tmp, _ = merged
    cfg = yaml.safe_load(config(tmp_path, tmp / "sources").read_text())
    cfg["sources"] = [{"converter": "vqav2", "input": [str(tmp / "sources" / "textcaps")]}]
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", "instruct", "--config", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "converter 'vqav2'" in err and "lacks ['image_id', 'question', 'answers']" in err
    assert not (tmp_path / "out" / "instruct" / "manifest.json").exists()


@pytest.mark.timeout(300)
def test_the_merged_dataset_trains(merged, tmp_path):
    torch = pytest.importorskip("torch")
    from training.config import TrainConfig
    from training.loop import Trainer

    _, dataset = merged
    cfg = TrainConfig.model_validate(
        {
            "datasets": [{"manifest": str(dataset / "manifest.json"), "weight": 1}],
            "checkpoint_dir": str(tmp_path / "run"),
            "steps": 3,
            "batch_size": 2,
            "warmup_steps": 1,
            "log_every": 1,
            "data": {"max_length": 512, "max_image_size": 32, "shuffle_buffer": 4},
            "model": {"vocab_size": 384, "tokenizer_samples": 32},
        }
    )
    history = Trainer(cfg).run(log=lambda _: None)
    assert len(history) == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in history)


@pytest.mark.parametrize(
    "sources, message",
    [
        ([{"converter": "vqa_v3", "input": ["x"]}], "no converter 'vqa_v3'; converters: ai2d, cauldron"),
        ([{"converter": "iam", "input": ["IAM"]}, {"converter": "iam", "input": ["IAM"]}], "share a name"),
        ([{"converter": "iam", "input": ["nowhere"]}], "does not exist"),
    ],
)
def test_bad_source_lists_are_refused_before_any_work(merged, tmp_path, capsys, sources, message):
    tmp, _ = merged
    cfg = yaml.safe_load(config(tmp_path, tmp / "sources").read_text())
    cfg["sources"] = [
        {**s, "input": [str(tmp / "sources" / "iam") if i == "IAM" else i for i in s["input"]]}
        for s in sources
    ]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", "instruct", "--config", str(path), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "instruct").exists()


def test_perceptual_hashes_find_a_re_encoded_copy(merged, tmp_path):
    """TextCaps holds the shared COCO image re-encoded: SHA-256 misses it, phash finds it."""
    tmp, dataset = merged
    sha = json.loads((dataset / "cross_source_images.json").read_text())
    assert sha["method"] == "sha256" and sha["pairs"] == {"tallyqa + vqav2": 1}
    cfg = config(tmp_path, tmp / "sources", cross_source="phash")
    assert main(["run", "instruct", "--config", str(cfg), "--no-progress"]) == 0
    report = json.loads((tmp_path / "out" / "instruct" / "cross_source_images.json").read_text())
    assert report["images_in_several_sources"] == 1  # one picture, in three sources
    assert report["pairs"] == {"tallyqa + textcaps": 1, "tallyqa + vqav2": 1, "textcaps + vqav2": 1}
    assert report["images"] == sha["images"] - 1
    phashes = {
        s["meta"]["instruct_source"]: s["meta"]["image_phash"] for s in samples(tmp_path / "out" / "instruct")
    }
    assert all(len(value) == 16 for values in phashes.values() for value in values)


def test_the_report_has_a_table_per_source(merged):
    _, dataset = merged
    report = json.loads((dataset / "report.json").read_text())
    assert report["sources"]["vqav2"]["samples"] == 2 and report["sources"]["vqav2"]["rows"] == 6
    assert report["sources"]["vqav2"]["dropped"] == EXPECTED["vqav2"]["dropped"]
    assert set(report["sources"]) == set(EXPECTED)
    assert report["cross_source"]["pairs"] == {"tallyqa + vqav2": 1}
    html = (dataset / "report.html").read_text()
    assert '<section id="sources">' in html and "disagreeing_answers 1" in html


def test_a_json_source_cut_short_keeps_its_complete_rows(merged, tmp_path):
    """JSON sources are streamed: a file that ends mid-row keeps the rows before and counts the cut."""
    tmp, _ = merged
    source = tmp_path / "figureqa"
    shutil.copytree(tmp / "sources" / "figureqa" / "train1", source)
    text = (source / "qa_pairs.json").read_text()
    (source / "qa_pairs.json").write_text(text[: text.index('"Does Green intersect Red?"')])  # in row 4
    cfg = yaml.safe_load(config(tmp_path, tmp / "sources").read_text())
    cfg["sources"] = [{"converter": "figureqa", "input": [str(source)]}]
    path = tmp_path / "cut.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", "instruct", "--config", str(path), "--no-progress"]) == 0
    counted = stats(tmp_path / "out" / "instruct")
    assert counted["figureqa/turns"] == 3 and counted["figureqa/dropped_truncated_file"] == 1


def test_an_evaluation_pair_removes_its_turn_and_keeps_the_image_s_other_questions(merged, tmp_path):
    """Questions of one sample come from separate source rows: a pair (image, question) of an
    evaluation set removes that turn only; a sample whose every turn matches is dropped."""
    from synth.demo.instruct_json_sources import COCO, image

    tmp, _ = merged
    (tmp_path / "coco.jpg").write_bytes(image(COCO))
    pairs = tmp_path / "eval_pairs.jsonl"
    pairs.write_text(
        json.dumps({"image": "coco.jpg", "question": "What color is the sky?"})
        + "\n"
        + json.dumps({"image": "coco.jpg", "question": "How many nets are there?"})
        + "\n"
    )
    cfg = yaml.safe_load(config(tmp_path, tmp / "sources").read_text())
    cfg["sources"] = [s for s in cfg["sources"] if s["converter"] in ("vqav2", "tallyqa")]
    cfg["governance"]["decontamination"]["pairs"] = [str(pairs)]
    path = tmp_path / "decon.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", "instruct", "--config", str(path), "--no-progress"]) == 0
    kept = samples(tmp_path / "out" / "instruct")
    coco_vqa = [s for s in kept if s["meta"]["instruct_source"] == "vqav2" and COCO_ROW in s["meta"]["rows"]]
    assert [[t["assistant"] for t in s["texts"]] for s in coco_vqa] == [["Net."]]  # "Blue." removed
    tally = [s["texts"][0]["user"].split("\n")[0] for s in kept if s["meta"]["instruct_source"] == "tallyqa"]
    assert tally == ["How many people are in the photo?"]  # the nets question's sample is dropped
    steps = json.loads((tmp_path / "out" / "instruct" / "_logs/write_shards/stats.json").read_text())
    decon = next(s for s in steps if "ontamination" in s["name"])["stats"]
    decon = {k: v["total"] if isinstance(v, dict) else v for k, v in decon.items()}
    assert decon["eval_pair_turns_removed"] == 1 and decon["dropped_eval_pair_match"] == 1


COCO_ROW = 0  # the VQAv2 demo rows 0-1 ask about the COCO image
