"""PDF pages with exact ground truth, for scoring transcriptions (``benchmarks/bench_pdf_quality.py``).

The born-digital pages are written with ReportLab, not with PyMuPDF (the reader), so their text
layer is not a round trip through one library: each line is drawn where this module placed it,
with DejaVu fonts (matplotlib's copies) embedded as subsets with their Unicode maps. Every page
is built from seeded sentences of ``synth.demo.pages`` (English, German, French).

Page forms (``FORMS``): ``one_column``, ``two_column``, ``three_column``, ``footnotes`` (a body
and numbered footnotes in a smaller font under a rule), ``table`` (a ruled grid under a
paragraph), ``list`` (bullets with hanging indents), ``rotated`` (``/Rotate 90``: the content is
drawn turned so that the page shows upright) and ``diacritics`` (German and French sentences and
names with Central and Northern European letters). Every page has a running header (title left,
date right) and a footer (``Page N``, centred).

Scans (``SCANS``) are born-digital pages rendered to greyscale, degraded, and embedded as one
full-page JPEG with no text layer:
``scan300`` (300 dpi, light noise, JPEG 85), ``fax`` (100 dpi, noise, blur, skew up to 2 degrees,
JPEG 40), ``wrong_layer`` (a 200 dpi scan under an invisible text layer, render mode 3, of
*wrong* text at the lines' places: the words of another page, or these words garbled, as bad OCR
from an earlier tool leaves in archives) and ``right_layer`` (the same scan under its own text:
a good OCR layer, which the router should keep).

Ground truth conventions (``Truth``):

* the transcription is all the text a reader sees on the page, in reading order, one entry per
  printed line (``lines``): the running header first (its left part, then its right part, as two
  lines), then the body, then footnotes, then the footer;
* multi-column bodies read column by column, left to right; a list item's continuation lines
  follow it; the bullet is part of the item's first line (``• ...``);
* a table reads row by row, left to right, a row's cells joined by one space as one line; its
  cells are also listed in ``cells`` for cell recall;
* a rotated page reads as it shows (upright), not in the stored coordinates.

``header`` and ``footer`` hold those lines apart again, for leakage scoring.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pymupdf
from PIL import Image, ImageFilter
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from synth.demo.pages import paragraphs
from synth.demo.texts import NAMES

WIDTH, HEIGHT = 595.0, 842.0  # A4 in points
MARGIN = 56.0
BODY_FONT, BODY_SIZE, LEADING = "DejaVuSerif", 10.5, 14.0
SMALL_FONT, SMALL_SIZE = "DejaVuSans", 8.0
HEADER_Y, FOOTER_Y = HEIGHT - 34, 30.0
FORMS = ("one_column", "two_column", "three_column", "footnotes", "table", "list", "rotated", "diacritics")
SCANS = ("scan300", "fax", "wrong_layer", "right_layer")
SCANNED_FORMS = ("one_column", "two_column", "table", "list")  # what the scans are made of
EXTRA_NAMES = (
    "Dvořák",
    "Łódź",
    "Škoda",
    "Ångström",
    "Søren Kierkegaard",
    "São Paulo",
    "Curaçao",
    "Tomás Núñez",
)
TITLES = ("Annual report of the harbour board", "Jahresbericht des Stadtrats", "Rapport du conseil municipal")
_FONTS_READY = False


def register_fonts() -> None:
    """DejaVu Serif and Sans (matplotlib's files) as ReportLab TrueType fonts, once."""
    global _FONTS_READY
    if _FONTS_READY:
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name in ("DejaVuSerif", "DejaVuSans", "DejaVuSans-Bold"):
        pdfmetrics.registerFont(TTFont(name, str(folder / f"{name}.ttf")))
    _FONTS_READY = True


@dataclass
class Truth:
    """The ground truth of one page (see the module docstring for the conventions)."""

    name: str
    form: str
    scan: str | None = None
    lines: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    placed: list[tuple[str, float, float, float, str]] = field(
        default_factory=list
    )  # (text, x, y, size, font)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class _Page:
    """Draws lines on a ReportLab canvas and records them, in reading order, in a ``Truth``."""

    def __init__(self, pdf: canvas.Canvas, truth: Truth):
        self.pdf, self.truth = pdf, truth

    def line(self, text: str, x: float, y: float, font: str = BODY_FONT, size: float = BODY_SIZE) -> None:
        self.pdf.setFont(font, size)
        self.pdf.drawString(x, y, text)
        self.truth.placed.append((text, x, y, size, font))

    def body_line(
        self, text: str, x: float, y: float, font: str = BODY_FONT, size: float = BODY_SIZE
    ) -> None:
        self.line(text, x, y, font, size)
        self.truth.lines.append(text)


def wrap(text: str, width: float, font: str = BODY_FONT, size: float = BODY_SIZE) -> list[str]:
    """Greedy line breaking of ``text`` at spaces to ``width`` points."""
    lines, current = [], ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and pdfmetrics.stringWidth(trial, font, size) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return lines + [current] if current else lines


def _fill_columns(page: _Page, texts: list[str], columns: int, top: float, bottom: float) -> None:
    """Paragraphs flowed into ``columns`` columns between ``top`` and ``bottom`` (y, points)."""
    gutter = 18.0
    width = (WIDTH - 2 * MARGIN - gutter * (columns - 1)) / columns
    column, y = 0, top
    for paragraph in texts:
        for text in wrap(paragraph, width):
            if y < bottom:
                column, y = column + 1, top
                if column == columns:
                    return
            page.body_line(text, MARGIN + column * (width + gutter), y)
            y -= LEADING
        y -= LEADING / 2


def _header(page: _Page, title: str, number: int) -> None:
    date = f"{number + 3} March 2024"
    page.line(title, MARGIN, HEADER_Y, SMALL_FONT, SMALL_SIZE)
    right = WIDTH - MARGIN - pdfmetrics.stringWidth(date, SMALL_FONT, SMALL_SIZE)
    page.line(date, right, HEADER_Y, SMALL_FONT, SMALL_SIZE)
    page.truth.header = [title, date]
    page.truth.lines[:0] = [title, date]


def _footer(page: _Page, number: int) -> None:
    text = f"Page {number}"
    page.line(
        text,
        (WIDTH - pdfmetrics.stringWidth(text, SMALL_FONT, SMALL_SIZE)) / 2,
        FOOTER_Y,
        SMALL_FONT,
        SMALL_SIZE,
    )
    page.truth.footer = [text]
    page.truth.lines.append(text)


def _heading(page: _Page, rng: random.Random, lang: str) -> float:
    text = f"{rng.randint(1, 9)}. {rng.choice(NAMES[lang])}"
    page.body_line(text, MARGIN, HEIGHT - 80, "DejaVuSans-Bold", 14)
    return HEIGHT - 104


def _columns(columns: int):
    def build(page: _Page, rng: random.Random, lang: str) -> None:
        top = _heading(page, rng, lang)
        _fill_columns(page, paragraphs(rng, lang, 8, 3), columns, top, 60)

    return build


def _footnotes(page: _Page, rng: random.Random, lang: str) -> None:
    top = _heading(page, rng, lang)
    notes = [f"{n + 1} {text}" for n, text in enumerate(paragraphs(rng, lang, 3, 1))]
    note_lines = [line for note in notes for line in wrap(note, WIDTH - 2 * MARGIN, SMALL_FONT, SMALL_SIZE)]
    rule_y = 56 + len(note_lines) * 10 + 6
    _fill_columns(page, paragraphs(rng, lang, 5, 3), 1, top, rule_y + 16)
    page.pdf.setLineWidth(0.5)
    page.pdf.line(MARGIN, rule_y, MARGIN + 150, rule_y)
    y = rule_y - 12
    for line in note_lines:
        page.body_line(line, MARGIN, y, SMALL_FONT, SMALL_SIZE)
        y -= 10


def _table(page: _Page, rng: random.Random, lang: str) -> None:
    top = _heading(page, rng, lang)
    _fill_columns(page, paragraphs(rng, lang, 1, 3), 1, top, 60)
    y = top - LEADING * (len(page.truth.lines) - 1) - 30
    heads = {"en": ("Item", "Quantity", "Price", "Place"), "de": ("Posten", "Menge", "Preis", "Ort"),
             "fr": ("Article", "Quantité", "Prix", "Lieu")}[lang]  # fmt: skip
    goods = (
        "apples",
        "bread",
        "coffee",
        "lamps",
        "paper",
        "rope",
        "salt",
        "tiles",
        "wool",
        "zinc",
        "ink",
        "soap",
    )
    rows = [list(heads)] + [
        [rng.choice(goods), str(rng.randint(2, 900)), f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}",
         rng.choice(NAMES[lang]).split()[1]]
        for _ in range(rng.randint(6, 10))
    ]  # fmt: skip
    widths = (140, 90, 90, 140)
    page.pdf.setLineWidth(0.6)
    for r, row in enumerate(rows):
        x = MARGIN
        for c, cell in enumerate(row):
            page.line(cell, x + 6, y - 15, "DejaVuSans-Bold" if r == 0 else BODY_FONT, BODY_SIZE)
            page.pdf.rect(x, y - 21, widths[c], 21)
            page.truth.cells.append(cell)
            x += widths[c]
        page.truth.lines.append(" ".join(row))
        y -= 21
    _fill_columns(page, paragraphs(rng, lang, 2, 2), 1, y - 30, 60)


def _list(page: _Page, rng: random.Random, lang: str) -> None:
    top = _heading(page, rng, lang)
    y = top
    for item in paragraphs(rng, lang, 9, 1):
        for k, text in enumerate(wrap(item, WIDTH - 2 * MARGIN - 16)):
            if y < 60:
                return
            if k == 0:
                page.line("•", MARGIN + 2, y)
                page.truth.lines.append(f"• {text}")
                page.line(text, MARGIN + 16, y)
            else:
                page.body_line(text, MARGIN + 16, y)
            y -= LEADING
        y -= 4


def _diacritics(page: _Page, rng: random.Random, lang: str) -> None:
    texts = paragraphs(rng, "de" if lang != "fr" else "fr", 7, 3)
    texts = [f"{t} {rng.choice(EXTRA_NAMES)} und {rng.choice(EXTRA_NAMES)}." for t in texts]
    _fill_columns(page, texts, 1, _heading(page, rng, lang), 60)


BUILDERS = {
    "one_column": _columns(1), "two_column": _columns(2), "three_column": _columns(3),
    "footnotes": _footnotes, "table": _table, "list": _list, "rotated": _columns(1), "diacritics": _diacritics,
}  # fmt: skip


def born_digital(form: str, seed: int, number: int = 1) -> tuple[bytes, Truth]:
    """One born-digital page of ``form``: (PDF bytes, its ground truth)."""
    register_fonts()
    rng = random.Random(f"pdf-truth-{form}-{seed}")
    lang = rng.choice(("en", "de", "fr"))
    truth = Truth(name=f"{form}-{seed:03d}", form=form)
    out = io.BytesIO()
    if form == "rotated":  # stored landscape, shown a quarter turned clockwise (/Rotate 90): drawn
        # a quarter back (ReportLab writes the MediaBox of a page rotated by 90 with its sides swapped)
        pdf = canvas.Canvas(out, pagesize=(WIDTH, HEIGHT), invariant=1)
        pdf.setPageRotation(90)
        pdf.translate(HEIGHT, 0)
        pdf.rotate(90)
    else:
        pdf = canvas.Canvas(out, pagesize=(WIDTH, HEIGHT), invariant=1)
    page = _Page(pdf, truth)
    BUILDERS[form](page, rng, lang)
    _header(page, TITLES[rng.randrange(len(TITLES))], number)
    _footer(page, number)
    pdf.showPage()
    pdf.save()
    return out.getvalue(), truth


def _degrade(image: Image.Image, rng: random.Random, noise: float, blur: float, skew: float) -> Image.Image:
    if skew:
        image = image.rotate(rng.uniform(-skew, skew), resample=Image.Resampling.BICUBIC, fillcolor=255)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        pixels = np.asarray(image, dtype=np.float32)
        pixels += np.random.default_rng(rng.randrange(2**32)).normal(0, noise, pixels.shape)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image


SCAN_SETTINGS = {  # dpi, noise sigma (grey levels), blur radius (px), skew (degrees), JPEG quality
    "scan300": (300, 6.0, 0.0, 0.0, 85),
    "fax": (100, 14.0, 0.6, 2.0, 40),
    "wrong_layer": (200, 8.0, 0.0, 0.5, 75),
    "right_layer": (200, 8.0, 0.0, 0.5, 75),
}


def _garble(text: str, rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(letters) if c.isalpha() and rng.random() < 0.5 else c for c in text)


def scanned(scan: str, form: str, seed: int, number: int = 1) -> tuple[bytes, Truth]:
    """A scan of the born-digital page ``(form, seed)`` (see ``SCAN_SETTINGS``): (PDF, truth)."""
    source, truth = born_digital(form, seed, number)
    dpi, noise, blur, skew, quality = SCAN_SETTINGS[scan]
    rng = random.Random(f"pdf-truth-{scan}-{form}-{seed}")
    with pymupdf.open(stream=source, filetype="pdf") as doc:
        pix = doc[0].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        image = Image.frombytes("L", (pix.w, pix.h), pix.samples)
    image = _degrade(image, rng, noise, blur, skew)
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=quality)
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(WIDTH, HEIGHT), invariant=1)
    pdf.drawImage(ImageReader(io.BytesIO(jpeg.getvalue())), 0, 0, WIDTH, HEIGHT)
    if scan in ("wrong_layer", "right_layer"):
        other = born_digital(form, seed + 1000, number)[1].placed if rng.random() < 0.5 else None
        text = pdf.beginText()
        text.setTextRenderMode(3)  # invisible, as OCR layers are drawn
        for k, (line, x, y, size, font) in enumerate(truth.placed):
            if scan == "right_layer":
                wrong = line
            else:
                wrong = other[k % len(other)][0] if other else _garble(line, rng)
            text.setFont(font, size)
            text.setTextOrigin(x, y)
            text.textOut(wrong)
        pdf.drawText(text)
    pdf.showPage()
    pdf.save()
    return out.getvalue(), Truth(
        name=f"{scan}-{truth.name}", form=form, scan=scan, lines=truth.lines, header=truth.header,
        footer=truth.footer, cells=truth.cells,
    )  # fmt: skip


def corpus(pages_per_form: int = 4, scans_per_form: int = 3, seed: int = 0) -> Iterator[tuple[bytes, Truth]]:
    """Every page of the benchmark corpus: ``pages_per_form`` born-digital pages of each form,
    then ``scans_per_form`` pages of each scanned form under each scan kind."""
    for form in FORMS:
        for k in range(pages_per_form):
            yield born_digital(form, seed + k, k + 1)
    for scan in SCANS:
        for form in SCANNED_FORMS:
            for k in range(scans_per_form):
                yield scanned(scan, form, seed + k, k + 1)
