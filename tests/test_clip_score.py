"""CLIP scoring with a tiny open_clip model saved by the test and loaded through the same path a
user's checkpoint takes (model name + weights path from config); threshold and top-fraction modes."""

import io
import json
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document, Media, MediaType
from PIL import Image

from filters.clip_score import ClipModel, ClipScoreFilter, ClipScorer
from pipelines.executors import run_stages
from pipelines.pairs import clip_stages
from pipelines.steps.stage_io import StageWriter, row_to_document
from schemas.config_pairs import ClipScoreConfig, PairsConfig
from schemas.records import stat_total
from synth.demo.documents import make_image

TINY = "tiny-clip-test"  # the architecture's name is its JSON file's stem
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def save_tiny_clip(folder, seed=0):
    """Write the tiny architecture's JSON config and a random checkpoint of it under ``folder``;
    returns the ``clip.*`` overrides that load it."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    architecture = folder / f"{TINY}.json"
    architecture.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(str(architecture))
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY)
    weights = folder / "tiny-clip.pt"
    torch.save(model.state_dict(), weights)
    return {"model": TINY, "weights": str(weights), "architecture_file": str(architecture)}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip"))


CAPTIONS = ["a red car on a street", "two dogs in the snow", "a bowl of fruit", "city skyline at night"]


def pairs(n):
    docs = []
    for i in range(n):
        image = make_image(i, 64 + 8 * (i % 5), 48 + 4 * (i % 7), "jpg")
        media = Media(
            id=f"u{i}", type=MediaType.IMAGE, url=f"http://x.example.com/{i}.jpg", media_bytes=image
        )
        docs.append(Document(text=CAPTIONS[i % len(CAPTIONS)] + f" {i}", id=f"p{i:04d}", media=[media]))
    return docs


def test_user_loading_path_gives_the_saved_model_and_cosine_scores(tiny_clip):
    import open_clip
    import torch

    model = ClipModel(ClipScoreConfig(**tiny_clip, batch_size=3))
    docs = pairs(7)
    scores = model.score([d.media[0].media_bytes for d in docs], [d.text for d in docs])
    # the same computation by hand, on the model object saved to the path
    torch.manual_seed(0)
    reference = open_clip.create_model(TINY).eval()
    _, _, preprocess = open_clip.create_model_and_transforms(TINY)
    tokenizer = open_clip.get_tokenizer(TINY)
    assert type(tokenizer).__name__ == "SimpleTokenizer"  # ships its vocabulary: nothing downloads
    with torch.no_grad():
        pixels = torch.stack(
            [preprocess(Image.open(io.BytesIO(d.media[0].media_bytes)).convert("RGB")) for d in docs]
        )
        a = reference.encode_image(pixels)
        b = reference.encode_text(tokenizer([d.text for d in docs]))
        expected = ((a / a.norm(dim=-1, keepdim=True)) * (b / b.norm(dim=-1, keepdim=True))).sum(-1)
    assert np.allclose(scores, expected.numpy(), atol=1e-5)
    assert all(-1 <= s <= 1 for s in scores) and len(set(np.round(scores, 4))) == 7
    # batching does not change a score, an undecodable image scores None
    one_by_one = ClipModel(ClipScoreConfig(**tiny_clip, batch_size=1))
    assert np.allclose(
        one_by_one.score([docs[0].media[0].media_bytes, b"not an image"], [docs[0].text, "x"])[0], scores[0]
    )
    assert one_by_one.score([b"not an image"], ["x"]) == [None]


def test_bad_weights_and_model_name_the_key(tiny_clip, tmp_path):
    with pytest.raises(FileNotFoundError, match="clip.weights: .*nope.pt not found"):
        ClipModel(ClipScoreConfig(**{**tiny_clip, "weights": str(tmp_path / "nope.pt")})).load()
    with pytest.raises(ValueError, match="clip.model: 'no-such-clip'"):
        ClipModel(ClipScoreConfig(**{**tiny_clip, "model": "no-such-clip"})).load()
    with pytest.raises(ValueError, match="clip.weights"):
        ClipModel(ClipScoreConfig())


def test_scorer_writes_scores_and_filter_keeps_those_at_threshold(tiny_clip):
    scorer = ClipScorer(ClipScoreConfig(**tiny_clip, batch_size=4))
    docs = pairs(10)
    docs[3].media[0].media_bytes = b"broken"
    scored = list(scorer.run(iter(docs)))
    assert len(scored) == 9 and docs[3] not in scored
    values = [d.metadata["meta"]["clip_score"] for d in scored]
    assert values == [d.media[0].metadata["clip_score"] for d in scored]
    threshold = float(np.median(values))
    kept = list(ClipScoreFilter(threshold).run(iter(scored)))
    assert [d.id for d in kept] == [d.id for d in scored if d.metadata["meta"]["clip_score"] >= threshold]


def test_clip_throughput(tiny_clip):
    scorer = ClipScorer(ClipScoreConfig(**tiny_clip, batch_size=64))
    docs = pairs(256)
    list(scorer.run(iter(docs[:8])))  # the model loads once
    started = time.perf_counter()
    out = list(scorer.run(iter(docs)))
    rate = len(out) / (time.perf_counter() - started)
    print(f"CLIP stage, tiny model on CPU: {rate:,.0f} pairs/s")
    assert rate > 2  # a smoke floor: the shared CPUs here vary several-fold with load


def staged_pairs(folder, n, files):
    """``n`` pairs staged as ``files`` Parquet files (as the join stage leaves them)."""
    docs = pairs(n)
    for rank in range(files):
        writer = StageWriter(str(folder))
        list(writer.run(iter(docs[rank::files]), rank=rank))
    return docs


def run_clip(tmp_path, tiny_clip, tasks, **clip):
    cfg = PairsConfig(
        dataset="c", output_dir=str(tmp_path), executor={"kind": "local", "tasks": tasks, "workers": 1},
        clip={**tiny_clip, **clip},
    )  # fmt: skip
    source = tmp_path / "c/_stage/join"
    staged_pairs(source, 30, tasks)
    stages, result = clip_stages(cfg, str(source))
    run_stages(stages, cfg.executor, cfg.dataset_dir, progress=False)
    kept = [
        row_to_document(r)
        for p in sorted((tmp_path / result).glob("*.parquet"))
        for r in pq.read_table(p).to_pylist()
    ]
    return cfg, stages, kept


def stage_stats(cfg, stage):
    with open(f"{cfg.dataset_dir}/_logs/{stage}/stats.json") as f:
        stats = json.load(f)
    return {k: stat_total(v) for step in stats for k, v in step.get("stats", {}).items()}


@pytest.mark.timeout(180)
def test_threshold_mode_is_one_stage(tmp_path, tiny_clip):
    cfg, stages, kept = run_clip(tmp_path, tiny_clip, 2, threshold=0.0)
    assert [s.name for s in stages] == ["clip"]
    assert all(d.metadata["meta"]["clip_score"] >= 0.0 for d in kept)
    stats = stage_stats(cfg, "clip")
    assert stats["pairs_scored"] == 30 and stats.get("dropped_clip_score", 0) == 30 - len(kept)


@pytest.mark.timeout(180)
def test_top_fraction_quantile_over_all_tasks_equals_numpys(tmp_path, tiny_clip):
    cfg, stages, kept = run_clip(tmp_path, tiny_clip, 3, mode="top_fraction", top_fraction=0.3)
    assert [s.name for s in stages] == ["clip_score", "clip_threshold", "clip_filter"]
    scored = [
        row_to_document(r)
        for p in sorted((tmp_path / "c/_stage/clip_score").glob("*.parquet"))
        for r in pq.read_table(p).to_pylist()
    ]
    scores = np.array([d.metadata["meta"]["clip_score"] for d in scored])
    assert len(scores) == 30 and len(list((tmp_path / "c/_stage/clip_threshold").glob("*.parquet"))) == 3
    threshold = json.loads((tmp_path / "c/_stage/clip_threshold/threshold.json").read_text())
    assert threshold["threshold"] == pytest.approx(np.quantile(scores, 0.7), abs=1e-12)
    assert threshold["scores"] == 30
    assert sorted(d.id for d in kept) == sorted(
        d.id for d in scored if d.metadata["meta"]["clip_score"] >= threshold["threshold"]
    )
    assert len(kept) == 9  # 30 distinct scores: the top 30 %
