"""The training data path on real shards: mixture, shuffling, splits, corrupt samples, the
processor's tokens and loss masks, and packing that keeps attention inside samples."""

from __future__ import annotations

import io
import json
import random
import tarfile
from collections import Counter
from itertools import islice
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pipelines.staging import stage_documents  # noqa: E402
from schemas.manifest import Manifest, ShardEntry, totals_of  # noqa: E402
from schemas.samples import KINDS, dumps  # noqa: E402
from synth.demo.documents import make_documents, make_image  # noqa: E402
from tests.helpers import pack  # noqa: E402
from training.data import StreamSpec, epoch_keys, in_heldout, manifest_shards, raw_samples  # noqa: E402
from training.packing import collate, pack_rows  # noqa: E402
from training.processor import IGNORE, Processor, encode_raw  # noqa: E402
from training.tokenizer import END_OF_UTTERANCE, special_ids, train_tokenizer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


def build_datasets(root: Path, count: int = 24, max_samples: int = 4) -> dict[str, Path]:
    """One packed dataset per kind (real shards from the pack job): kind -> manifest path."""
    out = {}
    for kind in KINDS:
        staged = root / f"staged-{kind}"
        stage_documents(make_documents(kind, count, size=(96, 64)), str(staged), files=2)
        out[kind] = (
            pack(staged, root / "out", kind, kind, f"shards.max_samples={max_samples}") / "manifest.json"
        )
    return out


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, Path]:
    return build_datasets(tmp_path_factory.mktemp("train-data"))


@pytest.fixture(scope="module")
def processor(tmp_path_factory, manifests) -> Processor:
    texts = [
        json.dumps(json.loads(raw.members["json"])["texts"])
        for raw in islice(
            raw_samples(StreamSpec([manifest_shards(m) for m in manifests.values()], [1] * 4)), 96
        )
    ]
    tokenizer = train_tokenizer(texts, 512, tmp_path_factory.mktemp("tok") / "tokenizer.json")
    return Processor(
        tokenizer, special_ids(tokenizer), tile_size=32, seq_len=4, max_image_size=96, max_length=512
    )


def spec_of(manifests, kinds, **kw) -> StreamSpec:
    return StreamSpec([manifest_shards(manifests[k]) for k in kinds], [1.0] * len(kinds), **kw)


def test_mixture_weights_give_the_expected_proportions(manifests):
    weights = [0.45, 0.35, 0.20]
    spec = StreamSpec(
        [manifest_shards(manifests[k]) for k in ("interleaved", "pair", "ocr")], weights, resampled=True
    )
    draws = 3000
    counts = Counter(raw.source for raw in islice(raw_samples(spec), draws))
    for source, weight in enumerate(weights):
        assert abs(counts[source] / draws - weight) < 0.03, (counts, weights)


def test_shuffling_is_deterministic_per_epoch_and_seed(manifests):
    spec = spec_of(manifests, ["pair"], shuffle_buffer=8)
    first = epoch_keys(spec, 0)
    assert first == epoch_keys(spec, 0) and len(first) == 24
    assert epoch_keys(spec, 1) != first and sorted(epoch_keys(spec, 1)) == sorted(first)
    other_seed = epoch_keys(spec_of(manifests, ["pair"], shuffle_buffer=8, seed=1), 0)
    assert other_seed != first and sorted(other_seed) == sorted(first)
    # the stream continues into the next epoch with the epoch's own order
    stream = [raw.key for raw in islice(raw_samples(spec), 48)]
    assert stream == first + epoch_keys(spec, 1)


@pytest.mark.parametrize("world_size,num_workers", [(2, 2), (2, 4)])  # 6 shards: by shard, then by sample
def test_split_by_node_and_worker_is_disjoint_and_complete(manifests, world_size, num_workers):
    everything = epoch_keys(spec_of(manifests, ["qa"]), 0)
    seen: list[str] = []
    for rank in range(world_size):
        for worker in range(num_workers):
            spec = spec_of(
                manifests, ["qa"], rank=rank, world_size=world_size, worker=worker, num_workers=num_workers
            )
            keys = epoch_keys(spec, 3)
            assert keys, (rank, worker)
            seen += keys
    assert len(seen) == len(set(seen)) == len(everything) and set(seen) == set(everything)


def test_heldout_split_by_key_hash(manifests):
    train = set(epoch_keys(spec_of(manifests, ["interleaved"], heldout_fraction=0.3), 0))
    heldout = set(epoch_keys(spec_of(manifests, ["interleaved"], heldout_fraction=0.3, split="heldout"), 0))
    assert train and heldout and not train & heldout
    assert len(train | heldout) == 24
    assert all(in_heldout(key, 0.3) for key in heldout)


def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_corrupt_samples_are_skipped_and_counted(tmp_path, processor):
    image = make_image(1, 64, 48)

    def pair(key, caption, img=image, body=None):
        body = (
            body
            if body is not None
            else dumps(
                {
                    "kind": "pair",
                    "source": "x",
                    "meta": {},
                    "texts": [None, caption],
                    "images": ["000.jpg", None],
                }
            )
        )
        return [(f"{key}.json", body), (f"{key}.000.jpg", img)]

    shards = tmp_path / "shards"
    shards.mkdir()
    good = _tar(
        shards / "c-00000-0000.tar",
        pair("a", "A river.") + pair("b", "Broken image.", img=b"not a jpeg")
        + pair("c", "", body=b'{"kind": "pair", "texts": [nul') + [("d.000.jpg", image)]  # no json
        + pair("e", "A bridge."),
    )  # fmt: skip
    truncated = _tar(shards / "c-00000-0001.tar", pair("f", "Lost.") + pair("g", "Lost too."))
    truncated.write_bytes(truncated.read_bytes()[:700])  # cut inside the first member
    entries = [
        ShardEntry(url=f"shards/{p.name}", nsamples=1, filesize=1, sha256="0") for p in (good, truncated)
    ]
    manifest = Manifest(name="c", kind="pair", shardlist=entries, totals=totals_of(entries))
    (tmp_path / "manifest.json").write_text(manifest.to_json())

    counters: Counter = Counter()
    spec = StreamSpec([manifest_shards(tmp_path / "manifest.json")], [1.0], shuffle_buffer=1)
    encoded = [
        (raw.key, encode_raw(processor, raw.members, counters))
        for raw in islice(raw_samples(spec, counters=counters), 5)  # one epoch: a b c d e
    ]
    assert [key for key, _ in encoded] == ["a", "b", "c", "d", "e"]
    assert [key for key, sample in encoded if sample is not None] == ["a", "e"]
    assert counters["bad_image"] == 1 and counters["bad_json"] == 1 and counters["no_json"] == 1
    assert counters["unreadable_shard"] >= 1  # once per pass over the truncated shard


def test_image_splitting_tokens_follow_idefics3(processor):
    ids = processor.ids
    tokens, tiles, _ = processor.image(make_image(3, 96, 64))  # 96 x 64 -> 2 rows x 3 columns of 32 px
    assert len(tiles) == 2 * 3 + 1 and all(t.shape == (3, 32, 32) for t in tiles)
    assert tokens.count(ids.image) == 7 * 4
    grid = [t for t in tokens if t in set(ids.grid.values())]
    assert grid == [ids.grid[(r, c)] for r in (1, 2) for c in (1, 2, 3)]
    assert tokens[-7:] == [ids.fake, ids.global_img] + [ids.image] * 4 + [ids.fake]
    one_tile = Processor(processor.tokenizer, ids, tile_size=32, seq_len=4, max_image_size=32, max_length=512)
    small, small_tiles, _ = one_tile.image(make_image(3, 96, 64))  # fits one tile: the global image only
    assert small == [ids.fake, ids.global_img] + [ids.image] * 4 + [ids.fake] and len(small_tiles) == 1


def _processor(processor: Processor, **kw) -> Processor:
    base = dict(tile_size=32, seq_len=4, max_image_size=96, max_length=512, patch_size=8)
    return Processor(processor.tokenizer, processor.ids, **(base | kw))


def test_without_splitting_the_aspect_ratio_is_kept(processor):
    ids = processor.ids
    idefics3 = _processor(processor, image_splitting=False)
    tokens, tiles, sizes = idefics3.image(make_image(3, 96, 48))  # 2:1
    assert tokens == [ids.fake, ids.global_img] + [ids.image] * 4 + [ids.fake]
    assert len(tiles) == 1 and tiles[0].shape == (3, 32, 32)  # one square tile: the connector's input
    assert sizes == [(16, 32)]  # the content, 2:1 at the top left; the rest is masked padding
    assert tiles[0][:, 16:].abs().sum() == 0 and tiles[0][:, :16].abs().sum() > 0
    idefics2 = _processor(
        processor, arch="idefics2", image_splitting=False, max_image_size=64, min_image_size=16
    )
    tokens, tiles, sizes = idefics2.image(make_image(3, 200, 50))  # 4:1, scaled to 64 x 16
    assert tokens == [ids.fake] + [ids.image] * 4 + [ids.fake]
    assert [tuple(t.shape) for t in tiles] == [(3, 16, 64)] and sizes == [(16, 64)]
    tokens, tiles, _ = idefics2.image(make_image(3, 40, 24))  # within bounds: native size, whole patches
    assert [tuple(t.shape) for t in tiles] == [(3, 24, 40)]
    tokens, tiles, _ = idefics2.image(make_image(3, 256, 32))  # 64 x 8: the short side raised to the minimum
    assert [tuple(t.shape) for t in tiles] == [(3, 16, 64)]


def test_idefics2_four_crop_split(processor):
    ids = processor.ids
    idefics2 = _processor(processor, arch="idefics2", image_splitting=True, max_image_size=96)
    tokens, tiles, sizes = idefics2.image(make_image(3, 80, 48))
    assert tokens == [ids.fake] + ([ids.image] * 4 + [ids.fake]) * 5  # 4 quarters + the whole image
    assert [tuple(t.shape[1:]) for t in tiles] == [(24, 40)] * 4 + [(48, 80)] and sizes[-1] == (48, 80)


def test_a_share_of_images_is_split_per_sample_key(processor):
    half = _processor(processor, image_splitting=0.5, max_image_size=64)
    image = make_image(3, 64, 64)  # split: 2 x 2 tiles + the global image
    sample = {"kind": "pair", "texts": ["a caption"], "images": ["000.jpg"]}
    split = [len(half.encode(sample, {"000.jpg": image}, f"key-{k}").tiles) == 5 for k in range(1000)]
    assert abs(sum(split) / 1000 - 0.5) <= 0.05
    again = [len(half.encode(sample, {"000.jpg": image}, f"key-{k}").tiles) == 5 for k in range(1000)]
    assert again == split  # drawn from (seed, key): the same on every run and worker


def test_random_resolution_and_shuffled_turns(processor):
    jitter = _processor(processor, random_resolution=(16, 96))
    grids = Counter(len(jitter.image(make_image(3, 96, 96), random.Random(k))[1]) for k in range(60))
    assert set(grids) == {1, 5, 10}  # longest side <= 32: the global image only; 2 x 2 + 1; 3 x 3 + 1
    turns = [{"user": f"q{i}", "assistant": f"a{i}"} for i in range(4)]
    sample = {"kind": "qa", "texts": turns, "images": ["000.jpg"]}
    members = {"000.jpg": make_image(3, 32, 32)}
    shuffler = _processor(processor, shuffle_turns=True)
    orders = set()
    for k in range(20):
        decoded = processor.tokenizer.decode(shuffler.encode(sample, members, f"k{k}").input_ids)
        orders.add(tuple(sorted(range(4), key=lambda i, d=decoded: d.index(f"a{i}"))))
    assert len(orders) > 3  # several orders, every turn kept
    fixed = processor.tokenizer.decode(processor.encode(sample, members, "k0").input_ids)
    assert [fixed.index(f"a{i}") for i in range(4)] == sorted(fixed.index(f"a{i}") for i in range(4))


@pytest.mark.parametrize("arch", ["idefics2", "idefics3"])
def test_padded_images_are_masked(processor, arch):
    """A batch of images of different sizes: each sample's logits are those it gets alone."""
    from training.config import ModelConfig
    from training.model import build_model

    proc = _processor(processor, arch=arch, image_splitting=False, max_image_size=64, min_image_size=8)
    samples = []
    for k, (w, h) in enumerate([(64, 24), (24, 64), (40, 40)]):
        sample = {"kind": "pair", "texts": [f"caption {k}"], "images": ["000.jpg"]}
        samples.append(proc.encode(sample, {"000.jpg": make_image(k, w, h)}, str(k)))
    model = build_model(ModelConfig(arch=arch), processor.tokenizer.get_vocab_size(), processor.ids).eval()
    inputs = ("input_ids", "position_ids", "pixel_values", "pixel_attention_mask")
    longest = max(len(s.input_ids) for s in samples)
    batch = collate([[s] for s in samples], longest, processor.ids.pad)
    assert not batch["pixel_attention_mask"].all()
    with torch.no_grad():
        together = model(**{k: batch[k] for k in inputs}, use_cache=False).logits
        for b, sample in enumerate(samples):
            alone = collate([[sample]], longest, processor.ids.pad)
            logits = model(**{k: alone[k] for k in inputs}, use_cache=False).logits
            n = len(sample.input_ids)
            assert torch.allclose(together[b, :n], logits[0, :n], atol=1e-5)


def test_qa_loss_only_on_assistant_tokens(manifests, processor):
    tokenizer, ids = processor.tokenizer, processor.ids
    checked = 0
    for raw in islice(raw_samples(spec_of(manifests, ["qa"])), 10):
        sample = json.loads(raw.members["json"])
        encoded = processor.encode(sample, raw.members)
        runs, run = [], []
        for token, label in zip(encoded.input_ids, encoded.labels, strict=True):
            if label != IGNORE:
                assert label == token and token not in ids.never_predicted
                run.append(token)
            elif run:
                runs.append(run)
                run = []
        runs += [run] if run else []
        answers = [" " + turn["assistant"] + END_OF_UTTERANCE for turn in sample["texts"]]
        assert [tokenizer.decode(r, skip_special_tokens=False) for r in runs] == answers
        assert encoded.input_ids.count(ids.image) == 4 * len(encoded.tiles)
        checked += 1
    assert checked == 10


@pytest.mark.parametrize("kind", ["interleaved", "pair", "ocr"])
def test_text_kinds_carry_loss_on_text_never_on_images(manifests, processor, kind):
    for raw in islice(raw_samples(spec_of(manifests, [kind])), 5):
        sample = json.loads(raw.members["json"])
        encoded = processor.encode(sample, raw.members)
        texts = [t for t in sample["texts"] if t]
        labelled = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE]
        assert labelled[-1] == processor.ids.eos and not set(labelled) & processor.ids.never_predicted
        decoded = processor.tokenizer.decode(labelled[:-1], skip_special_tokens=False)
        assert decoded == "\n\n".join(texts) or kind == "interleaved"  # interleaved: images split the text
        assert all(t in decoded for t in texts)


def test_packing_keeps_attention_inside_samples(manifests, processor):
    from training.config import ModelConfig
    from training.model import build_model

    samples = []
    for kind in ("pair", "qa", "interleaved"):
        for raw in islice(raw_samples(spec_of(manifests, [kind])), 2):
            encoded = encode_raw(processor, raw.members, Counter())
            encoded.position = raw.position
            samples.append(encoded)
    rows, _ = next(pack_rows(iter(samples + samples[:1]), batch_size=1, max_length=512))
    row = rows[0]
    assert len(row) >= 2, "several samples share the row"
    batch = collate(rows, 512, processor.ids.pad)
    # positions restart at every sample, and the padding is a segment of its own
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    lengths = [len(s.input_ids) for s in row]
    assert starts[: len(row)] == [sum(lengths[:i]) for i in range(len(row))]
    assert (batch["segment_ids"][0, : sum(lengths)] >= 0).all() and (
        batch["labels"][0, sum(lengths) :] == IGNORE
    ).all()

    model = build_model(ModelConfig(), processor.tokenizer.get_vocab_size(), processor.ids).eval()
    with torch.no_grad():
        packed = model(
            **{k: batch[k] for k in ("input_ids", "position_ids", "pixel_values")}, use_cache=False
        ).logits
        at = 0
        for sample in row:
            alone = collate([[sample]], len(sample.input_ids), processor.ids.pad)
            logits = model(
                **{k: alone[k] for k in ("input_ids", "position_ids", "pixel_values")}, use_cache=False
            ).logits
            n = len(sample.input_ids)
            assert torch.allclose(packed[0, at : at + n], logits[0], atol=1e-5), (
                "attention crossed a sample boundary"
            )
            at += n


def test_a_recaptioned_pair_trains_on_the_caption_chosen_per_dataset(processor):
    sample = {
        "kind": "pair",
        "texts": [None, "an alt text"],
        "images": ["000.jpg", None],
        "meta": {"captions": {"original": "an alt text", "synthetic": "a red shape on grey"}},
    }
    members = {"000.jpg": make_image(3, 32, 32)}

    def trained(caption: str, key: str = "k") -> str:
        encoded = _processor(processor, caption=caption).encode(sample, members, key)
        labelled = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE]
        return processor.tokenizer.decode(labelled[:-1])

    assert trained("original") == "an alt text" and trained("synthetic") == "a red shape on grey"
    drawn = Counter(trained("random", f"k{i}") for i in range(200))
    assert set(drawn) == {"an alt text", "a red shape on grey"} and 70 <= drawn["an alt text"] <= 130
    plain = {**sample, "meta": {}}  # no synthetic caption: the original
    encoded = _processor(processor, caption="synthetic").encode(plain, members, "k")
    labelled = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE]
    assert processor.tokenizer.decode(labelled[:-1]) == "an alt text"
