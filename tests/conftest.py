"""Shared fixtures: stage synthetic documents of any kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.staging import stage_documents
from synth.documents import make_documents
from tests.warc_fixtures import build_warc


@pytest.fixture
def staged(tmp_path):
    """staged(kind, count, **kw) -> (folder of staged Parquet, the documents)."""

    def make(kind: str, count: int = 20, files: int = 2, **kwargs):
        documents = make_documents(kind, count, **kwargs)
        folder = tmp_path / f"staged-{kind}"
        stage_documents(documents, str(folder), files=files)
        return folder, documents

    return make


@pytest.fixture
def built(tmp_path) -> Path:
    """A folder holding the built WARC twice: plain and gzip per record."""
    folder = tmp_path / "warcs"
    folder.mkdir()
    build_warc(folder / "built.warc", compress=False)
    build_warc(folder / "built.warc.gz", compress=True)
    return folder
