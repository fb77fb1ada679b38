"""The demo corpus: a small crawl, a caption list and PDFs, with the ground truth of every case.

`build_corpus(out_dir, seed)` writes what the demo jobs read, byte-identical for the same seed:

    web/pages.warc.gz        HTML pages (en, de, fr) as WARC responses, plus one PDF and one text record
    pairs/captions.parquet   `url`, `caption` rows, img2dataset / LAION style (and captions.tsv, the same rows)
    pdfs/*.pdf               PDFs with text, two-column, scanned, table, figure and blank pages
    corpus.json              the CorpusManifest: files with sha256, and for every page, caption row
                             and PDF page the case it stands for

Images of pages and captions are URLs on fictional hosts that `synth.demo.local_web` answers. The
cases are what the filters and dedup must catch, so tests assert exactly what each one drops.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from synth.demo.pages import BANNER_URL, FAULT_HOST, FAULTS, Page, plan_pages
from synth.demo.pdfs import PDFS, RECORD_PDF, make_pdf

PAGE_CASES = ("good", "exact_dup", "same_url_older", "near_dup", "low_quality", "repeated_logo",
              "same_image_set", "latin1", "fault_images", "pdf_record", "non_html")  # fmt: skip
CAPTION_CASES = (
    "good",
    "too_short",
    "url_caption",
    "filename_caption",
    "non_english",
    "duplicate_url",
    "fault_image",
)
WARC_PATH, PARQUET_PATH, TSV_PATH, MANIFEST_PATH = "web/pages.warc.gz", "pairs/captions.parquet", "pairs/captions.tsv", "corpus.json"  # fmt: skip
SUBJECTS = ("A red bicycle", "An old fishing boat", "A black and white cat", "Two children", "A wooden bridge",
            "A bowl of fresh strawberries", "A lighthouse", "A steam train", "A group of hikers", "A yellow tram",
            "A golden retriever", "A field of sunflowers", "An elderly man", "A market stall", "A mountain hut",
            "A glass of lemonade")  # fmt: skip
SCENES = ("leaning against a stone wall in the old town", "in a quiet harbour at sunset",
          "on a sunny windowsill", "in a city park on a summer afternoon", "over a narrow river in the forest",
          "on a kitchen table next to a window", "on a rocky coast under a cloudy sky",
          "on a viaduct high in the mountains", "on a trail above a green valley", "at a stop on a busy street",
          "at the edge of the sea on a windy day", "under a clear blue sky", "next to a bench in the park",
          "with baskets of apples and pears", "covered in fresh snow at dawn", "seen from above in the evening light")  # fmt: skip
FOREIGN = (("de", "Ein rotes Fahrrad lehnt an einer alten Steinmauer in der Altstadt."),
           ("de", "Zwei Kinder spielen am Nachmittag Fußball im Stadtpark."),
           ("fr", "Un vieux bateau de pêche amarré dans le port au coucher du soleil."),
           ("fr", "Une tasse de café sur une table en bois près de la fenêtre."),
           ("es", "Un perro corre por la playa al atardecer con una pelota en la boca."),
           ("it", "Una barca a vela sul lago in una giornata di sole."),
           ("nl", "Een oude windmolen aan de rand van een groen weiland."),
           ("pt", "Uma rua estreita com casas coloridas no centro da cidade."))  # fmt: skip
SHORT = ("Sunset", "Red car", "Beach", "Nice photo", "Dog", "Untitled", "My holiday")


@dataclass
class FileEntry:
    path: str  # relative to the corpus folder
    sha256: str
    size: int


@dataclass
class PageEntry:
    """One WARC response: its URL, language, case and what the filters should see in it."""

    url: str
    lang: str
    case: str
    warc_date: str
    content_type: str
    images: list[str]  # main-text images in reading order, absolute (`data-src` for lazy ones)
    duplicate_of: str | None = None  # the page this one copies (or the newer crawl of its URL)
    detail: str = ""  # e.g. which quality problem a low_quality page has
    image_faults: dict[str, str] = field(default_factory=dict)  # image URL -> fault it answers with


@dataclass
class CaptionEntry:
    row: int
    url: str
    caption: str
    lang: str
    case: str
    duplicate_of: int | None = None  # earlier row with the same image URL


@dataclass
class PdfEntry:
    path: str
    lang: str
    pages: int
    page_cases: list[str]


@dataclass
class CorpusManifest:
    """Ground truth of the demo corpus; `corpus.json` holds it and `load` reads it back."""

    seed: int
    files: list[FileEntry]
    pages: list[PageEntry]  # WARC order
    captions: list[CaptionEntry]  # row order
    pdfs: list[PdfEntry]
    warc_records: dict[str, int]  # WARC-Type -> count
    repeated_image_url: str
    fault_host: str = FAULT_HOST

    def pages_by_case(self, case: str) -> list[PageEntry]:
        return [page for page in self.pages if page.case == case]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False, sort_keys=True) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> CorpusManifest:
        """Read `corpus.json` (or the folder that holds it)."""
        path = Path(path)
        data = json.loads((path / MANIFEST_PATH if path.is_dir() else path).read_text("utf-8"))
        return cls(
            **{
                **data,
                "files": [FileEntry(**f) for f in data["files"]],
                "pages": [PageEntry(**p) for p in data["pages"]],
                "captions": [CaptionEntry(**c) for c in data["captions"]],
                "pdfs": [PdfEntry(**p) for p in data["pdfs"]],
            }
        )


def _warc_date(page: Page) -> str:
    return page.date.strftime("%Y-%m-%dT%H:%M:%SZ")


def _record_id(seed: int, n: int, url: str) -> str:
    digest = hashlib.sha256(f"demo-warc-{seed}-{n}-{url}".encode()).digest()[:16]
    return f"<urn:uuid:{uuid.UUID(bytes=digest, version=4)}>"


def write_warc(pages: Sequence[Page], path: Path, seed: int) -> dict[str, int]:
    """Gzipped WARC: a warcinfo, a request for the first page, then one response per page."""
    counts: Counter[str] = Counter()
    first = pages[0]
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)

        def write(
            uri: str, kind: str, payload: bytes, http: StatusAndHeaders | None, date: str, **headers: str
        ) -> None:
            number = sum(counts.values())
            warc_headers = {"WARC-Date": date, "WARC-Record-ID": _record_id(seed, number, uri), **headers}
            record = writer.create_warc_record(
                uri, kind, payload=io.BytesIO(payload), length=len(payload), http_headers=http,
                warc_headers_dict=warc_headers,
                warc_content_type="application/warc-fields" if kind == "warcinfo" else "",
            )  # fmt: skip
            writer.write_record(record)
            counts[kind] += 1

        info = f"software: vlmdata synth.demo.corpus\r\nformat: WARC File Format 1.0\r\nseed: {seed}\r\n"
        write("", "warcinfo", info.encode(), None, _warc_date(first), **{"WARC-Filename": "pages.warc.gz"})
        host, path_part = first.url.split("/", 3)[2:]
        request = StatusAndHeaders(
            f"GET /{path_part} HTTP/1.1",
            [("Host", host), ("User-Agent", "vlmdata-demo/0.1")],
            is_http_request=True,
        )
        write(first.url, "request", b"", request, _warc_date(first))
        for page in pages:
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", page.content_type), ("Content-Length", str(len(page.body)))],
                "HTTP/1.1",
            )
            write(page.url, "response", page.body, http, _warc_date(page))
    return dict(counts)


def _page_entry(page: Page) -> PageEntry:
    return PageEntry(
        url=page.url,
        lang=page.lang,
        case=page.case,
        warc_date=_warc_date(page),
        content_type=page.content_type,
        images=page.images,
        duplicate_of=page.duplicate_of,
        detail=page.detail,
        image_faults=page.image_faults,
    )


def plan_captions(seed: int) -> list[CaptionEntry]:
    """About 60 caption rows: good ones and every case the pair filters must catch, shuffled."""
    rng = random.Random(f"demo-captions-{seed}")
    hosts = ("img.example.org", "cdn.example.net", "pics.example.com")

    def url(slug: str) -> str:
        ext = rng.choice(("jpg", "png", "webp"))
        return f"https://{rng.choice(hosts)}/gallery/{rng.choice((2022, 2023, 2024))}/{slug}-{rng.randrange(10**5):05d}.{ext}"

    rows = []
    for subject, scene in rng.sample([(s, c) for s in SUBJECTS for c in SCENES], 38):
        rows.append(CaptionEntry(0, url(subject.lower().split()[-1]), f"{subject} {scene}.", "en", "good"))
    rows += [CaptionEntry(0, url("photo"), text, "en", "too_short") for text in rng.sample(SHORT, 4)]
    rows += [CaptionEntry(0, url("link"), text, "en", "url_caption") for text in (
        f"https://img.example.org/gallery/photo-{rng.randrange(1000)}.jpg", f"www.example.com/products/item-{rng.randrange(100)}",
        f"http://cdn.example.net/u/{rng.randrange(10**4)}")]  # fmt: skip
    rows += [CaptionEntry(0, url("upload"), text, "en", "filename_caption") for text in (
        f"IMG_{rng.randrange(10**4):04d}.JPG", f"DSC{rng.randrange(10**5):05d}.jpg",
        f"photo_2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}_14-22-10.png", f"image ({rng.randint(1, 9)}).jpeg")]  # fmt: skip
    rows += [CaptionEntry(0, url("foto"), text, lang, "non_english") for lang, text in rng.sample(FOREIGN, 6)]
    rows += [
        CaptionEntry(0, f"https://{FAULT_HOST}/pairs/{fault}/photo-{rng.randrange(1000)}.jpg?fault={fault}",
                     f"{rng.choice(SUBJECTS)} {rng.choice(SCENES)}.", "en", "fault_image")
        for fault in FAULTS[:2]
    ]  # fmt: skip
    rng.shuffle(rows)
    copies = []  # (copy, the earlier row it repeats): 3 with the same caption, 2 with another one
    for n, source in enumerate(rng.sample([r for r in rows if r.case == "good"], 5)):
        caption = source.caption if n < 3 else f"{rng.choice(SUBJECTS)} {rng.choice(SCENES)}."
        copies.append((CaptionEntry(0, source.url, caption, "en", "duplicate_url"), source))
        rows.insert(rng.randint(rows.index(source) + 1, len(rows)), copies[-1][0])
    for n, row in enumerate(rows):
        row.row = n
    for copy, source in copies:
        copy.duplicate_of = source.row
    return rows


def _write_captions(rows: Sequence[CaptionEntry], root: Path) -> None:
    table = pa.table({"url": [r.url for r in rows], "caption": [r.caption for r in rows]})
    pq.write_table(table, root / PARQUET_PATH)
    with (root / TSV_PATH).open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(["url", "caption"])
        writer.writerows([r.url, r.caption] for r in rows)


def build_corpus(out_dir: str | Path, seed: int = 0) -> CorpusManifest:
    """Write the demo corpus under `out_dir` and return its manifest (also written as corpus.json)."""
    root = Path(out_dir)
    for folder in ("web", "pairs", "pdfs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    changelog = f"Changelog\n\nVersion 1.{seed}: the archive now keeps older crawls of every page.\n"
    extra = [  # responses that are not HTML, for the readers
        Page(f"https://docs.example.org/reports/{RECORD_PDF.name}", "en", "pdf_record", detail="1 page, text",
             content_type="application/pdf", body=make_pdf(RECORD_PDF, seed)),
        Page("https://docs.example.org/notes/changelog.txt", "en", "non_html",
             content_type="text/plain; charset=utf-8", body=changelog.encode()),
    ]  # fmt: skip
    pages = plan_pages(seed, extra)
    records = write_warc(pages, root / WARC_PATH, seed)
    captions = plan_captions(seed)
    _write_captions(captions, root)
    pdfs = []
    for spec in PDFS:
        (root / "pdfs" / spec.name).write_bytes(make_pdf(spec, seed))
        pdfs.append(PdfEntry(f"pdfs/{spec.name}", spec.lang, len(spec.pages), list(spec.pages)))
    files = sorted({WARC_PATH, PARQUET_PATH, TSV_PATH, *(p.path for p in pdfs)})
    manifest = CorpusManifest(
        seed=seed,
        files=[
            FileEntry(f, hashlib.sha256((root / f).read_bytes()).hexdigest(), (root / f).stat().st_size)
            for f in files
        ],
        pages=[_page_entry(page) for page in pages],
        captions=captions,
        pdfs=pdfs,
        warc_records=records,
        repeated_image_url=BANNER_URL,
    )
    (root / MANIFEST_PATH).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m synth.demo.corpus",
        description="Write the deterministic demo corpus: a WARC of web pages, a caption list and PDFs, "
        "with corpus.json naming the case every item stands for.",
    )
    parser.add_argument("out_dir", help="folder to write into (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default: 0)")
    args = parser.parse_args(argv)
    manifest = build_corpus(args.out_dir, args.seed)
    root = Path(args.out_dir).resolve()
    cases = Counter(page.case for page in manifest.pages)
    print(f"demo corpus (seed {args.seed}) in {root}")
    for entry in manifest.files:
        print(f"  {entry.path:<28} {entry.size:>9,} bytes")
    print(f"  {MANIFEST_PATH:<28} ground truth: " + ", ".join(f"{case} {cases[case]}" for case in PAGE_CASES))
    print(
        f"  {len(manifest.captions)} caption rows, {len(manifest.pdfs)} PDFs, WARC records {manifest.warc_records}"
    )


if __name__ == "__main__":
    main()
