"""Image-centric fetching as three steps of a job (DESIGN.md "Engine", issue 5).

1. ``ImageUrlPartitioner`` (stage ``image_urls``, one task per extract file group): reads staged
   documents and writes each task's distinct image URLs to
   ``_stage/image_urls/p<partition:05d>/<rank:05d>.parquet``; the partition is a stable hash
   (sha1, not Python's salted ``hash``) of the URL's host, so one host lives in one partition and
   per-host politeness holds across the whole job.
2. ``FetchImages`` (stage ``fetch``, one task per partition): task ``p`` reads
   ``_stage/image_urls/p<p>/*.parquet`` and fetches each distinct URL once with ONE fetcher for
   the whole task (so robots.txt is fetched once per host and ``per_host_rate`` holds across the
   job), at most ``batch_size`` URLs in flight so memory stays bounded; each body is decoded and
   resized on a small thread pool beside the event loop, and one row per URL goes to
   ``_stage/fetched/<p:05d>.parquet``: the image bytes and facts, or the failure reason. Stats:
   ``fetched_ok`` and ``failed_<reason>`` (reasons: ``pipelines.fetch.reasons``), plus
   ``robots_<verdict>`` per host whose robots.txt was consulted, ``crawl_delay_hosts`` (hosts
   whose ``Crawl-delay`` paced them slower than ``per_host_rate``) and ``crawl_delay_capped``
   (hosts that asked for more than ``max_crawl_delay_s``, paced at the cap).
3. ``JoinImages`` (first step of stage ``join``): streams staged documents, looks each image URL
   up in its partition's fetched table, puts the bytes into ``Media.media_bytes`` and the facts
   into ``Media.metadata``, and removes the image nodes whose fetch failed (opted-out images
   included: the document stays).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from filters.dedup.image_hash import phash
from filters.node_filters import drop_images
from pipelines.fetch import FetchConfig, Fetcher, FetchResult, OptOutList, decode_image
from schemas.config_images import FetchSettings

URLS_SCHEMA = pa.schema([("url", pa.string())])
FETCHED_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("image", pa.binary()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("original_width", pa.int32()),
        ("original_height", pa.int32()),
        ("original_format", pa.string()),
        ("sha256", pa.string()),
        ("phash", pa.string()),
        ("failure", pa.string()),
    ]
)
FACTS = ("width", "height", "original_width", "original_height", "original_format", "sha256", "phash")


def url_partition(url: str, partitions: int) -> int:
    """The partition of ``url``: a stable hash of its host (lower case) modulo ``partitions``."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        host = ""
    return int.from_bytes(hashlib.sha1(host.encode()).digest()[:8], "big") % partitions


def fetch_config(settings: FetchSettings) -> FetchConfig:
    """The fetcher's config from the job's settings; ``"ip:port"`` overrides become tuples."""
    overrides: dict[str, tuple[str, int]] = {}
    for pattern, target in settings.resolver_override.items():
        ip, sep, port = target.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"fetch.resolver_override[{pattern!r}]={target!r}: expected 'ip:port'")
        overrides[pattern] = (ip.strip("[]"), int(port))
    return FetchConfig(
        concurrency=settings.concurrency,
        per_host=settings.per_host,
        connect_timeout=settings.connect_timeout,
        total_timeout=settings.total_timeout,
        deadline=settings.deadline,
        max_bytes=settings.max_bytes,
        max_attempts=settings.max_attempts,
        allow_private=settings.allow_private,
        resolver_override=overrides,
        override_plain_http=settings.override_plain_http,
        user_agent=settings.user_agent,
        respect_robots=settings.respect_robots,
        per_host_rate=settings.per_host_rate,
        max_crawl_delay=settings.max_crawl_delay_s,
    )  # the opt-out list is read where the task runs (`task_fetch_config`): the file may be remote


def task_fetch_config(settings: FetchSettings, config: FetchConfig | None = None) -> FetchConfig:
    """`config` (default: `fetch_config(settings)`) with the opt-out list of ``settings.opt_out``
    read; call it inside the task, once, so every stage that fetches refuses the same URLs."""
    config = config or fetch_config(settings)
    if not settings.opt_out:
        return config
    return dataclasses.replace(config, opt_out=OptOutList.load(settings.opt_out))


def _write_table(folder, path: str, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    with folder.open(path, "wb") as f:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), f)


class ImageUrlPartitioner(PipelineStep):
    """Writes the distinct image URLs of this task's documents, split by host into partitions."""

    name = "🔀 Image URL partitioner"
    type = "🔀 - PARTITION"

    def __init__(self, output_folder: DataFolderLike, partitions: int):
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.partitions = partitions

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        buckets: list[set[str]] = [set() for _ in range(self.partitions)]
        for doc in data or ():
            self.stat_update("documents")
            with self.track_time():
                for media in doc.media:
                    if media.url:
                        buckets[url_partition(media.url, self.partitions)].add(media.url)
                        self.stat_update("image_urls")
        for partition, urls in enumerate(buckets):
            self.stat_update("distinct_image_urls", value=len(urls))
            path = f"p{partition:05d}/{rank:05d}.parquet"  # written even when empty: the task is done
            _write_table(self.output_folder, path, [{"url": u} for u in sorted(urls)], URLS_SCHEMA)
        return
        yield


class FetchImages(PipelineStep):
    """Task ``p`` fetches the distinct URLs of partition ``p`` once each and stages the results."""

    name = "🌐 Image fetcher"
    type = "🌐 - FETCH"

    def __init__(
        self,
        urls_folder: DataFolderLike,
        output_folder: DataFolderLike,
        settings: FetchSettings | None = None,
        image_format: str = "jpg",
        jpeg_quality: int = 90,
    ):
        super().__init__()
        self.urls_folder = get_datafolder(urls_folder)
        self.output_folder = get_datafolder(output_folder)
        self.settings = settings or FetchSettings()
        self.config = fetch_config(self.settings)
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality

    def partition_urls(self, partition: int) -> list[str]:
        urls: set[str] = set()
        prefix = f"p{partition:05d}"
        if self.urls_folder.isdir(prefix):
            for path in self.urls_folder.list_files(prefix, glob_pattern="*.parquet"):
                with self.urls_folder.open(path, "rb") as f:
                    urls.update(pq.read_table(f, columns=["url"]).column("url").to_pylist())
        return sorted(urls)

    def fetch_row(self, result: FetchResult) -> dict[str, Any]:
        """The staged row of one fetched URL: decoded image and facts, or the failure reason."""
        row: dict[str, Any] = {"url": result.url, "failure": result.failure}
        if result.ok:
            decoded = decode_image(
                result.body,
                self.settings.max_side,
                self.image_format,
                quality=self.jpeg_quality,
                resample=self.settings.resample,
            )
            if isinstance(decoded, str):
                row["failure"] = decoded
            else:
                image, facts = decoded
                row["image"] = image
                # the perceptual hash of the stored image, so image dedup never decodes it again
                facts = {**facts, "phash": f"{phash(image):016x}"}
                row.update({key: facts[key] for key in FACTS})
        return row

    async def fetch_rows(
        self, urls: Sequence[str], config: FetchConfig, write: Callable[[list[dict[str, Any]]], None]
    ) -> dict[str, int]:
        """Fetch and decode `urls` with one fetcher, calling `write` with every `batch_size` rows
        (in completion order); returns the robots.txt counters: hosts per verdict
        (``robots_<verdict>``), hosts paced by their Crawl-delay and those capped."""
        batch_size = self.settings.batch_size
        rows: list[dict[str, Any]] = []
        window = asyncio.Semaphore(batch_size)  # URLs in flight, bodies and decoded images included
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []

        def finished(task: asyncio.Task[None]) -> None:
            pending.discard(task)
            if not task.cancelled() and task.exception() is not None:
                errors.append(task.exception())

        with ThreadPoolExecutor(self.settings.decode_threads, thread_name_prefix="decode") as pool:
            async with Fetcher(config) as fetcher:

                async def one(url: str) -> None:
                    try:
                        result = await fetcher.fetch(url)
                        rows.append(await loop.run_in_executor(pool, self.fetch_row, result))
                    finally:
                        window.release()
                    if len(rows) >= batch_size:
                        write(rows[:])
                        rows.clear()

                for url in urls:
                    await window.acquire()
                    if errors:
                        break
                    task = loop.create_task(one(url))
                    pending.add(task)
                    task.add_done_callback(finished)
                if pending:
                    await asyncio.wait(set(pending))
                if errors:
                    raise errors[0]
                verdicts: dict[str, int] = {}
                for rules in fetcher.robots.values():
                    verdicts[f"robots_{rules.verdict}"] = verdicts.get(f"robots_{rules.verdict}", 0) + 1
                if fetcher.crawl_delays:
                    verdicts["crawl_delay_hosts"] = len(fetcher.crawl_delays)
                    capped = sum(asked > config.max_crawl_delay for asked, _ in fetcher.crawl_delays.values())
                    verdicts["crawl_delay_capped"] = capped
        if rows:
            write(rows)
        return verdicts

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        urls = self.partition_urls(rank)
        self.stat_update("urls", value=len(urls))
        config = task_fetch_config(self.settings, self.config)
        if config.opt_out is not None:
            self.stat_update("opt_out_entries", value=len(config.opt_out))
        with (
            self.output_folder.open(f"{rank:05d}.parquet", "wb") as f,
            pq.ParquetWriter(f, FETCHED_SCHEMA) as out,
        ):

            def write(rows: list[dict[str, Any]]) -> None:
                for row in rows:
                    self.stat_update(f"failed_{row['failure']}" if row["failure"] else "fetched_ok")
                out.write_table(pa.Table.from_pylist(rows, schema=FETCHED_SCHEMA))

            with self.track_time():
                verdicts = asyncio.run(self.fetch_rows(urls, config, write)) if urls else {}
            for counter, hosts in verdicts.items():
                self.stat_update(counter, value=hosts)
            if not urls:
                out.write_table(FETCHED_SCHEMA.empty_table())
        return
        yield


class JoinImages(PipelineStep):
    """Puts fetched images back into their documents; image nodes whose fetch failed are removed
    (counted ``images_dropped_fetch_<reason>``), media indices renumbered, text rebuilt."""

    name = "🧩 Image join"
    type = "🧩 - JOIN"

    def __init__(self, fetched_folder: DataFolderLike, partitions: int):
        super().__init__()
        self.fetched_folder = get_datafolder(fetched_folder)
        self.partitions = partitions
        self._tables: dict[int, tuple[pa.Table, dict[str, int]]] = {}

    def table(self, partition: int) -> tuple[pa.Table, dict[str, int]]:
        """The fetched table of ``partition`` and its url -> row index, loaded once per task."""
        if partition not in self._tables:
            with self.fetched_folder.open(f"{partition:05d}.parquet", "rb") as f:
                table = pq.read_table(f)
            index = {url: i for i, url in enumerate(table.column("url").to_pylist())}
            self._tables[partition] = (table, index)
        return self._tables[partition]

    def lookup(self, url: str | None) -> dict[str, Any]:
        if not url:
            return {"failure": "no_url"}
        table, index = self.table(url_partition(url, self.partitions))
        i = index.get(url)
        if i is None:
            return {"failure": "not_fetched"}
        return {name: table.column(name)[i].as_py() for name in table.column_names}

    def join(self, doc: Document) -> None:
        dropped: set[int] = set()
        for i, media in enumerate(doc.media):
            row = self.lookup(media.url)
            if row["failure"]:
                self.stat_update(f"images_dropped_fetch_{row['failure']}")
                dropped.add(i)
                continue
            media.media_bytes = row["image"]
            media.metadata.update({key: row[key] for key in FACTS})
            self.stat_update("images_joined")
        drop_images(doc, dropped)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                self.join(doc)
            yield doc
