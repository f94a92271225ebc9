"""How a reader uses the model, as the card states it: explanations (importance, a
surrogate tree, misclassified examples with their counterfactuals) and the snippets to
fetch, load, serve and call it."""

from __future__ import annotations

import re
from typing import Any

# values shown in the code snippet: plain tokens only, whatever odd categories the data has
_PLAIN = re.compile(r"^[\w .+-]{1,40}$")


def explanations(explain: Any, examples: Any) -> dict[str, Any]:
    """The card's explanations: permutation importance, the surrogate's rules, examples."""
    explain = explain if isinstance(explain, dict) else {}
    raw = explain.get("permutation_importance") or explain.get("importance") or []
    if isinstance(raw, dict):
        raw = raw.get("features") or [
            {"feature": k, **(v if isinstance(v, dict) else {"mean": v})} for k, v in raw.items()
        ]
    importance: list[dict[str, Any]] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        feature = item.get("feature") or item.get("name")
        mean = item.get("mean", item.get("importance_mean", item.get("importance")))
        if feature is None or not isinstance(mean, int | float):
            continue
        std = item.get("std", item.get("importance_std"))
        importance.append(
            {
                "feature": str(feature),
                "mean": float(mean),
                "std": float(std) if isinstance(std, int | float) else None,
            }
        )
    importance.sort(key=lambda r: -r["mean"])
    surrogate = explain.get("surrogate")
    if isinstance(surrogate, dict):
        rules = surrogate.get("text") or surrogate.get("rules") or ""
        if isinstance(rules, list):
            rules = "\n".join(_rule_text(r) for r in rules)
        surrogate = {
            "depth": surrogate.get("depth") or surrogate.get("max_depth"),
            "fidelity": surrogate.get("fidelity"),
            "fidelity_measure": surrogate.get("fidelity_measure"),
            "rules": str(rules),
        }
    else:
        surrogate = None
    if isinstance(examples, dict):
        slice_name = examples.get("slice")
        items = examples.get("examples") or []
    else:
        slice_name, items = None, examples or []
    return {
        "importance": importance,
        "surrogate": surrogate,
        "examples_slice": str(slice_name) if slice_name is not None else None,
        "examples": [_example(e) for e in items if isinstance(e, dict)][:20],
    }


def _rule_text(rule: Any) -> str:
    if not isinstance(rule, dict):
        return str(rule)
    conditions = " and ".join(map(str, rule.get("conditions") or []))
    return f"if {conditions} then {rule.get('prediction')} ({rule.get('rows')} rows)"


def _shown(value: Any) -> str | None:
    """A value as the card prints it: numbers (predictions) with 4 significant digits."""
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _example(raw: dict[str, Any]) -> dict[str, Any]:
    """One misclassified example: its features as text and its counterfactual as a sentence."""
    features = raw.get("features")
    if not isinstance(features, dict):
        features = {k: v for k, v in raw.items() if k not in ("row", "y_true", "y_pred")}
        features.pop("counterfactual", None)
    fix = raw.get("counterfactual")
    if isinstance(fix, dict):
        text = f"{fix.get('feature')}: {_shown(fix.get('from'))} → {_shown(fix.get('to'))}"
        if fix.get("new_prediction") is not None:
            text += f" flips the prediction to {_shown(fix.get('new_prediction'))}"
    else:
        text = "" if fix is None else str(fix)
    return {
        "row": None if raw.get("row") is None else str(raw.get("row")),
        "y_true": _shown(raw.get("y_true")),
        "y_pred": _shown(raw.get("y_pred")),
        "features": {str(k): None if v is None else str(v) for k, v in features.items()},
        "counterfactual": text,
    }


def _example_row(model: dict[str, Any], examples: Any) -> dict[str, Any]:
    """One input row for the loading snippet: a real test row when examples.json has one."""
    items = examples.get("examples") if isinstance(examples, dict) else examples
    first: dict[str, Any] = next((e for e in items or [] if isinstance(e, dict)), {})
    features = first.get("features")
    real: dict[str, Any] = features if isinstance(features, dict) else {}
    row: dict[str, Any] = {}
    for f in model.get("features") or []:
        if not isinstance(f, dict) or "name" not in f:
            continue
        name = str(f["name"])
        value = real.get(name)
        plain = [str(c) for c in f.get("categories") or [] if _PLAIN.match(str(c))]
        if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            row[name] = value  # (value == value: not NaN)
        elif isinstance(value, str) and _PLAIN.match(value):
            row[name] = value
        elif plain:
            row[name] = plain[0]
        else:
            row[name] = 0.0 if f.get("kind") != "categorical" else ""
    return row


def how_to_load(
    model: dict[str, Any], examples: Any, name: str, version: str | None
) -> dict[str, str]:
    """Snippets to fetch, load, serve and call the model, with a real test row as input."""
    sha = str(model.get("sha256") or "")
    row = _example_row(model, examples)
    columns = ",\n".join(f"    {k!r}: [{v!r}]" for k, v in row.items())
    python = (
        "from release.model.persist import load_model, read_metadata\n"
        "from release.model.predict import frame_from_records, predict\n\n"
        f'pipeline = load_model("models/model.skops", expected_sha256={sha!r})\n'
        'meta = read_metadata("models/model.json")\n'
        "# one list per feature, one position per row (this row is from the test set)\n"
        f"columns = {{\n{columns}\n}}\n"
        "df = frame_from_records(meta, columns)\n"
        "labels, proba = predict(pipeline, meta, df)\n"
    )
    ref = f"{name}@{version}" if version else "models"
    return {
        "python": python,
        "fetch": "dvc pull models/model.skops models/model.json",
        "serve": f"release serve --model {ref}",
        "infer": f"POST /v2/models/{name}/infer (Open Inference Protocol, KServe V2)",
    }
