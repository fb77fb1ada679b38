"""synth.rendered_text: text drawn on images as valid ``ocr`` samples, deterministic per seed."""

import io
import json
import random
import re
import tarfile

import pytest
from PIL import Image

from pipelines.steps.stage_io import StageWriter
from schemas.samples import sample_errors
from schemas.validate import validate_dataset
from synth.rendered_text import RenderedText, font_paths, load_texts, render_text, rendered_document
from tests.helpers import pack, shard_hashes

TEXT = """Rendered text teaches a model to read what it sees.

Die Gemeinde hat im vergangenen Jahr drei neue Spielplätze gebaut und zwei Brücken saniert.

Le bulletin municipal paraît chaque mois; il présente les décisions du conseil.

حبيبي يا نور العين"""


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text(TEXT, "utf-8")
    return path


def make(text_file, tmp_path, name, seed, samples=12):
    step = RenderedText([str(text_file)], samples, seed=seed)
    staged = tmp_path / name / "staged"
    writer = StageWriter(str(staged))
    for rank in range(2):  # two tasks, as an executor would split them
        list(writer.run(step.run(None, rank, 2), rank, 2))
    return pack(staged, tmp_path / name / "out", "ocr", "rendered")


def members(dataset_dir):
    out = []
    for path in sorted((dataset_dir / "shards").glob("*.tar")):
        with tarfile.open(path) as tar:
            out += [(m.name, tar.extractfile(m).read()) for m in tar]
    return out


def test_samples_are_valid_ocr_samples_with_the_drawn_text(text_file, tmp_path):
    dataset_dir = make(text_file, tmp_path, "a", seed=1)
    report = validate_dataset(str(dataset_dir))
    assert report.ok and report.samples == 12, report.problems[:3]
    items = members(dataset_dir)
    words = set(" ".join(load_texts([str(text_file)])).split())
    fonts = set()
    for (_, data), (image_name, image) in zip(items[0::2], items[1::2], strict=True):
        sample = json.loads(data)
        assert sample_errors(sample) == [] and sample["kind"] == "ocr" and image_name.endswith(".000.jpg")
        transcription = sample["texts"][1]
        assert set(transcription.split()) <= words  # drawn text comes from the source, nothing invented
        with Image.open(io.BytesIO(image)) as img:
            assert img.size == (sample["meta"]["width"], sample["meta"]["height"])
        fonts.add(sample["meta"]["font"])
    assert len(fonts) >= 3  # varied fonts


def test_same_seed_same_bytes_other_seed_other_bytes(text_file, tmp_path):
    first = shard_hashes(make(text_file, tmp_path, "a", seed=7))
    again = shard_hashes(make(text_file, tmp_path, "b", seed=7))
    other = shard_hashes(make(text_file, tmp_path, "c", seed=8))
    assert first == again and first != other


def test_rtl_text_is_skipped_and_fonts_come_from_matplotlib(text_file):
    texts = load_texts([str(text_file)])
    assert len(texts) == 3 and not any("حبيبي" in t for t in texts)
    assert all(path.endswith(".ttf") and "DejaVu" in path for path in font_paths())
    image, transcription, meta = render_text("one two three four five six seven", random.Random(0))
    assert transcription.split() == "one two three four five six seven".split()
    assert Image.open(io.BytesIO(image)).size == (meta["width"], meta["height"])
    doc = rendered_document(texts, 0, seed=3)
    assert doc.text and len(doc.media) == 1 and doc.metadata["source"].startswith("rendered_text:")


def test_texts_from_staged_interleaved_documents(tmp_path):
    from datatrove.data import Document

    nodes = [
        {"type": "text", "text": "Erster Absatz mit Text."},
        {"type": "text", "text": "Second paragraph here."},
    ]
    doc = Document(
        text="Erster Absatz mit Text.\n\nSecond paragraph here.", id="d1", metadata={"nodes": nodes}
    )
    list(StageWriter(str(tmp_path / "extract")).run(iter([doc]), 0, 1))
    assert load_texts([str(tmp_path / "extract")]) == ["Erster Absatz mit Text.", "Second paragraph here."]


def test_texts_from_web_pages(tmp_path):
    """Any text file works: here the visible text of a German page of the demo corpus, with its
    boilerplate, scripts and styles."""
    import re

    from synth.demo.pages import plan_pages, render

    page = next(p for p in plan_pages(0) if p.lang == "de" and p.case == "good")
    html = render(page).decode("utf-8")
    text = re.sub(r"<[^>]+>", "\n\n", re.sub(r"(?s)<(script|style).*?</\1>", "", html))
    (tmp_path / "page.txt").write_text(text, "utf-8")
    doc = rendered_document(load_texts([str(tmp_path / "page.txt")]), 5, seed=0)
    assert doc is not None and doc.text.strip()


# ---- the rendered_text job ----


def run_rendered_text(text_file, out, *overrides):
    from pipelines.executors import run_stages
    from pipelines.rendered_text import build_rendered_text
    from schemas.config import load_config
    from schemas.config_rendered_text import RenderedTextConfig

    cfg = load_config(
        RenderedTextConfig,
        None,
        [
            f"texts=[{text_file}]",
            f"output_dir={out}",
            "dataset=rendered",
            "executor.kind=local",
            "executor.tasks=2",
            "executor.workers=1",
            "samples=10",
            "seed=5",
            *overrides,
        ],
    )
    run_stages(build_rendered_text(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return out / "rendered"


def test_job_writes_valid_deterministic_ocr_shards(text_file, tmp_path):
    first = run_rendered_text(text_file, tmp_path / "a")
    report = validate_dataset(str(first))
    assert report.ok and report.samples == 10, report.problems[:3]
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["kind"] == "ocr" and manifest["totals"]["samples"] == 10
    assert len(list((first / "shards").glob("*.tar"))) == 2  # one series per task
    again = run_rendered_text(text_file, tmp_path / "b")
    assert shard_hashes(first) == shard_hashes(again)
    items = members(first)
    assert [name for name, _ in items[0::2]] == sorted(name for name, _ in items[0::2])  # index order


def test_job_style_keys_reach_the_drawing_and_bad_inputs_are_named(text_file, tmp_path):
    from pipelines.rendered_text import build_rendered_text
    from schemas.config import ConfigError, load_config
    from schemas.config_rendered_text import RenderedTextConfig

    dataset = run_rendered_text(
        text_file, tmp_path, "min_font_size=20", "max_font_size=20", "max_rotation=0", "samples=4"
    )
    metas = [json.loads(data)["meta"] for _, data in members(dataset)[0::2]]
    assert len(metas) == 4 and {(m["font_size"], m["rotation"]) for m in metas} == {(20, 0.0)}
    base = ["dataset=x", f"output_dir={tmp_path}"]
    for overrides, needle in [
        ([], "texts=[FILE|FOLDER"),
        ([f"texts=[{tmp_path / 'nope.txt'}]"], "nope.txt"),
        ([f"texts=[{text_file}]", "min_words=9", "max_words=3"], "min_words=9 is above max_words=3"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(needle)):
            build_rendered_text(load_config(RenderedTextConfig, None, base + overrides))


def test_job_config_file_loads():
    from schemas.config import load_config
    from schemas.config_rendered_text import RenderedTextConfig
    from tests.helpers import REPO

    cfg = load_config(RenderedTextConfig, REPO / "configs/rendered_text.yaml")
    assert cfg.texts and cfg.samples >= 1
