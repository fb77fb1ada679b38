"""Read what a run wrote under OUT/<dataset>/ into one plain dict of aggregates.

The report, its JSON export and ``vlmdata stats`` all read this dict. Every input is already an
aggregate or a bounded sample, so the work is the same for a run of a hundred documents or of
millions: datatrove's per-task stats (``_logs/<stage>/stats/<rank>.json``, summed here because
a resumed run's ``stats.json`` holds only the tasks it ran), the exclusion summaries
(``_excluded/<stage>/``), the histograms (``_logs/histograms/<stage>/``), ``manifest.json``, and
the first few samples of the first shard.

Threshold lines come from the run's resolved config (``manifest.json``'s ``config``, or the
config the caller passes), looked up with ``THRESHOLD_KEYS``.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
import re
from typing import Any

import fsspec

from schemas.histograms import HISTOGRAMS_DIR, Histograms
from schemas.manifest import CROSS_SOURCE, MANIFEST, SHARDS_DIR, Manifest
from schemas.records import ExclusionSummary, merge_summaries, stat_total
from schemas.shard_reader import iter_samples

# metric -> the config keys (dotted) whose values are drawn as threshold lines on its histogram
THRESHOLD_KEYS: dict[str, tuple[str, ...]] = {
    "doc_words": ("doc_filters.min_words", "doc_filters.max_words"),
    "doc_char_10gram_repetition": ("doc_filters.max_char_10gram_repetition",),
    "doc_word_5gram_repetition": ("doc_filters.max_word_5gram_repetition",),
    "language_score": ("doc_filters.min_language_score",),
    "paragraph_words": ("node_filters.min_words", "node_filters.max_words"),
    "image_width": ("image_filters.min_side", "image_filters.max_side"),
    "image_height": ("image_filters.min_side", "image_filters.max_side"),
    "image_aspect_ratio": ("image_filters.max_aspect_ratio",),
    "nsfw_score": ("nsfw.threshold",),
    "clip_score": ("clip.threshold",),
    "pdf_pages": ("page_filters.min_pages", "page_filters.max_pages"),
    "page_words": ("page_filters.min_words",),
    "page_tokens": ("page_filters.max_tokens",),
    "page_ink_share": ("page_filters.max_ink_share",),
    "qa_answer_support": ("qa_filters.min_support",),
    "qa_answer_words": ("qa_filters.max_answer_words",),
}
EXAMPLES_PER_REASON = 12
KEPT_SAMPLES = 4
IMAGES_PER_SAMPLE = 8
SAMPLE_IMAGE_PX = 320
_DROP_PREFIXES = (("paragraphs_dropped_", "paragraphs"), ("images_dropped_", "images"), ("failed_", "urls"))


def step_label(name: str) -> str:
    """``"🔻 - FILTER: 🌐 Language filter"`` -> ``"Language filter"``."""
    return re.sub(r"^[^\w(]+", "", name.split(": ", 1)[-1]).strip() or name


def number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def sum_stats(stat_lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per step (matched by position and name), every counter's total summed over the tasks."""
    steps: dict[tuple[int, str], dict[str, float]] = {}
    for stats in stat_lists:
        for i, step in enumerate(stats):
            counters = steps.setdefault((i, step["name"]), {})
            for key, value in step.get("stats", {}).items():
                counters[key] = counters.get(key, 0) + stat_total(value)
    return [
        {"name": name, "counters": {k: number(v) for k, v in counters.items()}}
        for (_, name), counters in sorted(steps.items())
    ]


def funnel_row(name: str, counters: dict[str, int | float]) -> dict[str, Any]:
    """One step's line of the funnel: documents, paragraphs and images in and out (None where
    the step does not count them) and its drops per unit and reason.

    datatrove filters count ``total`` / ``forwarded`` / ``dropped_<reason>`` (documents); readers
    and writers ``documents`` or ``samples``; the node and image filters ``<unit>_in`` /
    ``<unit>_out``, and the image filters ``dropped_<reason>`` for images; a step counting
    neither documents nor images in has its ``dropped_<reason>`` shown as ``items``."""
    c = counters
    doc_unit = "documents" if "total" in c else "images" if "images_in" in c else "items"
    drops = []
    for key, value in c.items():
        for prefix, unit in (*_DROP_PREFIXES, ("dropped_", doc_unit)):
            if key.startswith(prefix):
                drops.append({"unit": unit, "reason": key[len(prefix) :], "count": value})
                break
    return {
        "name": name,
        "label": step_label(name),
        "documents_in": c.get("total"),
        "documents_out": next((c[k] for k in ("forwarded", "documents", "samples") if k in c), None),
        "paragraphs_in": c.get("paragraphs_in"),
        "paragraphs_out": c.get("paragraphs_out", c.get("paragraphs")),
        "images_in": c.get("images_in", c.get("urls")),
        "images_out": c.get("images_out", c.get("images", c.get("images_joined", c.get("fetched_ok")))),
        "dropped": sum(d["count"] for d in drops),
        "drops": sorted(drops, key=lambda d: -d["count"]),
        "counters": c,
    }


class RunReader:
    """The files of one run directory (local path or fsspec URL)."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.run_dir)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def read_text(self, *parts: str) -> str:
        with self.fs.open(self.path(*parts), "r", encoding="utf-8") as f:
            return f.read()

    def glob(self, pattern: str) -> list[str]:
        return sorted(self.fs.glob(self.path(pattern)))

    def mtime(self, path: str) -> float:
        info = self.fs.info(path)
        value = info.get("mtime") or info.get("LastModified") or 0
        return value if isinstance(value, (int, float)) else value.timestamp()


def collect_stages(run: RunReader) -> list[dict[str, Any]]:
    """The funnel of every stage that left stats, in the order the stages ran."""
    stages = []
    for stage_dir in run.glob("_logs/*"):
        name = posixpath.basename(stage_dir)
        per_rank = run.glob(f"_logs/{name}/stats/*.json")
        files = per_rank or run.glob(f"_logs/{name}/stats.json")
        if not files:
            continue  # not a stage (e.g. the histograms folder)
        stats = [json.loads(run.read_text(posixpath.relpath(f, run.root))) for f in files]
        steps = [funnel_row(s["name"], s["counters"]) for s in sum_stats(stats)]
        started = min(run.mtime(f) for f in files)
        stages.append(
            {
                "name": name,
                "tasks": len(per_rank) if per_rank else None,
                "steps": steps,
                "dropped": sum(step["dropped"] for step in steps),
                "_started": started,
            }
        )
    stages.sort(key=lambda s: (s.pop("_started"), s["name"]))
    return stages


def collect_sources(stages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Counters a step keeps per source as ``<source>/<counter>`` (``run instruct``, ``import
    cauldron``): source -> its counters, with ``dropped`` (reason -> count) apart."""
    sources: dict[str, dict[str, Any]] = {}
    for stage in stages:
        for step in stage["steps"]:
            for key, value in step["counters"].items():
                source, slash, counter = key.partition("/")
                if not slash or not source or "/" in counter:
                    continue
                entry = sources.setdefault(source, {"dropped": {}})
                if counter.startswith("dropped_"):
                    reason = counter.removeprefix("dropped_")
                    entry["dropped"][reason] = entry["dropped"].get(reason, 0) + value
                else:
                    entry[counter] = entry.get(counter, 0) + value
    return dict(sorted(sources.items()))


def collect_exclusions(run: RunReader, limit: int = EXAMPLES_PER_REASON) -> dict[str, Any]:
    """stage -> {counts per reason, steps: step -> {counts, examples per reason}}."""
    grouped: dict[str, dict[str, list[ExclusionSummary]]] = {}
    for path in run.glob("_excluded/*/*.json"):
        stage = posixpath.basename(posixpath.dirname(path))
        step = posixpath.basename(path)[:-5].split("-", 1)[-1]
        summary = ExclusionSummary.model_validate_json(run.read_text(posixpath.relpath(path, run.root)))
        grouped.setdefault(stage, {}).setdefault(step, []).append(summary)
    out: dict[str, Any] = {}
    for stage, steps in sorted(grouped.items()):
        merged_steps, counts = {}, {}
        for step, summaries in sorted(steps.items()):
            merged = merge_summaries(summaries, limit)
            merged["examples"] = {
                reason: [record.model_dump() for record in records]
                for reason, records in sorted(merged["examples"].items())
            }
            merged_steps[step] = merged
            for reason, count in merged["counts"].items():
                counts[reason] = counts.get(reason, 0) + count
        out[stage] = {"counts": counts, "steps": merged_steps}
    return out


def config_value(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def collect_histograms(run: RunReader, config: dict[str, Any]) -> dict[str, Any]:
    """stage -> step -> metric -> merged histogram (``Histogram.to_dict``) with its ``edges`` and
    the ``thresholds`` the config sets for it."""
    grouped: dict[tuple[str, str], list[Histograms]] = {}
    for path in run.glob(f"{HISTOGRAMS_DIR}/*/*.json"):
        stage = posixpath.basename(posixpath.dirname(path))
        step = posixpath.basename(path)[:-5].split("-", 1)[-1]
        text = run.read_text(posixpath.relpath(path, run.root))
        grouped.setdefault((stage, step), []).append(Histograms.from_json(text))
    out: dict[str, Any] = {}
    for (stage, step), items in sorted(grouped.items()):
        for metric, histogram in sorted(Histograms.merge(items).metrics.items()):
            entry = histogram.to_dict()
            entry["edges"] = histogram.spec.edges()
            entry["thresholds"] = [
                {"key": key, "value": value}
                for key in THRESHOLD_KEYS.get(metric, ())
                if isinstance(value := config_value(config, key), (int, float))
            ]
            out.setdefault(stage, {}).setdefault(step, {})[metric] = entry
    return out


def manifest_summary(manifest: Manifest, max_shards: int = 20) -> dict[str, Any]:
    totals = manifest.totals

    def per_sample(x: int | None) -> float | None:
        return round(x / totals.samples, 2) if totals.samples and x is not None else None

    return {
        "name": manifest.name,
        "kind": manifest.kind,
        "totals": totals.model_dump(),
        "per_sample": {"words": per_sample(totals.words), "images": per_sample(totals.images),
                       "tokens": per_sample(totals.tokens), "bytes": per_sample(totals.bytes)},
        "shards": [entry.model_dump() for entry in manifest.shardlist[:max_shards]],
    }  # fmt: skip


def _image_data(data: bytes, px: int = SAMPLE_IMAGE_PX) -> str | None:
    """A small base64 JPEG of a shard image (Pillow comes with matplotlib)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (px, px))
            image = image.convert("RGB")
            image.thumbnail((px, px))
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=80)
    except Exception:
        return None
    return base64.b64encode(out.getvalue()).decode("ascii")


def read_samples(run: RunReader, shard: str, limit: int = KEPT_SAMPLES) -> list[dict[str, Any]]:
    """The first ``limit`` samples of one shard, streamed (the rest of the shard is not read):
    each the sample JSON plus ``image_data`` (member suffix -> small base64 JPEG)."""
    samples: list[dict[str, Any]] = []
    with run.fs.open(run.path(shard), "rb") as f:
        for sample in iter_samples(f):
            if len(samples) >= limit:
                break
            try:
                data = sample.json()
            except (KeyError, ValueError):
                continue  # no sample JSON: nothing a trainer would see
            images = sample.images()[:IMAGES_PER_SAMPLE]
            samples.append({"key": sample.key, "image_data": {}, **data})
            samples[-1]["image_data"] = {suffix: _image_data(body) for suffix, body in images}
    return [s for s in samples if "kind" in s]


def collect(run_dir: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the report shows, as a plain dict. ``config`` (the run's resolved config)
    is used when the run has no manifest, as a job ending at staged documents."""
    run = RunReader(run_dir)
    manifest = None
    if run.fs.exists(run.path(MANIFEST)):
        manifest = Manifest.from_json(run.read_text(MANIFEST))
    config = manifest.config if manifest and manifest.config else (config or {})
    shards = [e.url for e in manifest.shardlist] if manifest else []
    if not shards:
        shards = [posixpath.relpath(p, run.root) for p in run.glob(f"{SHARDS_DIR}/*.tar")]
    stages = collect_stages(run)
    cross_source = None
    if run.fs.exists(run.path(CROSS_SOURCE)):
        cross_source = json.loads(run.read_text(CROSS_SOURCE))
    return {
        "dataset": manifest.name if manifest else posixpath.basename(run.root),
        "run_dir": run.run_dir,
        "stages": stages,
        "sources": collect_sources(stages),
        "cross_source": cross_source,
        "exclusions": collect_exclusions(run),
        "histograms": collect_histograms(run, config),
        "manifest": manifest_summary(manifest) if manifest else None,
        "config": config,
        "versions": manifest.versions if manifest else {},
        "samples": read_samples(run, shards[0]) if shards else [],
        "samples_shard": shards[0] if shards else None,
    }
