"""The PDFs of the demo corpus, made with PyMuPDF: one builder per page layout the OCR job meets.

Layouts (`PAGE_CASES`): plain text with a heading, two columns side by side, a scanned page
(an image of noisy, slightly rotated text and no text layer), a table drawn with lines, a page
with a figure and its caption, and a mostly blank page. Text comes from the demo pages'
sentences, so a German PDF is German. Metadata and document ids are fixed, so the same seed
gives byte-identical files.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass

import pymupdf
from PIL import Image, ImageDraw, ImageFont

from synth.demo.documents import make_image
from synth.demo.pages import NAMES, PHOTO_TEXT, paragraphs

PAGE_CASES = ("text", "two_column", "scanned", "table", "figure", "blank")
WIDTH, HEIGHT = 595, 842  # A4 in points
SCAN_DPI = 100
HEADINGS = {
    "en": ("Introduction", "Results", "Outlook", "Method", "Summary", "Background"),
    "de": ("Einleitung", "Ergebnisse", "Ausblick", "Vorgehen", "Zusammenfassung", "Hintergrund"),
    "fr": ("Introduction", "Résultats", "Perspectives", "Méthode", "Résumé", "Contexte"),
}
TABLE = {  # column headers, then item names
    "en": (("Item", "Quantity", "Unit price", "Total"), ("Paper", "Ink cartridges", "Chairs", "Lamps", "Bicycles", "Plants")),
    "de": (("Artikel", "Menge", "Einzelpreis", "Summe"), ("Papier", "Druckerpatronen", "Stühle", "Lampen", "Fahrräder", "Pflanzen")),
    "fr": (("Article", "Quantité", "Prix unitaire", "Total"), ("Papier", "Cartouches d'encre", "Chaises", "Lampes", "Vélos", "Plantes")),
}  # fmt: skip
FIGURE = {"en": "Figure", "de": "Abbildung", "fr": "Figure"}


@dataclass(frozen=True)
class PdfSpec:
    """A PDF to build: its file name, language, title and the layout of each page."""

    name: str
    lang: str
    title: str
    pages: tuple[str, ...]


PDFS = (
    PdfSpec("annual-report.pdf", "en", "Annual report of the town council", ("text", "table", "figure")),
    PdfSpec("newsletter.pdf", "en", "Neighbourhood newsletter", ("two_column", "text")),
    PdfSpec("scanned-letter.pdf", "en", "Letter to the residents", ("scanned", "blank")),
    PdfSpec("jahresbericht.pdf", "de", "Jahresbericht der Gemeinde", ("text", "two_column", "table")),
    PdfSpec("bulletin.pdf", "fr", "Bulletin municipal", ("text", "figure")),
    PdfSpec("handbook.pdf", "en", "Handbook for volunteers", ("text", "figure", "table", "two_column", "scanned", "text")),
)  # fmt: skip
RECORD_PDF = PdfSpec("summary-2024.pdf", "en", "Summary 2024", ("text",))  # served inside the WARC


def _heading(page: pymupdf.Page, text: str, x: float = 56) -> None:
    page.insert_text((x, 70), text, fontname="hebo", fontsize=18)


def _textbox(page: pymupdf.Page, rect: pymupdf.Rect, texts: list[str], fontsize: float = 11) -> None:
    """Paragraphs in `rect`, dropping trailing sentences until they fit (PyMuPDF writes nothing otherwise)."""
    texts = list(texts)
    while texts:
        if page.insert_textbox(rect, "\n\n".join(texts), fontname="helv", fontsize=fontsize) >= 0:
            return
        head = texts[-1].rsplit(". ", 1)
        texts[-1:] = [head[0] + "."] if len(head) == 2 else []
    raise ValueError(f"no text fits in {rect} on page {page.number}")


def _text(page: pymupdf.Page, rng: random.Random, lang: str, heading: str) -> None:
    _heading(page, heading)
    _textbox(page, pymupdf.Rect(56, 95, WIDTH - 56, HEIGHT - 60), paragraphs(rng, lang, 5, 3))


def _two_column(page: pymupdf.Page, rng: random.Random, lang: str, heading: str) -> None:
    _heading(page, heading)
    texts = paragraphs(rng, lang, 6, 3)
    _textbox(page, pymupdf.Rect(56, 95, 287, HEIGHT - 60), texts[:3], 10)
    _textbox(page, pymupdf.Rect(308, 95, WIDTH - 56, HEIGHT - 60), texts[3:], 10)


def _table(page: pymupdf.Page, rng: random.Random, lang: str, heading: str) -> None:
    _heading(page, heading)
    header, items = TABLE[lang]
    xs, top, row = (56, 220, 320, 430, WIDTH - 56), 100, 24
    rows = [header] + [
        (item, str(q := rng.randint(1, 40)), f"{(p := rng.randint(2, 300))}.00", f"{q * p}.00")
        for item in rng.sample(items, len(items))
    ]
    for r, cells in enumerate(rows):
        y = top + r * row
        page.draw_rect(pymupdf.Rect(xs[0], y, xs[-1], y + row), color=(0, 0, 0), width=0.6)
        for c, cell in enumerate(cells):
            page.insert_text((xs[c] + 5, y + 16), cell, fontname="hebo" if r == 0 else "helv", fontsize=10)
    for x in xs[1:-1]:
        page.draw_line((x, top), (x, top + len(rows) * row), color=(0, 0, 0), width=0.6)
    _textbox(
        page, pymupdf.Rect(56, top + len(rows) * row + 30, WIDTH - 56, HEIGHT - 60), paragraphs(rng, lang, 1)
    )


def _figure(page: pymupdf.Page, rng: random.Random, lang: str, heading: str) -> None:
    _heading(page, heading)
    _textbox(page, pymupdf.Rect(56, 95, WIDTH - 56, 260), paragraphs(rng, lang, 1))
    page.insert_image(
        pymupdf.Rect(96, 280, WIDTH - 96, 550), stream=make_image(rng.randrange(2**31), 480, 320, "png")
    )
    caption = f"{FIGURE[lang]} {page.number + 1}: {rng.choice(PHOTO_TEXT[lang])}."
    page.insert_text((96, 570), caption, fontname="helv", fontsize=10)
    _textbox(page, pymupdf.Rect(56, 600, WIDTH - 56, HEIGHT - 60), paragraphs(rng, lang, 1))


def scan_image(rng: random.Random, lines: list[str]) -> bytes:
    """Text as a scanner would see it: greyscale, slightly rotated, noisy JPEG at SCAN_DPI."""
    width, height = WIDTH * SCAN_DPI // 72, HEIGHT * SCAN_DPI // 72
    image = Image.new("L", (width, height), 250)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=20)
    y = 90
    for line in lines:
        words, current = line.split(), ""
        for word in words + [""]:
            if word and draw.textlength(f"{current} {word}", font=font) < width - 160:
                current = f"{current} {word}".strip()
                continue
            draw.text((80, y), current, fill=rng.randint(20, 60), font=font)
            y, current = y + 28, word
        y += 14
    image = image.rotate(rng.uniform(-1.5, 1.5), resample=Image.Resampling.BICUBIC, fillcolor=250)
    small = (width // 3, height // 3)
    noise = Image.frombytes("L", small, rng.randbytes(small[0] * small[1])).resize((width, height))
    out = io.BytesIO()
    Image.blend(image, noise, 0.12).save(out, format="JPEG", quality=70)
    return out.getvalue()


def _scanned(page: pymupdf.Page, rng: random.Random, lang: str, heading: str) -> None:
    lines = [heading, "", rng.choice(NAMES[lang]), ""] + paragraphs(rng, lang, 4, 3)
    page.insert_image(page.rect, stream=scan_image(rng, lines))


def _blank(page: pymupdf.Page, rng: random.Random, lang: str, heading: str) -> None:
    page.insert_text((WIDTH / 2 - 10, HEIGHT - 30), f"- {page.number + 1} -", fontname="helv", fontsize=9)


BUILDERS: dict[str, Callable[[pymupdf.Page, random.Random, str, str], None]] = {
    "text": _text, "two_column": _two_column, "scanned": _scanned, "table": _table, "figure": _figure,
    "blank": _blank,
}  # fmt: skip


def make_pdf(spec: PdfSpec, seed: int) -> bytes:
    """The PDF of `spec`, byte-identical for the same seed (fixed dates, no random document id)."""
    rng = random.Random(f"demo-pdf-{seed}-{spec.name}")
    doc = pymupdf.open()
    headings = rng.sample(HEADINGS[spec.lang], len(HEADINGS[spec.lang]))
    for n, case in enumerate(spec.pages):
        page = doc.new_page(width=WIDTH, height=HEIGHT)
        BUILDERS[case](page, rng, spec.lang, spec.title if n == 0 else headings[n % len(headings)])
    date = f"D:2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randrange(24):02d}0000+00'00'"
    doc.set_metadata({
        "title": spec.title, "author": rng.choice(NAMES[spec.lang]), "subject": "vlmdata demo corpus",
        "keywords": ", ".join(spec.pages), "creator": "vlmdata synth.demo.pdfs", "producer": "PyMuPDF",
        "creationDate": date, "modDate": date,
    })  # fmt: skip
    data = doc.tobytes(garbage=4, deflate=True, no_new_id=True)
    doc.close()
    return data
