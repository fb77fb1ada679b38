"""The funnel as a terminal table (``vlmdata stats OUT/DATASET``).

Reads the same aggregates as the report (``audit.collect.collect_stages``): one line per step
with documents, paragraphs and images in and out, and under each step that dropped anything one
indented line per reason.
"""

from __future__ import annotations

from typing import Any

from audit.collect import RunReader, collect_stages

COLUMNS = (
    ("documents_in", "docs in"), ("documents_out", "docs out"),
    ("paragraphs_in", "para in"), ("paragraphs_out", "para out"),
    ("images_in", "img in"), ("images_out", "img out"), ("dropped", "dropped"),
)  # fmt: skip


def cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if float(value).is_integer() else f"{value:,.4g}"


def funnel_table(stages: list[dict[str, Any]]) -> str:
    """The funnel of ``stages`` as aligned plain text."""
    rows: list[list[str]] = [["stage / step", *(label for _, label in COLUMNS)]]
    for stage in stages:
        tasks = f" ({stage['tasks']} task{'s' * (stage['tasks'] != 1)})" if stage["tasks"] else ""
        rows.append([f"{stage['name']}{tasks}", *([""] * len(COLUMNS))])
        for step in stage["steps"]:
            rows.append([f"  {step['label']}", *(cell(step[key]) for key, _ in COLUMNS)])
            for drop in step["drops"]:
                rows.append([f"    - {drop['reason']} ({drop['unit']})", *([""] * (len(COLUMNS) - 1)),
                             cell(drop["count"])])  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            )
        )
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines)


def stats_table(run_dir: str) -> str:
    """The funnel table of the run in ``run_dir``; raises FileNotFoundError when it has no stats."""
    stages = collect_stages(RunReader(run_dir))
    if not stages:
        raise FileNotFoundError(f"{run_dir}: no _logs/<stage>/stats found; is this OUT/<dataset> of a run?")
    return funnel_table(stages)
