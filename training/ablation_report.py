"""``ablation.html``: the ablation's result for a reader: one self-contained page (plots inline).

Per evaluation a table of variants (mean ± spread over seeds, every seed's value, the difference
to the base variant and the plain statement of whether it exceeds the seed spread), failed runs
with their error, each variant's loss curves (one line per seed, matplotlib, base64 PNG), and
links to the auditor's report of every dataset a variant trained on (``report.html`` beside its
manifest, where the job wrote one).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.beyond{color:#1a7f37;font-weight:600}.within{color:#666}
.failed{color:#c0392b}img{max-width:100%}"""


def loss_png(variant: dict[str, Any]) -> str | None:
    runs = [r for r in variant["runs"] if r.get("losses")]
    if not runs:
        return None
    figure = Figure(figsize=(5.2, 2.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for run in runs:
        steps, losses = zip(*run["losses"], strict=True)
        ax.plot(steps, losses, linewidth=1.2, label=f"seed {run['seed']}")
    ax.set_title(f"{variant['name']}: training loss", fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.set_yscale("log")
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return base64.b64encode(out.getvalue()).decode("ascii")


def write_report(summary: dict[str, Any], plan, path: Path) -> Path:
    e = html.escape
    names = [ev["name"] for ev in summary["evaluations"]]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Ablation</title><style>{STYLE}</style></head><body>",
             "<h1>Ablation</h1>",
             f"<p>{len(summary['variants'])} variants × seeds {e(str(summary['seeds']))}; base: <b>{e(summary['base'])}</b>.</p>",
             "<table id='scores'><tr><th>variant</th>" + "".join(f"<th>{e(n)} ({e(ev['metric'])})</th>" for n, ev in zip(names, summary["evaluations"], strict=True)) + "<th>against the base</th></tr>"]  # fmt: skip
    for variant in summary["variants"]:
        cells = []
        for name in names:
            score = variant["scores"][name]
            values = ", ".join(f"{v:.3f}" for v in score["values"])
            cells.append("<td class='failed'>failed</td>" if score["mean"] is None else
                         f"<td>{score['mean']:.3f} ± {score['spread']:.3f}<br><small>{values}</small></td>")  # fmt: skip
        verdicts = (
            "<br>".join(
                f"<span class='{'beyond' if v['beyond_spread'] else 'within'}'>{e(n)}: {v['diff']:+.3f}, {e(v['statement'])}</span>"
                for n, v in variant["vs_base"].items()
            )
            or "(the base)"
        )
        parts.append(f"<tr><td>{e(variant['name'])}</td>{''.join(cells)}<td>{verdicts}</td></tr>")
    parts.append("</table>")
    failed = [(v["name"], r) for v in summary["variants"] for r in v["runs"] if r["status"] != "ok"]
    if failed:
        parts.append("<h2>Failed runs</h2><ul>" + "".join(
            f"<li class='failed'>{e(name)} seed {r['seed']}: {e(r.get('error', ''))}</li>" for name, r in failed) + "</ul>")  # fmt: skip
    parts.append("<h2>Loss curves</h2>")
    for variant in summary["variants"]:
        png = loss_png(variant)
        if png:
            parts.append(f"<img alt='loss of {e(variant['name'])}' src='data:image/png;base64,{png}'>")
    parts.append("<h2>Data</h2><ul>")
    seen = set()
    for variant_name, _, cfg in plan.runs:
        for spec in cfg.datasets:
            report = Path(spec.manifest).parent / "report.html"
            key = (variant_name, spec.manifest)
            if key in seen:
                continue
            seen.add(key)
            link = f"<a href='{e(report.resolve().as_uri())}'>report</a>" if report.exists() else "no report"
            parts.append(f"<li>{e(variant_name)}: {e(spec.manifest)} (weight {spec.weight}): {link}</li>")
    parts.append("</ul></body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
