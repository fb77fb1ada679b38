"""``vlmdata run instruct``: The Cauldron built from its sources -> ``qa`` shards.

Each source's files are read by its converter (``pipelines.instruct.sources``) row by row; a
row's turns join the sample of the image it is about (the converter's ``group_by``): several
questions about one image become one multi-turn sample, as The Cauldron publishes them. A sample
holds at most ``max_turns`` turns and ``max_tokens`` tokens (more start another sample with the
same image); a question asked twice about one image is dropped (``duplicate_question``).
Samples carry their source, family, licence, rows and image hashes in ``meta``.

Rows and turns that cannot be converted are counted per source as ``<source>/dropped_<reason>``
(``missing_image``, ``bad_image``, ``empty_answer``, ``disagreeing_answers``,
``answer_not_in_options``, ...) and never stop the job; a file of another layout stops it at
once, before any stage runs, naming what it lacks.

The same image in several sources (COCO recurs in VQAv2, TallyQA, ...) is found by the SHA-256
of its bytes: each task lists its images per source, and the last stage writes
``cross_source_images.json`` (images in more than one source, per pair of sources).
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field, replace

from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from PIL import Image

from filters.image_filters import size_failure
from filters.tokens import count_tokens
from pipelines.conversations import Dropped, image_bytes
from pipelines.governance import governance_steps
from pipelines.inputs import list_files
from pipelines.instruct.converter import Converter
from pipelines.instruct.cross_source import CrossSourceImages
from pipelines.instruct.sources import SOURCES, converter
from pipelines.instruct.styles import Published, Turn, fill
from pipelines.pack import shard_stages
from pipelines.stages import Stage
from pipelines.steps import folder
from schemas.config import ConfigError
from schemas.config_instruct import InstructConfig, InstructSource

IMAGES_DIR = "_instruct_images"  # per task: "<sha256>[:<phash>]\t<source>" of every image it wrote


@dataclass
class Group:
    """The sample being gathered for one image."""

    images: list[bytes]
    hashes: list[str]
    first_row: int
    paths: list[str] = field(default_factory=list)  # the images' paths as the source names them
    turns: list[Turn] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    tokens: int = 0
    part: int = 0


class Draws:
    """The random draws of one source row (which prompt line, which answer): the i-th draw takes
    ``crc32("<seed>:<source>:<file>:<row>:<i>") mod len(options)``, so a re-run, a resumed run and
    any split among tasks draw the same. A seeded ``random.Random`` per row cost ~10 us, as much
    as the rest of a VQAv2 row's conversion (bench_instruct)."""

    def __init__(self, key: str):
        self.key, self.count = key, 0

    def __call__(self, options: list[str]) -> str:
        draw = zlib.crc32(f"{self.key}:{self.count}".encode())
        self.count += 1
        return options[draw % len(options)]


def too_big(conv: Converter, data: bytes) -> None:
    """``image_too_big`` past the converter's ``max_aspect`` / ``max_side`` (the header's size),
    by the image filters' size rule; the detail names the rule."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    rule = size_failure(
        width,
        height,
        max_side=conv.max_side or float("inf"),
        max_aspect_ratio=conv.max_aspect or float("inf"),
    )
    if rule:
        raise Dropped("image_too_big", f"{rule}: {width} x {height}")


def source_name(source: InstructSource) -> str:
    return source.name or source.converter


class InstructReader(PipelineStep):
    """(source, file) units, split among tasks -> grouped ``qa`` documents (module docstring)."""

    name = "🍲 Instruct sources"
    type = "📖 - READER"

    def __init__(
        self,
        cfg: InstructConfig,
        units: list[tuple[int, str]],
        images_dir: str,
        tag: str = "",
        converters: dict[int, Converter] | None = None,
    ):
        super().__init__()
        self.cfg, self.units, self.images_dir, self.tag = cfg, units, images_dir, tag
        self.converters = converters or {}  # per source index, instead of the registry's (import cauldron)

    # -- images ---------------------------------------------------------------------------------
    def images(self, conv: Converter, row: dict, base: str) -> list[tuple[bytes, str]]:
        """(bytes, path as the source names it) of the row's images; a field may hold a list."""
        out = []
        for spec in conv.images:  # a field, or a path ("image.png") / path template ("png/{id}.png")
            ref = fill(spec, row) if "{" in spec or "." in spec else row.get(spec)
            refs = ref if isinstance(ref, list) else [ref]
            if ref is None or not refs:
                if conv.text_only:
                    continue
                raise Dropped("missing_image", spec)
            for one in refs:
                path = one.get("path") if isinstance(one, dict) else one if isinstance(one, str) else None
                data = image_bytes(one, base)
                if conv.max_side or conv.max_aspect:
                    too_big(conv, data)
                out.append((data, path or ""))
        return out

    def _hash(self, data: bytes) -> str:
        """``<sha256>`` of the image, ``<sha256>:<phash>`` with ``cross_source: phash``."""
        digest = hashlib.sha256(data).hexdigest()
        if self.cfg.cross_source != "phash":
            return digest
        from filters.dedup.image_hash import phash  # decodes the image: only when asked for

        try:
            return f"{digest}:{phash(data):016x}"
        except ValueError:  # Pillow opened it but cannot decode it: exact copies only
            return digest

    # -- rows -------------------------------------------------------------------------------------
    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        seen_images: dict[str, set[str]] = defaultdict(set)
        for src_index, file in self.units[rank::world_size]:
            source = self.cfg.sources[src_index]
            conv = self.converters.get(src_index) or converter(source.converter)
            yield from self._convert(conv, source, file, seen_images)
        with folder(self.images_dir).open(f"images-{self.tag}{rank:05d}.tsv", "w") as f:
            for digest, names in seen_images.items():
                f.writelines(f"{digest}\t{name}\n" for name in sorted(names))

    def _convert(self, conv: Converter, source: InstructSource, file: str, seen_images) -> DocumentsPipeline:
        name = source_name(source)
        base = (source.image_folder or os.path.dirname(file)).rstrip("/") or "."
        stem = f"{name}-{hashlib.sha1(file.encode()).hexdigest()[:8]}"
        groups: OrderedDict[str, Group] = OrderedDict()
        tokenizer = self.cfg.tokenizer or self.cfg.shards.tokenizer
        ready: list[Document] = []
        open_bytes = 0  # image bytes of the groups being gathered

        counts: Counter[str] = Counter()  # flushed to the step's stats once per file (per-row
        # stat_update calls cost ~10% of a conversion: bench_instruct)

        def drop(reason: str) -> None:
            counts[f"{name}/dropped_{reason}"] += 1

        def emit(key: str, group: Group) -> None:
            if group.turns:
                ready.append(self._document(conv, source, name, file, stem, group))
                if self.cfg.cross_source != "off":
                    for digest in group.hashes:
                        seen_images[digest].add(name)
            group.turns, group.rows, group.tokens = [], [], 0
            group.part += 1

        draws = f"{self.cfg.seed}:{name}:{os.path.basename(file)}"
        rows = 0
        for index, row in conv.rows(file):
            with self.track_time():
                rows += 1
                try:
                    if row is None:
                        raise Dropped("bad_row")
                    if isinstance(row, Dropped):  # the file ends here (cut short)
                        raise row
                    turns = conv.turns(row, Draws(f"{draws}:{index}"))
                    key = conv.group_key(row)
                    good = [t for t in turns if isinstance(t, Turn)]
                    for bad in turns:
                        if isinstance(bad, Dropped):
                            drop(bad.reason)
                    if not good:
                        continue
                    gkey = f"#{index}" if key is None else key
                    group = groups.get(gkey)
                    if group is None:
                        found = self.images(conv, row, base)
                        images = [data for data, _ in found]
                        hashes = [self._hash(data) for data in images]
                        group = groups[gkey] = Group(images, hashes, index, paths=[p for _, p in found])
                        open_bytes += sum(map(len, images))
                        while len(groups) > 1 and (
                            len(groups) > self.cfg.open_groups or open_bytes > self.cfg.open_images_mb * 2**20
                        ):  # the image asked about longest ago is done: write its sample, free its bytes
                            old_key, old = groups.popitem(last=False)
                            open_bytes -= sum(map(len, old.images))
                            emit(old_key, old)
                    else:
                        groups.move_to_end(gkey)
                except Dropped as dropped:
                    drop(dropped.reason)
                    continue
                for turn in good:
                    self._add(group, turn, index, tokenizer, drop, lambda g=group, k=gkey: emit(k, g))
                if key is None:
                    emit(gkey, groups.pop(gkey))
                    open_bytes -= sum(map(len, group.images))
            yield from ready
            ready.clear()
        for key in list(groups):
            emit(key, groups.pop(key))
        counts[f"{name}/rows"] += rows
        for key, count in counts.items():
            self.stat_update(key, value=count)
        yield from ready

    def _add(self, group: Group, turn: Turn, index: int, tokenizer, drop, emit) -> None:
        if turn.key in group.seen:
            drop("duplicate_question")
            return
        tokens = count_tokens(turn.user, tokenizer) + count_tokens(turn.assistant, tokenizer)
        cap = self.cfg.max_tokens
        if cap is not None and tokens > cap:
            drop("too_many_tokens")
            return
        if group.turns and (
            len(group.turns) >= self.cfg.max_turns or (cap is not None and group.tokens + tokens > cap)
        ):
            emit()  # the image's next sample starts with this turn
        group.seen.add(turn.key)
        group.turns.append(turn)
        group.tokens += tokens
        if not group.rows or group.rows[-1] != index:
            group.rows.append(index)

    def _document(
        self, conv: Converter, source: InstructSource, name: str, file: str, stem: str, group: Group
    ) -> Document:
        first = group.rows[0]
        self.stat_update(f"{name}/samples")
        self.stat_update(f"{name}/turns", value=len(group.turns))
        if not group.images:
            self.stat_update(f"{name}/text_only")
        folder = os.path.basename(os.path.dirname(file.split("://")[-1]))
        meta = {
            "instruct_source": name,
            "converter": conv.name,
            "family": conv.family,
            "licence": source.licence or conv.licence,
            "file": f"{folder}/{os.path.basename(file)}" if folder else os.path.basename(file),
            "rows": group.rows,
            "image_sha256": [h.split(":")[0] for h in group.hashes],
            "tokens": group.tokens,
            # turns from separate source rows: decontamination may remove one and keep the rest
            "independent_turns": not isinstance(conv.style, Published),
            "questions": [t.key for t in group.turns],  # as the source asked them (decontamination)
        }
        if self.cfg.cross_source == "phash":
            meta["image_phash"] = [h.partition(":")[2] or None for h in group.hashes]
        paths = group.paths or [""] * len(group.images)
        media = [
            Media(id=f"{first}-{i}", type=MediaType.IMAGE, url=path, media_bytes=data)
            for i, (data, path) in enumerate(zip(group.images, paths, strict=True))
        ]
        label = conv.label or folder or name  # a published turn without a source: its subset's folder
        qa = [{"user": t.user, "assistant": t.assistant, "source": t.source or label} for t in group.turns]
        return Document(
            text="",
            id=f"{stem}-{group.first_row:08d}-{group.part:03d}",
            media=media,
            metadata={"qa": qa, "source": f"{file}#row={first}", "meta": meta},
        )


def _fitting(file: str, conv: Converter) -> str:
    """``"; its fields fit converter=X"`` when another converter of the same file kind reads it."""
    for other in SOURCES.values():
        if other.files == conv.files and other is not conv:
            try:
                other.check(file)
            except (ValueError, OSError):
                continue
            return f"; its fields fit converter={other.name}"
    return ""


def plan(cfg: InstructConfig, converters: dict[int, Converter] | None = None) -> list[tuple[int, str]]:
    """(source index, file) of every source; each file's layout is checked now (first row)."""
    if not cfg.sources:
        raise ConfigError("sources: give at least one {converter, input} (configs/instruct.yaml)")
    units = []
    for i, source in enumerate(cfg.sources):
        try:
            conv = (converters or {}).get(i) or converter(source.converter)
        except KeyError as error:
            raise ConfigError(f"sources[{i}].converter: {error.args[0]}") from None
        for file in list_files(source.input, conv.file_suffixes()):
            try:
                conv.check(file)  # a file of another layout fails here, at once
            except ValueError as error:
                raise ConfigError(f"sources[{i}]: {error}{_fitting(file, conv)}") from None
            units.append((i, file))
    names = [source_name(s) for s in cfg.sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"sources: two sources share a name ({names}); set `name` on one")
    return units


def build_instruct(cfg: InstructConfig, converters: dict[int, Converter] | None = None) -> list[Stage]:
    """The stages of ``run instruct``; ``converters`` replaces the registry's converter of a
    source (by index), as ``import cauldron`` does with its column names."""
    units = plan(cfg, converters)
    images_dir = f"{cfg.dataset_dir}/{IMAGES_DIR}"
    folder(images_dir).makedirs("", exist_ok=True)
    stages: list[Stage] = []
    groups = [units] if cfg.merge else [[u for u in units if u[0] == i] for i in range(len(cfg.sources))]
    for part in groups:
        if not part:
            continue
        sub = cfg if cfg.merge else cfg.model_copy(update={"dataset": source_name(cfg.sources[part[0][0]])})
        if not cfg.merge:
            sub = sub.model_copy(update={"output_dir": cfg.dataset_dir})
        tag = "" if cfg.merge else f"{sub.dataset}-"
        reader = InstructReader(cfg, part, images_dir, tag, converters)
        steps = governance_steps(sub, "write_shards", "all")
        tail = shard_stages(sub, "qa", reader, tasks=min(cfg.executor.tasks, len(part)), steps=steps)
        if not cfg.merge:
            tail = [replace(s, name=f"{s.name}_{sub.dataset}") for s in tail]
        stages += tail
    if cfg.cross_source != "off":
        distance = cfg.cross_source_distance if cfg.cross_source == "phash" else None
        stages.append(Stage("cross_source", [CrossSourceImages(cfg.dataset_dir, images_dir, distance)], 1))
    return stages
