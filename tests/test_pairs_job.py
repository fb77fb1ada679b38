"""The pairs job end to end against the local web server (synth.demo.local_web) through the resolver
override: tables with captions and images chosen to hit every filter, and pairs mined from real
pages packed into a WARC; the CLIP stages run a tiny open_clip model saved by the test."""

import io
import json
import tarfile
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.executors import run_stages
from pipelines.pairs import build_pairs
from schemas.config import ConfigError, load_config
from schemas.config_pairs import PairsConfig
from schemas.records import step_stats
from schemas.validate import validate_dataset
from synth.demo.local_web import LocalWeb, image_for
from synth.demo.warc_pack import demo_web_pages, pack_pages
from tests.test_clip_score import save_tiny_clip


def image_size(url):
    with Image.open(io.BytesIO(image_for(url)[0])) as image:
        return image.size


def find_urls(kind, n, host="img.example.com"):
    """``n`` image URLs whose LocalWeb image (a pure function of the URL) is ``kind``: ok for the
    pairs job's defaults (shorter side >= 200, aspect <= 3), too small, or too elongated."""
    found = []
    for i in range(5000):
        url = f"http://{host}/{kind}/{i}.jpg"
        short, long = sorted(image_size(url))
        if {"ok": short >= 200 and long / short <= 3, "small": short < 200,
            "aspect": short >= 200 and long / short > 3}[kind]:  # fmt: skip
            found.append(url)
            if len(found) == n:
                return found
    raise AssertionError(f"no {n} {kind} URLs")


GOOD_CAPTIONS = [
    "A red car parked on the street at night",
    "Two children playing football in a park",
    "A bowl of fresh fruit on a wooden table",
    "The old lighthouse on a rocky coast",
    "A dog running along the beach at sunset",
    "Snow covered mountains under a blue sky",
]


def run_job(out, port, *overrides):
    cfg = load_config(
        PairsConfig,
        None,
        [
            f"output_dir={out}",
            "executor.kind=local",
            "executor.workers=1",
            f"fetch.resolver_override={{'*': '127.0.0.1:{port}'}}",
            "fetch.override_plain_http=true",
            *overrides,
        ],
    )
    run_stages(build_pairs(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return cfg


def shard_samples(dataset_dir):
    """key -> (sample json, image bytes)."""
    samples = {}
    for path in sorted((dataset_dir / "shards").glob("*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                key, _, suffix = member.name.partition(".")
                entry = samples.setdefault(key, [None, None])
                data = tar.extractfile(member).read()
                entry[0 if suffix == "json" else 1] = json.loads(data) if suffix == "json" else data
    return samples


def stats(dataset_dir, stage, step):
    return {
        k: int(v)
        for k, v in step_stats(
            json.loads((dataset_dir / f"_logs/{stage}/stats.json").read_text()), step
        ).items()
    }


def clip_overrides(clip):
    return [f"clip.{k}={v}" for k, v in clip.items()]


@pytest.fixture(scope="module")
def table_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pairs")
    clip = save_tiny_clip(tmp / "clip")
    ok = find_urls("ok", 6)
    small, aspect = find_urls("small", 2), find_urls("aspect", 1)
    rejected = {  # caption filter -> (url, caption): dropped before any fetch
        "url_only": (ok[0] + "?c=1", "https://www.example.com/photo/123"),
        "file_name": (ok[0] + "?c=2", "IMG_2034.JPG"),
        "too_few_words": (ok[0] + "?c=3", "Sunset skyline"),
        "language": (ok[0] + "?c=4", "Ein rotes Auto auf der Straße bei Nacht"),
        "flagged_words": (ok[0] + "?c=5", "Amateur blowjob video of the day"),
    }
    table = [{"url": u, "caption": c} for u, c in zip(ok, GOOD_CAPTIONS, strict=True)]
    table += [
        {"url": ok[0], "caption": "The same red car photographed again"},  # an exact duplicate image
        {"url": small[0], "caption": "A small picture of a garden gate"},
        {"url": small[1], "caption": "A small photo of the old church in the village"},
        {"url": aspect[0], "caption": "A wide view of the city harbour with boats"},
        {"url": "http://img.example.com/gone.jpg?fault=404", "caption": "A photo that is no longer there"},
        *({"url": u, "caption": c} for u, c in rejected.values()),
        {"url": None, "caption": "A caption without its image"},
        {"url": "http://img.example.com/x.jpg", "caption": "   "},
    ]
    pq.write_table(pa.Table.from_pylist(table), tmp / "a.parquet")
    bad_lines = ['{"url": "http://img.example.com/y.jpg", "caption": 42}', "{broken", '{"caption": "no url"}']
    (tmp / "b.jsonl").write_text("\n".join(bad_lines) + "\n")
    with LocalWeb() as web:
        port = web.resolver_override()["*"][1]
        cfg = run_job(
            tmp / "out", port, "dataset=pairs", f"pairs=[{tmp}/a.parquet, {tmp}/b.jsonl]", "executor.tasks=2",
            "clip.mode=top_fraction", "clip.top_fraction=1.0", *clip_overrides(clip),
        )  # fmt: skip
        hits = dict(web.hits)
    return tmp / "out/pairs", cfg, hits, ok, rejected


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_survivors_and_per_reason_counts(table_job):
    dataset_dir, _, hits, ok, rejected = table_job
    read = stats(dataset_dir, "read", "Pairs table reader")
    assert {k: v for k, v in read.items() if k.startswith(("bad_row", "rows", "pairs"))} == {
        "rows": 21, "pairs": 16, "bad_row_missing_url": 2, "bad_row_empty_caption": 1,
        "bad_row_non_string_caption": 1, "bad_row_unparsable": 1,
    }  # fmt: skip
    captions = stats(dataset_dir, "read", "Caption filters")
    assert {k: v for k, v in captions.items() if k.startswith("dropped_")} == {
        f"dropped_{r}": 1 for r in rejected
    }
    # cheap before dear: what the caption filters dropped was never fetched; the rest once each
    assert not any(url in hits for url, _ in rejected.values())
    assert hits[ok[0]] == 1
    join = stats(dataset_dir, "join", "Image join")
    assert join["images_dropped_fetch_http_404"] == 1 and join["images_joined"] == 10
    images = stats(dataset_dir, "join", "Image filters")
    assert {k: v for k, v in images.items() if k.startswith("dropped_")} == {
        "dropped_image_too_small": 2, "dropped_image_aspect_ratio": 1,
    }  # fmt: skip
    assert stats(dataset_dir, "join", "Min images filter")["dropped_no_images_left"] == 4
    assert stats(dataset_dir, "clip_filter", "CLIP score filter")["forwarded"] == 7
    dedup = stats(dataset_dir, "image_dedup", "Image dedup")
    assert (
        dedup["images_kept"] == 6 and sum(v for k, v in dedup.items() if k.startswith("images_dropped_")) == 1
    )

    samples = shard_samples(dataset_dir)
    texts = Counter(sample["texts"][1] for sample, _ in samples.values())
    assert len(samples) == 6 and set(texts) >= set(GOOD_CAPTIONS[1:])
    assert len(set(texts) & {GOOD_CAPTIONS[0], "The same red car photographed again"}) == 1  # one of the two


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_shards_validate_and_carry_caption_url_and_scores(table_job):
    dataset_dir, _, _, _, _ = table_job
    report = validate_dataset(str(dataset_dir))
    assert report.ok, report
    for sample, image in shard_samples(dataset_dir).values():
        assert sample["kind"] == "pair" and sample["images"] == ["000.jpg", None]
        meta = sample["meta"]
        assert sample["source"] == meta["url"] and meta["url"].startswith("http://img.example.com/ok/")
        assert meta["caption"] == sample["texts"][1]
        assert meta["lang"] == "en" and 0.5 <= meta["lang_score"] <= 1
        assert -1 <= meta["clip_score"] <= 1 and 0 <= meta["nsfw_score"] < 0.5
        assert meta["images"][0]["clip_score"] == meta["clip_score"]
        with Image.open(io.BytesIO(image)) as decoded:
            assert min(decoded.size) >= 200


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pairs_mined_from_warc_pages_keep_their_alt_texts(tmp_path):
    pages = demo_web_pages()[:8]
    pack_pages([(url, body) for _, url, body in pages], tmp_path / "p.warc.gz")
    clip = save_tiny_clip(tmp_path / "clip")
    with LocalWeb() as web:
        port = web.resolver_override()["*"][1]
        run_job(
            tmp_path / "out", port, "dataset=web", f"warcs=[{tmp_path}/p.warc.gz]", "executor.tasks=1",
            "caption_filters.languages=[en, de, fr]", "image_filters.min_side=16", "image_filters.max_aspect_ratio=10",
            "clip.threshold=-1.0", *clip_overrides(clip),
        )  # fmt: skip
    dataset_dir = tmp_path / "out/web"
    assert validate_dataset(str(dataset_dir)).ok
    samples = shard_samples(dataset_dir)
    assert len(samples) >= 5
    for sample, _ in samples.values():
        meta = sample["meta"]
        image = meta["images"][0]
        assert meta["page_url"] in {url for _, url, _ in pages} and meta["warc_file"] == "p.warc.gz"
        if meta["caption_source"] == "alt":
            assert sample["texts"][1] == " ".join(image["alt"].split())
    assert any(sample["meta"]["caption_source"] == "alt" for sample, _ in samples.values())
    read = stats(dataset_dir, "read", "WARC pairs")
    assert read["pages"] == 8 and read["pairs"] >= len(samples)


def test_pairs_specific_defaults():
    cfg = PairsConfig(dataset="x", image_filters={"max_side": 5000})
    assert (cfg.image_filters.min_side, cfg.image_filters.max_aspect_ratio, cfg.nsfw.policy) == (
        200,
        3.0,
        "image",
    )
    assert (cfg.clip.model, cfg.clip.threshold, cfg.caption_filters.min_words) == ("ViT-B-32", 0.28, 3)


def test_inputs_and_weights_are_required(tmp_path):
    with pytest.raises(ConfigError, match="give the input"):
        build_pairs(PairsConfig(dataset="x", output_dir=str(tmp_path)))
    (tmp_path / "t.csv").write_text("url,caption\n")
    with pytest.raises(ConfigError, match="clip.weights"):
        build_pairs(PairsConfig(dataset="x", output_dir=str(tmp_path), pairs=[str(tmp_path / "t.csv")]))
    with pytest.raises(ConfigError, match="matches no file"):
        build_pairs(PairsConfig(dataset="x", output_dir=str(tmp_path), pairs=[str(tmp_path / "*.parquet")]))
    stages = build_pairs(
        PairsConfig(
            dataset="x", output_dir=str(tmp_path), pairs=[str(tmp_path / "t.csv")], clip={"enabled": False}
        )
    )
    assert [s.name for s in stages][:4] == ["read", "image_urls", "fetch", "join"] and stages[
        4
    ].name == "image_keys"
