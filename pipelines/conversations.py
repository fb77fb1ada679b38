"""``vlmdata import messages|alpaca|llava|sharegpt PATH``: instruction and conversation data ->
``qa`` shards in The Cauldron's layout (the images of the sample, then user/assistant turns).

Layouts (``layout``), each a row of a ``.jsonl``, ``.json`` (a list of rows) or ``.parquet`` file:

- ``messages`` (chat-template style): ``messages: [{role, content}]`` with roles ``system``,
  ``user``, ``assistant``; ``content`` a string or a list of parts (``{type: text, text}``,
  ``{type: image}``, which stands for the next image); images in ``images``: a list of
  ``{bytes, path}`` (the Hugging Face Image feature) or of paths;
- ``alpaca``: ``instruction``, optional ``input`` (joined to the instruction by a blank line),
  ``output``: one turn, no image;
- ``llava`` (LLaVA-Instruct, LLaVA-Conv, ShareGPT4V): ``conversations: [{from: human|gpt, value}]``
  with ``<image>`` in a human turn and ``image``: a path (or a list of them);
- ``sharegpt``: ``conversations: [{from: system|human|gpt, value}]``, no image unless ``image``.

Image paths are relative to ``image_folder`` (default: the input file's folder). ``<image>``
placeholders name the sample's images in order: they are removed from the text (the layout puts
images before the first question, as The Cauldron does) and the turn each one stood in is kept in
``meta.image_turns``; a row with placeholders must have exactly as many images (a row without any
placeholder keeps its images first). A system prompt goes to ``meta.system``; ``meta`` also keeps
the layout, file, row, licence and token count.

Rows that cannot become a sample are dropped with a reason, counted as ``dropped_<reason>``:
``bad_json`` (an unparsable JSON line), ``unknown_role``, ``roles_out_of_order`` (turns must
alternate user, assistant after optional system messages), ``no_user_turn``,
``no_assistant_turn``, ``empty_question``, ``empty_answer``, ``image_placeholders_mismatch``,
``missing_image``, ``bad_image`` (undecodable), ``too_many_tokens`` (over ``max_tokens``). A
last user turn without an answer, or with an empty one after answered turns, is removed and the
turns before it kept (``trailing_user_turn``). A file of another layout
fails at once, naming the columns it lacks.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import fsspec
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline, Media, MediaType
from datatrove.pipeline.base import PipelineStep
from PIL import Image

from filters.tokens import count_tokens
from pipelines.governance import governance_steps
from pipelines.inputs import list_files
from pipelines.pack import shard_stages
from pipelines.steps import jsonl_rows
from schemas.config import ConfigError
from schemas.config_instruct import ConversationImportConfig

IMAGE = "<image>"
ROLES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
}
COLUMNS = {  # what each layout needs, and what else it reads
    "messages": (["messages"], ["images"]),
    "alpaca": (["instruction", "output"], ["input", "system"]),
    "llava": (["conversations"], ["image"]),
    "sharegpt": (["conversations"], ["image", "system"]),
}
SUFFIXES = (".jsonl", ".json", ".parquet")


class Dropped(Exception):
    """A row that cannot become a sample, with its reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def _content(content: Any) -> str:
    """A message's text; image parts become ``<image>``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image":
                parts.append(IMAGE)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return "" if content is None else str(content)


def messages_of(layout: str, row: dict) -> list[tuple[str, str]]:
    """The row as (role as written, text) messages in order."""
    if layout == "alpaca":
        prompt = str(row.get("instruction") or "")
        if row.get("input"):
            prompt = f"{prompt}\n\n{row['input']}"
        out = [("system", str(row["system"]))] if row.get("system") else []
        return out + [("user", prompt), ("assistant", str(row.get("output") or ""))]
    if layout == "messages":
        return [
            (str(m.get("role", "")), _content(m.get("content")))
            for m in row.get("messages") or []
            if isinstance(m, dict)
        ]
    out = [("system", str(row["system"]))] if row.get("system") else []
    return out + [
        (str(m.get("from", "")), _content(m.get("value")))
        for m in row.get("conversations") or []
        if isinstance(m, dict)
    ]


def to_turns(messages: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], str | None, bool]:
    """(user/assistant turns, the system prompt, whether a last question without an answer (none,
    or an empty one after answered turns) was removed); raises ``Dropped`` (see the module
    docstring)."""
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for written, text in messages:
        role = ROLES.get(written.strip().lower())
        if role is None:
            raise Dropped("unknown_role", repr(written))
        if role == "system":
            if turns or pending is not None:
                raise Dropped("roles_out_of_order", "a system message after the conversation began")
            system.append(text)
        elif role == "user":
            if pending is not None:
                raise Dropped("roles_out_of_order", "two user turns in a row")
            pending = text
        else:
            if pending is None:
                raise Dropped(
                    "roles_out_of_order" if turns else "no_user_turn", "an assistant turn without a question"
                )
            turns.append((pending, text))
            pending = None
    if pending is None and len(turns) > 1 and not turns[-1][1].strip():  # the last answer empty:
        pending = turns.pop()[0]  # that question went unanswered; the turns before it are kept
    trailing = pending is not None
    if not turns:
        raise Dropped("no_assistant_turn" if trailing else "no_user_turn")
    for user, assistant in turns:
        if not user.replace(IMAGE, "").strip():
            raise Dropped("empty_question")
        if not assistant.strip():
            raise Dropped("empty_answer")
    return turns, "\n\n".join(s for s in system if s.strip()) or None, trailing


def image_bytes(ref: Any, base: str) -> bytes:
    """The bytes of an image reference as instruction data sets write them: ``{bytes, path}`` (the
    Hugging Face Image feature), raw bytes, or a path (relative to ``base`` unless absolute or a
    URL); raises ``Dropped`` (``missing_image``, ``bad_image``: Pillow cannot read it)."""
    data = None
    if isinstance(ref, dict):
        data = ref.get("bytes")
        ref = ref.get("path") if not data else ref
    elif isinstance(ref, bytes | bytearray):
        data = bytes(ref)
    if not data:
        if not isinstance(ref, str) or not ref:
            raise Dropped("missing_image", repr(ref)[:200])
        path = ref if "://" in ref or ref.startswith("/") else f"{base}/{ref}"
        path = path if "://" in path else os.path.normpath(path)
        try:
            with fsspec.open(path, "rb") as f:
                data = f.read()
        except OSError:  # FileNotFoundError, IsADirectoryError, ...
            raise Dropped("missing_image", path) from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception:  # Pillow raises many types for bad images
        raise Dropped("bad_image", str(ref)[:200]) from None
    return data


def strip_placeholders(text: str) -> str:
    return text.replace(IMAGE + "\n", "").replace("\n" + IMAGE, "").replace(IMAGE, "").strip()


class ConversationReader(PipelineStep):
    """Rows of instruction / conversation files -> ``qa`` documents (see the module docstring);
    files split among tasks."""

    name = "💬 Conversation reader"
    type = "📖 - READER"

    def __init__(self, cfg: ConversationImportConfig, files: list[str]):
        super().__init__()
        self.cfg, self.files = cfg, files

    # -- files --------------------------------------------------------------------------------
    def rows(self, file: str) -> Iterator[dict | None]:
        """The file's rows (None for an unparsable JSON line), after checking its columns."""
        required, _ = COLUMNS[self.cfg.layout]
        if file.endswith(".parquet"):
            with fsspec.open(file, "rb") as f:
                parquet = pq.ParquetFile(f)
                self._check_columns(file, parquet.schema_arrow.names)
                for batch in parquet.iter_batches(batch_size=256):
                    yield from batch.to_pylist()
            return
        with fsspec.open(file, "rt", encoding="utf-8") as f:
            if file.endswith(".jsonl"):
                yield from jsonl_rows(f, lambda keys: self._check_columns(file, keys))
                return
            data = json.load(f)
        rows = data if isinstance(data, list) else [data]
        first = next((r for r in rows if isinstance(r, dict)), {})
        self._check_columns(file, list(first))
        yield from (row if isinstance(row, dict) else None for row in rows)

    def _check_columns(self, file: str, present: list[str]) -> None:
        required, _ = COLUMNS[self.cfg.layout]
        missing = [c for c in required if c not in present]
        if missing:
            fits = [name for name, (cols, _) in COLUMNS.items() if all(c in present for c in cols)]
            hint = f"; its columns fit layout={fits[0]}" if fits else ""
            raise ValueError(
                f"{file}: layout {self.cfg.layout!r} needs the columns {missing}, which it lacks "
                f"(columns: {sorted(present)}){hint}"
            )

    # -- rows ---------------------------------------------------------------------------------
    def _images(self, row: dict, folder: str) -> list[bytes]:
        refs = row.get("images") if self.cfg.layout == "messages" else row.get("image")
        if refs is None or self.cfg.layout == "alpaca":
            return []
        refs = refs if isinstance(refs, list) else [refs]
        return [image_bytes(ref, self.cfg.image_folder or folder) for ref in refs]

    def document(self, file: str, index: int, row: dict) -> Document:
        """The ``qa`` document of one row; raises ``Dropped``."""
        turns, system, trailing = to_turns(messages_of(self.cfg.layout, row))
        placeholders = [n for n, (user, _) in enumerate(turns) for _ in range(user.count(IMAGE))]
        folder = file.rsplit("/", 1)[0] if "/" in file else "."
        images = self._images(row, folder)
        if placeholders and len(placeholders) != len(images):
            raise Dropped(
                "image_placeholders_mismatch", f"{len(placeholders)} <image> for {len(images)} images"
            )
        source = self.cfg.source or os.path.basename(file)
        qa = [{"user": strip_placeholders(u), "assistant": a.strip(), "source": source} for u, a in turns]
        tokenizer = self.cfg.tokenizer or self.cfg.shards.tokenizer
        tokens = sum(count_tokens(t["user"], tokenizer) + count_tokens(t["assistant"], tokenizer) for t in qa)
        tokens += count_tokens(system, tokenizer) if system else 0
        if self.cfg.max_tokens is not None and tokens > self.cfg.max_tokens:
            raise Dropped("too_many_tokens", str(tokens))
        stem = os.path.basename(file).rsplit(".", 1)[0]
        meta: dict[str, Any] = {
            "layout": self.cfg.layout,
            "file": os.path.basename(file),
            "row": index,
            "tokens": tokens,
        }
        if system:
            meta["system"] = system
        if placeholders:
            meta["image_turns"] = placeholders
        if self.cfg.licence:
            meta["licence"] = self.cfg.licence
        if trailing:
            self.stat_update("trailing_user_turn")
        media = [
            Media(id=f"{index}-{i}", type=MediaType.IMAGE, url="", media_bytes=data)
            for i, data in enumerate(images)
        ]
        return Document(
            text="",
            id=f"{stem}-{index:08d}",
            media=media,
            metadata={"qa": qa, "source": f"{file}#row={index}", "meta": meta},
        )

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for file in self.files[rank::world_size]:
            for index, row in enumerate(self.rows(file)):
                with self.track_time():
                    try:
                        if row is None:
                            raise Dropped("bad_json")
                        document = self.document(file, index, row)
                    except Dropped as dropped:
                        self.stat_update(f"dropped_{dropped.reason}")
                        continue
                self.stat_update("rows_read", "text_only" if not document.media else "with_images")
                self.update_doc_stats(document)
                yield document


def build_conversation_import(cfg: ConversationImportConfig):
    if not cfg.input:
        raise ConfigError(f"input: give {cfg.layout} files (.jsonl, .json, .parquet), folders or globs")
    files = list_files(cfg.input, SUFFIXES)
    reader = ConversationReader(cfg, files)
    for file in files:  # a file of another layout fails now, before any task runs
        next(reader.rows(file), None)
    steps = governance_steps(cfg, "write_shards", "all")
    return shard_stages(cfg, "qa", reader, tasks=min(cfg.executor.tasks, len(files)), steps=steps)
