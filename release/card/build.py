"""Assemble ``card.json`` from the gathered facts and the hand-written content.

The card is one JSON document, organised by the sections of Mitchell et al. 2019, plus
lineage, plot data and the Hugging Face front matter built from the same metrics. It
holds no build timestamp, so rebuilding unchanged inputs gives the same bytes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from release import paths
from release.card import SCHEMA_VERSION
from release.cardspec import is_placeholder
from release.errors import UsageError

SLICE_FIELDS = (
    "name",
    "kind",
    "rows",
    "share",
    "metric",
    "ci_low",
    "ci_high",
    "interval",
    "gap",
    "small",
    "hlp",
    "hlp_annotator_accuracy",
    "hlp_agreement",
    "potential_impact",
    "rank",
)
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    "r2": "R2",
}
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})
# values shown in the code snippet: plain tokens only, whatever odd categories the data has
_PLAIN = re.compile(r"^[\w .+-]{1,40}$")
TASK_NAMES = {
    "binary": "Binary classification",
    "multiclass": "Multiclass classification",
    "regression": "Regression",
}


def assemble_card(facts: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    """The card as a JSON-ready dict: every number from ``facts``, prose from ``content``."""
    model = facts["model"]
    params = facts["params"]
    slices = facts["slices"] or {}
    task = str(model.get("task") or params["data"].get("task") or "binary")
    name = content.get("model_name") or params["release"].get("artifact") or model.get("name")
    registry = facts.get("registry") or []
    # the version of this artifact at this commit; else the only one registered here
    mine = [r for r in registry if r.get("name") == name] or (
        registry if len(registry) == 1 else []
    )
    version = mine[0]["version"] if mine else None
    values = {
        k: v
        for k, v in (facts["metrics"] or {}).items()
        if k != "n_test"
        and not k.endswith(("_ci_low", "_ci_high"))  # intervals, shown with the metric
        and isinstance(v, int | float)
        and not isinstance(v, bool)
    }
    dataset_id, dataset_name = _dataset(facts, content)
    card: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": str(name),
            "version": version,
            "description": content["description"],
            "task": task,
            "target": model.get("target") or params["data"].get("target"),
            "estimator": model.get("estimator") or params["train"].get("estimator"),
            "hyperparameters": model.get("hyperparameters") or params["train"].get("params") or {},
            "classes": model.get("classes"),
            "features": _features(model.get("features") or []),
            "sha256": model.get("sha256"),
            "trained_at": model.get("trained_at"),
            "training_seconds": model.get("training_seconds"),
            "authors": content["authors"],
            "license": content["license"],
            "contact": content["contact"],
            "citation": content["citation"],
            "registry": registry,
        },
        "intended_use": {
            "primary_uses": content["primary_uses"],
            "primary_users": content["primary_users"],
            "out_of_scope": content["out_of_scope"],
        },
        "factors": _factors(params, slices, content),
        "metrics": {
            "task": task,
            "values": values,
            "n_test": facts["metrics"].get("n_test"),
            "primary_metric": slices.get("primary_metric")
            or params["evaluate"].get("primary_metric"),
            "higher_is_better": bool(slices.get("higher_is_better", True)),
            "overall": slices.get("overall") or {},
            "confidence": slices.get("confidence", params["evaluate"].get("confidence")),
            "bootstrap": slices.get("bootstrap", params["evaluate"].get("bootstrap")),
            "hlp_kind": slices.get("hlp_kind"),
            **_impact_wording(slices, params),
            "decision_threshold": None
            if task == "regression"
            else "the class with the highest predicted probability (0.5 for binary)",
        },
        "evaluation_data": {
            "dataset": dataset_name,
            "split": "test",
            "rows": facts["metrics"].get("n_test") or (slices.get("overall") or {}).get("rows"),
            "test_size": params["data"].get("test_size"),
            "seed": params["data"].get("seed"),
            "hashes": {k: v for k, v in facts["dvc"]["data"].items() if "test" in k},
        },
        "training_data": {
            "dataset": dataset_name,
            "dataset_id": dataset_id,
            "rows": model.get("train_rows"),
            "source": _source(facts.get("provenance") or {}),
            "hashes": dict(facts["dvc"]["data"]),
            "quality": _quality(facts.get("data_quality") or {}),
            "preprocessing": _preprocessing(params),
            "provenance": facts.get("provenance") or {},
        },
        "quantitative_analyses": {
            "primary_metric": slices.get("primary_metric"),
            "hlp_kind": slices.get("hlp_kind"),
            "min_slice_size": slices.get(
                "min_slice_size", params["evaluate"].get("min_slice_size")
            ),
            "ranking": slices.get("ranking", "hlp"),
            "slices": [{k: s.get(k) for k in SLICE_FIELDS} for s in slices.get("slices") or []],
            # Selection, TPR/FPR (or mean error) per protected group and the largest gaps.
            "fairness": slices.get("fairness"),
        },
        "explanations": _explanations(facts.get("explain"), facts.get("examples")),
        "ethical_considerations": content["ethical_considerations"],
        "caveats_and_recommendations": {
            "caveats": content["caveats"],
            "recommendations": content["recommendations"],
        },
        "lineage": {
            "git": facts["git"],
            "dvc": facts["dvc"],
            "registry": registry,
            "packages": facts.get("packages") or {},
            "model_packages": model.get("packages") or {},
            "params": params,
        },
        "plots": facts["plots"],
        "how_to_load": _how_to_load(model, facts.get("examples"), str(name), version),
    }
    card["front_matter"] = front_matter(card, content, dataset_id, dataset_name)
    card["placeholders"] = placeholders(card)
    return card


HLP_TEXT = {
    "annotator_accuracy": "a single annotator's accuracy against the reference label",
    "agreement": "the expected agreement between two random annotators",
    "given": "values given in params.yaml (evaluate.hlp.given)",
}


def _impact_wording(slices: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """How HLP and potential impact are stated: the formula follows the metric's direction.

    For an error metric (lower is better) the headroom is model - HLP; without any HLP
    the slices are ranked by their gap to the overall metric instead, and the card says so.
    """
    primary = str(slices.get("primary_metric") or params["evaluate"].get("primary_metric"))
    metric = str(slices.get("impact_metric") or primary)
    higher = metric not in LOWER_IS_BETTER
    kind = slices.get("hlp_kind")
    reference = "HLP" if kind else "overall"
    formula = f"max({reference} - model, 0)" if higher else f"max(model - {reference}, 0)"
    if kind:
        hlp = f"Human-level performance (HLP) is {HLP_TEXT.get(str(kind), str(kind))}"
        if metric != primary:
            hlp += f", measured as {metric}"
    else:
        hlp = (
            "No human-level performance (HLP) is available for this data (no annotators and "
            "no values in evaluate.hlp.given), so slices are ranked by their gap to the "
            "overall metric"
        )
    return {
        "impact_metric": metric,
        "impact_higher_is_better": higher,
        "hlp_text": hlp,
        "impact_formula": f"{formula} x share of the test set",
    }


def front_matter(
    card: dict[str, Any], content: dict[str, Any], dataset_id: str, dataset_name: str
) -> dict[str, Any]:
    """Hugging Face metadata; ``model-index`` results are the card's own metric values."""
    task = card["metrics"]["task"]
    pipeline_tag = "tabular-regression" if task == "regression" else "tabular-classification"
    tags = [pipeline_tag, "sklearn", "skops", "model-card", *content.get("tags", [])]
    values = card["metrics"]["values"]
    fm: dict[str, Any] = {}
    license_ = card["model_details"]["license"]
    if not is_placeholder(license_):
        fm["license"] = license_
    fm.update(
        {
            "library_name": "sklearn",
            "pipeline_tag": pipeline_tag,
            "tags": list(dict.fromkeys(tags)),
            "datasets": [dataset_id],
            "metrics": list(values),
            "model-index": [
                {
                    "name": card["model_details"]["name"],
                    "results": [
                        {
                            "task": {"type": pipeline_tag, "name": TASK_NAMES.get(task, task)},
                            "dataset": {"type": dataset_id, "name": dataset_name, "split": "test"},
                            "metrics": [
                                {"type": k, "value": v, "name": METRIC_NAMES.get(k, k)}
                                for k, v in values.items()
                            ],
                        }
                    ],
                }
            ],
        }
    )
    return fm


def placeholders(card: dict[str, Any]) -> list[str]:
    """Dotted names of hand-written fields that are still placeholders."""
    fields = {
        "model_details.description": card["model_details"]["description"],
        "model_details.authors": card["model_details"]["authors"],
        "model_details.license": card["model_details"]["license"],
        "intended_use.primary_uses": card["intended_use"]["primary_uses"],
        "intended_use.primary_users": card["intended_use"]["primary_users"],
        "intended_use.out_of_scope": card["intended_use"]["out_of_scope"],
        "ethical_considerations": card["ethical_considerations"],
        "caveats_and_recommendations.caveats": card["caveats_and_recommendations"]["caveats"],
        "caveats_and_recommendations.recommendations": card["caveats_and_recommendations"][
            "recommendations"
        ],
    }
    return [k for k, v in fields.items() if is_placeholder(v)]


def _features(features: list[Any]) -> list[dict[str, Any]]:
    out = []
    for f in features:
        if isinstance(f, dict):
            out.append(
                {
                    "name": str(f.get("name")),
                    "kind": f.get("kind"),
                    "dtype": f.get("dtype"),
                    "categories": f.get("categories"),
                }
            )
        else:
            out.append({"name": str(f), "kind": None, "dtype": None, "categories": None})
    return out


def _factors(params: dict[str, Any], slices: dict[str, Any], content: dict[str, Any]) -> dict:
    spec = params["evaluate"].get("slices") or {}
    declared = [str(c) for c in spec.get("columns") or []]
    declared += [str(c) for c in spec.get("bins") or {}]
    declared += [str(c) for c in params["data"].get("slice_columns") or []]
    for s in slices.get("slices") or []:  # value and bin slices name their column
        if s.get("kind") in ("value", "bin") and "=" in str(s.get("name")):
            declared.append(str(s["name"]).split("=", 1)[0])
    relevant = list(dict.fromkeys(declared))
    pairs = spec.get("intersections") or []
    intersections = [" x ".join(map(str, p)) for p in pairs]
    conditions = [f"{k}: {v}" for k, v in (spec.get("predicates") or {}).items()]
    return {
        "relevant": relevant,
        "conditions": conditions,
        "protected": list(params["data"].get("protected") or []),
        "protected_as_inputs": bool((params.get("train") or {}).get("use_protected", False)),
        "intersections": intersections,
        "evaluation": [str(s.get("name")) for s in slices.get("slices") or []],
        "notes": content.get("factors", ""),
    }


def _preprocessing(params: dict[str, Any]) -> str:
    train = params.get("train") or {}
    scale = ", then standard scaling" if train.get("scale_numeric", True) else ""
    return (
        f"numeric columns: median imputation{scale}; categorical columns: a constant "
        "for missing values, then one-hot encoding (categories unseen in training ignored)"
    )


def _dataset(facts: dict[str, Any], content: dict[str, Any]) -> tuple[str, str]:
    if content.get("datasets"):
        first = str(content["datasets"][0])
        return first, first
    source = _source(facts.get("provenance") or {})
    kind = source.get("kind") or facts["params"]["data"].get("source") or "data"
    where = source.get("path")
    if kind == "builtin":
        return "release/builtin", "the built-in generated table (release.data.builtin)"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", str(where).rsplit("/", 1)[-1]) if where else kind
    return f"local/{stem}", str(where or kind)


def _source(provenance: dict[str, Any]) -> dict[str, Any]:
    src = provenance.get("source")
    if isinstance(src, dict):
        return {
            "kind": src.get("kind") or src.get("type"),
            "path": src.get("path"),
            "sha256": src.get("sha256"),
        }
    return {
        "kind": src if isinstance(src, str) else provenance.get("source_kind"),
        "path": provenance.get("path") or provenance.get("source_path"),
        "sha256": provenance.get("source_sha256") or provenance.get("sha256"),
    }


def _quality(report: dict[str, Any]) -> dict[str, Any]:
    rules = [r for r in report.get("rules") or [] if isinstance(r, dict)]
    failed = [
        f"{r.get('name')}" + (f" ({r.get('column')})" if r.get("column") else "")
        for r in rules
        if not r.get("passed", True)
    ]
    return {
        "passed": bool(report.get("passed", not failed)),
        "rules": len(rules),
        "failed": failed,
    }


def _explanations(explain: Any, examples: Any) -> dict[str, Any]:
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


def _how_to_load(
    model: dict[str, Any], examples: Any, name: str, version: str | None
) -> dict[str, str]:
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


def build_card(
    root: str | os.PathLike[str] = ".",
    *,
    params: str | os.PathLike[str] = paths.PARAMS,
    template_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    content_file: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Gather facts, assemble and validate the card, render it, write all three files.

    ``template_dir`` defaults to the project's ``templates/card`` (built-ins fill any gap).
    Nothing is written unless every step succeeds. Returns the card.
    """
    from release.card.content import load_content
    from release.card.facts import gather_facts
    from release.card.render import render_card
    from release.cardspec.schema import validate_card
    from release.fsio import dumps_json, write_text

    root = Path(root)
    if template_dir is not None and not Path(template_dir).is_dir():
        raise UsageError(
            f"template folder {template_dir} not found", "pass an existing --template-dir"
        )
    facts = gather_facts(root, Path(params))
    content = load_content(Path(content_file) if content_file else root / paths.CARD_INPUT)
    card = json.loads(dumps_json(assemble_card(facts, content)))  # exactly what is written
    validate_card(card)
    if template_dir is None and (root / "templates" / "card").is_dir():
        template_dir = root / "templates" / "card"
    rendered = render_card(card, template_dir)
    out_dir = Path(out) if out is not None else root / paths.CARD_DIR
    write_text(out_dir / "card.json", dumps_json(card))
    write_text(out_dir / "README.md", rendered["README.md"])
    write_text(out_dir / "card.html", rendered["card.html"])
    return card
