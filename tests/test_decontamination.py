"""Decontamination: 13-gram overlap with evaluation texts (txt, jsonl, parquet), short items whole,
the threshold, qa turns, and perceptual-hash matches with evaluation images."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document

from filters.decontamination import DecontaminationFilter, NgramIndex, load_eval_texts, normalized_words
from filters.dedup.image_hash import phash
from pipelines.steps.exclusions import ExclusionRecorder
from schemas.config_governance import DecontaminationConfig
from tests.dedup_fixtures import document, jpeg, paragraph

DATE = "2021-01-01T00:00:00Z"
QUESTION = (
    "Which planet in the solar system has the largest number of confirmed moons orbiting it "
    "according to the most recent survey?"
)
PASSAGE = paragraph("eval-passage", 40)
SHORT = "What is the capital city of Burkina Faso?"  # 8 words: indexed whole


def eval_files(tmp_path):
    (tmp_path / "questions.jsonl").write_text(
        json.dumps({"question": QUESTION, "answer": "Saturn", "choices": ["a", "b"]}) + "\n"
        + json.dumps({"question": SHORT, "answer": "Ouagadougou"}) + "\n"
    )  # fmt: skip
    pq.write_table(pa.table({"context": [PASSAGE], "id": [1]}), tmp_path / "passages.parquet")
    (tmp_path / "plain.txt").write_text("too short to index\n\n")
    return [str(tmp_path / n) for n in ("questions.jsonl", "passages.parquet", "plain.txt")]


def test_loading_and_normalisation(tmp_path):
    items = load_eval_texts(eval_files(tmp_path), DecontaminationConfig().text_fields)
    assert items == [QUESTION, SHORT, PASSAGE, "too short to index"]
    assert normalized_words("Hello, WORLD!  It's 2024_x") == ["hello", "world", "it", "s", "2024", "x"]
    index = NgramIndex(items, 13, 8)
    assert sorted(index.grams) == [8, 13]  # the 8-word question whole, 13-grams of the others
    assert index.matches(normalized_words("bla " + SHORT.upper() + " bla")) == 1


def test_documents_and_questions_dropped(tmp_path):
    cfg = DecontaminationConfig(texts=eval_files(tmp_path))
    copied = " ".join(QUESTION.split()[3:17])  # 14 words of the question, punctuation changed
    docs = [
        document("clean", "http://a.org/1", DATE, [paragraph(1), paragraph(2)]),
        document("copy", "http://a.org/2", DATE, [paragraph(3), f"Quiz: {copied.upper()}!"]),
        document("passage", "http://a.org/3", DATE, [paragraph(4) + " " + PASSAGE]),
        document("twelve", "http://a.org/4", DATE, [" ".join(QUESTION.split()[:12])]),  # 12 words: under 13
        Document(text="", id="qa", metadata={"qa": [{"user": SHORT, "assistant": "Ouagadougou."}]}),
    ]
    recorder = ExclusionRecorder(tmp_path / "excluded", "extract", "decontamination")
    step = DecontaminationFilter(cfg, recorder)
    kept = [d.id for d in step.run(iter(docs))]
    assert kept == ["clean", "twelve"]
    summary = json.loads((tmp_path / "excluded/extract/00000-decontamination.json").read_text())
    assert summary["counts"] == {"eval_text_overlap": 3}
    assert {e["doc_id"]: e["value"] for e in summary["examples"]["eval_text_overlap"]} == {
        "copy": 2, "passage": len(PASSAGE.split()) - 12, "qa": 1,
    }  # fmt: skip


def test_threshold(tmp_path):
    cfg = DecontaminationConfig(texts=eval_files(tmp_path), min_matches=3)
    copied = " ".join(QUESTION.split()[:15])  # 3 distinct 13-grams
    docs = [
        document("three", "http://a.org/1", DATE, [copied]),
        document("two", "http://a.org/2", DATE, [" ".join(QUESTION.split()[:14])]),
    ]
    assert [d.id for d in DecontaminationFilter(cfg).run(iter(docs))] == ["two"]


def test_images_by_perceptual_hash(tmp_path):
    folder = tmp_path / "eval_images"
    folder.mkdir()
    benchmark = jpeg(11, 400, 300)
    (folder / "b.jpg").write_bytes(benchmark)
    (tmp_path / "hashes.txt").write_text(f"{phash(jpeg(12)):016x}\n")
    cfg = DecontaminationConfig(images=[str(folder), str(tmp_path / "hashes.txt")])
    same_but_recompressed = jpeg(11, 400, 300, quality=50)
    images = {"http://i/1.jpg": same_but_recompressed, "http://i/2.jpg": jpeg(13), "http://i/3.jpg": jpeg(12)}
    docs = [
        document("contaminated", "http://a.org/1", DATE, [paragraph(1)], ["http://i/2.jpg", "http://i/1.jpg"], images),
        document("listed", "http://a.org/2", DATE, [paragraph(2)], ["http://i/3.jpg"], images),
        document("clean", "http://a.org/3", DATE, [paragraph(3)], ["http://i/2.jpg"], images),
    ]  # fmt: skip
    step = DecontaminationFilter(cfg, check_texts=True)
    assert [d.id for d in step.run(iter(docs))] == ["clean"]
    assert docs[0].metadata["filter_value"].startswith(f"{phash(benchmark):016x}")
    assert step.stats["dropped_eval_image_match"].total == 2
