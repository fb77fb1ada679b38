"""``vlmdata ablate`` (``training/ablate.py``) at tiny scale: variants x seeds trained and
evaluated, finished runs kept on a re-run, a crashing run reported as failed, bad configs refused
before any training, and ``ablation.html`` opened in headless Chromium."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

from pipelines.cli import main  # noqa: E402
from tests.test_training_data import build_datasets  # noqa: E402
from training.ablate import run_ablation, table  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, Path]:
    return build_datasets(tmp_path_factory.mktemp("ablate-data"), count=8)


def write_configs(
    folder: Path, manifests, variants: list[dict], evaluations: list[dict] | None = None
) -> Path:
    base = {
        "datasets": [
            {"manifest": str(manifests["pair"]), "weight": 1.0},
            {"manifest": str(manifests["qa"]), "weight": 1.0},
        ],
        "steps": 3,
        "batch_size": 2,
        "warmup_steps": 1,
        "log_every": 1,
        "data": {"max_length": 192, "max_image_size": 32, "shuffle_buffer": 4},
        "model": {"vocab_size": 320, "tokenizer_samples": 16},
    }
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    ablation = {
        "base": "base.yaml",
        "output_dir": str(folder / "out"),
        "seeds": [0, 1],
        "variants": variants,
        "evaluations": evaluations
        or [
            {"name": "qa_loss", "manifest": str(manifests["qa"]), "metric": "loss", "samples": 4},
            {
                "name": "caption",
                "manifest": str(manifests["pair"]),
                "metric": "char_accuracy",
                "samples": 3,
                "max_new_tokens": 4,
            },
        ],
    }
    path = folder / "ablate.yaml"
    path.write_text(yaml.safe_dump(ablation))
    return path


@pytest.mark.timeout(300)
def test_variants_and_seeds_are_trained_evaluated_kept_and_reported(manifests, tmp_path):
    variants = [
        {"name": "both"},
        {"name": "pairs_only", "set": {"datasets": [{"manifest": str(manifests["pair"])}]}},
        {
            "name": "broken",
            "set": {"model.path": str(tmp_path / "no-such-checkpoint")},
        },  # crashes when it runs
    ]
    config = write_configs(tmp_path, manifests, variants)
    said: list[str] = []
    summary = run_ablation(str(config), say=said.append)
    out = tmp_path / "out"
    by_name = {v["name"]: v for v in summary["variants"]}
    for name in ("both", "pairs_only"):
        runs = by_name[name]["runs"]
        assert [r["seed"] for r in runs] == [0, 1] and all(r["status"] == "ok" for r in runs)
        assert all(len(r["losses"]) == 3 for r in runs)  # the loss curve of every step
        assert (out / "runs" / f"{name}-seed0" / "result.json").exists()
        qa_loss = by_name[name]["scores"]["qa_loss"]
        assert qa_loss["mean"] > 0 and len(qa_loss["values"]) == 2 and qa_loss["spread"] >= 0
        assert 0 <= by_name[name]["scores"]["caption"]["mean"] <= 1
    broken = by_name["broken"]
    assert all(r["status"] == "failed" and "no-such-checkpoint" in r["error"] for r in broken["runs"])
    assert broken["scores"]["qa_loss"]["mean"] is None
    versus = by_name["pairs_only"]["vs_base"]["qa_loss"]
    spreads = [by_name[n]["scores"]["qa_loss"]["spread"] for n in ("pairs_only", "both")]
    assert versus["margin"] == pytest.approx(2 * (spreads[0] ** 2 / 2 + spreads[1] ** 2 / 2) ** 0.5, abs=1e-4)
    assert versus["beyond_spread"] == (abs(versus["diff"]) > versus["margin"]) and versus["statement"]
    written = json.loads((out / "ablation.json").read_text())
    assert written["base"] == "both" and [v["name"] for v in written["variants"]] == [
        "both",
        "pairs_only",
        "broken",
    ]
    assert "failed" in table(summary) and "2 run(s) failed" in table(summary)
    page = (out / "ablation.html").read_text()
    assert "pairs_only" in page and "data:image/png;base64," in page and "no-such-checkpoint" in page

    # a re-run keeps the finished runs and tries the failed ones again
    said.clear()
    again = run_ablation(str(config), say=said.append)
    kept = [line for line in said if "finished earlier, kept" in line]
    assert len(kept) == 4 and sum("broken seed" in line and "failed" in line for line in said) == 2
    assert again["variants"][0]["scores"] == summary["variants"][0]["scores"]  # deterministic

    if CHROMIUM.exists() or os.environ.get("VLMDATA_CI"):
        open_in_chromium(out / "ablation.html", tmp_path / "ablation.png")


def open_in_chromium(page_path: Path, shot: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright missing (pip install playwright)"
    )
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri(), wait_until="load")
            rows = page.eval_on_selector_all("#scores tr", "rows => rows.map(r => r.innerText)")
            images_ok = page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not errors and images_ok
    assert len(rows) == 4 and rows[2].startswith("pairs_only") and "failed" in rows[3]


def test_bad_ablations_are_refused_before_any_training(manifests, tmp_path, capsys):
    cases = [
        ([{"name": "a"}, {"name": "typo", "set": {"data.max_lenght": 9}}], None, "variant typo: data.max_lenght"),
        ([{"name": "a"}, {"name": "gone", "set": {"datasets": [{"manifest": str(tmp_path / "x/manifest.json")}]}}],
         None, "variant gone: .*no manifest"),
        ([{"name": "a"}], [{"name": "bad", "manifest": str(manifests["ocr"]), "metric": "anls"}],
         "evaluation bad: metric anls does not fit ocr"),
    ]  # fmt: skip
    for n, (variants, evaluations, message) in enumerate(cases):
        folder = tmp_path / str(n)
        folder.mkdir()
        config = write_configs(folder, manifests, variants, evaluations)
        assert main(["ablate", "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert __import__("re").search(message, err), err
        assert not (folder / "out" / "runs").exists()  # nothing trained


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_shipped_ablation_shows_the_ocr_effect(tmp_path, monkeypatch):
    """configs/ablate.yaml as shipped, one seed: the reading data is what makes the model read,
    and the colour task (the control) is learned either way."""
    from pipelines.ablation_data import build

    monkeypatch.chdir(tmp_path)  # the shipped config names demo-out/ablation/... from the current folder
    build(tmp_path / "demo-out" / "ablation")
    config = Path(__file__).resolve().parents[1] / "configs" / "ablate.yaml"
    summary = run_ablation(
        str(config), ["seeds=[0]", f"output_dir={tmp_path / 'result'}"], say=lambda _: None
    )
    scores = {v["name"]: {k: s["mean"] for k, s in v["scores"].items()} for v in summary["variants"]}
    assert scores["with_ocr"]["reading"] - scores["without_ocr"]["reading"] >= 0.15
    assert scores["without_ocr"]["reading"] <= 0.05
    assert min(scores["with_ocr"]["colour"], scores["without_ocr"]["colour"]) >= 0.95


@pytest.mark.timeout(300)
def test_runs_go_to_ray_in_parallel(manifests, tmp_path):
    variants = [
        {"name": "both"},
        {"name": "pairs_only", "set": {"datasets": [{"manifest": str(manifests["pair"])}]}},
    ]
    config = write_configs(tmp_path, manifests, variants)
    sequential = run_ablation(
        str(config), ["seeds=[0]", f"output_dir={tmp_path / 'one'}"], say=lambda _: None
    )
    parallel = run_ablation(
        str(config), ["seeds=[0]", "parallel=2", f"output_dir={tmp_path / 'two'}"], say=lambda _: None
    )
    assert [v["scores"] for v in parallel["variants"]] == [v["scores"] for v in sequential["variants"]]
    assert (tmp_path / "two" / "runs" / "pairs_only-seed0" / "result.json").exists()
