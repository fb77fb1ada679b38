"""The input files of a job: files, folders (searched recursively) and globs, on any fsspec filesystem."""

from __future__ import annotations

import glob

import fsspec

from schemas.config import ConfigError


def list_files(inputs: list[str], suffixes: tuple[str, ...]) -> list[str]:
    """Files of files, folders (searched recursively for ``suffixes``) and globs, sorted, on any
    fsspec filesystem."""
    files: list[str] = []
    for item in inputs:
        fs, path = fsspec.core.url_to_fs(item)
        protocol = item.split("://")[0] + "://" if "://" in item else ""
        if glob.has_magic(path):
            found = [p for p in fs.glob(path) if fs.isfile(p)]
        elif fs.isdir(path):
            found = [p for p in fs.find(path) if p.endswith(suffixes)]
        elif fs.isfile(path):
            found = [path]
        else:
            raise ConfigError(f"input: {item!r} does not exist")
        if not found:
            raise ConfigError(f"input: {item!r} holds no {' / '.join(suffixes)} file")
        files += [protocol + p for p in found]
    return sorted(set(files))
