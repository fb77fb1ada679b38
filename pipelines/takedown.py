"""``vlmdata takedown OUT/DATASET --url URL | --sha256 H | --list FILE``: remove samples from
published shards.

A sample matches when its ``source``, or the source URL of one of its images
(``meta.images[i].url``), equals a requested URL (compared as ``filters.blocklists.normalize_url``
does), or when the sha256 of one of its image members, or the sha256 its image had when it was
fetched (``meta.images[i].sha256``), is a requested digest. A list file holds one URL or
64-hex-digit sha256 a line (``#`` comments).

Only the shards holding a match are rewritten, under their own names: every kept sample is
copied byte for byte into a temporary file (the shard writer's own tar layout), which then
replaces the shard. A shard left empty is deleted and leaves the manifest. ``manifest.json`` and
``sizes.json`` are rewritten last (temporary name, then rename), so ``vlmdata validate`` passes
afterwards. What was removed and why goes to ``OUT/DATASET/_takedowns/<UTC timestamp>.json``.

The staged documents under ``_stage/`` are not touched: before re-running a job on them, add the
same URLs and digests to ``governance.blocklists`` so the samples do not come back.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from filters.blocklists import normalize_url, read_list
from pipelines.steps import folder
from pipelines.steps.shards.samples import Sample
from pipelines.steps.shards.shard_writer import OpenShard
from schemas.manifest import MANIFEST, SIZES, Manifest, ShardEntry, sizes_json, totals_of
from schemas.samples import sample_texts
from schemas.shard_reader import iter_samples

TAKEDOWNS_DIR = "_takedowns"
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class TakedownRequest:
    urls: set[str] = field(default_factory=set)  # normalised
    sha256: set[str] = field(default_factory=set)  # lower-case hex

    @classmethod
    def build(cls, urls=(), sha256=(), list_file: str | None = None) -> TakedownRequest:
        entries = list(read_list(list_file)) if list_file else []
        digests = {h.lower() for h in sha256} | {e.lower() for e in entries if SHA256_RE.match(e)}
        for h in digests:
            if not SHA256_RE.match(h):
                raise ValueError(f"--sha256 {h!r}: not a sha256 hex digest (64 hex digits)")
        links = {normalize_url(u) for u in urls} | {
            normalize_url(e) for e in entries if not SHA256_RE.match(e)
        }
        if not links and not digests:
            raise ValueError("takedown: give at least one --url, --sha256 or a --list with entries")
        return cls(links, digests)

    def match(self, sample: dict[str, Any], images: list[tuple[str, bytes]]) -> str | None:
        """Why the sample matches ("url ...", "sha256 ..."), or None."""
        metas = (sample.get("meta") or {}).get("images") or []
        for url in [sample.get("source"), *(m.get("url") for m in metas if isinstance(m, dict))]:
            if url and normalize_url(str(url)) in self.urls:
                return f"url {url}"
        recorded = [m.get("sha256") for m in metas if isinstance(m, dict)]
        for digest in [hashlib.sha256(data).hexdigest() for _, data in images] + recorded:
            if digest and digest.lower() in self.sha256:
                return f"sha256 {digest.lower()}"
        return None


@dataclass
class TakedownResult:
    record: str  # path of the record under _takedowns/
    removed: list[dict[str, str]]
    shards_rewritten: list[str]
    shards_removed: list[str]
    samples_before: int
    samples_after: int


def _tokenizer(manifest: Manifest):
    path = (manifest.config.get("shards") or {}).get("tokenizer")
    if not path:
        return None
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def takedown(
    dataset_dir: str,
    urls=(),
    sha256=(),
    list_file: str | None = None,
    reason: str = "takedown request",
    now: datetime | None = None,
) -> TakedownResult:
    """Remove every matching sample from the dataset's shards (see the module docstring)."""
    request = TakedownRequest.build(urls, sha256, list_file)
    root = folder(dataset_dir)
    if not root.exists(MANIFEST):
        raise FileNotFoundError(f"{dataset_dir}/{MANIFEST}: missing; give OUT/<dataset> of a finished job")
    with root.open(MANIFEST, "r") as f:
        manifest = Manifest.from_json(f.read())
    tokenizer = None
    removed: list[dict[str, str]] = []
    entries: list[ShardEntry] = []
    pending: list[tuple[OpenShard | None, ShardEntry]] = []  # rewritten shards, renamed at the end
    for entry in manifest.shardlist:
        with root.open(entry.url, "rb") as raw:
            samples = [(s.key, s.members.get("json"), s.images()) for s in iter_samples(raw)]
        kept, hits = [], []
        for key, json_bytes, images in samples:
            sample = json.loads(json_bytes) if json_bytes else {}
            why = request.match(sample, images)
            if why:
                hits.append(
                    {"key": key, "shard": entry.url, "source": str(sample.get("source", "")), "matched": why}
                )
            else:
                kept.append((key, json_bytes, images, sample))
        if not hits:
            entries.append(entry)
            continue
        removed += hits
        if not kept:
            pending.append((None, entry))
            continue
        if entry.tokens is not None and tokenizer is None:
            tokenizer = _tokenizer(manifest)
        shard_dir, name = entry.url.rsplit("/", 1)
        shard = OpenShard(folder(root.resolve_paths(shard_dir)), name)
        for key, json_bytes, images, sample in kept:
            texts = sample_texts(sample)
            tokens = (
                sum(len(e.ids) for e in tokenizer.encode_batch(texts)) if tokenizer and texts else 0
            ) if tokenizer else None  # fmt: skip
            shard.add(Sample(key, json_bytes, images, texts, 0), tokens)
        new_entry = shard.close()
        new_entry.url = entry.url
        pending.append((shard, new_entry))
        entries.append(new_entry)

    rewritten, deleted = [], []
    for shard, entry in pending:
        if shard is None:
            root.rm(entry.url)
            deleted.append(entry.url)
        else:
            shard_dir = entry.url.rsplit("/", 1)[0]
            folder(root.resolve_paths(shard_dir)).mv(shard.tmp_name, shard.name)
            rewritten.append(entry.url)
    entries.sort(key=lambda e: e.url)
    updated = manifest.model_copy(update={"shardlist": entries, "totals": totals_of(entries)})
    for name, text in ((SIZES, sizes_json(updated)), (MANIFEST, updated.to_json())):
        with root.open(name + ".tmp", "w") as f:
            f.write(text)
        root.mv(name + ".tmp", name)

    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    result = TakedownResult(
        record=f"{TAKEDOWNS_DIR}/{stamp}.json",
        removed=removed,
        shards_rewritten=rewritten,
        shards_removed=deleted,
        samples_before=manifest.totals.samples,
        samples_after=updated.totals.samples,
    )
    record = {
        "timestamp": stamp,
        "reason": reason,
        "request": {"urls": sorted(request.urls), "sha256": sorted(request.sha256), "list": list_file},
        **asdict(result),
    }
    with root.open(result.record, "w") as f:
        f.write(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return result
