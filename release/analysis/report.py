"""Render the error analysis for people (Markdown) and for ``dvc plots`` (CSV), and write it.

All files are rendered in memory first and then each is written atomically, so a
failure while computing leaves the previous reports untouched.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from release.config import LOWER_IS_BETTER
from release.facts import write_slices
from release.fsio import write_json, write_text
from release.markdown import md_cell
from release.stats.metrics import RATE_METRICS

SLICES_JSON = "slices.json"
SLICES_MD = "slices.md"
PLOT_CSV = os.path.join("plots", "slices.csv")
EXPLAIN_JSON = "explain.json"
EXAMPLES_JSON = "examples.json"
PLOT_FIELDS = (
    "slice",
    "kind",
    "rows",
    "metric",
    "ci_low",
    "ci_high",
    "hlp",
    "potential_impact",
    "rank",
)


def fmt(value: float | None, *, rate: bool, digits: int = 1) -> str:
    """A number for the table: a percentage for rates, 4 significant digits otherwise."""
    if value is None:
        return "-"
    return f"{value * 100:.{digits}f}%" if rate else f"{value:.4g}"


def _cell(text: str) -> str:
    return md_cell(text)  # data values (category names, warnings) as inert Markdown text


def ordered(slices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked slices first (by rank), then the rest by impact, gap and name."""

    def key(s: dict[str, Any]) -> tuple[int, float, float, str]:
        rank = s["rank"] if s["rank"] is not None else 10**9
        impact = -(s["potential_impact"] or 0.0)
        return rank, impact, s["gap"] if s["gap"] is not None else 0.0, s["name"]

    return sorted(slices, key=key)


def render_markdown(result: dict[str, Any]) -> str:
    """The seed-shaped table: slice | HLP | model | share | potential impact, plus details."""
    metric = result["primary_metric"]
    impact_metric = result.get("impact_metric", metric)
    rate = metric in RATE_METRICS
    impact_rate = impact_metric in RATE_METRICS
    overall = result["overall"]
    conf = f"{round(result.get('confidence', 0.95) * 100):d}%"
    lines = ["# Error analysis by slice", ""]
    interval = (
        f" ({conf} CI {fmt(overall['ci_low'], rate=rate)} to {fmt(overall['ci_high'], rate=rate)})"
        if overall["ci_low"] is not None
        else ""
    )
    direction = "higher" if result["higher_is_better"] else "lower"
    lines.append(
        f"- Primary metric: **{metric}** ({direction} is better). Overall "
        f"{fmt(overall['metric'], rate=rate)}{interval} on {overall['rows']:,} test rows."
    )
    hlp_kind = result.get("hlp_kind")
    if hlp_kind:
        what = {
            "annotator_accuracy": "a single annotator's accuracy against the reference label",
            "agreement": "the expected agreement between two random annotators",
            "given": "values given in params.yaml (evaluate.hlp.given)",
        }.get(hlp_kind, hlp_kind)
        overall_hlp = overall.get("hlp")
        tail = "" if overall_hlp is None else f"; overall {fmt(overall_hlp, rate=impact_rate)}"
        lines.append(f"- HLP (human-level performance): {what}{tail}.")
    impact_hib = impact_metric not in LOWER_IS_BETTER
    formula = "max(HLP - model, 0)" if impact_hib else "max(model - HLP, 0)"
    lines.append(
        f"- Potential impact = {formula} x share: how much overall {impact_metric} "
        "could improve if the slice reached human level."
    )
    if result.get("ranking") == "gap":
        lines.append(
            "- No HLP is available, so slices are ranked by "
            f"{formula.replace('HLP', 'overall')} x share (shown in parentheses)."
        )
    if impact_metric != metric:
        lines.append(
            f"- HLP is measured as {impact_metric}, so the HLP, model and impact columns use "
            f"{impact_metric}; the CI column is for {metric}."
        )
    for warning in result.get("warnings") or []:
        lines.append(f"- Warning: {_cell(warning)}.")
    lines += [
        f"- Slices with fewer than {result.get('min_slice_size', 0):,} rows are flagged small: "
        "reported, not ranked.",
        "",
        "| slice | HLP | model | share | potential impact | rank | rows | "
        f"{metric} {conf} CI | small |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_table_row(s, rate, impact_rate) for s in ordered(result["slices"])]
    return "\n".join(lines) + "\n"


def _table_row(s: dict[str, Any], rate: bool, impact_rate: bool) -> str:
    """One slice's row of the Markdown table."""
    ci = (
        f"{fmt(s['metric'], rate=rate)} [{fmt(s['ci_low'], rate=rate)}, "
        f"{fmt(s['ci_high'], rate=rate)}]"
        if s["ci_low"] is not None
        else fmt(s["metric"], rate=rate)
    )
    impact = s["potential_impact"]
    if impact is None and s.get("gap_impact") is not None:
        impact_text = f"({fmt(s['gap_impact'], rate=impact_rate)})"
    else:
        impact_text = fmt(impact, rate=impact_rate)
    return (
        "| "
        + " | ".join(
            [
                _cell(s["name"]),
                fmt(s["hlp"], rate=impact_rate),
                fmt(s.get("impact_model", s["metric"]), rate=impact_rate),
                fmt(s["share"], rate=True),
                impact_text,
                "-" if s["rank"] is None else str(int(s["rank"])),
                f"{s['rows']:,}",
                ci,
                "yes" if s["small"] else "",
            ]
        )
        + " |"
    )


def render_plot_csv(result: dict[str, Any]) -> str:
    """Per-slice metric with CI and HLP marker, one row per slice (overall first)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PLOT_FIELDS, lineterminator="\n")
    writer.writeheader()
    overall = result["overall"]
    writer.writerow(
        {
            "slice": "overall",
            "kind": "overall",
            "rows": overall["rows"],
            "metric": _num(overall["metric"]),
            "ci_low": _num(overall["ci_low"]),
            "ci_high": _num(overall["ci_high"]),
            "hlp": _num(overall.get("hlp")),
            "potential_impact": "",
            "rank": "",
        }
    )
    for s in ordered(result["slices"]):
        writer.writerow(
            {
                "slice": s["name"],
                "kind": s["kind"],
                "rows": s["rows"],
                "metric": _num(s["metric"]),
                "ci_low": _num(s["ci_low"]),
                "ci_high": _num(s["ci_high"]),
                "hlp": _num(s["hlp"]),
                "potential_impact": _num(s["potential_impact"]),
                "rank": "" if s["rank"] is None else int(s["rank"]),
            }
        )
    return buf.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def write_reports(
    reports_dir: str | os.PathLike[str],
    slices: dict[str, Any],
    explain: dict[str, Any] | None,
    examples: dict[str, Any] | None,
) -> list[str]:
    """Write every report file (each atomically); return the paths written."""
    root = Path(reports_dir)
    markdown = render_markdown(slices)
    plot = render_plot_csv(slices)
    written = []
    write_slices(root / SLICES_JSON, slices)
    written.append(str(root / SLICES_JSON))
    write_text(root / SLICES_MD, markdown)
    written.append(str(root / SLICES_MD))
    write_text(root / PLOT_CSV, plot)
    written.append(str(root / PLOT_CSV))
    if explain is not None:
        write_json(root / EXPLAIN_JSON, explain)
        written.append(str(root / EXPLAIN_JSON))
    if examples is not None:
        write_json(root / EXAMPLES_JSON, examples)
        written.append(str(root / EXAMPLES_JSON))
    return written
