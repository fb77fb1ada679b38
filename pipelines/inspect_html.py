"""``vlmdata inspect-html``: one page in, one JSON line out, as extraction (and the node-level
filters) leave it, in the OBELICS layout. For debugging a page and for scoring in bulk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from datatrove.data import Document

from filters.language import LanguageTagger
from filters.node_filters import NodeFilters
from pipelines.steps.web.html_decode import decode_html
from pipelines.steps.web.html_extract import HtmlExtractor
from schemas.config_interleaved import NodeFilterConfig


def inspect_file(path: Path, url: str, raw: bool, node_filters: NodeFilterConfig) -> dict:
    html, charset = decode_html(path.read_bytes(), None)
    document = Document(text=html, id=path.name, metadata={"url": url})
    steps = [HtmlExtractor()] if raw else [HtmlExtractor(), LanguageTagger(), NodeFilters(node_filters)]
    documents = iter([document])
    for step in steps:
        documents = step.run(documents)
    out = next(documents, None)
    if out is None:
        return {"file": str(path), "url": url, "charset": charset, "dropped": True, "texts": [], "images": []}
    nodes = out.metadata["nodes"]
    return {
        "file": str(path),
        "url": url,
        "charset": charset,
        "texts": [n["text"] if n["type"] == "text" else None for n in nodes],
        "images": [out.media[n["media"]].url if n["type"] == "image" else None for n in nodes],
        "metadata": {k: out.metadata[k] for k in ("title", "lang", "lang_score") if k in out.metadata},
    }


def run_inspect(files: list[str], url: str | None, urls: str | None, raw: bool) -> int:
    mapping = json.loads(Path(urls).read_text()) if urls else {}
    config = NodeFilterConfig()
    status = 0
    for name in files:
        path = Path(name)
        page_url = url or mapping.get(path.name) or mapping.get(name)
        if isinstance(page_url, dict):  # pages.json style: {"file": {"url": ...}}
            page_url = page_url.get("url")
        try:
            row = inspect_file(path, page_url or path.resolve().as_uri(), raw, config)
        except OSError as error:
            print(f"{name}: cannot read ({error})", file=sys.stderr)
            status = 1
            continue
        print(json.dumps(row, ensure_ascii=False))
    return status
