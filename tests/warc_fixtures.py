"""Shared by the WARC reader tests: a WARC built here with pages in many charsets, and
counters of a reader step."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines.steps.web.warc_reader import WarcPointerReader
from tests import corpora

WARCS = corpora.path("warc")
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
