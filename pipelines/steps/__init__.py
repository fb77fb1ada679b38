"""Pipeline steps that are not filters: staging, shard writing, finalize, exclusion records."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator

from datatrove.io import DataFolder, DataFolderLike, get_datafolder


def folder(path: DataFolderLike | os.PathLike) -> DataFolder:
    """datatrove's DataFolder for a path, fsspec URL or ``pathlib.Path``."""
    return get_datafolder(os.fspath(path) if isinstance(path, os.PathLike) else path)


def jsonl_rows(
    lines: Iterable[str], check: Callable[[list[str]], None] | None = None
) -> Iterator[dict | None]:
    """The rows of a JSON-lines file: blank lines skipped, a line that is not a JSON object is
    None (the reader counts it); ``check`` gets the keys of the first object (a layout check)."""
    checked = check is None
    for line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            yield None
            continue
        if not checked:
            check(list(row))
            checked = True
        yield row
