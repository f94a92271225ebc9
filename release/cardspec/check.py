"""Offline completeness check of a model card: ``check_card(card, profile) -> problems``.

Profiles:

- ``mitchell`` (default; the registry's ``card_complete`` gate): the card matches its
  schema; every section of Mitchell et al. 2019 is present and no hand-written field is a
  placeholder; metrics and per-slice results (with intervals) are present; lineage is
  complete (git commit, data, model and params hashes); the front matter is well formed
  and its ``model-index`` states the card's own metrics.
- ``hf``: what the Hugging Face Hub reads: the front matter parsed by huggingface_hub's
  own parser (offline), its eval results equal to the metrics, a license and a
  description. Without huggingface_hub installed a structural check runs instead and
  :func:`hf_parser_note` says so.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from release.cardspec import is_placeholder
from release.cardspec.schema import schema_problems
from release.errors import UsageError

Profile = Literal["mitchell", "hf"]
PROFILES = ("mitchell", "hf")
HAND_WRITTEN = (
    ("model_details", "description"),
    ("model_details", "authors"),
    ("model_details", "license"),
    ("intended_use", "primary_uses"),
    ("intended_use", "primary_users"),
    ("intended_use", "out_of_scope"),
    ("ethical_considerations",),
    ("caveats_and_recommendations", "caveats"),
    ("caveats_and_recommendations", "recommendations"),
)
SECTIONS = (
    "model_details",
    "intended_use",
    "factors",
    "metrics",
    "evaluation_data",
    "training_data",
    "quantitative_analyses",
    "ethical_considerations",
    "caveats_and_recommendations",
)
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def check_card(card: dict[str, Any], profile: str = "mitchell") -> list[str]:
    """Problems that make ``card`` incomplete for ``profile``; an empty list means complete."""
    if profile not in PROFILES:
        raise UsageError(f"unknown card profile {profile!r}", "use mitchell or hf")
    if not isinstance(card, dict):
        return ["card is not a JSON object"]
    if profile == "hf":
        return _hf_problems(card)
    problems = [f"schema: {p}" for p in schema_problems(card)]
    for section in SECTIONS:
        if section not in card or card[section] in (None, "", {}, []):
            problems.append(f"section {section} is missing")
    problems += _placeholder_problems(card)
    problems += _optional_placeholder_problems(card)
    problems += _metric_problems(card)
    problems += _slice_problems(card)
    problems += _lineage_problems(card)
    problems += front_matter_problems(card)
    return list(dict.fromkeys(problems))


def _get(card: dict[str, Any], *keys: str) -> Any:
    node: Any = card
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _placeholder_problems(card: dict[str, Any]) -> list[str]:
    out = []
    for keys in HAND_WRITTEN:
        if keys[0] not in card:
            continue
        if is_placeholder(_get(card, *keys)):
            name = ".".join(keys)
            out.append(f"{name} is a placeholder or empty (write it in card.yaml and rebuild)")
    return out


# optional fields: may be empty, but a "[TODO" marker left in them is unfinished work
OPTIONAL_TEXT = (
    ("model_details", "contact"),
    ("model_details", "citation"),
    ("factors", "notes"),
)


def _optional_placeholder_problems(card: dict[str, Any]) -> list[str]:
    out = []
    for keys in OPTIONAL_TEXT:
        value = _get(card, *keys)
        if isinstance(value, str) and value.strip() and is_placeholder(value):
            name = ".".join(keys)
            out.append(f"{name} still holds a placeholder (write it in card.yaml, or delete it)")
    tags = _get(card, "front_matter", "tags") or []
    if any(isinstance(t, str) and is_placeholder(t) for t in tags):
        out.append("front_matter.tags holds a placeholder (fix tags in card.yaml)")
    return out


def _metric_problems(card: dict[str, Any]) -> list[str]:
    values = _get(card, "metrics", "values")
    if not isinstance(values, dict) or not values:
        return ["metrics.values is empty (run release evaluate, then rebuild the card)"]
    out = [f"metric {k} is not a finite number" for k, v in values.items() if not _finite(v)]
    primary = _get(card, "metrics", "primary_metric")
    overall = _get(card, "metrics", "overall") or {}
    if not primary:
        out.append("metrics.primary_metric is missing")
    elif primary not in values:
        out.append(f"primary metric {primary} has no value in metrics.values")
    if not all(_finite(overall.get(k)) for k in ("metric", "ci_low", "ci_high")):
        out.append("metrics.overall lacks the primary metric with its confidence interval")
    return out


def _slice_problems(card: dict[str, Any]) -> list[str]:
    slices = _get(card, "quantitative_analyses", "slices")
    if not isinstance(slices, list) or not slices:
        return ["quantitative_analyses.slices is empty (declare slices in params.yaml)"]
    out = []
    for s in slices:
        if not isinstance(s, dict):
            out.append("a slice is not an object")
            continue
        if not all(_finite(s.get(k)) for k in ("metric", "ci_low", "ci_high")):
            out.append(f"slice {s.get('name')} lacks its metric or confidence interval")
    return out


def _lineage_problems(card: dict[str, Any]) -> list[str]:
    out = []
    commit = _get(card, "lineage", "git", "commit")
    if not isinstance(commit, str) or not _SHA.match(commit):
        out.append("lineage.git.commit is missing (build the card inside a git repository)")
    for kind in ("data", "model"):
        hashes = _get(card, "lineage", "dvc", kind)
        if not isinstance(hashes, dict) or not hashes:
            out.append(f"lineage.dvc.{kind} has no hashes (run dvc repro so dvc.lock records them)")
    if not _get(card, "lineage", "dvc", "params", "sha256"):
        out.append("lineage.dvc.params has no hash of params.yaml")
    if not _get(card, "model_details", "sha256"):
        out.append("model_details.sha256 is missing (run release train)")
    return out


def front_matter_problems(card: dict[str, Any]) -> list[str]:
    """Structural check of the Hugging Face front matter against the card's own metrics."""
    fm = card.get("front_matter")
    if not isinstance(fm, dict):
        return ["front_matter is missing"]
    out = []
    license_ = fm.get("license")
    if not isinstance(license_, str) or is_placeholder(license_):
        out.append("front_matter.license is missing (set license in card.yaml)")
    for key in ("tags", "datasets", "metrics"):
        value = fm.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            out.append(f"front_matter.{key} must be a non-empty list of strings")
    index = fm.get("model-index")
    try:
        results = _model_index_values(index)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        return [*out, f"front_matter.model-index is malformed ({type(exc).__name__}: {exc})"]
    out += _compare_results(results, _get(card, "metrics", "values") or {})
    return out


def _model_index_values(index: Any) -> dict[str, Any]:
    if not isinstance(index, list) or not index:
        raise ValueError("expected a non-empty list")
    values: dict[str, Any] = {}
    for elem in index:
        if not isinstance(elem["name"], str):
            raise TypeError("name must be a string")
        for result in elem["results"]:
            for key in ("type",):
                if not isinstance(result["task"][key], str):
                    raise TypeError(f"task.{key} must be a string")
            for key in ("type", "name"):
                if not isinstance(result["dataset"][key], str):
                    raise TypeError(f"dataset.{key} must be a string")
            for metric in result["metrics"]:
                values[str(metric["type"])] = metric["value"]
    return values


def _compare_results(results: dict[str, Any], values: dict[str, Any]) -> list[str]:
    out = []
    for name, value in values.items():
        if name not in results:
            out.append(f"model-index lacks metric {name}")
        elif results[name] != value:
            out.append(f"model-index {name} = {results[name]!r} differs from metrics ({value!r})")
    out += [f"model-index states {n}, which metrics do not" for n in results if n not in values]
    return out


def hf_parser_note() -> str | None:
    """A note when huggingface_hub is absent (the hf profile then checks structure only)."""
    try:
        import huggingface_hub.repocard_data  # noqa: F401
    except ImportError:
        return "huggingface_hub is not installed: the front matter was checked structurally"
    return None


def _hf_problems(card: dict[str, Any]) -> list[str]:
    fm = card.get("front_matter")
    if not isinstance(fm, dict):
        return ["front_matter is missing"]
    out = []
    for keys in (("model_details", "description"), ("model_details", "license")):
        if is_placeholder(_get(card, *keys)):
            out.append(f"{'.'.join(keys)} is a placeholder or empty (write it in card.yaml)")
    if not _get(card, "metrics", "values"):
        out.append("metrics.values is empty (run release evaluate, then rebuild the card)")
    if hf_parser_note() is not None:
        return out + front_matter_problems(card)
    return out + hf_front_matter_problems(fm, _get(card, "metrics", "values") or {})


def hf_front_matter_problems(fm: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Parse front matter with huggingface_hub's ``ModelCardData`` (offline) and compare."""
    from huggingface_hub.repocard_data import ModelCardData

    out = []
    if not fm.get("license"):
        out.append("front matter has no license (set license in card.yaml)")
    for key in ("tags", "datasets", "metrics"):
        if not fm.get(key):
            out.append(f"front matter has no {key}")
    if not fm.get("model-index"):
        return [*out, "front matter has no model-index"]
    try:
        data = ModelCardData(**dict(fm))
    except Exception as exc:  # the Hub's parser raises ValueError, TypeError, KeyError...
        return [*out, f"huggingface_hub cannot parse the front matter: {exc}"]
    results = {str(r.metric_type): r.metric_value for r in data.eval_results or []}
    return out + _compare_results(results, values)


def readme_problems(text: str, values: dict[str, Any]) -> list[str]:
    """Parse a whole README.md as the Hub does (``huggingface_hub.ModelCard``), offline."""
    try:
        from huggingface_hub import ModelCard
    except ImportError:
        return []
    try:
        parsed = ModelCard(text)
    except Exception as exc:
        return [f"README.md front matter does not parse: {exc}"]
    fm = parsed.data.to_dict()
    return [f"README.md: {p}" for p in hf_front_matter_problems(fm, values)]
