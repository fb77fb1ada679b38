"""Exclusion records from a real datatrove filter: exact counts, bounded seeded examples."""

import base64
import io
import json

from datatrove.pipeline.filters.base_filter import BaseFilter
from PIL import Image

from pipelines.steps.exclusions import ExclusionRecorder, thumbnail
from schemas.records import ExclusionSummary, merge_summaries
from synth.demo.documents import make_documents


class LengthFilter(BaseFilter):
    """Drops short captions with a reason and the measured length."""

    def filter(self, doc):
        words = len(doc.text.split())
        doc.metadata["filter_value"] = words
        if words < 10:
            return False, "too_short" if words > 6 else "nsfw_stand_in"
        return True


def run_filter(tmp_path, documents, rank=0):
    recorder = ExclusionRecorder(
        tmp_path / "_excluded", "caption_filters", "length", reservoir_size=3, thumbnail_px=32
    )
    kept = list(LengthFilter(recorder).run(iter(documents), rank=rank))
    path = tmp_path / "_excluded" / "caption_filters" / f"{rank:05d}-length.json"
    return kept, ExclusionSummary.model_validate(json.loads(path.read_text()))


def test_counts_exact_and_reservoir_bounded(tmp_path):
    documents = make_documents("pair", 200)
    kept, summary = run_filter(tmp_path, documents)
    short = [d for d in documents if len(d.text.split()) < 10]
    assert len(kept) + sum(summary.counts.values()) == 200
    assert summary.counts["too_short"] == sum(1 for d in short if len(d.text.split()) > 6)
    assert summary.counts["nsfw_stand_in"] == sum(1 for d in short if len(d.text.split()) <= 6)
    for reason, records in summary.examples.items():
        assert len(records) == min(3, summary.counts[reason])
        assert all(
            r.reason == reason and r.stage == "caption_filters" and isinstance(r.value, int) for r in records
        )
        thumb = Image.open(io.BytesIO(base64.b64decode(records[0].thumbnail)))
        assert max(thumb.size) <= 32


def edge_energy(b64: str) -> float:
    image = Image.open(io.BytesIO(base64.b64decode(b64))).convert("L")
    pixels = image.tobytes()
    return sum(abs(a - b) for a, b in zip(pixels, pixels[1:], strict=False)) / len(pixels)


def test_examples_are_seeded_and_nsfw_thumbnails_blurred(tmp_path):
    documents = make_documents("pair", 200)
    by_id = {d.id: d for d in documents}
    _, first = run_filter(tmp_path / "a", documents)
    _, second = run_filter(tmp_path / "b", documents)
    assert first.examples == second.examples
    record = first.examples["nsfw_stand_in"][0]
    image = by_id[record.doc_id].media[0].media_bytes
    assert record.thumbnail == thumbnail(image, 32, blur=True)
    assert edge_energy(record.thumbnail) < 0.5 * edge_energy(thumbnail(image, 32, blur=False))
    other = first.examples["too_short"][0]
    assert other.thumbnail == thumbnail(by_id[other.doc_id].media[0].media_bytes, 32, blur=False)


def test_merge_over_tasks(tmp_path):
    documents = make_documents("pair", 100)
    _, a = run_filter(tmp_path, documents[:50], rank=0)
    _, b = run_filter(tmp_path, documents[50:], rank=1)
    merged = merge_summaries([b, a], limit=4)
    assert merged["counts"]["too_short"] == a.counts.get("too_short", 0) + b.counts.get("too_short", 0)
    assert all(len(v) <= 4 for v in merged["examples"].values())
