"""NSFW stage: NudeNet scores equal NudeNet's own detector on real images, the policies with an
injected scorer (boundary, order, stats, blurred exclusion thumbnails), and LAION's CLIP head."""

import base64
import io
import json
import pickle

import cv2
import nudenet.nudenet
import numpy as np
import pytest
from datatrove.data import Document, Media, MediaType
from nudenet import NudeDetector
from nudenet.nudenet import _postprocess, _read_image
from PIL import Image

from filters.nsfw import NsfwFilter
from filters.nsfw_clip_head import ClipNsfwHead, head_scores, load_nsfw_head, nsfw_head
from filters.nsfw_nudenet import EXPOSED_CLASSES, NudeNetScorer, decode_bgr, postprocess
from pipelines.steps.exclusions import ExclusionRecorder, thumbnail
from schemas.config_images import NsfwConfig
from schemas.records import ExclusionSummary
from schemas.samples import nodes_to_text
from synth.demo.documents import make_image
from tests import corpora
from tests.filter_helpers import run_step

PILLOW = corpora.path("pillow")
# Real files: four on which NudeNet finds an exposed class (scores 0.25-0.42), photos with only
# faces (score 0.0), a grayscale JPEG, a grayscale PNG with transparency, WebP and GIF.
REAL_FILES = [
    "ati1.png",
    "imagedraw__square.png",
    "exif-200dpcm.jpg",
    "drawing_emf_ref.png",
    "hopper.jpg",
    "hopper.png",
    "hopper_gray.jpg",
    "imageops_pad_h_1.jpg",
    "l_trns.png",
    "hopper.webp",
    "hopper.gif",
]
THUMB_PX = 32


def real_images() -> list[bytes]:
    return [(corpora.require("pillow") / name).read_bytes() for name in REAL_FILES]


def nudedetector_score(detections: list[dict]) -> float:
    return max((d["score"] for d in detections if d["class"] in EXPOSED_CLASSES), default=0.0)


@pytest.fixture(scope="module")
def reference():
    """NudeNet's own detections of REAL_FILES, through ``NudeDetector().detect(bytes)``."""
    detector = NudeDetector()
    return [detector.detect(data) for data in real_images()]


# --- NudeNet --------------------------------------------------------------------------------


def test_exposed_classes_are_nudenet_labels():
    labels = getattr(nudenet.nudenet, "__labels")
    assert EXPOSED_CLASSES < set(labels)
    assert "MALE_BREAST_EXPOSED" in labels and "MALE_BREAST_EXPOSED" not in EXPOSED_CLASSES


@pytest.mark.corpus("pillow")
def test_scores_equal_nudedetector_batched_and_one_at_a_time(reference):
    images = real_images()
    expected = [nudedetector_score(found) for found in reference]
    assert sum(score > 0 for score in expected) >= 4  # the comparison is not all zeros

    scorer = NudeNetScorer(batch_size=4)  # 11 images: chunks of 4, 4, 3
    assert scorer.score(images) == expected
    assert [scorer.score([data])[0] for data in images] == expected
    # every class, not only the exposed ones: the same boxes, scores and classes as NudeNet
    assert scorer.detections(images) == reference
    assert any(found for found in reference if nudedetector_score(found) == 0.0)


@pytest.mark.corpus("pillow")
@pytest.mark.parametrize("candidates", [0, 1, 2, 7])
def test_postprocess_shortcut_equals_nudenets(candidates):
    """Raw outputs with 0, 1 or more boxes past the 0.2 cut, overlapping ones among them (NMS)."""
    rng = np.random.default_rng(candidates)
    output = np.zeros((1, 22, 2100), np.float32)
    output[0, :2] = rng.uniform(0, 320, (2, 2100))  # box centres
    output[0, 2:4] = rng.uniform(5, 120, (2, 2100))  # widths, heights
    output[0, 4:] = rng.uniform(0, 0.199, (18, 2100))
    boxes = rng.choice(2100, candidates, replace=False)
    output[0, 4:, boxes] = rng.uniform(0.1, 0.95, (candidates, 18))
    output[0, :4, boxes[1:]] = output[0, :4, boxes[:1]] + 2  # overlapping boxes
    prepared = _read_image(decode_bgr((PILLOW / "hopper.jpg").read_bytes()), 320)
    _, x_ratio, y_ratio, x_pad, y_pad, width, height = prepared
    expected = _postprocess([output], x_pad, y_pad, x_ratio, y_ratio, width, height, 320, 320)
    assert postprocess(output, prepared, 320) == expected
    assert (len(expected) > 0) == (candidates > 0)


@pytest.mark.corpus("pillow")
def test_undecodable_bytes_score_none_in_place():
    hopper = (PILLOW / "hopper.jpg").read_bytes()
    scores = NudeNetScorer().score([hopper, b"<html>not an image</html>", hopper[:40], hopper])
    assert scores[1] is None and scores[2] is None
    assert scores[0] == scores[3] == 0.0


@pytest.mark.corpus("pillow")
@pytest.mark.parametrize("name", ["test_extents_transparency.gif", "hopper_256x256.ico"])
def test_formats_opencv_cannot_read_go_through_pillow(name):
    data = (PILLOW / name).read_bytes()
    if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is not None:
        pytest.skip(f"this OpenCV reads {name} itself")
    mat = decode_bgr(data)
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert mat is not None and np.array_equal(mat[:, :, ::-1], rgb)
    assert isinstance(NudeNetScorer().score([data])[0], float)


@pytest.mark.corpus("pillow")
def test_sixteen_bit_images_reach_the_detector_as_eight_bits():
    data = (PILLOW / "apng__mode_16bit.png").read_bytes()  # NudeNet would feed values up to 257
    wide = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert wide.dtype == np.uint16
    assert np.array_equal(decode_bgr(data), (wide // 256).astype(np.uint8))


@pytest.mark.corpus("pillow")
def test_scorer_pickles_without_its_session():
    scorer = NudeNetScorer()
    hopper = (PILLOW / "ati1.png").read_bytes()
    before = scorer.score([hopper])
    assert scorer._session is not None
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone._session is None
    assert clone.score([hopper]) == before
    assert pickle.loads(pickle.dumps(NsfwFilter(NsfwConfig()))).scorer.detector_path is None


@pytest.mark.corpus("pillow")
def test_missing_detector_names_the_path(tmp_path):
    missing = str(tmp_path / "nope.onnx")
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        NudeNetScorer(detector_path=missing).score([(PILLOW / "hopper.jpg").read_bytes()])


# --- the filter, with an injected scorer ----------------------------------------------------


class FixedScorer:
    """Scores by image bytes; remembers how many images each call got."""

    def __init__(self):
        self.by_bytes: dict[bytes, float | None] = {}
        self.calls: list[int] = []

    def image(self, seed: int, score: float | None) -> bytes:
        data = make_image(seed, 96, 72)
        self.by_bytes[data] = score
        return data

    def score(self, images: list[bytes]) -> list[float | None]:
        self.calls.append(len(images))
        return [self.by_bytes[data] for data in images]


def interleaved(doc_id: str, images: list[bytes | None]) -> Document:
    """A page: a paragraph before each image."""
    nodes, media = [], []
    for i, data in enumerate(images):
        nodes.append({"type": "text", "text": f"Paragraph {i} of {doc_id}."})
        nodes.append({"type": "image", "media": i})
        media.append(
            Media(
                id=f"{doc_id}/{i}",
                type=MediaType.IMAGE,
                url=f"https://ex.com/{doc_id}/{i}.jpg",
                media_bytes=data,
            )
        )
    return Document(
        text=nodes_to_text(nodes),
        id=doc_id,
        media=media,
        metadata={"nodes": nodes, "url": f"https://ex.com/{doc_id}"},
    )


def run_filter(tmp_path, docs, scorer, **cfg):
    recorder = ExclusionRecorder(tmp_path / "_excluded", "nsfw", "nsfw", thumbnail_px=THUMB_PX)
    step = NsfwFilter(NsfwConfig(**cfg), exclusion_writer=recorder, scorer=scorer)
    kept, stats = run_step(step, docs)
    path = tmp_path / "_excluded" / "nsfw" / "00000-nsfw.json"
    summary = ExclusionSummary.model_validate(json.loads(path.read_text())) if path.exists() else None
    return kept, stats, summary


def edge_energy(b64: str) -> float:
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("L"), dtype=float)
    return float(np.abs(np.diff(pixels, axis=1)).mean() + np.abs(np.diff(pixels, axis=0)).mean())


def assert_blurred(record_thumbnail: str, image: bytes) -> None:
    assert record_thumbnail == thumbnail(image, THUMB_PX, blur=True)
    assert edge_energy(record_thumbnail) < 0.5 * edge_energy(thumbnail(image, THUMB_PX, blur=False))


def test_document_policy(tmp_path):
    s = FixedScorer()
    docs = [
        interleaved("low", [s.image(1, 0.1), s.image(2, 0.2)]),
        interleaved("boundary", [s.image(3, 0.1), s.image(4, 0.5)]),  # == threshold: NSFW
        interleaved("below", [s.image(5, 0.4999)]),
        interleaved("text-only", []),
        interleaved("broken", [s.image(6, None), s.image(7, 0.3)]),
        interleaved("high", [s.image(8, 0.97)]),
    ]
    first_image = {d.id: d.media[0].media_bytes for d in docs if d.media}
    kept, stats, summary = run_filter(tmp_path, docs, s, threshold=0.5, policy="document")

    assert [d.id for d in kept] == ["low", "below", "text-only", "broken"]
    assert [m.metadata["nsfw"] for m in kept[0].media] == [0.1, 0.2]
    assert kept[1].media[0].metadata["nsfw"] == 0.4999
    broken = kept[3]  # the image that cannot be checked is removed, the document goes on
    assert [m.metadata["nsfw"] for m in broken.media] == [0.3]
    assert broken.metadata["nodes"][-1] == {"type": "image", "media": 0}
    assert broken.text == nodes_to_text(broken.metadata["nodes"])
    assert stats["documents_in"] == 6 and stats["documents_out"] == 4
    assert stats["dropped_nsfw"] == 2 and stats["nsfw_undecodable"] == 1
    assert stats["images_scored"] == 7

    assert summary.counts == {"nsfw": 2, "nsfw_undecodable": 1}
    records = {r.doc_id: r for r in summary.examples["nsfw"]}
    assert records["boundary"].value == 0.5 and records["high"].value == 0.97
    assert records["boundary"].source == "https://ex.com/boundary"
    for doc_id, record in records.items():
        assert_blurred(record.thumbnail, first_image[doc_id])
    undecodable = summary.examples["nsfw_undecodable"][0]
    assert undecodable.doc_id == "broken#1" and undecodable.value is None


def test_image_policy(tmp_path):
    s = FixedScorer()
    nsfw, safe, edge = s.image(1, 0.93), s.image(2, 0.05), s.image(3, 0.7)
    docs = [interleaved("page", [nsfw, safe, edge]), interleaved("clean", [s.image(4, 0.0)])]
    kept, stats, summary = run_filter(tmp_path, docs, s, threshold=0.7, policy="image")

    assert [d.id for d in kept] == ["page", "clean"]
    page = kept[0]
    assert [m.media_bytes for m in page.media] == [safe]
    assert page.media[0].metadata["nsfw"] == 0.05
    assert [n for n in page.metadata["nodes"] if n["type"] == "image"] == [{"type": "image", "media": 0}]
    assert len([n for n in page.metadata["nodes"] if n["type"] == "text"]) == 3  # text stays
    assert stats["images_dropped_nsfw"] == 2 and stats["documents_out"] == 2
    assert "dropped_nsfw" not in stats

    assert summary.counts == {"nsfw_image": 2}
    records = {r.doc_id: r for r in summary.examples["nsfw_image"]}
    assert set(records) == {"page#1", "page#5"}  # node indices of the two images
    assert records["page#1"].value == 0.93 and records["page#5"].value == 0.7
    assert records["page#1"].snippet == "https://ex.com/page/0.jpg"
    assert_blurred(records["page#1"].thumbnail, nsfw)
    assert_blurred(records["page#5"].thumbnail, edge)


def test_batches_of_about_batch_size_images_keep_order(tmp_path):
    s = FixedScorer()
    docs = [
        interleaved(f"d{k}", [s.image(10 * k + j, 0.9 if k == 2 else 0.1) for j in range(3)])
        for k in range(5)
    ]
    docs.insert(3, interleaved("no-bytes", [None]))
    kept, stats, _ = run_filter(tmp_path, docs, s, batch_size=4, policy="image")
    assert s.calls == [6, 6, 3]  # flushed once 4 or more images are pending, then the rest
    assert [d.id for d in kept] == ["d0", "d1", "d2", "no-bytes", "d3", "d4"]
    assert kept[2].media == [] and len(kept[3].media) == 1  # an image without bytes is left alone
    assert "nsfw" not in kept[3].media[0].metadata
    assert stats["images_without_bytes"] == 1 and stats["images_scored"] == 15


def test_disabled_passes_everything_unscored(tmp_path):
    s = FixedScorer()
    docs = [interleaved("x", [s.image(1, 1.0)])]
    kept, _, summary = run_filter(tmp_path, docs, s, enabled=False)
    assert kept == docs and s.calls == [] and summary is None


@pytest.mark.corpus("pillow")
def test_real_detector_in_the_filter(tmp_path):
    ati, hopper = (PILLOW / "ati1.png").read_bytes(), (PILLOW / "hopper.jpg").read_bytes()
    docs = [interleaved("page", [ati, hopper])]
    kept, stats, summary = run_filter(tmp_path, docs, None, threshold=0.4, policy="image")
    assert [m.media_bytes for m in kept[0].media] == [hopper]
    assert kept[0].media[0].metadata["nsfw"] == 0.0
    assert summary.examples["nsfw_image"][0].value == round(NudeNetScorer().score([ati])[0], 4)


# --- LAION's CLIP head ----------------------------------------------------------------------

# The state-dict keys of LAION's heads: the PyTorch port of the ViT-L/14 Autokeras model and
# h14_nsfw.pth (LAION-AI/CLIP-based-NSFW-Detector, h14_nsfw_model.py).
L14_KEYS = {"norm.mean", "norm.variance"} | {
    f"linear_{i}.{p}" for i in range(1, 5) for p in ("weight", "bias")
}
H14_KEYS = {f"layers.{i}.{p}" for i in (0, 3, 6, 9, 12, 15, 16) for p in ("weight", "bias")}


@pytest.mark.parametrize("layout, keys", [("l14", L14_KEYS), ("h14", H14_KEYS)])
def test_head_loads_from_a_saved_state_dict(tmp_path, layout, keys):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    head = nsfw_head(layout, embed_dim=8).eval()
    if layout == "l14":  # a non-trivial Keras normalisation
        head.norm.mean.uniform_(-0.2, 0.2)
        head.norm.variance.uniform_(0.01, 0.1)
    assert set(head.state_dict()) == keys
    path = tmp_path / f"{layout}.pth"
    torch.save(head.state_dict(), path)

    loaded = load_nsfw_head(str(path))
    embeddings = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        direct = head(embeddings / embeddings.norm(dim=-1, keepdim=True))
    scores = head_scores(loaded, embeddings)
    assert scores.shape == (5,)
    assert torch.allclose(scores, direct, atol=1e-6)
    assert torch.allclose(head_scores(loaded, 3 * embeddings), scores, atol=1e-6)  # L2-normalised
    assert bool(((scores >= 0) & (scores <= 1)).all())
    if layout == "l14":
        assert len(set(scores.tolist())) == 5  # not saturated: the comparison means something


def test_head_errors_name_the_file(tmp_path):
    torch = pytest.importorskip("torch")
    with pytest.raises(FileNotFoundError, match="missing-head.pth"):
        load_nsfw_head(str(tmp_path / "missing-head.pth"))
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(1, 8)}, other)
    with pytest.raises(ValueError, match="other.pth"):
        load_nsfw_head(str(other))


def test_clip_head_needs_paths_and_the_clip_extra(tmp_path):
    with pytest.raises(ValueError, match="head_weights"):
        ClipNsfwHead(NsfwConfig(model="clip_head", clip_weights="clip.pt"))
    try:
        import open_clip  # noqa: F401
    except ImportError:
        scorer = NsfwFilter(
            NsfwConfig(
                model="clip_head", clip_weights=str(tmp_path / "c.pt"), head_weights=str(tmp_path / "h.pth")
            )
        ).scorer
        assert isinstance(pickle.loads(pickle.dumps(scorer)), ClipNsfwHead)
        with pytest.raises(ImportError, match=r"vlmdata\[clip\]"):
            scorer.score([make_image(0)])
    else:
        pytest.skip("open_clip is installed")


@pytest.mark.slow
def test_clip_head_end_to_end_with_a_tiny_open_clip_checkpoint(tmp_path):
    """The clip_head model as a user runs it: an open_clip checkpoint and a head's weights given by
    path; the scores equal the head applied to the model's own normalised image embeddings."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("open_clip")
    from tests.test_clip_score import save_tiny_clip

    clip = save_tiny_clip(tmp_path / "clip")
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(clip["model"], pretrained=clip["weights"])
    torch.manual_seed(1)
    head = nsfw_head("l14", embed_dim=model.visual.output_dim)
    torch.save(head.state_dict(), tmp_path / "head.pt")
    cfg = NsfwConfig(
        model="clip_head", clip_model=clip["model"], clip_weights=clip["weights"],
        head_weights=str(tmp_path / "head.pt"), batch_size=2,
    )  # fmt: skip
    images = [make_image(seed, 96, 80) for seed in range(3)] + [b"not an image"]
    scores = ClipNsfwHead(cfg).score(images)
    assert scores[3] is None
    with torch.no_grad():
        batch = torch.stack([preprocess(Image.open(io.BytesIO(data)).convert("RGB")) for data in images[:3]])
        expected = head_scores(head.eval(), model.eval().encode_image(batch)).squeeze(-1).tolist()
    assert scores[:3] == pytest.approx(expected, abs=1e-5)
    assert all(0.0 <= s <= 1.0 for s in scores[:3])
