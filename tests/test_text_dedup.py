"""Text dedup stages on small corpora whose answers are known: URL, near-duplicate text, image-URL
frequency, image set, paragraphs per domain; split over several tasks or run in one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filters.urls import normalize_url as url_key
from pipelines.dedup import text_dedup_stages
from schemas.config import load_config
from schemas.config_interleaved import InterleavedConfig
from schemas.records import step_stats
from tests.dedup_fixtures import document, paragraph, read_staged, run_local, stage_documents, words

BOILERPLATE = "Subscribe to our newsletter for weekly news about gardens, seeds and the seasons."


def corpus() -> list[list]:
    """Documents in three staged files, each planted for one rule."""
    near = words("near", 150)
    edited = list(near)
    edited[40] = "zzzword"  # one word changed: a near duplicate
    pages = [
        # same URL (spelled differently) crawled twice: the newer one stays
        document(
            "url-old", "HTTP://Example.com:80/story#top", "2020-01-01T00:00:00Z", [paragraph("story-a")]
        ),
        document("url-new", "http://example.com/story", "2022-01-01T00:00:00Z", [paragraph("story-b")]),
        # near-duplicate text under two URLs: the newer stays; a third text on the same words stays
        document("near-old", "http://b.org/1", "2021-05-01T00:00:00Z", [" ".join(near)]),
        document("near-new", "http://b.org/2", "2021-06-01T00:00:00Z", [" ".join(edited)]),
        document("distinct", "http://b.org/3", "2021-06-01T00:00:00Z", [" ".join(words("other", 150))]),
    ]
    # a logo on 4 pages (over the limit of 3) and a banner on 3 (at the limit)
    logos = [
        document(
            f"logo-{i}",
            f"http://c.net/{i}",
            "2021-01-01T00:00:00Z",
            [paragraph(f"logo-text-{i}")],
            [f"http://c.net/img/{i}.jpg", "http://c.net/logo.png"]
            + (["http://c.net/banner.png"] if i < 3 else []),
        )  # fmt: skip
        for i in range(4)
    ]
    sets = [
        # the same image set in another order: the newer stays; a subset is another set
        document("set-old", "http://d.io/a", "2019-01-01T00:00:00Z", [paragraph("set-a")], ["http://d.io/x.jpg", "http://d.io/y.jpg"]),
        document("set-new", "http://d.io/b", "2023-01-01T00:00:00Z", [paragraph("set-b")], ["http://d.io/y.jpg", "http://d.io/x.jpg"]),
        document("set-sub", "http://d.io/c", "2023-01-01T00:00:00Z", [paragraph("set-c")], ["http://d.io/x.jpg"]),
        # pages whose only image is the frequent logo are not an image set
        document("only-logo", "http://c.net/only", "2021-01-01T00:00:00Z", [paragraph("only-logo")], ["http://c.net/logo.png"]),
    ]  # fmt: skip
    paragraphs = [
        # boilerplate on 3 pages of one domain (over the limit of 2), and on 2 pages of another
        *[
            document(f"gard-{i}", f"http://www.garden.com/{i}", "2021-01-01T00:00:00Z", [paragraph(f"gard-{i}"), BOILERPLATE])
            for i in range(2)
        ],
        document("gard-only", "http://garden.com/only", "2021-01-01T00:00:00Z", [BOILERPLATE]),
        *[
            document(f"farm-{i}", f"http://farm.com/{i}", "2021-01-01T00:00:00Z", [paragraph(f"farm-{i}"), BOILERPLATE])
            for i in range(2)
        ],
        # one page crawled three times: its paragraphs are not repeats of each other
        *[
            document(f"crawl-{i}", "http://farm.com/crawled", f"202{i}-01-01T00:00:00Z", [paragraph("crawled"), "Our own farm story."])
            for i in range(3)
        ],
    ]  # fmt: skip
    return [pages + logos[:2], logos[2:] + sets, paragraphs]


def config(tmp_path: Path, tasks: int, partitions: int) -> InterleavedConfig:
    return load_config(
        InterleavedConfig,
        None,
        [
            f"output_dir={tmp_path}", "dataset=ds", f"executor.tasks={tasks}", "executor.kind=local",
            f"text_dedup.partitions={partitions}", "text_dedup.image_url_max_docs=3",
        ],
    )  # fmt: skip


def run_dedup(tmp_path: Path, tasks: int, partitions: int) -> tuple[dict, Path]:
    cfg = config(tmp_path, tasks, partitions)
    source = stage_documents(Path(cfg.dataset_dir) / "_stage" / "extract", corpus())
    stages, result = text_dedup_stages(cfg, cfg.text_dedup, source)
    run_local(stages, Path(cfg.dataset_dir))
    return read_staged(Path(result)), Path(cfg.dataset_dir)


@pytest.fixture(scope="module")
def deduped(tmp_path_factory):
    return run_dedup(tmp_path_factory.mktemp("dedup"), tasks=3, partitions=2)


def test_url_dedup_keeps_the_newest(deduped):
    docs, _ = deduped
    assert "url-new" in docs and "url-old" not in docs
    assert url_key("HTTP://Example.com:80/story#top") == url_key("http://example.com/story")


def test_near_duplicates_keep_the_newest_and_distinct_text_stays(deduped):
    docs, _ = deduped
    assert "near-new" in docs and "near-old" not in docs
    assert "distinct" in docs


def test_frequent_image_url_removed_from_every_page(deduped):
    docs, _ = deduped
    for i in range(4):
        urls = [m.url for m in docs[f"logo-{i}"].media]
        assert "http://c.net/logo.png" not in urls
        assert f"http://c.net/img/{i}.jpg" in urls
        assert ("http://c.net/banner.png" in urls) == (i < 3)  # 3 pages: at the limit, kept
        assert [n["media"] for n in docs[f"logo-{i}"].metadata["nodes"] if n["type"] == "image"] == list(
            range(len(urls))
        )


def test_image_set_dedup_after_frequent_urls(deduped):
    docs, _ = deduped
    assert "set-new" in docs and "set-old" not in docs
    assert "set-sub" in docs
    assert "only-logo" in docs and docs["only-logo"].media == []


def test_paragraphs_repeated_within_a_domain(deduped):
    docs, _ = deduped
    for i in range(2):
        assert BOILERPLATE not in docs[f"gard-{i}"].text  # www.garden.com and garden.com: one domain
        assert BOILERPLATE in docs[f"farm-{i}"].text  # two pages of farm.com: at the limit
    assert "gard-only" not in docs  # nothing left once its boilerplate went
    assert "crawl-2" in docs and "Our own farm story." in docs["crawl-2"].text
    assert "crawl-0" not in docs and "crawl-1" not in docs


def test_counts_per_reason(deduped):
    docs, dataset = deduped
    stats = json.loads((dataset / "_logs" / "text_dedup" / "stats.json").read_text())
    counts = step_stats(stats, "Text dedup")
    assert counts["dropped_duplicate_url"] == 3  # url-old, crawl-0, crawl-1
    assert counts["dropped_near_duplicate"] == 1
    assert counts["dropped_duplicate_image_set"] == 1
    assert counts["dropped_no_text_left"] == 1
    assert counts["images_dropped_frequent_image_url"] == 5  # 4 logo pages + only-logo
    assert counts["paragraphs_dropped_repeated_paragraph"] == 3
    assert counts["documents_in"] == 21 and counts["documents_out"] == len(docs) == 15
    excluded = json.loads(next((dataset / "_excluded" / "text_dedup").glob("*.json")).read_text())
    assert excluded["stage"] == "text_dedup"


def test_split_over_tasks_gives_the_same_result(deduped, tmp_path):
    docs, _ = deduped
    single, _ = run_dedup(tmp_path, tasks=1, partitions=1)
    assert {k: (d.text, [m.url for m in d.media]) for k, d in single.items()} == {
        k: (d.text, [m.url for m in d.media]) for k, d in docs.items()
    }
