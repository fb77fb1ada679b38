"""Instruction data through the whole system: text-only and conversation samples imported from
the public layouts (``vlmdata import messages|alpaca|llava|sharegpt``), validated, read by the
three standard readers, decontaminated by image + question, and trained on mixed with image data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import webdataset as wds

from pipelines.cli import main
from schemas.validate import validate_dataset
from synth.demo.instructions import EXPECTED, QUESTION, write_all

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FILES = {
    "alpaca": "alpaca.jsonl",
    "sharegpt": "sharegpt.jsonl",
    "messages": "messages.parquet",
    "llava": "llava.json",
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, Path, dict[str, Path]]:
    """Every layout imported from the demo files; the LLaVA file against the planted evaluation pair."""
    root = tmp_path_factory.mktemp("instructions")
    files = write_all(root / "in")
    out = root / "out"
    datasets = {}
    for layout, name in FILES.items():
        extra = (
            [f"governance.decontamination.pairs=[{files / 'eval_pairs.jsonl'}]"] if layout == "llava" else []
        )
        args = [
            "import",
            layout,
            "--no-progress",
            "--config",  # as shipped, output_dir overridden
            str(CONFIGS / "conversations.yaml"),
            str(files / name),
            f"output_dir={out}",
            "executor.kind=local",
        ]
        assert main([*args, *extra]) == 0
        datasets[layout] = out / name.rsplit(".", 1)[0]
    return files, out, datasets


def samples(dataset: Path) -> list[dict]:
    urls = [str(dataset / e["url"]) for e in json.loads((dataset / "manifest.json").read_text())["shardlist"]]
    return [{**s, "body": json.loads(s["json"])} for s in wds.WebDataset(urls, shardshuffle=False)]


def reader_stats(dataset: Path) -> dict:
    stats = json.loads((dataset / "_logs/write_shards/stats.json").read_text())
    return next(s for s in stats if "Conversation reader" in s["name"])["stats"]


@pytest.mark.parametrize("layout", list(FILES))
def test_each_layout_keeps_the_good_rows_and_names_the_bad(imported, layout):
    _, _, datasets = imported
    dataset = datasets[layout]
    report = validate_dataset(str(dataset))
    assert report.ok, report.problems
    stats = reader_stats(dataset)
    expected = EXPECTED[layout]
    assert stats["rows_read"] == expected["kept"]
    assert {k.removeprefix("dropped_"): v for k, v in stats.items() if k.startswith("dropped_")} == expected[
        "dropped"
    ]
    for sample in samples(dataset):
        body = sample["body"]
        assert body["kind"] == "qa" and body["texts"] and all(t["assistant"] for t in body["texts"])
        assert all("<image>" not in t["user"] for t in body["texts"])  # placeholders became image order
        assert [m for m in body["images"]] == [k for k in sorted(sample) if k.endswith(".jpg")]
        assert body["meta"]["layout"] == layout and body["meta"]["tokens"] > 0


def test_text_only_conversations_and_system_prompts(imported):
    _, _, datasets = imported
    by_first = {s["body"]["texts"][0]["user"]: s["body"] for s in samples(datasets["sharegpt"])}
    water = by_first["What is the boiling point of water at sea level?"]
    assert water["images"] == [] and len(water["texts"]) == 2
    assert water["texts"][1] == {
        "user": "And in Fahrenheit?",
        "assistant": "212 degrees Fahrenheit.",
        "source": "sharegpt.jsonl",
    }
    assert water["meta"]["system"] == "You are a concise assistant."
    prime = by_first["Name a prime number above 10."]
    assert [t["assistant"] for t in prime["texts"]] == ["11."]  # the unanswered "Thanks!" removed
    assert [t["assistant"] for t in by_first["What is the capital of Italy?"]["texts"]] == ["Rome."]
    assert reader_stats(datasets["sharegpt"])["trailing_user_turn"] == 2
    alpaca = {s["body"]["texts"][0]["user"]: s["body"] for s in samples(datasets["alpaca"])}
    assert alpaca["Translate to French.\n\nGood morning"]["texts"][0]["assistant"] == "Bonjour."
    messages = [s["body"] for s in samples(datasets["messages"])]
    two = next(b for b in messages if len(b["images"]) == 2)
    assert two["meta"]["image_turns"] == [0, 0] and two["meta"]["system"] == "Answer briefly."
    assert two["texts"][0]["user"] == "Which is wider?"
    assert sorted(len(b["images"]) for b in messages) == [0, 1, 2]


def test_decontamination_drops_the_planted_image_and_question_only(imported, capsys):
    _, _, datasets = imported
    kept = [s["body"] for s in samples(datasets["llava"])]
    questions = [b["texts"][0]["user"] for b in kept]
    assert QUESTION in questions  # the evaluation question about another image stays
    assert "Is it daytime?" in questions  # another question about the evaluation image stays
    assert len(kept) == 3 and not any(b["texts"][0]["assistant"] == "Red." for b in kept)
    stats = json.loads((datasets["llava"] / "_logs/write_shards/stats.json").read_text())
    decon = next(s for s in stats if "Decontamination" in s["name"])["stats"]
    assert decon["dropped_eval_pair_match"] == 1
    report = json.loads((datasets["llava"] / "report.json").read_text())
    assert "eval_pair_match" in json.dumps(report)  # counted and shown in the auditor's report


def test_an_import_without_evaluation_sets_warns(imported, tmp_path, capsys):
    files, _, _ = imported
    args = ["import", "alpaca", "--no-progress", str(files / "alpaca.jsonl"), f"output_dir={tmp_path}"]
    assert main([*args, "executor.kind=local"]) == 0
    assert "no evaluation sets given, so nothing is decontaminated" in capsys.readouterr().err


def test_a_file_of_another_layout_fails_at_once(imported, tmp_path, capsys):
    files, _, _ = imported
    args = ["import", "messages", "--no-progress", str(files / "alpaca.jsonl"), f"output_dir={tmp_path}"]
    assert main([*args, "executor.kind=local"]) == 2
    err = capsys.readouterr().err
    assert "needs the columns ['messages']" in err and "fit layout=alpaca" in err
    assert not (tmp_path / "alpaca").exists()  # nothing ran


def test_wids_and_hugging_face_datasets_read_text_only_samples(imported, tmp_path, monkeypatch):
    _, _, datasets = imported
    import wids

    dataset = wids.ShardListDataset(
        str(datasets["sharegpt"] / "manifest.json"), keep=True, transformations=[]
    )
    bodies = [json.loads(dataset[i][".json"].read()) for i in range(len(dataset))]
    assert len(bodies) == 3 and all(b["images"] == [] for b in bodies)

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from datasets import load_dataset

    shards = sorted(str(p) for p in (datasets["alpaca"] / "shards").glob("*.tar"))
    table = load_dataset(
        "webdataset", data_files={"train": shards}, split="train", cache_dir=str(tmp_path / "c")
    )
    assert len(table) == 4 and all(row["json"]["images"] == [] for row in table)


@pytest.mark.timeout(300)
def test_text_only_and_conversation_data_train_mixed_with_images(imported, tmp_path):
    torch = pytest.importorskip("torch")
    from tests.test_training_data import build_datasets
    from training.config import TrainConfig
    from training.loop import Trainer
    from training.processor import IGNORE

    _, _, datasets = imported
    images = build_datasets(tmp_path / "img", count=8)
    cfg = TrainConfig.model_validate(
        {
            "datasets": [
                {"manifest": str(images["pair"]), "weight": 1},
                {"manifest": str(datasets["alpaca"] / "manifest.json"), "weight": 1},
                {"manifest": str(datasets["llava"] / "manifest.json"), "weight": 1},
            ],
            "checkpoint_dir": str(tmp_path / "run"),
            "steps": 3,
            "batch_size": 2,
            "warmup_steps": 1,
            "log_every": 1,
            "data": {"max_length": 256, "max_image_size": 32, "shuffle_buffer": 4},
            "model": {"vocab_size": 384, "tokenizer_samples": 32},
        }
    )
    trainer = Trainer(cfg)
    text_only = samples(datasets["alpaca"])[0]
    members = {k: v for k, v in text_only.items() if k in ("json",)}
    encoded = trainer.processors[1].encode(text_only["body"], members, text_only["__key__"])
    assert encoded.tiles == [] and trainer.ids.image not in encoded.input_ids
    answer = trainer.tokenizer.decode(
        [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE]
    )
    assert answer.strip() == text_only["body"]["texts"][0]["assistant"]  # loss on the answer only
    history = trainer.run(log=lambda _: None)
    assert len(history) == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in history)
