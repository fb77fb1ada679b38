"""Property-based fuzzing of the four places where bad input enters: HTML extraction, WARC
reading, image decoding and PDF rendering. Every input either yields a result or a counted
reason, and nothing raises. Inputs are generated, or real files from ../shared/data mutated
(bytes flipped, inserted, deleted, truncated, blocks duplicated).

Each test is bounded (``max_examples``, no deadline) to run in about 10-20 s; what the fuzzers
found is kept as ``@example`` regression cases."""

from __future__ import annotations

import io
import os
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from pipelines.fetch.images import decode_image
from pipelines.steps.pdf.pdf_pages import PdfPages
from pipelines.steps.pdf.pdf_reader import PDF_PROBLEMS, pdf_document
from pipelines.steps.web.html_extract import HtmlExtractor
from pipelines.steps.web.html_simplify import extract_nodes
from pipelines.steps.web.warc_reader import HTML_TYPES, WarcReader, read_records
from schemas.config_pdf import PdfRenderConfig
from synth.demo.warc_pack import demo_web_pages, pack_pages, shared_web_pages
from tests import corpora

# hypothesis keeps caches (unicode tables) on disk: in the temp folder, not in the checkout
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "vlmdata-hypothesis"))
# about 10 s a test on one core; raise it to hunt longer: VLMDATA_FUZZ_EXAMPLES=5000 pytest ...
EXAMPLES = int(os.environ.get("VLMDATA_FUZZ_EXAMPLES", "600"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
IMAGE_REASONS = {"not_an_image", "decode_error", "bomb"}

# ---- mutations ----

# (operation, where as a fraction of the length, payload): applied in order, deterministically
MUTATION = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "zero"]),
    st.floats(0, 1, allow_nan=False),
    st.binary(min_size=1, max_size=64),
)


def mutate(data: bytes, mutations: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for op, where, payload in mutations:
        at = int(where * len(out))
        if op == "flip" and out:
            for i, b in enumerate(payload):
                out[(at + i) % len(out)] ^= b or 0xFF
        elif op == "insert":
            out[at:at] = payload
        elif op == "delete":
            del out[at : at + len(payload) * 16]
        elif op == "truncate":
            del out[at:]
        elif op == "duplicate":
            out[at:at] = out[at : at + len(payload) * 32]
        elif op == "zero":
            out[at : at + len(payload) * 8] = bytes(len(out[at : at + len(payload) * 8]))
    return bytes(out)


MUTATIONS = st.lists(MUTATION, min_size=1, max_size=6)


def counted(step) -> dict[str, int]:
    """A step's counters, without its timing and document statistics."""
    return {
        key: stat.total
        for key, stat in step.stats.stats.items()
        if key not in ("total", "doc_len", "doc_len_tokens") and stat.total
    }


# ---- HTML extraction ----


@cache
def real_pages() -> list[tuple[str, str, bytes]]:
    return shared_web_pages(corpora.require("web"))


TAGS = ["div", "p", "span", "a", "img", "figure", "figcaption", "table", "td", "tr", "ul", "li",
        "article", "main", "nav", "header", "footer", "script", "style", "pre", "br", "h1",
        "h2", "b", "i", "iframe", "svg", "noscript", "picture", "source", "base", "title", "x-y"]  # fmt: skip
ATTRS = ["class", "id", "role", "style", "hidden", "src", "srcset", "alt", "width", "height",
         "href", "itemprop", "aria-hidden", "data-src", "loading"]  # fmt: skip
ATTR_VALUES = st.one_of(
    st.sampled_from(
        [
            "nav",
            "footer",
            "main",
            "display:none",
            "articleBody",
            "0",
            "-1",
            "1e9",
            "",
            "a.jpg",
            "//x",
            "http://[::1",
            "data:image/png;base64,AAAA",
            "x.png 2x, y.png 100w",
            "javascript:alert(1)",
            "http://exa mple.com/ä.jpg",
            "\x00",
        ]
    ),  # fmt: skip
    st.text(max_size=20),
)


@st.composite
def open_tag(draw) -> str:
    tag = draw(st.sampled_from(TAGS))
    attrs = draw(st.dictionaries(st.sampled_from(ATTRS), ATTR_VALUES, max_size=3))
    return f"<{tag}" + "".join(f' {k}="{v}"' for k, v in attrs.items()) + ">"


# markup that is not an element: lexbor gives some of it no tag at all (a processing instruction
# inside <svg> has tag None, which once raised in the walker)
ODD_MARKUP = st.sampled_from(
    [
        "<!-- a comment -->",
        "<!-- unclosed comment",
        "<!DOCTYPE html>",
        "<!doctype html public '-//W3C//DTD HTML 4.01//EN'>",
        "<?xml version='1.0' encoding='utf-8'?>",
        "<?php echo 1; ?>",
        "<svg><?pi target?></svg>",
        "<math><?x?><mi>x</mi></math>",
        "<![CDATA[ x < y ]]>",
        "<svg><![CDATA[ text ]]></svg>",
        "\x00",
        "<p\x00>",
        "<im\x00g src=a.jpg>",
        "&#0;&#xD800;&#x110000;&amp",
        "</>",
        "<>",
        "<a <b>",
        '<p attr="unclosed>',
        "<table><tr><td><table><td>",
        "<select><option><p>",
        "<template><p>inside</p></template>",
        "<frameset><frame src=a.html>",
    ]
)
# deep nesting, within and past the walker's depth limit
NESTED = st.tuples(st.sampled_from(["div", "span", "b", "li", "td", "svg"]), st.integers(1, 3000)).map(
    lambda t: f"<{t[0]}>" * t[1] + "deep text" + f"</{t[0]}>" * (t[1] // 2)
)
# a flat stream of tokens: opening and closing tags need not match, as on the real web
TOKENS = st.one_of(
    open_tag(), st.sampled_from(TAGS).map(lambda t: f"</{t}>"), st.text(max_size=30), ODD_MARKUP, NESTED
)
HTML = st.lists(TOKENS, min_size=1, max_size=40).map("".join)
# the same markup as bytes in an encoding the page may not declare, decoded as the reader does
ENCODINGS = ["utf-8", "utf-16", "utf-16-be", "latin-1", "cp1252", "shift_jis", "koi8-r", "gb18030"]


def check_extraction(html: str, url: str) -> None:
    extraction = extract_nodes(html, url)  # never raises
    images = [n["media"] for n in extraction.nodes if n["type"] == "image"]
    assert images == list(range(len(extraction.images)))
    assert all(n["text"] and isinstance(n["text"], str) for n in extraction.nodes if n["type"] == "text")
    step = HtmlExtractor()
    out = list(step.run([_doc(html, url)]))
    reasons = counted(step)
    assert reasons["documents"] == 1
    assert len(out) == 1 or sum(v for k, v in reasons.items() if k.startswith("dropped_")) == 1


def _doc(text: str, url: str):
    from datatrove.data import Document

    return Document(text=text, id="fuzz", metadata={"url": url})


@FUZZ
@given(html=HTML, url=st.sampled_from(
    ["https://example.com/a/b.html", "", "not a url", "http://[::1/x", "https://ex.com:99999/"]))  # fmt: skip
@example(html="<div>" * 5000 + "deep" + "</div>" * 5000, url="https://example.com/")
@example(html="<img src='http://[::1'><p>text</p>", url="https://example.com/")
@example(html="<base href='http://[::1'><img src='a.jpg'><p>text</p>", url="")
@example(html="<img src='a.jpg'><p>text</p>", url="http://[::1/x")  # found: urljoin raised
@example(html="<p>\x00\ud800 text</p>", url="https://example.com/")
@example(html="<svg><?pi x?></svg><p>text</p>", url="https://example.com/")  # found: tag None
def test_generated_html_is_extracted_or_dropped(html, url):
    check_extraction(html, url)


@FUZZ
@given(html=HTML, encoding=st.sampled_from(ENCODINGS), declared=st.sampled_from(ENCODINGS + ["", "x-bogus"]))
def test_generated_html_in_odd_encodings_is_extracted_or_dropped(html, encoding, declared):
    """Bytes in one encoding under a ``<meta charset>`` that may name another (or none, or nonsense),
    decoded by the reader's charset detection, then extracted."""
    from pipelines.steps.web.html_decode import decode_html

    meta = f'<meta charset="{declared}">' if declared else ""
    body = (meta + html).encode(encoding, errors="replace")
    check_extraction(decode_html(body, None)[0], "https://example.com/")


@pytest.mark.corpus("web")
@FUZZ
@given(page=st.integers(0, 109), mutations=MUTATIONS)
def test_mutated_real_pages_are_extracted_or_dropped(page, mutations):
    _, url, body = real_pages()[page % len(real_pages())]
    check_extraction(mutate(body, mutations).decode("utf-8", errors="replace"), url)


# ---- WARC reading ----


@pytest.fixture(scope="module")
def warcs(tmp_path_factory) -> dict[bool, bytes]:
    """A small WARC of 6 demo pages, gzip per record and plain."""
    tmp = tmp_path_factory.mktemp("warc")
    pages = [(url, body) for _, url, body in demo_web_pages()[:6]]
    out = {}
    for gzip in (True, False):
        pack_pages(pages, tmp / f"x{gzip}.warc", gzip=gzip)
        out[gzip] = (tmp / f"x{gzip}.warc").read_bytes()
    return out


def check_warc(data: bytes) -> None:
    step = WarcReader(".")
    documents = list(read_records(step, io.BytesIO(data), "fuzz.warc", frozenset(HTML_TYPES)))
    reasons = counted(step)
    assert all(isinstance(d.text, str) and d.metadata["url"].startswith("http") for d in documents)
    assert documents or reasons or not data.strip(), "nothing read and no reason counted"


@FUZZ
@given(gzip=st.booleans(), mutations=MUTATIONS)
def test_mutated_warcs_yield_documents_or_reasons(warcs, gzip, mutations):
    check_warc(mutate(warcs[gzip], mutations))


@settings(FUZZ, max_examples=EXAMPLES // 2)
@given(data=st.binary(max_size=512))
@example(data=b"WARC/1.0\r\n\r\n")
@example(data=b"\x1f\x8b\x08\x00\x00\x00\x00\x00")
def test_random_bytes_as_warc_never_raise(data):
    check_warc(data)


# ---- image decoding ----


@cache
def real_images() -> list[Path]:
    return sorted(p for p in corpora.require("pillow").iterdir() if p.stat().st_size < 64_000)


def check_image(body: bytes) -> None:
    result = decode_image(body, max_side=128, pixel_limit=4_000_000)
    if isinstance(result, str):
        assert result in IMAGE_REASONS
        return
    data, facts = result
    assert data[:2] == b"\xff\xd8" and 1 <= facts["width"] <= 128 and 1 <= facts["height"] <= 128


@pytest.mark.corpus("pillow")
@FUZZ
@given(index=st.integers(0, 10_000), mutations=MUTATIONS)
def test_mutated_images_decode_or_give_a_reason(index, mutations):
    images = real_images()
    check_image(mutate(images[index % len(images)].read_bytes(), mutations))


@pytest.mark.corpus("pillow")
def test_every_real_image_decodes_or_gives_a_reason():
    for path in real_images():
        check_image(path.read_bytes())


# ---- PDF rendering ----


@cache
def real_pdfs() -> list[Path]:
    return sorted(p for p in corpora.require("pdf").glob("*.pdf") if p.stat().st_size < 100_000)


def check_pdf(data: bytes) -> None:
    doc = pdf_document(data, "fuzz", "fuzz.pdf")
    problem = doc.metadata.get("pdf_problem")
    if problem:
        assert problem in PDF_PROBLEMS
        return
    step = PdfPages(PdfRenderConfig(dpi=36, max_side=256, min_side=8, page_timeout_s=10, word_boxes=True))
    pages = list(step.run([doc]))
    reasons = counted(step)
    dropped = sum(v for k, v in reasons.items() if k.startswith("dropped_"))
    assert reasons.get("pdfs") == 1
    assert len(pages) == reasons.get("pages", 0)
    assert len(pages) + dropped >= 1, "a PDF with pages gave no page and no reason"
    for page in pages:
        assert page.media[0].media_bytes and isinstance(page.text, str)


@pytest.mark.corpus("pdf")
@FUZZ
@given(index=st.integers(0, 1000), mutations=MUTATIONS)
def test_mutated_pdfs_render_or_give_a_reason(index, mutations):
    pdfs = real_pdfs()
    check_pdf(mutate(pdfs[index % len(pdfs)].read_bytes(), mutations))
