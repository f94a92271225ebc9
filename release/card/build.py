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
from release.card.front_matter import front_matter
from release.card.usage import explanations, how_to_load
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
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})


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
        "model_details": _model_details(facts, content, str(name), version, task),
        "intended_use": {
            "primary_uses": content["primary_uses"],
            "primary_users": content["primary_users"],
            "out_of_scope": content["out_of_scope"],
        },
        "factors": _factors(params, slices, content),
        "metrics": _metrics(facts, slices, task, values),
        **_data_sections(facts, dataset_id, dataset_name),
        "quantitative_analyses": _quantitative(params, slices),
        "explanations": explanations(facts.get("explain"), facts.get("examples")),
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
        "how_to_load": how_to_load(model, facts.get("examples"), str(name), version),
    }
    card["front_matter"] = front_matter(card, content, dataset_id, dataset_name)
    card["placeholders"] = placeholders(card)
    return card


def _model_details(
    facts: dict[str, Any], content: dict[str, Any], name: str, version: str | None, task: str
) -> dict[str, Any]:
    model, params = facts["model"], facts["params"]
    registry = facts.get("registry") or []
    return {
        "name": name,
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
    }


def _metrics(
    facts: dict[str, Any], slices: dict[str, Any], task: str, values: dict[str, Any]
) -> dict[str, Any]:
    params = facts["params"]
    return {
        "task": task,
        "values": values,
        "n_test": facts["metrics"].get("n_test"),
        "primary_metric": slices.get("primary_metric") or params["evaluate"].get("primary_metric"),
        "higher_is_better": bool(slices.get("higher_is_better", True)),
        "overall": slices.get("overall") or {},
        "confidence": slices.get("confidence", params["evaluate"].get("confidence")),
        "bootstrap": slices.get("bootstrap", params["evaluate"].get("bootstrap")),
        "hlp_kind": slices.get("hlp_kind"),
        **_impact_wording(slices, params),
        "decision_threshold": None
        if task == "regression"
        else "the class with the highest predicted probability (0.5 for binary)",
    }


def _data_sections(facts: dict[str, Any], dataset_id: str, dataset_name: str) -> dict[str, Any]:
    model, params = facts["model"], facts["params"]
    slices = facts["slices"] or {}
    return {
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
    }


def _quantitative(params: dict[str, Any], slices: dict[str, Any]) -> dict[str, Any]:
    return {
        "primary_metric": slices.get("primary_metric"),
        "hlp_kind": slices.get("hlp_kind"),
        "min_slice_size": slices.get("min_slice_size", params["evaluate"].get("min_slice_size")),
        "ranking": slices.get("ranking", "hlp"),
        "slices": [{k: s.get(k) for k in SLICE_FIELDS} for s in slices.get("slices") or []],
        # Selection, TPR/FPR (or mean error) per protected group and the largest gaps.
        "fairness": slices.get("fairness"),
    }


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
            f"template folder {template_dir} not found", "pass an existing --templates folder"
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
