"""The auditor's report of real runs: funnel numbers equal to the stats files, a gallery for every
stage that dropped something, NSFW thumbnails blurred, ``vlmdata stats`` and ``vlmdata report``,
and the page opened in headless Chromium (no console error, no request leaving the file)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from datatrove.data import Document, Media
from PIL import Image

from audit.report import build_report
from pipelines.cli import main
from pipelines.executors import run_stages
from pipelines.interleaved import build_interleaved
from pipelines.steps.exclusions import ExclusionRecorder, thumbnail
from schemas.config import load_config
from schemas.config_interleaved import InterleavedConfig
from schemas.histograms import HISTOGRAMS_DIR, METRICS, Histograms
from schemas.records import stat_total
from synth.demo.local_web import LocalWeb
from synth.demo.warc_pack import demo_web_pages, pack_pages
from tests.helpers import REPO, pack

pytestmark = pytest.mark.timeout(300)
CHROMIUM = Path("/usr/bin/chromium")
NSFW_STAGE = "nsfw"


def sharp_jpeg() -> bytes:
    """A black-and-white checkerboard: blurring it visibly flattens its contrast."""
    image = Image.new("L", (256, 256))
    image.putdata([255 * (((x // 16) + (y // 16)) % 2) for y in range(256) for x in range(256)])
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=95)
    return out.getvalue()


def record_nsfw_exclusion(dataset_dir: Path) -> bytes:
    """An NSFW stage's exclusion written the way every job writes it; returns the image bytes."""
    data = sharp_jpeg()
    with ExclusionRecorder(str(dataset_dir / "_excluded"), NSFW_STAGE, "nsfw", thumbnail_px=96) as recorder:
        doc = Document(
            text="a page whose image the NSFW detector flagged",
            id="doc-nsfw-1",
            media=[Media(id="m0", type=0, url="https://example.com/x.jpg", media_bytes=data)],
            metadata={"filter_reason": "nsfw_image", "filter_value": 0.97, "source": "https://example.com/p"},
        )
        recorder.write(doc, rank=0)
    return data


@pytest.fixture(scope="module")
def web_run(tmp_path_factory):
    """The interleaved job with fetching over the demo corpus pages, histograms on, plus an NSFW
    exclusion; returns (dataset dir, the collected report.json)."""
    tmp = tmp_path_factory.mktemp("report-web")
    pages = demo_web_pages()
    pack_pages([(url, body) for _, url, body in pages[0::2]], tmp / "a.warc.gz")
    pack_pages([(url, body) for _, url, body in pages[1::2]], tmp / "b.warc.gz")
    with LocalWeb() as web:
        port = web.resolver_override()["*"][1]
        cfg = load_config(
            InterleavedConfig, None,
            [f"output_dir={tmp / 'out'}", "dataset=web", f"warcs=[{tmp}/*.warc.gz]", "executor.kind=local",
             "executor.workers=1", "executor.tasks=2", "fetch_images=true", "fetch.override_plain_http=true",
             f"fetch.resolver_override={{'*': '127.0.0.1:{port}'}}"],
        )  # fmt: skip
        stages = build_interleaved(cfg)
        run_stages(stages, cfg.executor, cfg.dataset_dir, progress=False)
    dataset_dir = Path(cfg.dataset_dir)
    nsfw_image = record_nsfw_exclusion(dataset_dir)
    html, data = build_report(str(dataset_dir))
    report = json.loads(Path(data).read_text())
    report["_built_stages"] = [stage.name for stage in stages]
    return dataset_dir, report, Path(html).read_text(), nsfw_image


@pytest.fixture(scope="module")
def pack_run(tmp_path_factory):
    """The pack job over synthetic interleaved documents plus an NSFW exclusion and a histogram:
    a run of a few seconds."""
    from pipelines.staging import stage_documents
    from synth.demo.documents import make_documents

    tmp = tmp_path_factory.mktemp("report-pack")
    stage_documents(make_documents("interleaved", 12), str(tmp / "staged"), files=2)
    dataset_dir = pack(tmp / "staged", tmp / "out", "interleaved", "ds", "executor.tasks=2")
    nsfw_image = record_nsfw_exclusion(dataset_dir)
    histograms = Histograms()
    for value in (0.1, 0.2, 0.9, 0.95):
        histograms.add("nsfw_score", value)
    histograms.write(str(dataset_dir / HISTOGRAMS_DIR), NSFW_STAGE, "nsfw", 0)
    html, data = build_report(str(dataset_dir))
    return dataset_dir, json.loads(Path(data).read_text()), Path(html).read_text(), nsfw_image


def summed_stats(stage_dir: Path) -> list[tuple[str, dict[str, float]]]:
    """Every step's counters summed over the per-task stats files, independently of audit."""
    steps: dict[tuple[int, str], dict[str, float]] = {}
    for path in sorted((stage_dir / "stats").glob("*.json")):
        for i, step in enumerate(json.loads(path.read_text())):
            counters = steps.setdefault((i, step["name"]), {})
            for key, value in step["stats"].items():
                counters[key] = counters.get(key, 0) + stat_total(value)
    return [(name, counters) for (_, name), counters in sorted(steps.items())]


def check_funnel(dataset_dir: Path, report: dict) -> None:
    stages = {stage["name"]: stage for stage in report["stages"]}
    stage_dirs = [p.parent for p in dataset_dir.glob("_logs/*/stats.json")]
    assert sorted(stages) == sorted(p.name for p in stage_dirs)
    for stage_dir in stage_dirs:
        expected = summed_stats(stage_dir)
        steps = stages[stage_dir.name]["steps"]
        assert [s["name"] for s in steps] == [name for name, _ in expected]
        merged = {s["name"]: s["stats"] for s in json.loads((stage_dir / "stats.json").read_text())}
        for step, (name, counters) in zip(steps, expected, strict=True):
            assert step["counters"] == pytest.approx(counters), name
            # a fresh run's stats.json is the same sum, as datatrove merged it
            assert counters == pytest.approx({k: stat_total(v) for k, v in merged[name].items()})
            drops = {
                k: v for k, v in counters.items() if re.match(r"(paragraphs_|images_)?dropped_|failed_", k)
            }
            assert step["dropped"] == sum(drops.values()), name
            assert sorted(d["count"] for d in step["drops"]) == sorted(drops.values()), name
            if "forwarded" in counters:
                assert (step["documents_in"], step["documents_out"]) == (
                    counters["total"],
                    counters["forwarded"],
                )


def gallery_ids(html: str) -> set[str]:
    return set(re.findall(r'<section id="gallery-([^"]+)"', html))


def nsfw_thumbnails(html: str) -> list[str]:
    section = html.split(f'id="gallery-{NSFW_STAGE}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<img class="nsfw" alt="thumbnail" src="data:image/jpeg;base64,([^"]+)"', section)


def contrast(b64: str) -> float:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        pixels = list(image.convert("L").getdata())
    return max(pixels) - min(pixels)


def check_nsfw_blurred(html: str, image: bytes) -> None:
    shown = nsfw_thumbnails(html)
    assert shown == [thumbnail(image, 96, blur=True)]  # exactly what the recorder stored: blurred
    assert shown[0] != thumbnail(image, 96, blur=False)
    assert contrast(shown[0]) < 0.5 * contrast(thumbnail(image, 96, blur=False))


# --- the pack run: fast -------------------------------------------------------------------------


def test_pack_report_funnel_matches_stats(pack_run):
    dataset_dir, report, html, _ = pack_run
    check_funnel(dataset_dir, report)
    assert [s["name"] for s in report["stages"]] == ["write_shards", "finalize"]
    assert report["manifest"]["totals"]["samples"] == 12 and report["manifest"]["kind"] == "interleaved"


def test_pack_report_blurs_nsfw_and_shows_samples(pack_run):
    _, report, html, image = pack_run
    assert NSFW_STAGE in gallery_ids(html)
    check_nsfw_blurred(html, image)
    assert report["exclusions"][NSFW_STAGE]["counts"] == {"nsfw_image": 1}
    assert report["exclusions"][NSFW_STAGE]["steps"]["nsfw"]["examples"]["nsfw_image"][0]["thumbnail"] is True
    assert len(report["samples"]) == 4 and all(s["kind"] == "interleaved" for s in report["samples"])
    assert html.count('<div class="sample">') == 4
    nsfw = report["histograms"][NSFW_STAGE]["nsfw"]["nsfw_score"]
    assert (
        nsfw["n"] == 4 and sum(nsfw["counts"]) == 4 and len(nsfw["edges"]) == METRICS["nsfw_score"].bins + 1
    )
    assert nsfw["thresholds"] == []  # a pack run has no NSFW config


def test_stats_and_report_commands(pack_run, tmp_path, capsys):
    dataset_dir, report, _, _ = pack_run
    assert main(["stats", str(dataset_dir)]) == 0
    table = capsys.readouterr().out
    assert "write_shards (2 tasks)" in table and "Shard writer" in table
    samples = report["manifest"]["totals"]["samples"]
    writer = next(s for s in report["stages"][0]["steps"] if s["label"] == "Shard writer")
    assert re.search(rf"Shard writer\s+-\s+{samples}\s", table), table
    assert writer["documents_out"] == samples
    out = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(dataset_dir), "--out", str(out)]) == 0
    assert out.exists() and (tmp_path / "elsewhere" / "r.json").exists()
    assert main(["stats", str(tmp_path)]) == 2


def test_run_writes_the_report(staged, tmp_path, capsys):
    folder, _ = staged("pair", 6)
    out = tmp_path / "out"
    args = ["run", "pack", "--no-progress", "--executor", "local", f"input={folder}", "kind=pair",
            "dataset=p", f"output_dir={out}", "executor.workers=1"]  # fmt: skip
    assert main(args) == 0
    assert f"report: {out}/p/report.html" in capsys.readouterr().out
    report = json.loads((out / "p" / "report.json").read_text())
    assert report["manifest"]["totals"]["samples"] == 6 and report["samples"][0]["kind"] == "pair"
    assert "<img" in (out / "p" / "report.html").read_text()


def test_histograms_merge_and_reject_unknown_metrics():
    a, b = Histograms(), Histograms()
    a.add("doc_words", 10), b.add("doc_words", 1e9), b.add("language_score", 0.5)
    merged = Histograms.merge([Histograms.from_json(a.to_json()), b])
    words = merged.metrics["doc_words"]
    assert (words.n, sum(words.counts), words.overflow, words.max) == (2, 1, 1, 1e9)
    assert merged.metrics["language_score"].n == 1
    with pytest.raises(KeyError, match="not in schemas.histograms.METRICS"):
        a.add("no_such_metric", 1)


# --- the interleaved job on the demo pages, with fetching ---------------------------------------


@pytest.mark.slow  # the job has ~17 stages: about a minute
def test_web_report_funnel_matches_stats(web_run):
    dataset_dir, report, _, _ = web_run
    check_funnel(dataset_dir, report)
    assert [s["name"] for s in report["stages"]] == report["_built_stages"]  # in the order they ran


@pytest.mark.slow  # the job has ~17 stages: about a minute
def test_every_stage_with_drops_has_a_gallery(web_run):
    _, report, html, image = web_run
    dropping = {s["name"] for s in report["stages"] if s["dropped"]}
    assert {"extract", "join"} <= dropping
    assert dropping | {NSFW_STAGE} <= gallery_ids(html)
    for stage, excluded in report["exclusions"].items():
        for merged in excluded["steps"].values():
            for reason in merged["examples"]:
                assert f'id="gallery-{stage}-{reason}"' in html
    check_nsfw_blurred(html, image)


@pytest.mark.slow  # the job has ~17 stages: about a minute
def test_web_report_draws_the_filters_histograms(web_run):
    _, report, html, _ = web_run
    extract, join = report["histograms"]["extract"], report["histograms"]["join"]
    assert set(extract) == {"document_filters", "language", "node_filters"}
    assert set(extract["document_filters"]) == {
        "doc_words",
        "doc_char_10gram_repetition",
        "doc_word_5gram_repetition",
    }
    documents = next(s for s in report["stages"][0]["steps"] if s["label"] == "OBELICS document filters")
    assert extract["document_filters"]["doc_words"]["n"] == documents["documents_in"]
    assert {t["key"] for t in extract["document_filters"]["doc_words"]["thresholds"]} == {
        "doc_filters.min_words",
        "doc_filters.max_words",
    }
    join_stage = next(s for s in report["stages"] if s["name"] == "join")
    images = next(s for s in join_stage["steps"] if s["label"] == "Image filters")
    assert join["image_filters"]["image_width"]["n"] == images["images_in"]
    assert html.count('<figure id="hist-') == sum(
        len(m) for steps in report["histograms"].values() for m in steps.values()
    )


def open_in_chromium(dataset_dir: Path, report: dict, shot: Path) -> None:
    """Load report.html from file://: no console error, no failed request, nothing but file: and
    data: URLs requested, every image decoded, the funnel's numbers on the page; a screenshot."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright missing (pip install playwright)"
    )
    errors, failed, requests = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((dataset_dir / "report.html").as_uri(), wait_until="load")
            funnel_text = page.inner_text("#funnel")
            images_ok = page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert not errors and not failed, (errors, failed)
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert images_ok
    for stage in report["stages"]:
        assert stage["name"] in funnel_text
        for step in stage["steps"]:
            for key in ("documents_in", "documents_out", "paragraphs_in", "paragraphs_out", "images_in",
                        "images_out", "dropped"):  # fmt: skip
                if step[key] is not None:
                    assert f"{step[key]:,}" in funnel_text, (stage["name"], step["label"], key)
    assert shot.stat().st_size > 10_000


# CI installs Debian's chromium and sets VLMDATA_CI=1: there the test never skips
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("VLMDATA_CI"),
    reason="/usr/bin/chromium missing (apt-get install chromium)",
)


@needs_chromium
def test_pack_report_opens_in_headless_chromium(pack_run, tmp_path):
    dataset_dir, report, _, _ = pack_run
    open_in_chromium(dataset_dir, report, tmp_path / "report.png")


@needs_chromium
@pytest.mark.slow
def test_web_report_opens_in_headless_chromium(web_run, tmp_path):
    dataset_dir, report, _, _ = web_run
    shot = tmp_path / "report.png"
    open_in_chromium(dataset_dir, report, shot)
    review = REPO / "docs" / "report-screenshot.png"  # for review, written once
    if not review.exists() and shot.stat().st_size < 500_000:
        review.parent.mkdir(exist_ok=True)
        shutil.copy(shot, review)
