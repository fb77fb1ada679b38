"""The interleaved job over the 110 real pages of shared/data/web packed into a WARC, and over
the broken WARC/ARC files of shared/data/warc."""

import json
import re

import pyarrow.parquet as pq
import pytest

from pipelines.executors import run_stages
from pipelines.interleaved import build_interleaved
from pipelines.steps.stage_io import row_to_document
from schemas.config import load_config
from schemas.config_interleaved import InterleavedConfig
from schemas.records import step_stats
from schemas.samples import nodes_to_text
from synth.demo.warc_pack import pack_pages, shared_web_pages
from tests import corpora

pytestmark = pytest.mark.timeout(300)


def run_job(out, *overrides):
    cfg = load_config(
        InterleavedConfig,
        None,
        [f"output_dir={out}", "executor.kind=local", "executor.workers=1", *overrides],
    )
    run_stages(build_interleaved(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return cfg


def staged_documents(dataset_dir):
    return [
        row_to_document(row)
        for path in sorted((dataset_dir / "_stage/extract").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


@pytest.fixture(scope="module")
def web_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web110")
    pages = shared_web_pages(corpora.require("web"))
    pack_pages([(url, body) for _, url, body in pages[0::2]], tmp / "a.warc.gz")
    pack_pages([(url, body) for _, url, body in pages[1::2]], tmp / "b.warc", gzip=False)
    cfg = run_job(tmp / "out", "dataset=web", f"warcs=[{tmp}/*.warc*]", "executor.tasks=2")
    stats = json.loads((tmp / "out/web/_logs/extract/stats.json").read_text())
    return tmp / "out/web", stats, staged_documents(tmp / "out/web"), cfg


def normalise(text):
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.corpus("web")
def test_documents_are_consistent_and_carry_provenance(web_job):
    _, _, documents, _ = web_job
    assert documents
    for doc in documents:
        nodes = doc.metadata["nodes"]
        assert doc.text == nodes_to_text(nodes)
        assert sorted(n["media"] for n in nodes if n["type"] == "image") == list(range(len(doc.media)))
        assert 1 <= len(doc.media) <= 30
        assert doc.metadata["lang"] in ("en", "de", "fr") and doc.metadata["lang_score"] >= 0.8
        assert doc.metadata["url"].startswith("http") and doc.metadata["warc_date"].startswith("2024-01-01")
        assert doc.metadata["warc_file"] in ("a.warc.gz", "b.warc") and doc.metadata["warc_offset"] >= 0
        assert all(m.url.startswith("http") for m in doc.media)


@pytest.mark.corpus("web")
def test_kept_documents_keep_their_main_text(web_job):
    _, _, documents, _ = web_job
    truth = json.loads((corpora.require("web") / "pages.json").read_text())
    by_url = {entry["url"]: entry for entry in truth.values()}
    found = total = leaked = boilerplate = 0
    for doc in documents:
        entry = by_url[doc.metadata["url"]]
        text = normalise(doc.text)
        found += sum(normalise(s) in text for s in entry.get("with", []))
        total += len(entry.get("with", []))
        leaked += sum(normalise(s) in text for s in entry.get("without", []))
        boilerplate += len(entry.get("without", []))
    # pinned a little under what this revision measures, so a regression shows
    print(f"with-snippet recall {found / total:.3f}, without-snippet leak {leaked / boilerplate:.3f}")
    assert found / total >= RECALL_FLOOR, (found, total)
    assert leaked / boilerplate <= LEAK_CEILING, (leaked, boilerplate)


@pytest.mark.corpus("web")
def test_per_reason_counts_are_pinned(web_job):
    _, stats, documents, _ = web_job
    counts = {
        step: {
            k: int(v)
            for k, v in step_stats(stats, step).items()
            if k.startswith(("dropped", "paragraphs_dropped", "images_dropped", "documents", "lang_"))
        }
        for step in (
            "WARC reader",
            "HTML -> interleaved",
            "Language tagger",
            "node filters",
            "Language filter",
            "document filters",
        )
    }
    assert counts == PINNED, json.dumps(counts, indent=1, sort_keys=True)
    assert (
        len(documents) == 110 - PINNED["Language filter"]["dropped"] - PINNED["document filters"]["dropped"]
    )


@pytest.mark.corpus("web")
def test_exclusions_match_the_counts(web_job):
    dataset_dir, stats, _, cfg = web_job
    doc_counts = {}
    for path in (dataset_dir / "_excluded/extract").glob("*-document_filters.json"):
        for reason, n in json.loads(path.read_text())["counts"].items():
            doc_counts[reason] = doc_counts.get(reason, 0) + n
    dropped = {
        k[len("dropped_") :]: int(v)
        for k, v in step_stats(stats, "document filters").items()
        if k.startswith("dropped_")
    }
    assert doc_counts == dropped
    for path in (dataset_dir / "_excluded/extract").glob("*.json"):
        summary = json.loads(path.read_text())
        assert all(len(v) <= cfg.audit.reservoir_size for v in summary["examples"].values())


@pytest.mark.corpus("warc")
def test_broken_warc_and_arc_files_are_survived(tmp_path):
    run_job(
        tmp_path,
        "dataset=broken",
        f"warcs=[{corpora.require('warc')}]",
        "executor.tasks=3",
        "doc_filters.min_images=0",
        "doc_filters.min_words=1",
    )
    stats = json.loads((tmp_path / "broken/_logs/extract/stats.json").read_text())
    reader = step_stats(stats, "WARC reader")
    assert reader["documents"] >= 6  # example.com and iana.org pages from the readable files
    assert reader["warc_unchunked_gzip"] >= 1 and reader["record_no_http_headers"] >= 1
    assert (tmp_path / "broken/_logs/extract/completions/00002").exists()  # every task finished


RECALL_FLOOR = 0.70  # measured 0.724: node filters drop short snippets (names, prices) by design
LEAK_CEILING = 0.06  # measured 0.043
# per-step drop counts of this revision over the 110 pages: a change in behaviour shows here
PINNED = {
    "HTML -> interleaved": {"documents": 110},
    "Language filter": {"dropped": 2, "dropped_language": 1, "dropped_language_score": 1},
    "Language tagger": {"lang_de": 69, "lang_en": 35, "lang_fr": 5, "lang_ms": 1},
    "WARC reader": {"documents": 110},
    "document filters": {
        "dropped": 35,
        "dropped_stopwords": 2,
        "dropped_too_few_images": 31,
        "dropped_too_many_images": 1,
        "dropped_too_many_words": 1,
    },
    "node filters": {
        "images_dropped_format": 32,
        "images_dropped_url_blocklist": 29,
        "paragraphs_dropped_char_repetition": 73,
        "paragraphs_dropped_flagged_words": 2,
        "paragraphs_dropped_punctuation": 24,
        "paragraphs_dropped_spam_words": 2,
        "paragraphs_dropped_special_characters": 26,
        "paragraphs_dropped_stopwords": 387,
        "paragraphs_dropped_too_few_words": 499,
        "paragraphs_dropped_word_repetition": 1,
    },
}


def test_demo_corpus_cases(tmp_path):
    """The demo corpus says which page stands for which case: good pages in en/de/fr are kept,
    low-quality ones dropped, non-HTML records skipped by the reader."""
    from synth.demo.corpus import build_corpus

    corpus = build_corpus(tmp_path / "corpus")
    run_job(tmp_path, "dataset=demo", f"warcs=[{tmp_path / 'corpus/web/pages.warc.gz'}]")
    kept = {doc.metadata["url"] for doc in staged_documents(tmp_path / "demo")}
    good = {page.url for page in corpus.pages if page.case == "good"}
    low = {page.url for page in corpus.pages if page.case == "low_quality"}
    other = {page.url for page in corpus.pages if page.case in ("pdf_record", "non_html")}
    assert good <= kept, sorted(good - kept)
    assert not low & kept, sorted(low & kept)
    assert not other & kept


@pytest.mark.corpus("web")
def test_text_dedup_of_real_pages_keeps_the_newest_crawl(tmp_path):
    """The 110 real pages, 30 of them crawled again a year later: each re-crawled URL is kept
    once, from the newer crawl; the older copies are counted as duplicate URLs."""
    pages = shared_web_pages(corpora.require("web"))
    pack_pages([(url, body) for _, url, body in pages], tmp_path / "a.warc.gz")
    recrawled = [(url, body) for _, url, body in pages[:30]]
    pack_pages(recrawled, tmp_path / "c.warc.gz", date="2025-01-01T00:00:00Z")
    run_job(tmp_path / "out", "dataset=web", f"warcs=[{tmp_path}/*.warc.gz]", "executor.tasks=2")
    dataset = tmp_path / "out/web"
    extracted = staged_documents(dataset)
    deduped = [
        row_to_document(row)
        for path in sorted((dataset / "_stage/text_dedup").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    recrawled_urls = {url for url, _ in recrawled}
    urls = [doc.metadata["url"] for doc in deduped]
    assert len(urls) == len(set(urls))
    kept_again = [doc for doc in deduped if doc.metadata["url"] in recrawled_urls]
    assert kept_again and all(doc.metadata["warc_date"].startswith("2025") for doc in kept_again)
    stats = step_stats(json.loads((dataset / "_logs/text_dedup/stats.json").read_text()), "Text dedup")
    twice = sum(1 for doc in extracted if doc.metadata["url"] in recrawled_urls) - len(kept_again)
    assert stats["dropped_duplicate_url"] == twice > 0
    assert stats["documents_in"] == len(extracted) and stats["documents_out"] == len(deduped)
    for doc in deduped:  # what dedup removed from a document leaves it consistent
        assert doc.text == nodes_to_text(doc.metadata["nodes"])
        assert sorted(n["media"] for n in doc.metadata["nodes"] if n["type"] == "image") == list(
            range(len(doc.media))
        )
    print({k: v for k, v in stats.items() if "dropped" in k})
