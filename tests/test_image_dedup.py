"""Image dedup stages: exact copies and near duplicates across documents, one kept per cluster
(the one in the newest document); documents left without images dropped; same drops over one
task or several."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from filters.dedup import hamming, phash
from pipelines.dedup import image_dedup_stages
from schemas.config import load_config
from schemas.config_images import ImageDedupConfig
from schemas.config_interleaved import InterleavedConfig
from schemas.records import step_stats
from tests.dedup_fixtures import (
    banner,
    cropped,
    document,
    encode,
    jpeg,
    paragraph,
    read_staged,
    run_local,
    stage_documents,
)


def variant(data: bytes, scale: float, quality: int) -> bytes:
    """The same picture resized and re-encoded: a near duplicate."""
    with Image.open(io.BytesIO(data)) as image:
        image = image.resize((int(image.width * scale), int(image.height * scale)), Image.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


C_CROP = (0.0, 0.03, 0.05, 0.05)  # moves c's global perceptual hash by 12 bits


def corpus() -> list[list]:
    a, b, c = jpeg(1, 480, 360), jpeg(2, 480, 360), jpeg(3, 480, 360)
    near_a = variant(a, 0.7, 60)
    images = {"http://x/a.jpg": a, "http://y/a-copy.jpg": a, "http://z/a-small.jpg": near_a, "http://x/b.jpg": b,
              "http://x/c.jpg": c, "http://w/c-cropped.jpg": cropped(c, C_CROP),
              "http://x/banner-1.jpg": encode(banner("Doctors Bus Students Minister"), quality=90),
              "http://x/banner-2.jpg": encode(banner("Council Farmers Mayor Players"), quality=90)}  # fmt: skip

    def doc(doc_id: str, date: str, urls: list[str]):
        return document(doc_id, f"http://site/{doc_id}", date, [paragraph(doc_id)], urls, images)

    return [
        [doc("old", "2019-01-01T00:00:00Z", ["http://x/a.jpg", "http://x/b.jpg"])],
        [
            doc("new", "2023-01-01T00:00:00Z", ["http://y/a-copy.jpg"]),
            doc("mid", "2021-01-01T00:00:00Z", ["http://z/a-small.jpg", "http://x/c.jpg"]),
            doc("b-newer", "2020-01-01T00:00:00Z", ["http://x/b.jpg"]),
            doc("crop", "2018-01-01T00:00:00Z", ["http://w/c-cropped.jpg"]),
            doc("banners", "2018-01-01T00:00:00Z", ["http://x/banner-1.jpg", "http://x/banner-2.jpg"]),
        ],
    ]


def run_dedup(tmp_path: Path, tasks: int, partitions: int) -> tuple[dict, Path]:
    cfg = load_config(
        InterleavedConfig,
        None,
        [
            f"output_dir={tmp_path}",
            "dataset=ds",
            f"executor.tasks={tasks}",
            f"image_dedup.partitions={partitions}",
        ],
    )
    source = stage_documents(Path(cfg.dataset_dir) / "_stage" / "join", corpus())
    stages, result = image_dedup_stages(cfg, cfg.image_dedup, source, min_images=1)
    run_local(stages, Path(cfg.dataset_dir))
    return read_staged(Path(result)), Path(cfg.dataset_dir)


@pytest.fixture(scope="module")
def deduped(tmp_path_factory):
    return run_dedup(tmp_path_factory.mktemp("imagededup"), tasks=2, partitions=3)


def test_one_image_per_cluster_kept_in_the_newest_document(deduped):
    docs, _ = deduped
    assert [m.url for m in docs["new"].media] == ["http://y/a-copy.jpg"]  # the newest copy of a
    assert [m.url for m in docs["mid"].media] == ["http://x/c.jpg"]  # a resized: near duplicate
    assert [m.url for m in docs["b-newer"].media] == ["http://x/b.jpg"]
    assert "old" not in docs  # its a and b are kept in newer documents: nothing left
    assert "crop" not in docs  # c cropped by up to 5% a side is c's near duplicate
    # banners that differ in their words only: their content boxes tell them apart
    assert [m.url for m in docs["banners"].media] == ["http://x/banner-1.jpg", "http://x/banner-2.jpg"]


def test_the_crop_is_beyond_a_global_hash():
    """The cropped copy is found only thanks to the crop variants: its global perceptual hash is
    further from c's than max_distance."""
    c = jpeg(3, 480, 360)
    assert hamming(phash(c), phash(cropped(c, C_CROP))) > ImageDedupConfig().max_distance


def test_counts_per_reason(deduped):
    docs, dataset = deduped
    stats = json.loads((dataset / "_logs" / "image_dedup" / "stats.json").read_text())
    counts = step_stats(stats, "Image dedup")
    assert counts["images_dropped_duplicate_image"] == 2  # a and b in "old"
    assert counts["images_dropped_near_duplicate_image"] == 2  # a resized in "mid", c cropped in "crop"
    assert counts["images_kept"] == 5
    assert step_stats(stats, "Min images")["dropped_no_images_left"] == 2
    assert set(docs) == {"new", "mid", "b-newer", "banners"}


def test_split_over_tasks_gives_the_same_result(deduped, tmp_path):
    docs, _ = deduped
    single, _ = run_dedup(tmp_path, tasks=1, partitions=1)
    assert {k: [m.url for m in d.media] for k, d in single.items()} == {
        k: [m.url for m in d.media] for k, d in docs.items()
    }
