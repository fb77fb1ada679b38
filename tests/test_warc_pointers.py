"""The WARC pointer reader (file, offset, length rows, as Common Crawl's index gives) against the file reader."""

from __future__ import annotations

import json

import pytest

from pipelines.steps.web.warc_reader import WarcPointerReader, WarcReader
from tests.warc_fixtures import HTML_PAGES, counters, read_pointers, record_spans, write_table


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
