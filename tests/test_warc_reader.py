"""WARC/ARC readers: warcio's real test files (well-formed and broken), a WARC built here with
pages in many charsets, and the pointer reader against the file reader."""

from __future__ import annotations

import codecs
import io
import shutil
from pathlib import Path

import fsspec
import pytest
from datatrove.data import MediaType
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines.steps.web.html_decode import decode_html
from pipelines.steps.web.warc_reader import WarcReader
from tests.warc_fixtures import (
    DATE,
    EXAMPLE,
    HTML_PAGES,
    METADATA_KEYS,
    PDF,
    SHARED,
    WARCS,
    counters,
    read_pointers,
    write_table,
)


def read_one(folder: Path, name: str, tmp_path: Path, **kwargs) -> tuple[list, dict]:
    paths_file = tmp_path / "paths.txt"
    paths_file.write_text(name + "\n")
    reader = WarcReader(str(folder), paths_file=str(paths_file), **kwargs)
    docs = list(reader.run(rank=0, world_size=1))
    return docs, counters(reader)


@pytest.mark.corpus("warc")
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


@pytest.mark.corpus("warc")
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


@pytest.mark.corpus("warc")
@pytest.mark.timeout(60)
def test_folder_split_among_tasks():
    """The default patterns take .warc, .warc.gz, .arc and .arc.gz (not .bad); two tasks split the files."""
    readers = [WarcReader(str(WARCS)) for _ in range(2)]
    docs = [doc for rank, reader in enumerate(readers) for doc in reader.run(rank=rank, world_size=2)]
    expected = sorted(url for name, (urls, _) in SHARED.items() if not name.endswith(".bad") for url in urls)
    assert sorted(d.metadata["url"] for d in docs) == expected
    assert len({d.id for d in docs}) == len(docs)
    assert [counters(r)["input_files"] for r in readers] == [8, 7]


@pytest.mark.corpus("warc")
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


@pytest.mark.corpus("warc")
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
