"""Blocklists: documents by URL and domain, images by URL, sha256 and perceptual hash; counted with
reasons, exclusion records (never a thumbnail of hash-listed material); run as a real stage."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from PIL import Image

from filters.blocklists import BlocklistFilter, PhashIndex, domain_listed, normalize_url
from filters.dedup.image_hash import phash
from pipelines.governance import governance_steps
from pipelines.stages import Stage
from pipelines.steps.exclusions import ExclusionRecorder
from pipelines.steps.stage_io import StageReader, StageWriter
from schemas.config import load_config
from schemas.config_governance import BlocklistConfig, GovernanceConfig, PiiConfig
from schemas.config_interleaved import InterleavedConfig
from schemas.records import step_stats
from tests.dedup_fixtures import document, jpeg, paragraph, read_staged, run_local, stage_documents

DATE = "2021-01-01T00:00:00Z"


def recompressed(data: bytes) -> bytes:
    """The same picture, re-encoded: other bytes, a perceptual hash within a few bits."""
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.resize((image.width // 2, image.height // 2)).save(out, format="JPEG", quality=60)
    return out.getvalue()


def lists(tmp_path: Path, bad: bytes, near: bytes) -> BlocklistConfig:
    (tmp_path / "urls.txt").write_text(
        "# takedowns\nHTTP://Pages.example.com:80/secret#frag\nhttp://img.org/bad.jpg\n"
    )
    (tmp_path / "domains.txt").write_text("spam.net\n\n")
    (tmp_path / "sha.txt").write_text(hashlib.sha256(bad).hexdigest().upper() + "  # a known-bad image\n")
    (tmp_path / "phash.txt").write_text(f"{phash(near):016x}\n")
    return BlocklistConfig(
        urls=str(tmp_path / "urls.txt"),
        domains=str(tmp_path / "domains.txt"),
        image_sha256=str(tmp_path / "sha.txt"),
        image_phash=str(tmp_path / "phash.txt"),
        image_policy="image",
    )


def test_helpers():
    assert normalize_url("HTTPS://A.org:443/x?q=1#f") == "https://a.org/x?q=1"
    domains = frozenset({"spam.net"})
    assert domain_listed("www.spam.net", domains) == "spam.net"
    assert domain_listed("a.b.spam.net", domains) == "spam.net"
    assert domain_listed("notspam.net", domains) is None
    index = PhashIndex([0xFFFF_0000_FFFF_0000], 4)
    assert index.match(0xFFFF_0000_FFFF_000F) == (0xFFFF_0000_FFFF_0000, 4)
    assert index.match(0xFFFF_0000_FFFF_001F) is None


def test_documents_and_images_dropped_with_reasons(tmp_path):
    bad, near_original, clean = jpeg(1), jpeg(2, 640, 480), jpeg(3)
    near = recompressed(near_original)
    assert hashlib.sha256(near).digest() != hashlib.sha256(near_original).digest()
    cfg = lists(tmp_path, bad, near_original)
    images = {
        "http://a.org/bad.jpg": bad,
        "http://a.org/near.jpg": near,
        "http://a.org/ok.jpg": clean,
        "http://img.org/bad.jpg": clean,
    }
    docs = [
        document("url", "http://pages.example.com/secret", DATE, [paragraph(1)]),
        document("dom", "https://www.spam.net/x", DATE, [paragraph(2)]),
        document("sub", "https://blog.spam.net/x", DATE, [paragraph(3)]),
        document("imgs", "http://fine.org/1", DATE, [paragraph(4)], list(images), images),
        document("ok", "http://fine.org/2", DATE, [paragraph(5)], ["http://a.org/ok.jpg"], images),
    ]  # fmt: skip
    recorder = ExclusionRecorder(tmp_path / "excluded", "join", "blocklists")
    step = BlocklistFilter(cfg, recorder)
    kept = {d.id: d for d in step.run(iter(docs))}
    assert sorted(kept) == ["imgs", "ok"]
    assert [m.url for m in kept["imgs"].media] == ["http://a.org/ok.jpg"]
    assert [n for n in kept["imgs"].metadata["nodes"] if n["type"] == "image"] == [
        {"type": "image", "media": 0}
    ]
    summary = json.loads((tmp_path / "excluded/join/00000-blocklists.json").read_text())
    assert summary["counts"] == {
        "blocked_url": 1, "blocked_domain": 2, "blocked_sha256": 1, "blocked_phash": 1, "blocked_image_url": 1,
    }  # fmt: skip
    for reason in ("blocked_sha256", "blocked_phash"):
        assert all(e["thumbnail"] is None for e in summary["examples"][reason])
    assert summary["examples"]["blocked_phash"][0]["value"].startswith(
        f"{phash(near_original):016x} (distance "
    )
    stats = step.stats
    assert stats["dropped_blocked_domain"].total == 2 and stats["images_dropped_blocked_sha256"].total == 1


def test_document_policy_and_stage(tmp_path):
    """Through governance_steps as a job adds them: the image phase drops the whole document."""
    bad = jpeg(7)
    cfg_lists = lists(tmp_path, bad, jpeg(8))
    staged = stage_documents(
        tmp_path / "in",
        [[
            document("bad", "http://fine.org/1", DATE, [paragraph(1)], ["http://a.org/b.jpg"], {"http://a.org/b.jpg": bad}),
            document("good", "http://fine.org/2", DATE, [paragraph(2)], ["http://a.org/g.jpg"], {"http://a.org/g.jpg": jpeg(9)}),
            document("spam", "http://spam.net/2", DATE, [paragraph(3)]),
        ]],
    )  # fmt: skip
    cfg = load_config(InterleavedConfig, None, ["dataset=d", f"output_dir={tmp_path / 'out'}"])
    gov = GovernanceConfig(
        blocklists=cfg_lists.model_copy(update={"image_policy": "document"}), pii=PiiConfig(enabled=False)
    )
    text_steps = governance_steps(cfg, "extract", "text", gov)
    image_steps = governance_steps(cfg, "join", "images", gov)
    assert [type(s).__name__ for s in text_steps] == ["BlocklistFilter"]
    assert (text_steps[0].check_urls, text_steps[0].check_hashes) == (True, False)
    assert (image_steps[0].check_urls, image_steps[0].check_hashes) == (False, True)
    out = tmp_path / "out/d"
    stage = Stage(
        "governance", [StageReader(staged), *text_steps, *image_steps, StageWriter(str(out / "_stage/g"))], 1
    )
    run_local([stage], out)
    assert sorted(read_staged(out / "_stage/g")) == ["good"]
    stats = json.loads((out / "_logs/governance/stats.json").read_text())
    assert step_stats(stats, "Blocklists")["dropped_blocked_domain"] == 1
    counts = {
        str(p.relative_to(out / "_excluded")): json.loads(p.read_text())["counts"]
        for p in sorted((out / "_excluded").rglob("*.json"))
    }
    # the text phase recorded the listed domain, the image phase the listed image
    assert counts == {
        "extract/00000-blocklists.json": {"blocked_domain": 1},
        "join/00000-blocklists.json": {"blocked_sha256": 1},
    }
