"""Crawl mode: the interleaved job's input is a list of page URLs instead of WARC files.

``CrawlPages`` (stage ``crawl``, one task per host partition, like image fetching) fetches the
page URLs of its partition with the shared fetcher (address policy, robots.txt, opt-out list,
per-host limits and rate) and archives every response that has a body as a WARC response record
(warcio) in ``<folder>/<rank:05d>.warc.gz``: the original URL as ``WARC-Target-URI``, the crawl
time as ``WARC-Date``, the status and content type as HTTP headers. The extract stage then reads
that archive like any WARC, so the documents come from the archive, never straight from the
network: a re-run skips the finished crawl tasks (completion markers) and extracts the same
archive, and a later job can take the archive itself as ``warcs=``. Failures are counted per
reason (``failed_<reason>``). The archive is written under a temporary name and renamed once
complete, so a killed task never leaves an archive that looks finished.

URL lists: a text file with one URL per line (blank lines and ``#`` comments skipped), or a
Parquet, CSV/TSV or JSON-lines table with a ``url`` column; local paths or fsspec URLs.
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timezone

import fsspec
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines.fetch import Fetcher
from pipelines.steps.images.fetch_stage import fetch_config, task_fetch_config, url_partition
from schemas.config_images import FetchSettings


def read_url_list(path: str, column: str = "url") -> list[str]:
    """The URLs of a list file (see the module docstring), in file order, blanks skipped."""
    name = path.lower().removesuffix(".gz")
    with fsspec.open(path, "rb", compression="infer") as f:
        data = f.read()
    if name.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
    elif name.endswith((".csv", ".tsv")):
        delimiter = "\t" if name.endswith(".tsv") else ","
        table = pcsv.read_csv(io.BytesIO(data), parse_options=pcsv.ParseOptions(delimiter=delimiter))
    elif name.endswith((".jsonl", ".json")):
        table = pjson.read_json(io.BytesIO(data))
    else:
        lines = (line.strip() for line in data.decode("utf-8", "replace").splitlines())
        return [line for line in lines if line and not line.startswith("#")]
    if column not in table.column_names:
        raise ValueError(f"{path}: no column {column!r} (columns: {table.column_names})")
    return [str(u).strip() for u in table.column(column).to_pylist() if u is not None and str(u).strip()]


def warc_date() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class CrawlPages(PipelineStep):
    """Task ``p`` fetches the page URLs of host partition ``p`` and archives the responses."""

    name = "🕷️ Page crawler"
    type = "🌐 - FETCH"

    def __init__(
        self, url_list: str, output_folder: DataFolderLike, partitions: int, settings: FetchSettings
    ):
        super().__init__()
        self.url_list = url_list
        self.output_folder = get_datafolder(output_folder)
        self.partitions = partitions
        self.settings = settings
        self.config = fetch_config(settings)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        urls = sorted({u for u in read_url_list(self.url_list) if url_partition(u, self.partitions) == rank})
        self.stat_update("urls", value=len(urls))
        final, partial = f"{rank:05d}.warc.gz", f"{rank:05d}.warc.gz.partial"
        with self.output_folder.open(partial, "wb") as f:
            with self.track_time():
                asyncio.run(self.crawl(urls, WARCWriter(f, gzip=True)))
        self.output_folder.mv(partial, final)
        return
        yield

    async def crawl(self, urls: list[str], writer: WARCWriter) -> None:
        """One fetcher for the whole task (robots.txt cache, per-host rate and opt-out list hold
        across it); URLs fetched ``batch_size`` at a time and archived in sorted order, so the
        archive's order does not depend on which response came first."""
        config = task_fetch_config(self.settings, self.config)
        step = self.settings.batch_size
        async with Fetcher(config) as fetcher:
            for start in range(0, len(urls), step):
                for result in await fetcher.fetch_many(urls[start : start + step]):
                    if result.failure:
                        self.stat_update(f"failed_{result.failure}")
                        continue
                    self.archive(writer, result)
                    self.stat_update("pages_archived")

    @staticmethod
    def archive(writer: WARCWriter, result) -> None:
        headers = [("Content-Type", result.content_type or "application/octet-stream")]
        headers.append(("Content-Length", str(len(result.body))))
        http = StatusAndHeaders(f"{result.status or 200} OK", headers, protocol="HTTP/1.1")
        record = writer.create_warc_record(
            result.url,
            "response",
            payload=io.BytesIO(result.body),
            http_headers=http,
            warc_headers_dict={"WARC-Date": warc_date()},
        )
        writer.write_record(record)
