"""Drift reports: flat JSON for ``dvc metrics``, Markdown for CI summaries, HTML for people.

The HTML is one self-contained file, rendered by Jinja with autoescaping on; each drifted
column gets an inline SVG of its reference and current distributions overlaid. The SVG's
geometry is computed here as numbers; the template only places them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from release.fsio import dumps_json, write_text
from release.markdown import md_cell
from release.monitor.result import ColumnDrift, DriftReport
from release.resources import builtin_templates

TEMPLATE_DIR = builtin_templates()
SVG_W, SVG_H, PAD_L, PAD_B, PAD_T = 420, 170, 36, 46, 10


def templates_env(templates: str | Path | None = None) -> Any:
    """A Jinja environment on the template folder (``*.html`` templates autoescaped)."""
    import jinja2

    folder = Path(templates) if templates else TEMPLATE_DIR
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "xml"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = fmt_number
    env.filters["md"] = md_cell  # release.markdown: the one Markdown escaper
    return env


def fmt_number(value: Any, digits: int = 4) -> str:
    """A number for people: ``-`` for missing, ``inf`` for infinite, 4 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf"
        if value != 0 and abs(value) < 1e-4:
            return f"{value:.2e}"
        return f"{value:.{digits}g}"
    return str(value)


def render_markdown(report: DriftReport, templates: str | Path | None = None) -> str:
    """``drift.md``: verdicts and the per-column table."""
    env = templates_env(templates)
    return str(env.get_template("monitor/drift.md").render(r=report, verdict=_verdict(report)))


def render_html(report: DriftReport, templates: str | Path | None = None) -> str:
    """``drift.html``: the same, plus overlaid distributions of drifted columns."""
    env = templates_env(templates)
    plots = [
        {"column": c, "svg": overlay_svg(c.distribution)}
        for c in report.columns + report.predictions
        if c.drifted and c.distribution
    ]
    return str(
        env.get_template("monitor/drift.html").render(
            r=report, verdict=_verdict(report), plots=plots
        )
    )


def write_reports(
    report: DriftReport, out_dir: str | Path, templates: str | Path | None = None
) -> dict[str, Path]:
    """Write ``drift.json``, ``drift.md`` and ``drift.html`` atomically into ``out_dir``."""
    out = Path(out_dir)
    files = {
        "json": out / "drift.json",
        "md": out / "drift.md",
        "html": out / "drift.html",
    }
    # Render everything first: a template error must not leave a half-updated set.
    texts = {
        "json": dumps_json(report.flat_metrics()),
        "md": render_markdown(report, templates),
        "html": render_html(report, templates),
    }
    for key, path in files.items():
        write_text(path, texts[key])
    return files


def summary_lines(report: DriftReport) -> list[str]:
    """A few lines for the terminal; the first names the model applied, if any."""
    lines = [] if report.model is None else [report.model_line]
    lines += [
        f"{_verdict(report)}: {len(report.drifted_columns)} of "
        f"{len([c for c in report.columns if c.status != 'no_reference'])} columns drifted "
        f"(share {report.drift_share:.2f}, dataset drift at >= {report.share_threshold:.2f})",
    ]
    for col in report.columns + report.predictions:
        if col.drifted:
            lines.append(f"  DRIFT {col.column}: {_describe(col)}")
    if report.predictions:
        lines.append(f"prediction drift: {'yes' if report.prediction_drift else 'no'}")
    if report.concept is not None:
        c = report.concept
        lines.append(
            f"concept drift: {'yes' if c.drifted else 'no'} ({c.metric} {fmt_number(c.current)} "
            f"[{fmt_number(c.ci_low)}, {fmt_number(c.ci_high)}] vs reference "
            f"{fmt_number(c.reference)}, {c.rows} labelled rows)"
        )
    for finding in report.schema:
        lines.append(f"  SCHEMA {finding.column}: {finding.kind}: {finding.detail}")
    lines.extend(f"note: {n}" for n in report.notes)
    return lines


def _describe(col: ColumnDrift) -> str:
    if col.status != "tested":
        return f"{col.status}: {col.note}"
    op = "<" if col.method in ("ks", "chi2") else ">="
    label = "p" if col.method in ("ks", "chi2") else col.method
    text = f"{col.method} {label}={fmt_number(col.score)} {op} {fmt_number(col.threshold)}"
    return text + (f" ({col.note})" if col.note else "")


def _verdict(report: DriftReport) -> str:
    return "DRIFT" if report.drift_detected else "no drift"


# ------------------------------------------------------------------------------ SVG
def overlay_svg(dist: dict[str, Any]) -> dict[str, Any]:
    """Geometry of an overlay plot: reference bars, current outline, axis labels."""
    ref, cur = list(dist["reference"]), list(dist["current"])
    n = len(ref)
    top = max([*ref, *cur, 1e-12])
    plot_w, plot_h = SVG_W - PAD_L - 8, SVG_H - PAD_B - PAD_T
    step = plot_w / max(n, 1)

    def y(v: float) -> float:
        return round(PAD_T + plot_h * (1 - v / top), 2)

    base = PAD_T + plot_h
    if dist["kind"] == "numeric":
        bars = [
            {
                "x": round(PAD_L + i * step, 2),
                "y": y(v),
                "w": round(step, 2),
                "h": round(base - y(v), 2),
            }
            for i, v in enumerate(ref)
        ]
        points = []
        for i, v in enumerate(cur):
            points += [(PAD_L + i * step, y(v)), (PAD_L + (i + 1) * step, y(v))]
        edges = dist["edges"]
        labels = [
            {"x": round(PAD_L + i * step, 2), "text": _tick(edges[i]), "anchor": anchor}
            for i, anchor in ((0, "start"), (n // 2, "middle"), (n, "end"))
        ]
        cur_bars: list[dict[str, float]] = []
    else:
        bars = [
            {
                "x": round(PAD_L + i * step + 2, 2),
                "y": y(v),
                "w": round(step / 2 - 2, 2),
                "h": round(base - y(v), 2),
            }
            for i, v in enumerate(ref)
        ]
        cur_bars = [
            {
                "x": round(PAD_L + i * step + step / 2, 2),
                "y": y(v),
                "w": round(step / 2 - 2, 2),
                "h": round(base - y(v), 2),
            }
            for i, v in enumerate(cur)
        ]
        points = []
        labels = [
            {"x": round(PAD_L + (i + 0.5) * step, 2), "text": str(c)[:14], "anchor": "end"}
            for i, c in enumerate(dist["categories"])
        ]
    return {
        "kind": dist["kind"],
        "width": SVG_W,
        "height": SVG_H,
        "base": base,
        "left": PAD_L,
        "right": SVG_W - 8,
        "top_label": f"{top:.0%}" if top >= 0.01 else f"{top:.1%}",
        "top": PAD_T,
        "bars": bars,
        "cur_bars": cur_bars,
        "line": " ".join(f"{round(px, 2)},{py}" for px, py in points),
        "labels": labels,
    }


def _tick(value: float) -> str:
    """An axis tick: thousands separated, otherwise three significant digits."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return fmt_number(float(value), 3)
