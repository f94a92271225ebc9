"""Compare two model cards read from git (no checkout): ``release card diff A B``.

A and B are git revisions, registered versions (``NAME@v1.2.0``, a GTO tag) or stage
shortcuts (``NAME#prod``, resolved through the registry when it is available), or a path
to a ``card.json`` file. A slice is flagged when its two confidence intervals do not
overlap: a change bigger than the sampling noise of either measurement. The intervals are
the ones the error analysis wrote (Wilson for accuracy, so 45/45 reads [92%, 100%], never
a point); a small slice with a proportion metric is flagged by Fisher's exact test
instead, as the slice-regression gate judges it (:mod:`release.analysis.slice_gate`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from release import gitcmd, paths
from release.analysis.slice_gate import PROPORTION_METRICS
from release.errors import UsageError
from release.fsio import parse_json
from release.markdown import md_cell as _cell  # the one Markdown escaper
from release.registry.api import read_state
from release.stats import proportions
from release.stats.metrics import higher_is_better

_REV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@#!^~+=-]*$")
_STAGE_SHORTCUT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._/=-]*)#(?P<stage>[A-Za-z0-9_-]+)$")
EPS = 1e-9


def resolve_revision(repo: str | Path, rev: str) -> str:
    """The commit a revision, ``NAME@vX.Y.Z`` tag or ``NAME#stage`` shortcut points at."""
    repo = Path(repo)
    if not _REV.match(rev) or ".." in rev or rev.endswith((".lock", "/")):
        raise UsageError(f"invalid revision {rev!r}", "pass a commit, branch, tag or NAME@vX.Y.Z")
    if (m := _STAGE_SHORTCUT.match(rev)) and not _exists(repo, rev):
        rev = _stage_version_tag(repo, m["name"], m["stage"])
    commit = gitcmd.rev_parse(repo, rev)
    if not commit:
        raise UsageError(f"revision {rev} not found in {repo}", "check the name with git log/tag")
    return commit


def _exists(repo: Path, rev: str) -> bool:
    return gitcmd.rev_parse(repo, rev) is not None


def _stage_version_tag(repo: Path, name: str, stage: str) -> str:
    version = read_state(str(repo)).active_version(name, stage)
    if not version:
        raise UsageError(f"no version of {name} is in stage {stage}", "see `release show`")
    return f"{name}@{version}"


def read_card_at(repo: str | Path, rev: str, card_path: str = paths.CARD_JSON) -> dict[str, Any]:
    """The card at a revision (``git show REV:model_card/card.json``), or from a file path."""
    repo = Path(repo)
    as_file = Path(rev) if Path(rev).is_absolute() else repo / rev
    if rev.endswith(".json") and as_file.is_file():
        with as_file.open("rb") as fh:  # at most one byte past the cap
            return _parse(fh.read(MAX_CARD_BYTES + 1), rev)
    commit = resolve_revision(repo, rev)
    shown = gitcmd.show(repo, commit, card_path)
    if shown is None:
        raise UsageError(
            f"{card_path} is not committed at {rev} ({commit[:12]})",
            "build the card with `release card build` (or dvc repro) and commit it",
        )
    return _parse(shown, rev)


MAX_CARD_BYTES = 32 * 1024 * 1024


def _parse(text: bytes, label: str) -> dict[str, Any]:
    return parse_json(
        text, f"card at {label}", UsageError, "rebuild it", max_bytes=MAX_CARD_BYTES, kind="a card"
    )


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _g(card: dict[str, Any], *keys: str) -> Any:
    node: Any = card
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def diff_cards(
    a: dict[str, Any], b: dict[str, Any], a_label: str = "A", b_label: str = "B"
) -> dict:
    """The differences from card ``a`` to card ``b`` as a JSON-ready dict."""
    higher = bool(_g(b, "metrics", "higher_is_better") if _g(b, "metrics") else True)
    metrics = []
    va, vb = _g(a, "metrics", "values") or {}, _g(b, "metrics", "values") or {}
    for name in sorted(set(va) | set(vb)):
        x, y = _num(va.get(name)), _num(vb.get(name))
        delta = y - x if x is not None and y is not None else None
        better = None
        if delta is not None and abs(delta) > EPS:
            better = (delta > 0) if higher_is_better(name) else (delta < 0)
        metrics.append({"name": name, "a": x, "b": y, "delta": delta, "better": better})
    slices_a = {s.get("name"): s for s in _g(a, "quantitative_analyses", "slices") or []}
    slices_b = {s.get("name"): s for s in _g(b, "quantitative_analyses", "slices") or []}
    slice_rows, hlp_rows = [], []
    exact = (_g(b, "metrics", "primary_metric") or "") in PROPORTION_METRICS
    alpha = 1 - (_num(_g(b, "metrics", "confidence")) or 0.95)
    for name in sorted(set(slices_a) & set(slices_b), key=str):
        sa, sb = slices_a[name], slices_b[name]
        row = _slice_delta(name, sa, sb, higher, exact_alpha=alpha if exact else None)
        slice_rows.append(row)
        changes = {
            k: {"a": sa.get(k), "b": sb.get(k)}
            for k in ("hlp", "potential_impact", "rank")
            if _changed(sa.get(k), sb.get(k))
        }
        if changes:
            hlp_rows.append({"name": name, **changes})
    ha, hb = (
        _g(a, "model_details", "hyperparameters") or {},
        _g(b, "model_details", "hyperparameters") or {},
    )
    hyper = [
        {"name": k, "a": ha.get(k), "b": hb.get(k)}
        for k in sorted(set(ha) | set(hb))
        if ha.get(k) != hb.get(k)
    ]
    result = {
        "a": a_label,
        "b": b_label,
        "versions": {
            "a": _g(a, "model_details", "version"),
            "b": _g(b, "model_details", "version"),
        },
        "primary_metric": _g(b, "metrics", "primary_metric") or _g(a, "metrics", "primary_metric"),
        "higher_is_better": higher,
        "metrics": metrics,
        "overall": _slice_delta(
            "overall", _g(a, "metrics", "overall") or {}, _g(b, "metrics", "overall") or {}, higher
        ),
        "slices": slice_rows,
        "slices_added": sorted(map(str, set(slices_b) - set(slices_a))),
        "slices_removed": sorted(map(str, set(slices_a) - set(slices_b))),
        "hlp_impact": hlp_rows,
        "estimator": _pair(
            _g(a, "model_details", "estimator"), _g(b, "model_details", "estimator")
        ),
        "hyperparameters": hyper,
        "data_hashes": _hash_changes(
            _g(a, "lineage", "dvc", "data"), _g(b, "lineage", "dvc", "data")
        ),
        "model_hashes": _hash_changes(
            _g(a, "lineage", "dvc", "model"), _g(b, "lineage", "dvc", "model")
        ),
        "params_hash": _pair(
            _g(a, "lineage", "dvc", "params", "sha256"), _g(b, "lineage", "dvc", "params", "sha256")
        ),
        "commits": {"a": _g(a, "lineage", "git", "commit"), "b": _g(b, "lineage", "git", "commit")},
    }
    result["regressions"] = [r["name"] for r in slice_rows if r["flag"] == "regression"]
    result["improvements"] = [r["name"] for r in slice_rows if r["flag"] == "improvement"]
    return result


def _slice_delta(
    name: str,
    sa: dict[str, Any],
    sb: dict[str, Any],
    higher: bool,
    *,
    exact_alpha: float | None = None,
) -> dict[str, Any]:
    ma, mb = _num(sa.get("metric")), _num(sb.get("metric"))
    la, ua = _num(sa.get("ci_low")), _num(sa.get("ci_high"))
    lb, ub = _num(sb.get("ci_low")), _num(sb.get("ci_high"))
    overlap = None
    if None not in (la, ua, lb, ub):
        overlap = not (ua < lb or ub < la)  # type: ignore[operator]
    delta = mb - ma if ma is not None and mb is not None else None
    flag = None
    small = bool(sa.get("small") or sb.get("small"))
    na, nb = sa.get("rows"), sb.get("rows")
    judged = "interval"
    p_value = None
    if (
        small
        and exact_alpha is not None
        and ma is not None
        and mb is not None
        and isinstance(na, int)
        and isinstance(nb, int)
        and na > 0
        and nb > 0
    ):
        judged = "exact"
        ka, kb = min(na, round(ma * na)), min(nb, round(mb * nb))
        worse_p = proportions.fisher_greater(ka, na, kb, nb)
        better_p = proportions.fisher_greater(kb, nb, ka, na)
        p_value = min(worse_p, better_p)
        if worse_p < exact_alpha:
            flag = "regression"
        elif better_p < exact_alpha:
            flag = "improvement"
    elif overlap is False and delta is not None:
        worse = delta < 0 if higher else delta > 0
        flag = "regression" if worse else "improvement"
    return {
        "name": name,
        "a": ma,
        "b": mb,
        "delta": delta,
        "a_ci": [la, ua],
        "b_ci": [lb, ub],
        "overlap": overlap,
        "flag": flag,
        "small": small,
        "judged": judged,
        "p_value": p_value,
    }


def _changed(x: Any, y: Any) -> bool:
    nx, ny = _num(x), _num(y)
    if nx is not None and ny is not None:
        return abs(nx - ny) > EPS
    return bool(x != y)


def _pair(x: Any, y: Any) -> dict[str, Any]:
    return {"a": x, "b": y, "changed": x != y}


def _hash_changes(a: Any, b: Any) -> list[dict[str, Any]]:
    a = a if isinstance(a, dict) else {}
    b = b if isinstance(b, dict) else {}
    return [
        {"path": p, "a": a.get(p), "b": b.get(p)}
        for p in sorted(set(a) | set(b))
        if a.get(p) != b.get(p)
    ]


def diff_revisions(repo: str | Path, rev_a: str, rev_b: str) -> dict[str, Any]:
    """Read the cards at two revisions and diff them."""
    return diff_cards(read_card_at(repo, rev_a), read_card_at(repo, rev_b), rev_a, rev_b)


def _f(value: Any, signed: bool = False) -> str:
    num = _num(value)
    if num is None:
        return "n/a" if value is None else str(value)
    return f"{num:+.4f}" if signed else f"{num:.4f}"


def _rank(value: Any) -> str:
    """A rank as an integer (``-`` for an unranked slice)."""
    num = _num(value)
    return "-" if num is None else str(int(num))


def to_markdown(d: dict[str, Any]) -> str:
    """The diff as Markdown for people (and CI job summaries)."""
    lines = [f"## Model card diff: {_cell(d['a'])} → {_cell(d['b'])}", ""]
    reg, imp = d["regressions"], d["improvements"]
    if reg:
        lines.append(
            f"**{len(reg)} slice regression(s)** (confidence intervals do not overlap): "
            + ", ".join(_cell(n) for n in reg)
        )
    else:
        lines.append("No slice regression: every changed slice's intervals overlap.")
    if imp:
        lines.append(f"{len(imp)} significant improvement(s): " + ", ".join(_cell(n) for n in imp))
    lines += ["", "### Metrics", "", "| Metric | A | B | Δ | |", "|---|---|---|---|---|"]
    for m in d["metrics"]:
        mark = {True: "better", False: "worse", None: ""}[m["better"]]
        cells = [_cell(m["name"]), _f(m["a"]), _f(m["b"]), _f(m["delta"], True), mark]
        lines.append("| " + " | ".join(cells) + " |")
    o = d["overall"]
    lines += [
        "",
        f"Overall {_cell(d['primary_metric'])}: {_f(o['a'])} [{_f(o['a_ci'][0])}, "
        f"{_f(o['a_ci'][1])}] → {_f(o['b'])} [{_f(o['b_ci'][0])}, {_f(o['b_ci'][1])}]"
        + (f" (**{o['flag']}**)" if o["flag"] else ""),
        "",
        f"### Slices ({_cell(d['primary_metric'])})",
        "",
        "| Slice | A [CI] | B [CI] | Δ | Flag |",
        "|---|---|---|---|---|",
    ]
    order = sorted(d["slices"], key=lambda r: (r["flag"] is None, -abs(r["delta"] or 0)))
    for r in order:
        flag = f"**{r['flag']}**" if r["flag"] else ""
        flag += " (small)" if r["small"] else ""
        lines.append(
            f"| {_cell(r['name'])} | {_f(r['a'])} [{_f(r['a_ci'][0])}, {_f(r['a_ci'][1])}] | "
            f"{_f(r['b'])} [{_f(r['b_ci'][0])}, {_f(r['b_ci'][1])}] | {_f(r['delta'], True)} | "
            f"{flag} |"
        )
    for key, title in (("slices_added", "Slices added"), ("slices_removed", "Slices removed")):
        if d[key]:
            lines += ["", f"{title}: " + ", ".join(_cell(n) for n in d[key])]
    if d["hlp_impact"]:
        lines += [
            "",
            "### HLP and potential impact",
            "",
            "| Slice | HLP A → B | Impact A → B | Rank A → B |",
            "|---|---|---|---|",
        ]
        for r in d["hlp_impact"]:
            cols = []
            for k in ("hlp", "potential_impact", "rank"):
                c = r.get(k)
                show = _rank if k == "rank" else _f
                cols.append(f"{show(c['a'])} → {show(c['b'])}" if c else "")
            lines.append(f"| {_cell(r['name'])} | " + " | ".join(cols) + " |")
    lines += ["", "### Model", ""]
    if d["estimator"]["changed"]:
        lines.append(f"- Estimator: {_cell(d['estimator']['a'])} → {_cell(d['estimator']['b'])}")
    for h in d["hyperparameters"]:
        lines.append(f"- Hyperparameter `{_cell(h['name'])}`: {_cell(h['a'])} → {_cell(h['b'])}")
    if not d["hyperparameters"] and not d["estimator"]["changed"]:
        lines.append("- Estimator and hyperparameters unchanged.")
    lines += ["", "### Data and lineage", ""]
    for h in d["data_hashes"]:
        lines.append(f"- Data `{_cell(h['path'])}`: `{_cell(h['a'])}` → `{_cell(h['b'])}`")
    if not d["data_hashes"]:
        lines.append("- Data hashes unchanged.")
    for h in d["model_hashes"]:
        lines.append(f"- Model `{_cell(h['path'])}`: `{_cell(h['a'])}` → `{_cell(h['b'])}`")
    if d["params_hash"]["changed"]:
        lines.append("- params.yaml changed.")
    return "\n".join(lines) + "\n"
