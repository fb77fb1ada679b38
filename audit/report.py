"""The auditor's report: one self-contained HTML file, and ``report.json`` with the same figures.

Built from ``audit.collect.collect`` (aggregates and bounded samples only), so it opens fast
whatever the size of the run. Everything is inlined (CSS, plots as PNG, thumbnails as JPEG data
URIs): the page makes no request, and it reads on a laptop screen. Sections: the funnel per
stage, drops per reason, the distributions with their thresholds, a gallery of excluded
examples per stage and reason, kept samples as a trainer sees them, the shard summary, and the
resolved config with versions.
"""

from __future__ import annotations

import copy
import json
import re
from html import escape
from typing import Any

import fsspec

from audit.collect import collect
from audit.plots import histogram_png

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
FUNNEL_COLUMNS = (
    ("documents_in", "docs in"), ("documents_out", "docs out"),
    ("paragraphs_in", "paragraphs in"), ("paragraphs_out", "paragraphs out"),
    ("images_in", "images in"), ("images_out", "images out"), ("dropped", "dropped"),
)  # fmt: skip
BLUR_PREFIXES = ("nsfw",)  # reasons whose thumbnails are (already) blurred; the page blurs them again

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#cbd5e1}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:8px 24px;z-index:1}
nav a{margin-right:14px;color:#1d4ed8;text-decoration:none}
main{max-width:1200px;margin:0 auto;padding:8px 24px 40px}
h2{border-bottom:2px solid #e5e7eb;padding-bottom:4px;margin-top:32px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:8px 0 16px;background:#fff}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f3f4f6}tr.stage th{background:#e0e7ff;text-align:left}td.l,th.l{text-align:left}
td.drop{color:#b91c1c;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
figure{margin:0;background:#fff;border:1px solid #e5e7eb;padding:8px}
figure img{width:100%;height:auto}figcaption{font-size:12px;color:#555}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:10px}
.card{background:#fff;border:1px solid #e5e7eb;padding:8px;font-size:12px;overflow:hidden}
.card img{max-width:100%;max-height:160px;display:block;margin-bottom:6px}
.card img.nsfw{filter:blur(6px)}
.snippet{white-space:pre-wrap;max-height:9em;overflow:auto;background:#f9fafb;padding:4px}
.src{word-break:break-all;color:#555}
.sample{background:#fff;border:1px solid #e5e7eb;padding:12px;margin:12px 0;max-height:640px;overflow:auto}
.sample img{max-width:320px;max-height:320px;display:block;margin:8px 0}
.sample p{white-space:pre-wrap;margin:6px 0}
.muted{color:#6b7280}pre{background:#fff;border:1px solid #e5e7eb;padding:8px;overflow:auto;max-height:480px}
"""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def fmt(value: Any) -> str:
    """Numbers as the report prints them: thousands separators, floats to 4 significant digits."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return escape(str(value))
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}"
    return f"{int(value):,}"


def funnel_section(data: dict[str, Any]) -> str:
    """One table: a header row per stage, then a row per step."""
    head = "".join(f"<th>{label}</th>" for _, label in FUNNEL_COLUMNS)
    rows = []
    for stage in data["stages"]:
        tasks = f", {stage['tasks']} task{'s' * (stage['tasks'] != 1)}" if stage["tasks"] else ""
        rows.append(
            f'<tr class="stage" id="funnel-{slug(stage["name"])}"><th class="l" colspan="{len(FUNNEL_COLUMNS) + 1}">'
            f"{escape(stage['name'])}{tasks}</th></tr>"
        )
        for step in stage["steps"]:
            cells = "".join(
                f'<td class="{"drop" if key == "dropped" and step[key] else ""}">{fmt(step[key])}</td>'
                for key, _ in FUNNEL_COLUMNS
            )
            rows.append(
                f'<tr><td class="l" title="{escape(step["name"])}">{escape(step["label"])}</td>{cells}</tr>'
            )
    return (
        '<section id="funnel"><h2>Funnel</h2><p class="muted">Every step of every stage, summed over its tasks; '
        "– where a step does not count that unit.</p>"
        f'<div class="scroll"><table class="funnel"><tr><th class="l">stage / step</th>{head}</tr>'
        f"{''.join(rows)}</table></div></section>"
    )


def drops_section(data: dict[str, Any]) -> str:
    examples = data["exclusions"]
    rows = []
    for stage in data["stages"]:
        recorded = examples.get(stage["name"], {}).get("counts", {})
        for step in stage["steps"]:
            base = {"documents": step["documents_in"], "paragraphs": step["paragraphs_in"],
                    "images": step["images_in"], "urls": step["images_in"]}  # fmt: skip
            for drop in step["drops"]:
                total = base.get(drop["unit"])
                share = f"{100 * drop['count'] / total:.1f} %" if total else "–"
                reason = exclusion_reason(drop, recorded)
                link = (
                    f'<a href="#gallery-{slug(stage["name"])}-{slug(reason)}">examples</a>'
                    if reason in recorded
                    else '<span class="muted">none kept</span>'
                )
                rows.append(
                    f'<tr><td class="l">{escape(stage["name"])}</td><td class="l">{escape(step["label"])}</td>'
                    f'<td class="l">{drop["unit"]}</td><td class="l">{escape(drop["reason"])}</td>'
                    f'<td>{fmt(drop["count"])}</td><td>{share}</td><td class="l">{link}</td></tr>'
                )
    if not rows:
        return '<section id="drops"><h2>Drops per reason</h2><p>Nothing was dropped.</p></section>'
    return (
        '<section id="drops"><h2>Drops per reason</h2><div class="scroll"><table>'
        '<tr><th class="l">stage</th><th class="l">step</th><th class="l">unit</th><th class="l">reason</th>'
        '<th>count</th><th>of step input</th><th class="l">gallery</th></tr>'
        f"{''.join(rows)}</table></div></section>"
    )


def sources_section(data: dict[str, Any]) -> str:
    """Per source (instruction data): rows read, samples and turns written, drops per reason, and
    the images found in several sources."""
    sources = data.get("sources") or {}
    if not sources:
        return ""
    rows = []
    for name, c in sources.items():
        drops = ", ".join(
            f"{escape(r)} {fmt(n)}" for r, n in sorted(c["dropped"].items(), key=lambda x: -x[1])
        )
        rows.append(
            f'<tr><td class="l">{escape(name)}</td><td>{fmt(c.get("rows"))}</td><td>{fmt(c.get("samples"))}</td>'
            f"<td>{fmt(c.get('turns'))}</td><td>{fmt(c.get('text_only'))}</td>"
            f'<td class="{"drop" if c["dropped"] else ""}">{fmt(sum(c["dropped"].values()))}</td>'
            f'<td class="l">{drops or "–"}</td></tr>'
        )
    cross = data.get("cross_source")
    note = ""
    if cross:
        pairs = ", ".join(f"{escape(p)}: {fmt(n)}" for p, n in cross["pairs"].items()) or "none"
        note = (
            f"<p>{fmt(cross['images_in_several_sources'])} of {fmt(cross['images'])} images are in several "
            f"sources ({escape(cross['method'])}): {pairs}.</p>"
        )
    return (
        '<section id="sources"><h2>Sources</h2><p class="muted">Rows read, samples and turns written and '
        "rows or turns dropped, per source.</p>"
        '<div class="scroll"><table><tr><th class="l">source</th><th>rows</th><th>samples</th><th>turns</th>'
        '<th>text only</th><th>dropped</th><th class="l">reasons</th></tr>'
        f"{''.join(rows)}</table></div>{note}</section>"
    )


def exclusion_reason(drop: dict[str, Any], recorded: dict[str, int]) -> str:
    """The name the exclusion records give a counted drop (node filters prefix the node type)."""
    prefixed = {"paragraphs": "paragraph_", "images": "image_"}.get(drop["unit"], "") + drop["reason"]
    return prefixed if prefixed in recorded else drop["reason"]


def histograms_section(data: dict[str, Any]) -> str:
    figures = []
    for stage, steps in data["histograms"].items():
        for step, metrics in steps.items():
            for metric, entry in metrics.items():
                png = histogram_png(entry, f"{stage} / {step}: {metric}")
                mean = entry["sum"] / entry["n"] if entry["n"] else None
                figures.append(
                    f'<figure id="hist-{slug(stage)}-{slug(metric)}"><img alt="{escape(metric)}" '
                    f'src="data:image/png;base64,{png}"><figcaption>{escape(entry["description"])}: '
                    f"n={fmt(entry['n'])}, mean {fmt(mean)}, min {fmt(entry['min'])}, max {fmt(entry['max'])}"
                    "</figcaption></figure>"
                )
    if not figures:
        body = '<p class="muted">No histograms: the run\'s filters wrote none (histograms_dir unset).</p>'
    else:
        note = (
            "" if data["config"] else '<p class="muted">No resolved config found: thresholds not drawn.</p>'
        )
        body = f'{note}<div class="grid">{"".join(figures)}</div>'
    return f'<section id="distributions"><h2>Distributions</h2>{body}</section>'


def example_card(record: dict[str, Any], blur: bool) -> str:
    image = ""
    if record.get("thumbnail"):
        css = ' class="nsfw"' if blur else ""
        image = f'<img{css} alt="thumbnail" src="data:image/jpeg;base64,{record["thumbnail"]}">'
    source = escape(record.get("source") or "")
    link = (
        f'<a class="src" href="{source}" rel="noreferrer noopener" target="_blank">{source}</a>'
        if source
        else ""
    )
    value = "" if record.get("value") is None else f"<div>measured: <b>{fmt(record['value'])}</b></div>"
    snippet = (
        f'<div class="snippet">{escape(record.get("snippet") or "")}</div>' if record.get("snippet") else ""
    )
    return f'<div class="card">{image}{value}{snippet}<div>{link}</div></div>'


def gallery_section(data: dict[str, Any]) -> str:
    parts = ['<section id="gallery"><h2>Excluded examples</h2>']
    stages = [s["name"] for s in data["stages"] if s["dropped"]]
    stages += [name for name in data["exclusions"] if name not in stages]
    for stage in stages:
        excluded = data["exclusions"].get(stage, {"counts": {}, "steps": {}})
        parts.append(f'<section id="gallery-{slug(stage)}"><h3>{escape(stage)}</h3>')
        for step, merged in excluded["steps"].items():
            for reason, records in merged["examples"].items():
                blur = reason.startswith(BLUR_PREFIXES)
                cards = "".join(example_card(r, blur) for r in records)
                parts.append(
                    f'<h4 id="gallery-{slug(stage)}-{slug(reason)}">{escape(reason)} '
                    f'<span class="muted">({escape(step)}: {fmt(merged["counts"].get(reason, 0))} dropped, '
                    f'{len(records)} shown)</span></h4><div class="cards">{cards}</div>'
                )
        stage_info = next((s for s in data["stages"] if s["name"] == stage), None)
        missing = sorted(
            {d["reason"] for step in (stage_info or {}).get("steps", []) for d in step["drops"]
             if exclusion_reason(d, excluded["counts"]) not in excluded["counts"]}
        )  # fmt: skip
        if missing:
            parts.append(
                f'<p class="muted">No examples kept (the step records none) for: {escape(", ".join(missing))}.</p>'
            )
        parts.append("</section>")
    if not stages:
        parts.append("<p>Nothing was dropped.</p>")
    return "".join(parts) + "</section>"


def sample_html(sample: dict[str, Any]) -> str:
    """One kept sample as a trainer reads it: texts with the images in place."""
    images = sample.get("image_data", {})

    def img(member: str) -> str:
        data = images.get(member)
        if not data:
            return f'<p class="muted">[image {escape(member)} not shown]</p>'
        return f'<img alt="{escape(member)}" src="data:image/jpeg;base64,{data}">'

    body = []
    if sample.get("kind") == "qa":
        body += [img(m) for m in sample.get("images", []) if m]
        for turn in sample.get("texts", []):
            body.append(f"<p><b>user:</b> {escape(str(turn.get('user', '')))}</p>")
            body.append(f"<p><b>assistant:</b> {escape(str(turn.get('assistant', '')))}</p>")
    else:
        for text, image in zip(sample.get("texts", []), sample.get("images", []), strict=False):
            body.append(img(image) if image else f"<p>{escape(str(text or ''))}</p>")
    source = escape(str(sample.get("source", "")))
    return (
        f'<div class="sample"><div class="muted">{escape(sample["key"])} · {escape(sample.get("kind", ""))} · '
        f'<span class="src">{source}</span></div>{"".join(body)}</div>'
    )


def samples_section(data: dict[str, Any]) -> str:
    if not data["samples"]:
        return '<section id="samples"><h2>Kept samples</h2><p class="muted">No shards written.</p></section>'
    shard = escape(data["samples_shard"] or "")
    return (
        f'<section id="samples"><h2>Kept samples</h2><p class="muted">The first {len(data["samples"])} '
        f"samples of {shard}, as a trainer reads them.</p>{''.join(sample_html(s) for s in data['samples'])}</section>"
    )


def shards_section(data: dict[str, Any]) -> str:
    manifest = data["manifest"]
    if not manifest:
        return (
            '<section id="shards"><h2>Shards</h2><p class="muted">No manifest.json: no shards.</p></section>'
        )
    totals = manifest["totals"]
    keys = ("shards", "samples", "bytes", "words", "images", "tokens")
    head = "".join(f"<th>{k}</th>" for k in keys)
    per = manifest["per_sample"]
    rows = [
        f'<tr><td class="l">{escape(manifest["kind"])}</td>{"".join(f"<td>{fmt(totals[k])}</td>" for k in keys)}</tr>',
        f'<tr><td class="l">per sample</td><td></td><td></td>{"".join(f"<td>{fmt(per[k])}</td>" for k in keys[2:])}</tr>',
    ]
    shard_rows = "".join(
        f'<tr><td class="l">{escape(e["url"])}</td><td>{fmt(e["nsamples"])}</td><td>{fmt(e["filesize"])}</td>'
        f"<td>{fmt(e['words'])}</td><td>{fmt(e['images'])}</td><td>{fmt(e['tokens'])}</td></tr>"
        for e in manifest["shards"]
    )
    more = totals["shards"] - len(manifest["shards"])
    more_note = f'<p class="muted">and {fmt(more)} more shards (see manifest.json).</p>' if more > 0 else ""
    return (
        f'<section id="shards"><h2>Shards</h2><table><tr><th class="l">kind</th>{head}</tr>{"".join(rows)}</table>'
        '<div class="scroll"><table><tr><th class="l">shard</th><th>samples</th><th>bytes</th><th>words</th>'
        f"<th>images</th><th>tokens</th></tr>{shard_rows}</table></div>{more_note}</section>"
    )


def config_section(data: dict[str, Any]) -> str:
    config = (
        escape(json.dumps(data["config"], indent=2, ensure_ascii=False)) if data["config"] else "(none found)"
    )
    versions = (
        escape(json.dumps(data["versions"], indent=2, ensure_ascii=False)) if data["versions"] else "(none)"
    )
    return (
        '<section id="config"><h2>Config and versions</h2>'
        f"<details open><summary>versions</summary><pre>{versions}</pre></details>"
        f"<details><summary>resolved config</summary><pre>{config}</pre></details></section>"
    )


def render_html(data: dict[str, Any]) -> str:
    manifest = data["manifest"] or {}
    totals = manifest.get("totals", {})
    summary = (
        f"{escape(manifest.get('kind', 'no shards'))} · {fmt(totals.get('samples'))} samples in "
        f"{fmt(totals.get('shards'))} shards · {escape(data['run_dir'])}"
    )
    nav = "".join(
        f'<a href="#{anchor}">{label}</a>'
        for anchor, label in [("funnel", "Funnel"), ("drops", "Drops"),
                              *([("sources", "Sources")] if data.get("sources") else []),
                              ("distributions", "Distributions"),
                              ("gallery", "Excluded examples"), ("samples", "Kept samples"),
                              ("shards", "Shards"), ("config", "Config")]
    )  # fmt: skip
    sections = [funnel_section, drops_section, sources_section, histograms_section, gallery_section, samples_section,
                shards_section, config_section]  # fmt: skip
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>vlmdata report: {escape(data['dataset'])}</title><style>{CSS}</style></head><body>"
        f"<header><h1>vlmdata report: {escape(data['dataset'])}</h1><p>{summary}</p></header>"
        f"<nav>{nav}</nav><main>{''.join(section(data) for section in sections)}</main></body></html>\n"
    )


def export_json(data: dict[str, Any]) -> str:
    """The report's figures as JSON: the collected dict without thumbnails and sample images."""
    out = copy.deepcopy(data)
    for stage in out["exclusions"].values():
        for merged in stage["steps"].values():
            for records in merged["examples"].values():
                for record in records:
                    record["thumbnail"] = bool(record.get("thumbnail"))
    for sample in out["samples"]:
        sample["image_data"] = sorted(sample["image_data"])
    return json.dumps(out, indent=1, ensure_ascii=False) + "\n"


def build_report(
    run_dir: str, out_html: str | None = None, config: dict[str, Any] | None = None
) -> tuple[str, str]:
    """Write the report of ``run_dir`` (``report.html`` and ``report.json`` there, or ``out_html``
    and the same name ending ``.json``); returns both paths. ``config`` is the run's resolved
    config, used for the thresholds when the run has no manifest."""
    data = collect(run_dir, config)
    out_html = out_html or f"{run_dir.rstrip('/')}/{REPORT_HTML}"
    out_json = (out_html[:-5] if out_html.endswith(".html") else out_html) + ".json"
    with fsspec.open(out_html, "w", encoding="utf-8", auto_mkdir=True) as f:
        f.write(render_html(data))
    with fsspec.open(out_json, "w", encoding="utf-8", auto_mkdir=True) as f:
        f.write(export_json(data))
    return out_html, out_json
