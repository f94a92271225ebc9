"""Small inline SVG plots for the HTML card, drawn from the card's own data.

No plotting library and no external resources: each function returns escaped SVG markup
(every label goes through ``markupsafe.escape``) ready to inline in an autoescaped page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH = 560
FONT = 'font-family="system-ui,sans-serif" font-size="11"'
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, label: Any, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" {FONT}{extra}>'
        f"{escape(str(label))}</text>"
    )


def _svg(width: float, height: float, title: str, body: list[str]) -> Markup:
    head = (
        f'<svg role="img" viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" '
        f'height="{_n(height)}"><title>{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every label escaped above


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def confusion_matrix(labels: Sequence[Any], matrix: Sequence[Sequence[int]]) -> Markup:
    """A heat-map of counts: rows are true classes, columns predicted classes."""
    k = max(len(labels), 1)
    cell = max(28, min(64, 320 // k))
    left, top = 110, 40
    width, height = left + cell * k + 20, top + cell * k + 40
    peak = max((max(row) for row in matrix if row), default=1) or 1
    body = [_text(left + cell * k / 2, 14, "predicted", "middle")]
    body.append(
        f'<text x="12" y="{_n(top + cell * k / 2)}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 12 {_n(top + cell * k / 2)})">true</text>'
    )
    for j, label in enumerate(labels):
        body.append(_text(left + cell * j + cell / 2, top - 6, _short(label), "middle"))
    for i, row in enumerate(matrix):
        body.append(_text(left - 6, top + cell * i + cell / 2 + 4, _short(labels[i]), "end"))
        for j, count in enumerate(row):
            shade = 0.1 + 0.85 * (count / peak)
            fill = "#fff" if shade > 0.55 else "#111"
            body.append(
                f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell}" '
                f'height="{cell}" fill="#1f77b4" fill-opacity="{shade:.3f}" stroke="#fff"/>'
            )
            body.append(
                _text(
                    left + cell * j + cell / 2,
                    top + cell * i + cell / 2 + 4,
                    count,
                    "middle",
                    f' fill="{fill}"',
                )
            )
    return _svg(width, height, "Confusion matrix", body)


def roc(curves: Sequence[dict[str, Any]]) -> Markup:
    """ROC curves (one per positive class) with the chance diagonal and AUC in the legend."""
    size, left, top = 260, 50, 20
    body = [
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#999"/>',
        f'<line x1="{left}" y1="{top + size}" x2="{left + size}" y2="{top}" stroke="#bbb" '
        'stroke-dasharray="4 3"/>',
        _text(left + size / 2, top + size + 32, "false positive rate", "middle"),
        f'<text x="14" y="{_n(top + size / 2)}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 14 {_n(top + size / 2)})">true positive rate</text>',
    ]
    for tick in (0, 0.5, 1):
        body.append(_text(left + size * tick, top + size + 14, tick, "middle"))
        body.append(_text(left - 4, top + size - size * tick + 4, tick, "end"))
    for idx, curve in enumerate(curves):
        color = PALETTE[idx % len(PALETTE)]
        pts = " ".join(
            f"{_n(left + size * x)},{_n(top + size - size * y)}"
            for x, y in zip(curve.get("fpr") or [], curve.get("tpr") or [], strict=False)
        )
        body.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        auc = curve.get("auc")
        label = f"{_short(curve.get('class'))}: AUC {auc:.3f}" if _finite(auc) else "AUC n/a"
        body.append(
            f'<rect x="{left + size + 12}" y="{top + 16 * idx}" width="10" height="10" '
            f'fill="{color}"/>'
        )
        body.append(_text(left + size + 26, top + 16 * idx + 9, label))
    return _svg(left + size + 180, top + size + 44, "ROC curve", body)


def residuals(data: dict[str, Any]) -> Markup:
    """Residuals (actual - predicted) against predicted values."""
    xs = [v for v in data.get("predicted") or [] if _finite(v)]
    ys = [v for v in data.get("residual") or [] if _finite(v)]
    w, h, left, top = 420, 240, 60, 16
    if not xs or not ys:
        return _svg(w, 40, "Residuals", [_text(10, 24, "no residuals")])
    x0, x1 = min(xs), max(xs)
    span_y = max(abs(min(ys)), abs(max(ys))) or 1.0
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * w

    def py(y: float) -> float:
        return top + h / 2 - y / span_y * (h / 2)

    body = [
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
        f'<line x1="{left}" y1="{_n(py(0))}" x2="{left + w}" y2="{_n(py(0))}" stroke="#888" '
        'stroke-dasharray="4 3"/>',
        _text(left + w / 2, top + h + 30, "predicted", "middle"),
        _text(left - 6, top + 8, _n(span_y), "end"),
        _text(left - 6, top + h, _n(-span_y), "end"),
        _text(left, top + h + 14, _n(x0), "middle"),
        _text(left + w, top + h + 14, _n(x1), "middle"),
    ]
    body += [
        f'<circle cx="{_n(px(x))}" cy="{_n(py(y))}" r="2" fill="#1f77b4" fill-opacity="0.5"/>'
        for x, y in zip(xs, ys, strict=False)
    ]
    return _svg(left + w + 20, top + h + 40, "Residuals against predicted values", body)


def slices(
    rows: Sequence[dict[str, Any]], overall: dict[str, Any], metric: str, limit: int = 30
) -> Markup:
    """Per-slice metric with its CI (line), the model (dot), HLP (diamond), overall (dashed)."""
    shown = list(rows)[:limit]
    values = [overall.get("metric")]
    for s in shown:
        values += [s.get("metric"), s.get("ci_low"), s.get("ci_high"), s.get("hlp")]
    finite = [float(v) for v in values if v is not None and _finite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    left, w, row_h, top = 230, 300, 20, 30
    height = top + row_h * len(shown) + 40

    def px(v: float) -> float:
        return left + (v - lo) / (hi - lo) * w

    body = [
        _text(left, 12, f"{metric} per slice (line: CI; dot: model; diamond: HLP)"),
        f'<rect x="{left}" y="{top - 6}" width="{w}" height="{row_h * len(shown) + 6}" '
        'fill="none" stroke="#ddd"/>',
    ]
    for tick in (lo + pad, (lo + hi) / 2, hi - pad):
        body.append(_text(px(tick), top + row_h * len(shown) + 14, f"{tick:.3f}", "middle"))
    if _finite(overall.get("metric")):
        x = px(float(overall["metric"]))
        body.append(
            f'<line x1="{_n(x)}" y1="{top - 6}" x2="{_n(x)}" y2="{top + row_h * len(shown)}" '
            'stroke="#888" stroke-dasharray="4 3"/>'
        )
        body.append(_text(x, top + row_h * len(shown) + 28, "overall", "middle"))
    for i, s in enumerate(shown):
        y = top + row_h * i + row_h / 2
        color = "#999" if s.get("small") else "#1f77b4"
        body.append(_text(left - 8, y + 4, _short(s.get("name"), 34), "end"))
        if _finite(s.get("ci_low")) and _finite(s.get("ci_high")):
            body.append(
                f'<line x1="{_n(px(s["ci_low"]))}" y1="{_n(y)}" x2="{_n(px(s["ci_high"]))}" '
                f'y2="{_n(y)}" stroke="{color}" stroke-width="2"/>'
            )
        if _finite(s.get("metric")):
            body.append(f'<circle cx="{_n(px(s["metric"]))}" cy="{_n(y)}" r="4" fill="{color}"/>')
        if _finite(s.get("hlp")):
            x = px(s["hlp"])
            body.append(
                f'<polygon points="{_n(x)},{_n(y - 5)} {_n(x + 5)},{_n(y)} {_n(x)},{_n(y + 5)} '
                f'{_n(x - 5)},{_n(y)}" fill="#d62728"/>'
            )
    return _svg(left + w + 20, height, f"{metric} per slice", body)


def importance(items: Sequence[dict[str, Any]], limit: int = 15) -> Markup:
    """Permutation importance: bars of the mean with a whisker of one std."""
    shown = [i for i in items if _finite(i.get("mean"))][:limit]
    left, w, row_h, top = 170, 320, 18, 10
    peak = max((abs(i["mean"]) + (i.get("std") or 0) for i in shown), default=1.0) or 1.0
    body = []
    for k, item in enumerate(shown):
        y = top + row_h * k
        bar = max(item["mean"], 0) / peak * w
        body.append(_text(left - 6, y + 12, _short(item.get("feature"), 26), "end"))
        body.append(
            f'<rect x="{left}" y="{y + 3}" width="{_n(bar)}" height="{row_h - 6}" fill="#2ca02c"/>'
        )
        std = item.get("std")
        end = left + bar
        if _finite(std):
            a = left + max(item["mean"] - std, 0) / peak * w
            b = left + (item["mean"] + std) / peak * w
            body.append(
                f'<line x1="{_n(a)}" y1="{y + row_h / 2}" x2="{_n(b)}" y2="{y + row_h / 2}" '
                'stroke="#111"/>'
            )
            end = max(end, b)
        body.append(_text(end + 6, y + 12, f"{item['mean']:.4f}"))
    return _svg(left + w + 80, top + row_h * len(shown) + 10, "Permutation importance", body)


def _short(value: Any, limit: int = 24) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
