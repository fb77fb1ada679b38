"""Pipeline steps that are not filters: staging, shard writing, finalize, exclusion records."""

from __future__ import annotations

import os

from datatrove.io import DataFolder, DataFolderLike, get_datafolder


def folder(path: DataFolderLike | os.PathLike) -> DataFolder:
    """datatrove's DataFolder for a path, fsspec URL or ``pathlib.Path``."""
    return get_datafolder(os.fspath(path) if isinstance(path, os.PathLike) else path)
