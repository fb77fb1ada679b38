"""Crawl mode of the interleaved job: page URLs fetched through the local web, archived as WARC,
extracted from the archive; robots.txt and failures counted; re-extraction needs no network."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from pipelines.executors import run_stages
from pipelines.interleaved import build_interleaved
from pipelines.steps.web.crawl import read_url_list
from schemas.config import ConfigError, load_config
from schemas.config_interleaved import InterleavedConfig
from schemas.records import step_stats
from synth.demo.local_web import LocalWeb
from synth.demo.warc_pack import demo_web_pages

pytestmark = pytest.mark.timeout(180)


def crawl_job(tmp_path, url_list, port):
    cfg = load_config(
        InterleavedConfig,
        None,
        [
            f"output_dir={tmp_path / 'out'}", "dataset=crawl", f"page_urls={url_list}",
            "executor.kind=local", "executor.tasks=2", "text_dedup.enabled=false",
            "doc_filters.min_images=0", f"fetch.resolver_override={{'*': '127.0.0.1:{port}'}}",
            "fetch.override_plain_http=true",
        ],
    )  # fmt: skip
    run_stages(build_interleaved(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return tmp_path / "out/crawl"


def archived(dataset):
    uris = []
    for path in sorted((dataset / "_stage/crawl").glob("*.warc.gz")):
        with open(path, "rb") as f:
            uris += [
                r.rec_headers.get_header("WARC-Target-URI")
                for r in ArchiveIterator(f)
                if r.rec_type == "response"
            ]
    return sorted(uris)


def extracted_urls(dataset):
    tables = [pq.read_table(p) for p in sorted((dataset / "_stage/extract").glob("*.parquet"))]
    rows = pa.concat_tables(tables).to_pylist()
    return sorted(json.loads(row["metadata"])["url"] for row in rows)


def test_pages_are_crawled_once_archived_and_extracted_from_the_archive(tmp_path):
    pages = list({url: body for _, url, body in demo_web_pages()}.items())  # distinct URLs
    ok = [url for url, _ in pages[:10]]
    gone = "https://gone.example/missing.html"
    private = "https://private.example/closed/page.html"  # a host whose robots.txt refuses us
    robots = {"private.example": "User-agent: *\nDisallow: /\n"}
    served = {**dict(pages[:10]), private: pages[10][1]}
    with LocalWeb(rules=[("gone.example/*", "404")], robots=robots, pages=served) as web:
        url_list = tmp_path / "pages.txt"
        url_list.write_text("# pages to crawl\n\n" + "\n".join([*ok, gone, private, ok[0]]) + "\n")
        dataset = crawl_job(tmp_path, url_list, web.port)
        plain = [url.replace("https://", "http://") for url in ok]
        assert all(web.hits[url] == 1 for url in plain)  # listed twice, fetched once
        assert web.hits[gone.replace("https://", "http://")] == 1
        assert web.hits[private.replace("https://", "http://")] == 0  # robots: never requested
        hits = dict(web.hits)

        assert archived(dataset) == sorted(ok)  # the original URLs, not the plain-HTTP ones
        crawl = step_stats(json.loads((dataset / "_logs/crawl/stats.json").read_text()), "Page crawler")
        assert crawl["pages_archived"] == 10 and crawl["failed_http_404"] == 1 and crawl["failed_robots"] == 1
        reader = step_stats(json.loads((dataset / "_logs/extract/stats.json").read_text()), "WARC reader")
        assert reader["documents"] == 10
        first = extracted_urls(dataset)
        assert first and set(first) <= set(ok)

        # extraction again from the archive alone: no request reaches the web
        shutil.rmtree(dataset / "_stage/extract")
        shutil.rmtree(dataset / "_logs/extract")
        crawl_job(tmp_path, url_list, web.port)
        assert dict(web.hits) == hits
        assert extracted_urls(dataset) == first


def test_url_lists_in_every_format(tmp_path):
    urls = ["http://a.example/1.html", "http://b.example/2.html"]
    (tmp_path / "u.txt").write_text("# c\n" + "\n".join(urls) + "\n\n")
    pq.write_table(pa.table({"url": urls}), tmp_path / "u.parquet")
    (tmp_path / "u.csv").write_text("url,x\n" + "\n".join(f"{u},1" for u in urls) + "\n")
    (tmp_path / "u.jsonl").write_text("\n".join(json.dumps({"url": u}) for u in urls) + "\n")
    for name in ("u.txt", "u.parquet", "u.csv", "u.jsonl"):
        assert read_url_list(str(tmp_path / name)) == urls, name
    pq.write_table(pa.table({"link": urls}), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="no column 'url'"):
        read_url_list(str(tmp_path / "bad.parquet"))


def test_one_input_only(tmp_path):
    cfg = load_config(
        InterleavedConfig, None, [f"output_dir={tmp_path}", "dataset=x", "page_urls=x.txt", "warcs=[a.warc]"]
    )
    with pytest.raises(ConfigError, match="one input"):
        build_interleaved(cfg)
