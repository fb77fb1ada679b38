"""The pdf_ocr job over the real PDFs of shared/data/pdf, plus PDFs made here: a scanned page (an
image, no text layer), a truncated and a corrupt file, an enormous page, and PDFs inside a WARC."""

import io
import json
import os
import random
import re
import shutil
import tarfile

import pymupdf
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from filters.page_filters import count_tokens, estimate_tokens
from pipelines.executors import run_stages
from pipelines.pdf_ocr import build_pdf_ocr
from pipelines.steps.pdf.pdf_text import RTL_BLOCKS, has_rtl, mostly_rtl, reading_order, word_boxes
from schemas.config import ConfigError, load_config
from schemas.config_pdf import PdfOcrConfig
from schemas.records import step_stats
from schemas.validate import validate_dataset
from tests import corpora
from tests.helpers import shard_hashes

pytestmark = pytest.mark.timeout(300)
PDFS = corpora.path("pdf")
TESSERACT = shutil.which("tesseract")
EXPECTED_PROBLEMS = {"libreoffice-writer-password.pdf": "encrypted", "unreadablemetadata.pdf": "damaged"}


def run_job(out, *overrides, dataset="pdf"):
    cfg = load_config(
        PdfOcrConfig,
        None,
        [f"output_dir={out}", f"dataset={dataset}", "executor.kind=local", "executor.workers=1", *overrides],
    )
    run_stages(build_pdf_ocr(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return out / dataset


def samples(dataset_dir):
    """(key, sample JSON, image bytes) of every sample, in shard and member order."""
    out = []
    for path in sorted((dataset_dir / "shards").glob("*.tar")):
        with tarfile.open(path) as tar:
            members = [(m.name, tar.extractfile(m).read()) for m in tar]
        for (name, data), (image_name, image) in zip(members[0::2], members[1::2], strict=True):
            assert name.endswith(".json") and image_name.startswith(name[: -len(".json")] + ".")
            out.append((name[: -len(".json")], json.loads(data), image))
    return out


def stats(dataset_dir, step):
    return step_stats(json.loads((dataset_dir / "_logs/pages/stats.json").read_text()), step)


def exclusions(dataset_dir):
    """doc id -> reason of every dropped item (reservoirs are large enough to keep them all)."""
    out = {}
    for path in (dataset_dir / "_excluded/pages").glob("*.json"):
        for reason, examples in json.loads(path.read_text())["examples"].items():
            out |= {example["doc_id"]: reason for example in examples}
    return out


def scanned_pdf(source, page=0, dpi=200) -> bytes:
    """A page of ``source`` as a scanner gives it: one image, no text layer."""
    with pymupdf.open(source) as doc:
        original = doc[page]
        image = original.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY).tobytes("png")
        out = pymupdf.open()
        new = out.new_page(width=original.rect.width, height=original.rect.height)
        new.insert_image(new.rect, stream=image)
        return out.tobytes(garbage=4, deflate=True, no_new_id=True)


def enormous_pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page(width=595, height=842).insert_text(
        (72, 100), "A normal page with a few words of text on it."
    )
    doc.new_page(width=20000, height=300).insert_text((72, 100), "An enormous banner page with words.")
    return doc.tobytes(no_new_id=True)


def blank_pdf() -> bytes:
    """Three pages: nothing, a page number alone (near-blank), a paragraph."""
    doc = pymupdf.open()
    doc.new_page(width=595, height=842)
    doc.new_page(width=595, height=842).insert_text((290, 800), "7", fontsize=9)
    page = doc.new_page(width=595, height=842)
    for line in range(12):
        page.insert_text((72, 100 + 16 * line), "A paragraph of words that fills one line of the page.")
    return doc.tobytes(no_new_id=True)


def text_words(source, page=0):
    with pymupdf.open(source) as doc:
        return [w[4] for w in doc[page].get_text("words")]


@pytest.fixture(scope="module")
def extras(tmp_path_factory):
    """Broken and scanned PDFs next to the shared ones, in a folder of their own."""
    folder = tmp_path_factory.mktemp("extra")
    good = (PDFS / "pdflatex-4-pages.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(good[: len(good) // 2])
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + random.Random(0).randbytes(5000) + b"\n%%EOF\n")
    (folder / "scanned.pdf").write_bytes(scanned_pdf(PDFS / "minimal-document.pdf"))
    (folder / "enormous.pdf").write_bytes(enormous_pdf())
    (folder / "blank.pdf").write_bytes(blank_pdf())
    return folder


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory, extras):
    out = tmp_path_factory.mktemp("run")
    dataset_dir = run_job(
        out,
        f"pdfs=[{PDFS},{extras}]",
        "executor.tasks=2",
        "audit.reservoir_size=1000",
        "page_filters.min_words=1",
    )
    return dataset_dir, samples(dataset_dir)


@pytest.mark.corpus("pdf")
def test_every_page_is_a_sample_or_counted_with_a_reason(shared_run):
    dataset_dir, kept = shared_run
    dropped = exclusions(dataset_dir)
    by_pdf = {}
    for key, sample, _ in kept:
        by_pdf.setdefault(sample["meta"]["pdf"], []).append(sample["meta"]["page"])
        assert key == f"{sample['meta']['pdf']}-p{sample['meta']['page']:05d}"
    dropped_pages = {}
    for doc_id, reason in dropped.items():
        if match := re.fullmatch(r"(.+)-p(\d{5})", doc_id):
            dropped_pages.setdefault(match[1], {})[int(match[2])] = reason
    files = json.loads((PDFS / "files.json").read_text())["data"]
    for entry in files:
        name = entry["path"].rsplit("/", 1)[-1]
        if not (PDFS / name).exists():
            continue  # files.json also lists GeoTopo.pdf, not in the folder
        pdf_id = name.removesuffix(".pdf")
        if name in EXPECTED_PROBLEMS:
            assert dropped[pdf_id] == EXPECTED_PROBLEMS[name], name
            assert pdf_id not in by_pdf
            continue
        pages = by_pdf.get(pdf_id, [])
        assert pages == sorted(pages), name  # in page order
        assert sorted(pages + list(dropped_pages.get(pdf_id, {}))) == list(range(1, entry["pages"] + 1)), name
    reasons = set(dropped.values())
    assert {"encrypted", "damaged", "truncated", "corrupt", "page_too_large", "page_too_small"} <= reasons
    assert dropped["truncated"] == "truncated" and dropped["corrupt"] == "corrupt"
    assert by_pdf["enormous"] == [1] and dropped_pages["enormous"] == {2: "page_too_large"}
    assert by_pdf["blank"] == [3] and dropped_pages["blank"] == {1: "blank", 2: "blank"}
    reader = stats(dataset_dir, "PDF filter")
    assert reader["dropped_encrypted"] == 1 and reader["dropped_damaged"] == 1
    assert reader["dropped_truncated"] == 1 and reader["dropped_corrupt"] == 1


@pytest.mark.corpus("pdf")
def test_blank_and_near_blank_pages_are_told_by_their_ink(shared_run):
    dataset_dir, kept = shared_run
    (paragraph,) = [s for _, s, _ in kept if s["meta"]["pdf"] == "blank"]
    assert paragraph["meta"]["ink_share"] > 0.003  # twelve lines of text
    shares = {}
    for path in (dataset_dir / "_excluded/pages").glob("*.json"):
        for example in json.loads(path.read_text())["examples"].get("blank", []):
            shares[example["doc_id"]] = example["value"]
    assert shares["blank-p00001"] == 0.0
    assert 0 < shares["blank-p00002"] <= 0.00015  # a page number alone
    assert stats(dataset_dir, "Blank page filter")["dropped_blank"] >= 2


@pytest.mark.corpus("pdf")
def test_pages_of_a_pdf_stay_together_and_in_order(shared_run):
    _, kept = shared_run
    keys = [key for key, _, _ in kept]
    pdfs = [sample["meta"]["pdf"] for _, sample, _ in kept]
    runs = [p for i, p in enumerate(pdfs) if i == 0 or pdfs[i - 1] != p]
    assert len(runs) == len(set(runs))  # one contiguous run per PDF
    for pdf in set(pdfs):
        mine = [k for k in keys if k.rsplit("-p", 1)[0] == pdf]
        assert mine == sorted(mine)
    geotopo = [s["meta"]["page"] for _, s, _ in kept if s["meta"]["pdf"] == "GeoTopo-komprimiert"]
    assert len(geotopo) >= 100 and geotopo == sorted(geotopo)


@pytest.mark.corpus("pdf")
def test_shards_validate_and_images_fit_the_render_settings(shared_run):
    dataset_dir, kept = shared_run
    report = validate_dataset(str(dataset_dir))
    assert report.ok, report.problems[:5]
    assert report.samples == len(kept) > 100
    from PIL import Image

    for _, sample, image in kept:
        with Image.open(io.BytesIO(image)) as img:
            assert img.format == "JPEG" and max(img.size) <= 1540
            assert img.size == (sample["meta"]["width"], sample["meta"]["height"])
        assert sample["kind"] == "ocr" and sample["source"].endswith(f"#page={sample['meta']['page']}")
        for word in sample["meta"]["words"][:50]:
            assert all(0 <= v <= 1000 for v in word[1:]) and word[1] <= word[3] and word[2] <= word[4]


@pytest.mark.corpus("pdf")
def test_multicolumn_pages_read_column_by_column(shared_run):
    _, kept = shared_run
    text = {s["meta"]["page"]: s["texts"][1] for _, s, _ in kept if s["meta"]["pdf"] == "multicolumn"}
    first, second = text[1], text[2]
    # page 1: title, abstract, the left column to its end, then the right column
    assert first.index("Two-Column Document") < first.index("Abstract") < first.index("Lorem ipsum dolor")
    assert first.index("Nulla malesuada porttitor diam") < first.index("pellentesque ante. Phasellus")
    # page 2: the right column has a gap the left one does not; still left column first
    assert second.index("Morbi luctus, wisi viverra") < second.index("luctus et ultrices posuere")
    assert "filled" in first  # the fi ligature is expanded


@pytest.mark.corpus("pdf")
def test_arabic_and_rotated_pages(shared_run):
    _, kept = shared_run
    arabic = {
        (s["meta"]["pdf"], s["meta"]["page"]): s for _, s, _ in kept if s["meta"]["pdf"].startswith("habibi")
    }
    assert sorted(arabic) == [("habibi", 1), ("habibi-oneline-cmap", 1)] + [
        ("habibi-rotated", n) for n in range(1, 5)
    ]
    for sample in arabic.values():
        assert "حَبيبي" in sample["texts"][1] and "habibi" in sample["texts"][1]
        assert "\ufffd" not in sample["texts"][1]
    rotations = [arabic[("habibi-rotated", n)]["meta"] for n in range(1, 5)]
    assert [m["rotation"] for m in rotations] == [90, 180, 270, 0]
    assert rotations[0]["width"] > rotations[0]["height"] and rotations[1]["width"] < rotations[1]["height"]


def test_rtl_reading_order():
    left, right = (10, 10, 100, 50), (120, 10, 210, 50)
    assert reading_order([left, right]) == [0, 1]
    assert reading_order([left, right], rtl=True) == [1, 0]
    title, column_a, column_b = (10, 0, 210, 5), (10, 10, 100, 90), (120, 10, 210, 90)
    assert reading_order([column_b, title, column_a]) == [1, 2, 0]
    assert reading_order([]) == [] and reading_order([left]) == [0]


def test_every_right_to_left_letter_is_in_the_blocks_has_rtl_scans():
    import sys
    import unicodedata

    letters = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.bidirectional(chr(c)) in ("R", "AL")]
    assert len(letters) > 2000
    assert [hex(ord(c)) for c in letters if not RTL_BLOCKS.match(c)] == []


def test_right_to_left_letters_and_word_boxes():
    assert not has_rtl("plain ascii") and not has_rtl("café – “quoted”")
    assert has_rtl("habibi حَبيبي") and not mostly_rtl("habibi حَبيبي")  # 6 Latin letters, 5 Arabic
    assert mostly_rtl("حَبيبي hi") and mostly_rtl("שלום")
    words = [(10.0, 20.0, 30.0, 25.0, "a", 0, 0, 0), (0.0, 0.0, 100.0, 50.0, "b", 0, 0, 1)]
    boxes = word_boxes(words, pymupdf.Matrix(2, 2), 200, 100)
    assert boxes == [["a", 100, 400, 300, 500], ["b", 0, 0, 1000, 1000]]
    assert all(type(n) is int for box in boxes for n in box[1:])  # JSON-ready, not numpy integers
    # a page rotated by 90 degrees: the box is mapped by the rotation, then scaled
    rotated = word_boxes(words[:1], pymupdf.Matrix(0, 1, -1, 0, 50, 0), 50, 100)
    assert rotated == [["a", 500, 100, 600, 300]]


# CI installs tesseract and sets VLMDATA_CI=1: there this test never skips
@pytest.mark.corpus("pdf")
@pytest.mark.skipif(
    TESSERACT is None and not os.environ.get("VLMDATA_CI"),
    reason="tesseract is not installed (apt-get install tesseract-ocr)",
)
def test_scanned_page_is_ocred(shared_run):
    _, kept = shared_run
    (scanned,) = [s for _, s, _ in kept if s["meta"]["pdf"] == "scanned"]
    assert scanned["meta"]["text_source"] == "ocr" and scanned["meta"]["ocr_confidence"] > 50
    truth = {w.strip(".,;:()") for w in text_words(PDFS / "minimal-document.pdf")} - {""}
    found = {w.strip(".,;:()") for w in scanned["texts"][1].split()}
    assert len(truth & found) / len(truth) >= 0.8, sorted(truth - found)
    assert len(scanned["meta"]["words"]) >= 0.8 * len(truth)


@pytest.mark.corpus("pdf")
@pytest.mark.parametrize(
    "setting, reason",
    [("ocr.enabled=false", "ocr_disabled"), ("ocr.tesseract=/no/such/tesseract", "ocr_unavailable")],
)
def test_scanned_page_without_ocr_is_counted(tmp_path, extras, setting, reason):
    dataset_dir = run_job(
        tmp_path, f"pdfs=[{extras / 'scanned.pdf'},{PDFS / 'minimal-document.pdf'}]", setting
    )
    assert stats(dataset_dir, "Tesseract OCR")[f"dropped_{reason}"] == 1
    assert [s["meta"]["pdf"] for _, s, _ in samples(dataset_dir)] == ["minimal-document"]


@pytest.mark.corpus("pdf")
def test_same_inputs_give_identical_shards(tmp_path, extras):
    inputs = f"pdfs=[{PDFS / 'multicolumn.pdf'},{PDFS / 'habibi-rotated.pdf'},{extras / 'scanned.pdf'}]"
    first = run_job(tmp_path / "a", inputs, "executor.tasks=2")
    second = run_job(tmp_path / "b", inputs, "executor.tasks=2")
    assert shard_hashes(first) == shard_hashes(second) and shard_hashes(first)


@pytest.mark.corpus("pdf")
def test_page_limits_token_budget_and_time_limit(tmp_path):
    inputs = (
        f"pdfs=[{PDFS / 'pdflatex-4-pages.pdf'},{PDFS / 'minimal-document.pdf'},{PDFS / 'multicolumn.pdf'}]"
    )
    dataset_dir = run_job(tmp_path / "a", inputs, "page_filters.max_pages=3", "page_filters.max_tokens=300")
    assert stats(dataset_dir, "PDF filter")["dropped_too_many_pages"] == 1  # the 4 pages of pdflatex-4-pages
    text = stats(dataset_dir, "Page text filter")
    kept = samples(dataset_dir)
    assert text["dropped_too_many_tokens"] + len(kept) + text.get("dropped_too_little_text", 0) == 4
    assert all(s["meta"]["tokens"] <= 300 for _, s, _ in kept)
    timed = run_job(tmp_path / "b", f"pdfs=[{PDFS / 'multicolumn.pdf'}]", "render.page_timeout_s=0.0001")
    assert stats(timed, "PDF pages")["dropped_page_timeout"] == 3


def test_token_counts(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    assert estimate_tokens("one two three four") == 6  # 1.5 per word
    assert estimate_tokens("x" * 40) == 10  # one per 4 characters
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    assert count_tokens("a b, c", str(tmp_path / "tokenizer.json")) == 4


def warc_with_pdfs(path, records):
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, body, truncated in records:
            http = StatusAndHeaders("200 OK", [("Content-Type", "application/pdf")], protocol="HTTP/1.1")
            headers = {"WARC-Date": "2024-01-01T00:00:00Z"} | (
                {"WARC-Truncated": "length"} if truncated else {}
            )
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=headers
            )
            writer.write_record(record)


@pytest.mark.corpus("pdf")
def test_pdfs_inside_a_warc(tmp_path):
    full = (PDFS / "multicolumn.pdf").read_bytes()
    cut = (PDFS / "pdflatex-4-pages.pdf").read_bytes()
    warc_with_pdfs(
        tmp_path / "crawl.warc.gz",
        [("https://a.example/m.pdf", full, False), ("https://b.example/big.pdf", cut[:10000], True)],
    )
    dataset_dir = run_job(tmp_path / "out", f"warcs=[{tmp_path / 'crawl.warc.gz'}]")
    kept = samples(dataset_dir)
    assert [s["meta"]["page"] for _, s, _ in kept] == [1, 2, 3]
    assert all(s["source"].startswith("https://a.example/m.pdf#page=") for _, s, _ in kept)
    assert stats(dataset_dir, "PDF filter")["dropped_truncated"] == 1
    assert stats(dataset_dir, "PDF reader")["warc_pdf_records"] == 2
    assert validate_dataset(str(dataset_dir)).ok


def test_missing_input_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="matches no file"):
        run_job(tmp_path, f"pdfs=[{tmp_path / 'nothing-here'}]")
    with pytest.raises(ConfigError, match="give at least one input"):
        run_job(tmp_path)


@pytest.mark.corpus("pdf")
def test_batched_pages_equal_page_by_page(monkeypatch):
    """Rendering PAGE_BATCH pages (across PDFs) before transcribing them changes nothing: the
    pages of every PDF of shared/data (164 pages and failures) come out in the same order with
    the same text, meta, reasons and image bytes as one page at a time. The first run takes over
    the documents the reader opened, the later ones open the PDFs themselves: same pages too."""
    from pipelines.steps.pdf import pdf_pages
    from pipelines.steps.pdf.pdf_reader import OPEN_PDF, pdf_document
    from schemas.config_pdf import PdfRenderConfig

    docs = [pdf_document(path.read_bytes(), path.stem, str(path)) for path in sorted(PDFS.glob("*.pdf"))]

    def pages(batch: int) -> list:
        monkeypatch.setattr(pdf_pages, "PAGE_BATCH", batch)
        step = pdf_pages.PdfPages(PdfRenderConfig(dpi=36, max_side=256, min_side=8))
        return [
            (page.id, reason, page.text, page.metadata, page.media[0].media_bytes if page.media else None)
            for page, reason in step.pages(docs)
        ]

    usable = [doc for doc in docs if "pdf_problem" not in doc.metadata]
    assert len(usable) == len(docs) - 2  # the encrypted and the damaged file
    assert all(isinstance(doc.media[0].metadata.get(OPEN_PDF), pymupdf.Document) for doc in usable)
    one_by_one = pages(1)
    assert not any(OPEN_PDF in doc.media[0].metadata for doc in docs)
    assert len([p for p in one_by_one if p[1] is None]) > 3 * pdf_pages.PAGE_BATCH
    assert pages(pdf_pages.PAGE_BATCH) == one_by_one
    assert pages(7) == one_by_one  # batches that end inside a PDF
