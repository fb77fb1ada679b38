"""The interleaved job with image fetching: extract -> image_urls -> fetch -> join -> shards,
against the local web server (synth.demo.local_web) through the resolver override."""

import io
import json
import struct
import tarfile
import zlib
from collections import Counter
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.executors import run_stages
from pipelines.fetch import is_failure_reason
from pipelines.interleaved import build_interleaved
from pipelines.steps.images.fetch_stage import url_partition
from pipelines.steps.stage_io import row_to_document
from schemas.config import load_config
from schemas.config_interleaved import InterleavedConfig
from schemas.records import step_stats
from schemas.samples import make_key, nodes_to_text
from schemas.validate import validate_dataset
from synth.demo.local_web import LocalWeb, is_page
from synth.demo.local_web_faults import Fault
from synth.demo.pages import BANNER_URL
from synth.demo.warc_pack import demo_web_pages, pack_pages


def run_job(out, port, *overrides):
    cfg = load_config(
        InterleavedConfig,
        None,
        [
            f"output_dir={out}",
            "executor.kind=local",
            "executor.workers=1",
            "fetch_images=true",
            f"fetch.resolver_override={{'*': '127.0.0.1:{port}'}}",
            "fetch.override_plain_http=true",
            *overrides,
        ],
    )
    run_stages(build_interleaved(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return cfg


def staged(dataset_dir, stage):
    return [
        row_to_document(row)
        for path in sorted((dataset_dir / "_stage" / stage).glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


def shard_samples(dataset_dir):
    """key -> (sample json, [image bytes in member order])."""
    samples = {}
    for path in sorted((dataset_dir / "shards").glob("*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                key, _, suffix = member.name.partition(".")
                data = tar.extractfile(member).read()
                entry = samples.setdefault(key, [None, {}])
                if suffix == "json":
                    entry[0] = json.loads(data)
                else:
                    entry[1][suffix] = data
    return {k: (j, [images[s] for s in sorted(images)]) for k, (j, images) in samples.items()}


@pytest.fixture(scope="module")
def fetched_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fetch-demo")
    pages = demo_web_pages()
    pack_pages([(url, body) for _, url, body in pages[0::2]], tmp / "a.warc.gz")
    pack_pages([(url, body) for _, url, body in pages[1::2]], tmp / "b.warc.gz")
    with LocalWeb() as web:
        port = web.resolver_override()["*"][1]
        cfg = run_job(
            tmp / "out",
            port,
            "dataset=web",
            f"warcs=[{tmp}/*.warc.gz]",
            "executor.tasks=2",
            "fetch.partitions=3",
        )
        hits = dict(web.hits)
    return tmp / "out/web", cfg, hits


@pytest.mark.timeout(120)
def test_job_ends_with_a_valid_dataset_of_decodable_images(fetched_job):
    dataset_dir, _, _ = fetched_job
    report = validate_dataset(str(dataset_dir))
    assert report.ok, report
    samples = shard_samples(dataset_dir)
    assert samples
    n_images = 0
    for sample, images in samples.values():
        assert len(images) == len([m for m in sample["images"] if m]) == len(sample["meta"]["images"]) >= 1
        for data in images:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                assert max(image.size) <= 1024
            n_images += 1
    assert n_images >= 25  # 28 on the demo pages: 55 fetched, less duplicates and filtered ones


@pytest.mark.timeout(120)
def test_each_distinct_url_is_fetched_exactly_once(fetched_job):
    dataset_dir, cfg, hits = fetched_job
    extracted = {m.url for doc in staged(dataset_dir, "extract") for m in doc.media}
    urls = {
        row["url"]
        for path in sorted((dataset_dir / "_stage/image_urls").glob("p*/*.parquet"))
        for row in pq.read_table(path).to_pylist()
    }
    # decided before any fetch: the demo's banner on more than 10 pages, and a copied image set
    assert urls < extracted and BANNER_URL in extracted - urls and len(extracted - urls) == 2
    # the server counts requests per URL as it sees it (scheme and encoding normalised)
    robots = {u: n for u, n in hits.items() if urlsplit(u).path == "/robots.txt"}
    images = {u: n for u, n in hits.items() if u not in robots}
    assert set(images) == {url.replace("https://", "http://", 1) for url in urls}
    # once each, but for the demo's reset fault, retried as often as max_attempts allows
    retried = {url: hits for url, hits in images.items() if urlsplit(url).path.startswith("/reset/")}
    assert retried and set(retried.values()) == {cfg.fetch.max_attempts}
    assert {url: hits for url, hits in images.items() if url not in retried} == dict.fromkeys(
        set(images) - set(retried), 1
    )
    # robots.txt once per origin (http and https of one host reach the server as the same URL)
    origins = {(urlsplit(u).scheme, urlsplit(u).netloc.lower()) for u in urls}
    assert robots == Counter(f"http://{netloc}/robots.txt" for _, netloc in origins)
    stats = json.loads((dataset_dir / "_logs/fetch/stats.json").read_text())
    fetcher = step_stats(stats, "fetcher")
    assert fetcher["robots_parsed"] == len(origins)
    outcomes = sum(v for k, v in fetcher.items() if k == "fetched_ok" or k.startswith("failed_"))
    pages = {u for u in urls if is_page(urlsplit(u).path)}  # the local web answers these with HTML
    assert outcomes == len(urls)
    assert all(is_failure_reason(k[len("failed_") :]) for k in fetcher if k.startswith("failed_"))
    # the demo's fault host: /404/... answers 404, /reset/... resets, /wrong_type/... is still an image
    failing = {
        kind: {u for u in urls if urlsplit(u).path.startswith(f"/{kind}/")} for kind in ("404", "reset")
    }
    assert (fetcher["failed_http_404"], fetcher["failed_connection"]) == (
        len(failing["404"]),
        len(failing["reset"]),
    )
    assert fetcher["fetched_ok"] == len(urls) - len(pages) - len(failing["404"]) - len(failing["reset"])
    assert fetcher.get("failed_not_an_image", 0) == len(pages)
    # each URL staged once, in the partition of its host
    for p in range(3):
        rows = pq.read_table(dataset_dir / f"_stage/fetched/{p:05d}.parquet").to_pylist()
        assert all(url_partition(r["url"], 3) == p for r in rows)
        assert len({r["url"] for r in rows}) == len(rows)


@pytest.mark.timeout(120)
def test_documents_keep_their_images_in_reading_order(fetched_job):
    dataset_dir, _, _ = fetched_job
    extracted = {make_key(doc.id): doc for doc in staged(dataset_dir, "extract")}
    joined = staged(dataset_dir, "join")
    assert joined
    for doc in joined:
        nodes = doc.metadata["nodes"]
        assert doc.text == nodes_to_text(nodes)
        assert sorted(n["media"] for n in nodes if n["type"] == "image") == list(range(len(doc.media)))
        assert all(m.media_bytes and m.metadata["sha256"] for m in doc.media)
    for key, (sample, _) in shard_samples(dataset_dir).items():
        source = extracted[key]
        order = [source.media[n["media"]].url for n in source.metadata["nodes"] if n["type"] == "image"]
        got = [image["url"] for image in sample["meta"]["images"]]
        remaining = iter(order)  # a subsequence: images dropped (failed, filtered, deduplicated), none moved
        assert all(url in remaining for url in got), (got, order)


PAGE = (
    "<html><head><title>A walk by the river</title></head><body><article>"
    "<h1>A walk by the river {i}</h1>"
    "<p>We walked along the river in the morning, and the water was calm and clear. "
    "The trees on the other side were turning yellow, and there were many birds in them.</p>"
    '<img src="{img0}" alt="the river in the morning">'
    "<p>After an hour we stopped at a small cafe, where we had coffee and a piece of cake. "
    "It was a quiet place, and the people who worked there were very kind to us.</p>"
    '<img src="{img1}" alt="the cafe by the water">'
    "<p>In the afternoon the weather changed, so we went back home before the rain came. "
    "It was a good day, and we will walk there again when the spring comes.</p>"
    "</article></body></html>"
)
# the second image of page i: its URL ({host}: the page's image host) -> the failure reason it must give
SECOND_IMAGES = [
    ("http://{host}/photos/cafe-{i}.png?fault=404", "http_404"),
    ("http://{host}/photos/cafe-{i}.png?fault=500", "http_500"),
    ("http://{host}/photos/cafe-{i}.png?fault=noai", "noai"),
    ("http://{host}/photos/cafe-{i}.png?fault=noimageai", "noai"),
    ("http://{host}/photos/cafe-{i}-agent.png", "noai"),  # X-Robots-Tag: vlmdata: noai (a rule)
    ("http://{host}/photos/cafe-{i}.png?fault=reset", "connection"),
    ("http://{host}/photos/cafe-{i}.png?fault=truncated", "truncated"),
    ("http://{host}/photos/cafe-{i}.png?fault=redirect_loop", "too_many_redirects"),
    ("http://{host}/photos/cafe-{i}-slow.png", "timeout"),  # a rule drips it past total_timeout
    ("http://{host}/photos/cafe-{i}/index.html", "not_an_image"),  # an HTML page: bytes decide
    ("http://{host}/photos/cafe-{i}-broken.jpg", "decode_error"),  # half a JPEG, served as complete
    ("http://{host}/photos/cafe-{i}-bomb.png", "bomb"),  # a PNG header claiming 20000 x 20000 pixels
    ("http://blocked.example.org/photos/cafe-{i}.png", "robots"),  # robots.txt: Disallow: /
    ("http://down.example.org/photos/cafe-{i}.png", "robots"),  # robots.txt answers 500
    ("http://img.optout.example.net/photos/cafe-{i}.png", "opt_out"),  # a listed domain's subdomain
    ("http://{host}/photos/cafe-{i}-listed.png", "opt_out"),  # a listed URL (listed as https://)
    ("http://10.0.0.1/photos/cafe-{i}.png", "refused_address"),  # a private address, never overridden
    ("http://{host}/photos/cafe-{i}.png", None),
    ("http://{host}/photos/cafe-{i}.jpg?fault=wrong_type", None),  # an image sent as text/html is still one
    ("http://{host}/photos/cafe-{i}.webp", None),
]
NEVER_REQUESTED = {"robots", "opt_out", "refused_address"}


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A 1x1 PNG whose header claims `width` x `height` (CRC fixed): a bomb by its header alone."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


@pytest.mark.timeout(180)
def test_fetch_failures_are_counted_per_reason_and_their_images_removed(tmp_path):
    pages, faulty, names, second = [], Counter(), SECOND_IMAGES, {}
    for i, (template, reason) in enumerate(names):
        img0 = f"http://img{i % 3}.example.org/photos/river-{i}.jpg"
        second[i] = template.format(host=f"img{i % 3}.example.org", i=i)
        if reason:
            faulty[reason] += 1
        html = PAGE.format(i=i, img0=img0, img1=second[i])
        pages.append((f"http://blog.example.org/walk-{i}.html", html.encode()))
    pack_pages(pages, tmp_path / "faults.warc.gz")
    listed = next(url for url in second.values() if url.endswith("-listed.png"))
    opt_out = tmp_path / "opt_out.txt"
    opt_out.write_text(f"# owners' requests\noptout.example.net\n\n{listed.replace('http:', 'https:')}\n")
    jpeg = io.BytesIO()
    Image.new("RGB", (300, 200), (9, 90, 200)).save(jpeg, format="JPEG")
    files = {
        urlsplit(url).path: jpeg.getvalue()[: len(jpeg.getvalue()) // 2] if "broken" in url else bomb_png()
        for url in second.values()
        if url.endswith(("-broken.jpg", "-bomb.png"))
    }
    rules = [
        ("*/photos/cafe-*-agent.png", Fault("noai", tag="VLMdata: noai")),
        ("*/photos/cafe-*-slow.png", Fault("slow", chunk=64, delay=0.2)),
    ]
    robots = {"blocked.example.org": "User-agent: *\nDisallow: /\n", "down.example.org": "500"}
    with LocalWeb(rules=rules, robots=robots, files=files) as web:
        port = web.resolver_override()["*"][1]
        cfg = run_job(
            tmp_path / "out", port, "dataset=faults", f"warcs=[{tmp_path}/faults.warc.gz]",
            "executor.tasks=1", "fetch.partitions=2", "fetch.max_attempts=1", "fetch.total_timeout=1",
            f"fetch.opt_out={opt_out}",
            "image_filters.min_side=0", "image_filters.max_aspect_ratio=100",
            "text_dedup.enabled=false", "image_dedup.enabled=false",  # the pages are near-duplicates
        )  # fmt: skip
        hits = dict(web.hits)
    for i, (_, reason) in enumerate(names):  # refused ones before any request; a loop alternates 2 URLs
        expected = 0 if reason in NEVER_REQUESTED else 3 if reason == "too_many_redirects" else 1
        assert hits.get(second[i], 0) == expected, second[i]
    assert not any(host in url for url in hits for host in ("optout.example.net", "10.0.0.1"))
    dataset_dir = tmp_path / "out/faults"
    assert len(staged(dataset_dir, "extract")) == len(names)
    fetcher = step_stats(json.loads((dataset_dir / "_logs/fetch/stats.json").read_text()), "fetcher")
    failed = {k[len("failed_") :]: int(v) for k, v in fetcher.items() if k.startswith("failed_")}
    assert failed == dict(faulty)
    assert all(is_failure_reason(reason) for reason in failed)  # the stage emits only known reasons
    assert fetcher["fetched_ok"] == 2 * len(names) - sum(faulty.values())
    assert (fetcher["robots_unreachable"], fetcher["opt_out_entries"]) == (1, 2 * 2)  # read by both tasks
    join = step_stats(json.loads((dataset_dir / "_logs/join/stats.json").read_text()), "join")
    assert {k: int(v) for k, v in join.items() if k.startswith("images_dropped_fetch_")} == {
        f"images_dropped_fetch_{reason}": n for reason, n in faulty.items()
    }
    for doc in staged(dataset_dir, "join"):  # every document stays, without its failed image
        i = int(doc.metadata["url"].rsplit("-", 1)[1].split(".")[0])
        assert [m.url.split("/")[-1].split("-")[0] for m in doc.media] == (
            ["river"] if names[i][1] else ["river", "cafe"]
        )
    assert validate_dataset(cfg.dataset_dir).ok
