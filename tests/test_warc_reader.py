"""WARC/ARC readers: warcio's real test files (well-formed and broken), a WARC built here with
pages in many charsets, and the pointer reader against the file reader."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import shutil
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.data import MediaType
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines.steps.html_decode import decode_html
from pipelines.steps.warc_reader import WarcPointerReader, WarcReader
from tests.helpers import SHARED_DATA

WARCS = SHARED_DATA / "warc"
EXAMPLE = "http://example.com/"
SPACE_URL = "http://example.com/index.cfm?FuseAction=Email&EmailTitle=Examples%20From%20The%20Live%20Web&IsPopUp=False"
METADATA_KEYS = {
    "url",
    "warc_date",
    "warc_file",
    "warc_offset",
    "warc_length",
    "content_type",
    "charset",
    "source",
}

# file -> (urls of the documents, counters besides input_files and documents)
SHARED = {
    "bad.arc": ([], {"skipped_non_response": 1, "record_no_http_headers": 3}),
    "example-bad-non-chunked.warc.gz": ([], {"warc_unchunked_gzip": 1}),
    "example-bad.warc.gz.bad": ([], {"warc_unchunked_gzip": 1}),
    "example-digest.warc": ([], {"skipped_non_response": 4}),
    "example-iana.org-chunked.warc": (["http://www.iana.org/"], {"skipped_non_response": 2}),
    "example-resource.warc.gz": ([], {"skipped_non_response": 3}),
    "example-space-in-target-uri.warc.gz": ([], {"skipped_non_response": 2}),
    "example-space-in-url.arc": ([SPACE_URL], {"skipped_non_response": 1, "record_truncated": 1}),
    "example-trunc.warc": ([EXAMPLE], {"skipped_non_response": 3, "record_bad_length": 1}),
    "example-wget-bad-target-uri.warc.gz": ([EXAMPLE], {"skipped_non_response": 5}),
    "example-wrong-chunks.warc.gz": (
        [],
        {"record_truncated": 1, "skipped_empty": 1, "warc_unreadable": 1},
    ),
    "example.arc": ([EXAMPLE], {"skipped_non_response": 1}),
    "example.arc.gz": ([EXAMPLE], {"skipped_non_response": 1}),
    "example.warc": ([EXAMPLE], {"skipped_non_response": 5}),
    "example.warc.gz": ([EXAMPLE], {"skipped_non_response": 5}),
    "post-test.warc.gz": ([], {"skipped_non_response": 3, "skipped_content_type": 3}),
}

RUSSIAN = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 3 + "Проверка кодировки."
JAPANESE = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所で泣いていた事だけは記憶している。"
DATE = "2024-01-02T03:04:05Z"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def counters(step) -> dict[str, int]:
    """The step's counters (datatrove ``Stats``), without the document-length statistics."""
    return {name: stat.total for name, stat in step.stats.stats.items() if name != "doc_len"}


def html(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head>{head}<title>t</title></head><body><p>{body}</p></body></html>"


# (path, HTTP status, HTTP headers, body bytes, text the decoded page must hold, charset)
PAGES = [
    (
        "utf8",
        "200 OK",
        {"Content-Type": "text/html; charset=utf-8"},
        html("Grüße aus Köln ✓").encode(),
        "Grüße aus Köln ✓",
        "utf-8",
    ),
    (
        "latin1-meta",
        "200 OK",
        {"Content-Type": "text/html"},
        html(
            "Größe 5 € Ærø", '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        ).encode("cp1252"),
        "Größe 5 € Ærø",  # iso-8859-1 is read as windows-1252, like browsers: 0x80 is the euro sign
        "cp1252",
    ),
    (
        "cp1252-header",
        "200 OK",
        {"Content-Type": "text/html; charset=windows-1252"},
        html("“œuvre” – naïve", '<meta charset="utf-8">').encode("cp1252"),  # the header wins
        "“œuvre” – naïve",
        "cp1252",
    ),
    (
        "koi8r-undeclared",
        "200 OK",
        {"Content-Type": "text/html"},
        html(RUSSIAN).encode("koi8-r"),
        RUSSIAN,
        None,
    ),
    # undeclared Shift_JIS is not detected reliably (charset-normalizer 3.5 prefers cp949): declare it
    (
        "sjis-meta",
        "200 OK",
        {"Content-Type": "text/html"},
        html(JAPANESE, '<meta charset="Shift_JIS">').encode("shift_jis"),
        JAPANESE,
        "shift_jis",
    ),
    (
        "bogus-charset",
        "200 OK",
        {"Content-Type": "text/html; charset=x-no-such-charset"},
        html("Ünïcödé ☃", '<meta charset="bogus-9">').encode(),
        "Ünïcödé ☃",
        "utf-8",
    ),
    (
        "gzip-encoded",
        "200 OK",
        {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"},
        gzip.compress(html("Übergrößenträger").encode(), mtime=0),
        "Übergrößenträger",
        "utf-8",
    ),
    (
        "bad-chunks",
        "200 OK",
        {"Content-Type": "text/html; charset=utf-8", "Transfer-Encoding": "chunked"},
        b"zz\r\n" + html("chunks gone wrong, page kept").encode(),
        "chunks gone wrong, page kept",
        "utf-8",
    ),
    ("missing", "404 Not Found", {"Content-Type": "text/html"}, html("not here").encode(), None, None),
    ("doc.pdf", "200 OK", {"Content-Type": "application/pdf"}, PDF, None, None),
]
HTML_PAGES = [page for page in PAGES if page[4] is not None]


def build_warc(path: Path, compress: bool) -> Path:
    """A WARC of ``PAGES`` (plus a warcinfo and a request record), gzip per record or plain."""

    def fixed(number: int) -> dict[str, str]:  # byte-identical files on every run
        return {"WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{number:012d}>", "WARC-Date": DATE}

    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=compress)
        info = io.BytesIO(b"software: vlmdata tests\r\n")
        writer.write_record(
            writer.create_warc_record("", "warcinfo", payload=info, warc_headers_dict=fixed(0))
        )
        for number, (name, status, headers, body, _, _) in enumerate(PAGES, 1):
            url = f"http://test.example/{name}"
            http = StatusAndHeaders(status, list(headers.items()), protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=fixed(number)
            )
            writer.write_record(record)
        request = StatusAndHeaders("GET /utf8 HTTP/1.1", [("Host", "test.example")], is_http_request=True)
        url = "http://test.example/utf8"
        writer.write_record(
            writer.create_warc_record(url, "request", http_headers=request, warc_headers_dict=fixed(99))
        )
    return path


@pytest.fixture
def built(tmp_path) -> Path:
    """A folder holding the built WARC twice: plain and gzip per record."""
    folder = tmp_path / "warcs"
    folder.mkdir()
    build_warc(folder / "built.warc", compress=False)
    build_warc(folder / "built.warc.gz", compress=True)
    return folder


def read_one(folder: Path, name: str, tmp_path: Path, **kwargs) -> tuple[list, dict]:
    paths_file = tmp_path / "paths.txt"
    paths_file.write_text(name + "\n")
    reader = WarcReader(str(folder), paths_file=str(paths_file), **kwargs)
    docs = list(reader.run(rank=0, world_size=1))
    return docs, counters(reader)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_warc_files(name, tmp_path):
    """Each of warcio's test files gives its valid pages and counts the rest, never raising."""
    urls, expected = SHARED[name]
    docs, stats = read_one(WARCS, name, tmp_path)
    assert [d.metadata["url"] for d in docs] == urls
    assert stats == expected | {"input_files": 1, "documents": len(urls)}
    for doc in docs:
        assert set(doc.metadata) == METADATA_KEYS
        assert doc.metadata["source"] == doc.metadata["url"]
        assert doc.metadata["warc_file"] == name
        assert doc.id == f"{name}-{doc.metadata['warc_offset']}"
        assert doc.metadata["content_type"] == "text/html" and doc.metadata["charset"] == "utf-8"
        assert "Example Domain" in doc.text or "Internet Assigned Numbers Authority" in doc.text


@pytest.mark.timeout(60)
def test_record_metadata(tmp_path):
    (doc,), _ = read_one(WARCS, "example.warc.gz", tmp_path)
    assert doc.id == "example.warc.gz-784"
    assert doc.metadata == {
        "url": EXAMPLE,
        "warc_date": "2017-03-06T04:02:06Z",
        "warc_file": "example.warc.gz",
        "warc_offset": 784,
        "warc_length": 1228,
        "content_type": "text/html",
        "charset": "utf-8",
        "source": EXAMPLE,
    }
    assert doc.text.startswith("<!doctype html>") and doc.media == []


@pytest.mark.timeout(60)
def test_folder_split_among_tasks():
    """The default patterns take .warc, .warc.gz, .arc and .arc.gz (not .bad); two tasks split the files."""
    readers = [WarcReader(str(WARCS)) for _ in range(2)]
    docs = [doc for rank, reader in enumerate(readers) for doc in reader.run(rank=rank, world_size=2)]
    expected = sorted(url for name, (urls, _) in SHARED.items() if not name.endswith(".bad") for url in urls)
    assert sorted(d.metadata["url"] for d in docs) == expected
    assert len({d.id for d in docs}) == len(docs)
    assert [counters(r)["input_files"] for r in readers] == [8, 7]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "name, cut, documents, expected",
    [
        # cut inside the response's HTTP headers (gzip member / plain): the record is lost
        ("example.warc.gz", 874, 0, {"skipped_non_response": 2, "warc_truncated": 1}),
        ("example.warc", 1359, 0, {"skipped_non_response": 2, "warc_truncated": 1}),
        # cut inside the response's body: what is there is kept, and counted
        ("example.warc.gz", 1484, 1, {"skipped_non_response": 2, "record_truncated": 1}),
        ("example.warc", 2135, 1, {"skipped_non_response": 2, "record_truncated": 1}),
        # cut inside the last record's headers, after the page
        ("example.warc", 4500, 1, {"skipped_non_response": 4, "warc_truncated": 1}),
    ],
)
def test_truncated_files(name, cut, documents, expected, tmp_path):
    """A file cut anywhere: the records before the cut are read, the cut is counted, nothing raises."""
    (tmp_path / f"cut-{name}").write_bytes((WARCS / name).read_bytes()[:cut])
    docs, stats = read_one(tmp_path, f"cut-{name}", tmp_path)
    assert stats == expected | {"input_files": 1, "documents": documents}
    assert all(doc.metadata["url"] == EXAMPLE and doc.text.startswith("<!doctype html>") for doc in docs)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["built.warc", "built.warc.gz"])
def test_charsets(built, name, tmp_path):
    docs, stats = read_one(built, name, tmp_path)
    by_path = {d.metadata["url"].rsplit("/", 1)[1]: d for d in docs}
    assert sorted(by_path) == sorted(page[0] for page in HTML_PAGES)
    for path, _, _, _, text, charset in HTML_PAGES:
        doc = by_path[path]
        assert text in doc.text, (path, doc.metadata["charset"], doc.text)
        if charset:
            assert doc.metadata["charset"] == charset, path
        assert doc.metadata["warc_date"] == DATE
    assert stats == {
        "input_files": 1,
        "documents": len(HTML_PAGES),
        "skipped_non_response": 2,  # warcinfo, request
        "skipped_status_404": 1,
        "skipped_content_type": 1,  # the PDF
        "record_bad_chunking": 1,
    }


@pytest.mark.timeout(60)
def test_non_html_type_becomes_media(built, tmp_path):
    """An accepted non-text type keeps its raw bytes in one Media; the document text is empty."""
    docs, stats = read_one(built, "built.warc.gz", tmp_path, content_types=["application/pdf"])
    assert stats["documents"] == 1 and stats["skipped_content_type"] == len(HTML_PAGES)
    (doc,) = docs
    assert doc.text == "" and doc.metadata["content_type"] == "application/pdf"
    assert doc.metadata["charset"] is None
    (media,) = doc.media
    assert media.media_bytes == PDF and media.type == MediaType.DOCUMENT
    assert media.url == doc.metadata["url"] == "http://test.example/doc.pdf"


def record_spans(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of every record, as an index of the file would give them."""
    spans = []
    with open(path, "rb") as f:
        iterator = ArchiveIterator(f)
        for _ in iterator:
            spans.append((iterator.get_record_offset(), iterator.get_record_length()))
    return spans


def write_table(rows: list[dict], path: Path) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".csv":
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_pointers(table: Path, world_size: int = 2, **kwargs) -> tuple[list, dict]:
    docs, totals = [], {}
    for rank in range(world_size):
        reader = WarcPointerReader(str(table), **kwargs)
        docs += list(reader.run(rank=rank, world_size=world_size))
        for name, value in counters(reader).items():
            totals[name] = totals.get(name, 0) + value
    return docs, totals


@pytest.mark.timeout(60)
@pytest.mark.parametrize("table_name", ["pointers.parquet", "pointers.csv", "pointers.jsonl"])
def test_pointer_reader_matches_file_reader(built, table_name, tmp_path):
    """Two tasks reading every record by pointer give exactly the file reader's documents."""
    rows = [
        {"file": name, "offset": offset, "length": length, "url": "informational"}
        for name in ("built.warc", "built.warc.gz")
        for offset, length in record_spans(built / name)
    ]
    table = write_table(rows, tmp_path / table_name)
    docs, stats = read_pointers(table, data_folder=str(built))

    file_reader = WarcReader(str(built))
    expected = list(file_reader.run(rank=0, world_size=1))
    assert sorted((d.id, d.text, json.dumps(d.metadata)) for d in docs) == sorted(
        (d.id, d.text, json.dumps(d.metadata)) for d in expected
    )
    reasons = {k: v for k, v in counters(file_reader).items() if k != "input_files"}
    assert stats == reasons | {"pointers": len(rows)}


@pytest.mark.timeout(60)
def test_pointer_reader_absolute_paths_and_bad_pointers(built, tmp_path):
    """Pointers without a data folder; a missing file, an offset past the end, a misaligned offset
    and a row without length are counted and skipped."""
    gz = built / "built.warc.gz"
    spans = record_spans(gz)
    rows = [{"file": str(gz), "offset": o, "length": n} for o, n in spans]
    page = spans[1]  # the utf8 page
    size = gz.stat().st_size
    rows += [
        {"file": str(built / "gone.warc.gz"), "offset": 0, "length": 100},
        {"file": str(built / "gone.warc.gz"), "offset": 100, "length": 100},
        {"file": str(gz), "offset": size + 10, "length": 100},
        {"file": str(gz), "offset": page[0] + 1, "length": page[1]},
        {"file": str(gz), "offset": 0, "length": None},
    ]
    docs, stats = read_pointers(write_table(rows, tmp_path / "pointers.jsonl"))
    assert sorted(d.id for d in docs) == sorted(f"built.warc.gz-{o}" for o, _ in spans[1:9])
    assert all(d.metadata["warc_file"] == str(gz) for d in docs)
    assert stats["pointer_missing_file"] == 2
    assert stats["pointer_out_of_range"] == 1
    assert stats["warc_unreadable"] == 1
    assert stats["pointer_bad_row"] == 1
    assert stats["documents"] == len(docs) == len(HTML_PAGES)


@pytest.mark.timeout(60)
def test_pointer_reader_limit(built, tmp_path):
    rows = [{"file": "built.warc", "offset": o, "length": n} for o, n in record_spans(built / "built.warc")]
    table = write_table(rows, tmp_path / "pointers.csv")
    docs, stats = read_pointers(table, world_size=1, data_folder=str(built), limit=2)
    assert len(docs) == 2 and stats["documents"] == 2


@pytest.mark.timeout(60)
def test_unknown_table_format(tmp_path):
    reader = WarcPointerReader(str(tmp_path / "pointers.xlsx"))
    with pytest.raises(ValueError, match="xlsx"):
        list(reader.run())


@pytest.mark.timeout(60)
def test_decode_html_order():
    body = "café".encode()
    assert decode_html(codecs.BOM_UTF8 + body, "text/html; charset=iso-8859-1") == ("café", "utf-8")
    assert decode_html(body, "text/html; charset=utf-8") == ("café", "utf-8")
    assert decode_html("café".encode("cp1252"), 'text/html; charset="ISO-8859-1"') == ("café", "cp1252")
    meta = b'<meta charset="koi8-r"><p>' + "Привет".encode("koi8-r")
    assert decode_html(meta, "text/html") == ('<meta charset="koi8-r"><p>Привет', "koi8-r")
    # a declared charset that cannot decode the bytes falls through to the next method
    french = "Voilà une phrase française très ordinaire, écrite à la main près de la fenêtre. " * 2
    text, charset = decode_html(french.encode("cp1252"), "text/html; charset=utf-8")
    assert text == french and charset in ("cp1252", "iso8859-1", "iso8859-15")
    assert decode_html(body, "text/html; charset=ascii") == ("cafÃ©", "cp1252")  # WHATWG: ascii means cp1252
    # ... but a stray byte in a long page declared UTF-8 is replaced, as browsers do
    stray = ("Grüße " * 300).encode() + b"\xff"
    assert decode_html(stray, "text/html; charset=utf-8") == ("Grüße " * 300 + "\ufffd", "utf-8")
    assert decode_html(body, "text/html; charset=base64")[1] == "utf-8"  # a codec, not a charset
    assert decode_html(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfd", None)[0].count("\ufffd") >= 3


@pytest.mark.timeout(60)
def test_undecodable_body_is_skipped(tmp_path):
    """Binary bytes served as text/html are counted, not passed on as garbage text."""
    path = tmp_path / "binary.warc"
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=False)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        noise = bytes(range(128, 256)) * 8 + b"\x00\xff" * 64
        writer.write_record(
            writer.create_warc_record(
                "http://test.example/", "response", payload=io.BytesIO(noise), http_headers=http
            )
        )
    docs, stats = read_one(tmp_path, "binary.warc", tmp_path)
    assert docs == [] and stats["skipped_undecodable"] == 1


@pytest.mark.timeout(60)
def test_copied_folder_with_broken_files_never_raises(tmp_path):
    """Every shared file in one folder, read with a pattern that also takes the .bad file."""
    folder = tmp_path / "copy"
    shutil.copytree(WARCS, folder)
    reader = WarcReader(str(folder), glob_pattern="*.*arc*")
    docs = list(reader.run(rank=0, world_size=1))
    assert len(docs) == sum(len(urls) for urls, _ in SHARED.values())
    stats = counters(reader)
    for reason in ("warc_unchunked_gzip", "warc_unreadable", "record_no_http_headers", "record_truncated"):
        assert stats[reason] == sum(expected.get(reason, 0) for _, expected in SHARED.values())


@pytest.mark.timeout(60)
def test_fsspec_urls(built, tmp_path):
    """Both readers take fsspec URLs (here the in-memory filesystem) as well as local paths."""
    memory = fsspec.filesystem("memory")
    memory.pipe("/vlmdata-test-warcs/built.warc.gz", (built / "built.warc.gz").read_bytes())
    try:
        docs = list(WarcReader("memory://vlmdata-test-warcs").run())
        assert sorted(d.metadata["url"].rsplit("/", 1)[1] for d in docs) == sorted(p[0] for p in HTML_PAGES)
        url = "memory://vlmdata-test-warcs/built.warc.gz"
        rows = [
            {"file": url, "offset": d.metadata["warc_offset"], "length": d.metadata["warc_length"]}
            for d in docs
        ]
        by_pointer, _ = read_pointers(write_table(rows, tmp_path / "pointers.parquet"), world_size=1)
        assert [(d.id, d.text) for d in by_pointer] == [(d.id, d.text) for d in docs]
    finally:
        memory.rm("/vlmdata-test-warcs", recursive=True)
