"""Histogram plots for the report: matplotlib (Agg, no display), returned as base64 PNG.

Each plot is one merged histogram (``audit.collect.collect_histograms``) with the run's
thresholds drawn as vertical lines, so an auditor sees at a glance how much of the distribution
each cut-off removes. Figures are built with matplotlib's object API (``Figure``), not pyplot,
so no global figure state survives a call.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

COLOR = "#4c72b0"
THRESHOLD_COLORS = ("#c44e52", "#dd8452", "#8172b3")


def histogram_png(entry: dict[str, Any], title: str, width: float = 5.2, height: float = 2.8) -> str:
    """Base64 PNG of one histogram entry (counts, edges, log, unit, thresholds...)."""
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.stairs(entry["counts"], entry["edges"], fill=True, color=COLOR, alpha=0.85)
    if entry["log"]:
        ax.set_xscale("log")
    ax.set_xlim(entry["edges"][0], entry["edges"][-1])
    for i, threshold in enumerate(entry.get("thresholds", [])):
        ax.axvline(
            threshold["value"],
            color=THRESHOLD_COLORS[i % len(THRESHOLD_COLORS)],
            linestyle="--",
            linewidth=1.5,
            label=f"{threshold['key']} = {threshold['value']:g}",
        )
    if entry.get("thresholds"):
        ax.legend(fontsize=7, loc="best", frameon=False)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(entry["unit"], fontsize=8)
    ax.set_ylabel("count", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    outside = [f"{entry[k]} {k}" for k in ("underflow", "overflow", "nan") if entry.get(k)]
    if outside:
        ax.text(0.99, 0.98, "outside the bins: " + ", ".join(outside), transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color="#555")  # fmt: skip
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return base64.b64encode(out.getvalue()).decode("ascii")
