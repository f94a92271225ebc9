"""Inline SVG charts for the site: which version each stage held over time, a value over time.

Built on the card's SVG helpers (:mod:`release.card.svg`): every label is escaped there, the
root carries ``role="img"`` and a ``<title>``, and each bar has its own ``<title>`` so the
chart reads as text too. Charts are bounded: at most ``MAX_SEGMENTS`` per stage.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

from release.card.svg import PALETTE, _n, _svg, _text
from release.site.timeline import Segment

MAX_SEGMENTS = 60
MAX_POINTS = 200


def _color(version: str | None) -> str:
    if version is None:
        return "#e0e0e0"
    digest = hashlib.sha1(version.encode(), usedforsecurity=False).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def _day(epoch: float, minutes: bool = False) -> str:
    fmt = "%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime(fmt)


def stage_chart(history: dict[str, list[Segment]], now: int) -> Markup:
    """One lane per stage; each bar is a version's time in the stage, labelled inside."""
    lanes = [(stage, segs[-MAX_SEGMENTS:]) for stage, segs in history.items() if segs]
    if not lanes:
        return Markup("")
    start = min(segs[0].start for _, segs in lanes)
    # room after the last change, so the version each stage holds now shows too
    end = now + max((now - start) * 0.08, 60)
    short = end - start < 2 * 86400
    left, width, lane, top = 70, 480, 26, 10
    height = top + lane * len(lanes) + 28

    def px(t: float) -> float:
        return left + (t - start) / (end - start) * width

    body: list[str] = []
    for i, (stage, segs) in enumerate(lanes):
        y = top + lane * i
        body.append(_text(left - 6, y + 16, stage, "end"))
        for seg in segs:
            x0, x1 = px(seg.start), px(seg.end if seg.end is not None else end)
            w = max(x1 - x0, 1.0)
            label = seg.version or "none"
            until = _day(seg.end, short) if seg.end is not None else "now"
            body.append(
                f'<rect x="{_n(x0)}" y="{y + 2}" width="{_n(w)}" height="{lane - 6}" '
                f'fill="{_color(seg.version)}" stroke="#fff"><title>'
                f"{escape(stage)}: {escape(label)} from {_day(seg.start, short)} to {until}"
                "</title></rect>"
            )
            if w > 7 * len(label) + 6:
                body.append(
                    _text(x0 + 4, y + 16, label, extra=' fill="#fff"' if seg.version else "")
                )
    axis_y = top + lane * len(lanes) + 14
    body.append(_text(left, axis_y, _day(start, short)))
    body.append(_text(left + width, axis_y, _day(end, short), "end"))
    total = sum(len(s) for s in history.values())
    shown = sum(len(s) for _, s in lanes)
    title = "Which version each stage held over time"
    if shown < total:
        title += f" (the last {MAX_SEGMENTS} changes of each stage)"
    return _svg(left + width + 20, height, title, body)


def line_chart(points: Sequence[tuple[float, float | None]], label: str) -> Markup:
    """A small line of ``(epoch, value)`` points; missing values leave gaps."""
    pts = [(t, v) for t, v in points[-MAX_POINTS:] if v is not None and math.isfinite(v)]
    if len(pts) < 1:
        return Markup("")
    left, width, top, height = 50, 480, 16, 120
    t0, t1 = min(t for t, _ in pts), max(t for t, _ in pts)
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5

    def px(t: float) -> float:
        return left + (t - t0) / ((t1 - t0) or 1) * width

    def py(v: float) -> float:
        return top + (hi - v) / (hi - lo) * height

    path = " ".join(f"{_n(px(t))},{_n(py(v))}" for t, v in pts)
    body = [
        _text(4, top + 4, f"{hi:.3g}"),
        _text(4, top + height, f"{lo:.3g}"),
        f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>',
    ]
    for t, v in pts:
        body.append(
            f'<circle cx="{_n(px(t))}" cy="{_n(py(v))}" r="3" fill="{PALETTE[0]}">'
            f"<title>{escape(label)} {v:.4g} on {_day(t)}</title></circle>"
        )
    body.append(_text(left, top + height + 18, _day(t0)))
    body.append(_text(left + width, top + height + 18, _day(t1), "end"))
    return _svg(left + width + 20, top + height + 26, f"{label} over time", body)
