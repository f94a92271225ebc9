"""The Kubernetes target: render, check and apply manifests for a model version in a stage.

``render_manifests`` turns the same settings the local target uses (canary steps, shadow
step, bake window, signal thresholds) plus ``release.deploy.kubernetes`` into, for the
``argo`` target, an Argo Rollouts ``Rollout`` (canary, shadow, direct or blue/green),
its ``AnalysisTemplate``s on the model server's own Prometheus series, the Services and
an Istio ``VirtualService``; for the ``kserve`` target, a KServe ``InferenceService`` per
canary step. Both get the scraping (a ``ServiceMonitor`` or ``prometheus.io``
annotations), a ``PrometheusRule`` of golden-signal alerts and a Grafana dashboard. The
pods fetch their model with ``release fetch-model`` in an init container and serve it
with ``RELEASE_MODEL_SHA256`` set to the registry's hash.

Templates are Jinja with autoescape off (YAML is not HTML), so every value goes through
the ``q`` filter, which emits a YAML-safe scalar (a JSON string, or a number/boolean):
nothing a user controls can break out of its scalar. Names are derived as DNS-1035
labels (:mod:`release.deploy.kubernetes_names`) and the rendered objects are checked
before any file is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from release.deploy import kubernetes_observe as observe
from release.deploy.kubernetes_apply import apply_manifests as apply_manifests
from release.deploy.kubernetes_apply import (
    pod_template_as_deployment as pod_template_as_deployment,
)
from release.deploy.kubernetes_checks import check_custom_resources
from release.deploy.kubernetes_context import STRATEGIES as STRATEGIES
from release.deploy.kubernetes_context import TARGETS as TARGETS
from release.deploy.kubernetes_context import Release, build
from release.deploy.kubernetes_names import base_name
from release.errors import DeployError, UsageError
from release.resources import builtin_templates

TEMPLATE_DIR = builtin_templates("k8s")
KSERVE_STEPS = "kserve-steps"
MANAGED_BY = "app.kubernetes.io/managed-by"


def render_manifests(
    settings: Any,
    *,
    name: str,
    stage: str,
    version: str,
    tag: str,
    model_sha256: str,
    strategy: str,
    out_dir: str | Path,
    target: str = "argo",
) -> list[Path]:
    """Render the manifests for ``name`` ``version`` in ``stage`` into ``out_dir``.

    Returns the files written (sorted). Raises UsageError for a version, tag, hash,
    strategy, target or cluster setting Kubernetes or the registry would not accept,
    and DeployError if the rendered objects fail the checks. Nothing is written on error.
    """
    rel = Release(name, stage, version, tag, model_sha256, strategy, target)
    context = build(settings, rel)
    files = render_files(context)
    docs = []
    for fname, text in files.items():
        if not fname.endswith(".yaml"):
            continue
        try:
            docs.extend(_load_all(text))
        except Exception as exc:  # a template bug, not user input: say which file
            raise DeployError(f"rendered {fname} is not valid YAML: {exc}") from None
    problems = check_custom_resources(docs)
    if problems:
        raise DeployError(
            "rendered manifests fail the Argo Rollouts/Istio checks: " + "; ".join(problems),
            "fix the k8s templates or the deploy settings",
        )
    return _write_all(Path(out_dir), files)


def render_files(context: dict[str, Any]) -> dict[str, str]:
    """Every file of one render, by its path under the output folder."""
    env = _environment()
    rel: Release = context["release"]
    names = context["names"]
    context = {
        **context,
        "pod_annotations": {**context["annotations"], **context["pod_annotations"]},
        "metrics_labels": {"release.gitops.dev/metrics": names["base"]},
        "smoke_url": f"http://{names['preview']}.{context['namespace']}.svc:{context['port']}",
        "scale_down_delay": _scale_down_delay(context),
    }
    files = _kserve_files(env, context) if rel.target == "kserve" else _argo_files(env, context)
    files.update(_observability_files(context))
    return files


def _argo_files(env: Any, context: dict[str, Any]) -> dict[str, str]:
    files: dict[str, str] = {}
    bluegreen = context["strategy"] == "bluegreen"
    rollout = "rollout-bluegreen.yaml.j2" if bluegreen else "rollout-canary.yaml.j2"
    files["rollout.yaml"] = env.get_template(rollout).render(context)
    if context["analysis"]["templates"]:
        files["analysistemplate.yaml"] = env.get_template("analysistemplate.yaml.j2").render(
            context
        )
    if bluegreen:
        smoke = env.get_template("analysistemplate-smoke.yaml.j2")
        files["analysistemplate-smoke.yaml"] = smoke.render(context)
    names = context["names"]
    roles = ("active", "preview") if bluegreen else ("stable", "canary")
    for role in roles:
        files[f"service-{role}.yaml"] = env.get_template("service.yaml.j2").render(
            context, service_name=names[role], role=role
        )
    files["virtualservice.yaml"] = env.get_template("virtualservice.yaml.j2").render(context)
    if context["k8s"].scrape == "servicemonitor":
        files["service-metrics.yaml"] = env.get_template("service-metrics.yaml.j2").render(context)
        files["servicemonitor.yaml"] = env.get_template("servicemonitor.yaml.j2").render(context)
    return files


def _kserve_files(env: Any, context: dict[str, Any]) -> dict[str, str]:
    """``inferenceservice.yaml`` is the first step; ``kserve-steps/`` holds every step in
    order, to apply one after the other (``kubectl apply -f DIR`` does not recurse)."""
    strategy = context["strategy"]
    if strategy not in ("canary", "direct"):
        raise UsageError(
            f"strategy {strategy} has no KServe form",
            "use canary or direct with --target kserve (or --target kubernetes)",
        )
    template = env.get_template("inferenceservice.yaml.j2")
    weights: list[int | None] = [None]
    if strategy == "canary":
        steps = context["analysis"]["steps"]
        percents = [int(s["setWeight"]) for s in steps if "setWeight" in s]
        # 100% is the promoted revision: KServe drops canaryTrafficPercent for it.
        weights = [w if w < 100 else None for w in percents]
    files = {}
    for i, weight in enumerate(weights, 1):
        files[f"{KSERVE_STEPS}/step-{i:02d}.yaml"] = template.render(context, canary_percent=weight)
    files["inferenceservice.yaml"] = files[f"{KSERVE_STEPS}/step-01.yaml"]
    return files


def _observability_files(context: dict[str, Any]) -> dict[str, str]:
    import yaml

    rel: Release = context["release"]
    model = context["serve_name"]
    groups = observe.alert_rules(model, rel.stage, context["signals"])
    meta = {
        "name": context["names"]["base"],
        "namespace": context["namespace"],
        "labels": {**context["labels"], **context["k8s"].servicemonitor_labels},
        "annotations": context["annotations"],
    }
    rule = observe.prometheus_rule(meta, groups)
    uid = base_name(rel.name, rel.stage)[:40]
    board = observe.dashboard(model, rel.stage, uid)
    return {
        "prometheusrule.yaml": yaml.safe_dump(rule, sort_keys=False, allow_unicode=False),
        "dashboard.json": json.dumps(board, indent=2, sort_keys=True) + "\n",
    }


def _scale_down_delay(context: dict[str, Any]) -> int:
    post = context["analysis"]["templates"][1:] if context["analysis"]["post"] else []
    return max(30, *(t["timing"].seconds + 30 for t in post)) if post else 30


def yaml_scalar(value: Any) -> str:
    """Quote one value as a YAML scalar (the templates' ``q`` filter).

    Strings become JSON strings (valid double-quoted YAML, newlines and quotes escaped);
    numbers and booleans stay bare; lists and mappings become JSON flow collections.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise DeployError(f"cannot render the non-finite number {value!r}")
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=True, allow_nan=False)
    raise DeployError(f"cannot render a {type(value).__name__} into YAML")


def _environment(template_dir: Path = TEMPLATE_DIR) -> Any:
    import jinja2

    # YAML, not HTML: autoescape off, and every value goes through the `q` filter.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = yaml_scalar
    return env


def _load_all(text: str) -> list[dict[str, Any]]:
    import yaml

    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def _write_all(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    from release.fsio import write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    # Drop files of an earlier render (e.g. canary services after a blue/green render),
    # so `kubectl apply -f DIR` applies exactly this render.
    for pattern in ("*.yaml", "*.json", f"{KSERVE_STEPS}/*.yaml"):
        for stale in out_dir.glob(pattern):
            rel = stale.relative_to(out_dir).as_posix()
            if rel not in files and _rendered_by_us(stale):
                stale.unlink()
    written = []
    for fname, text in sorted(files.items()):
        path = out_dir / fname
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text)
        written.append(path)
    return written


def _rendered_by_us(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False
    return MANAGED_BY in text


def load_manifests(out_dir: str | Path) -> list[dict[str, Any]]:
    """Read every object from the ``*.yaml`` files in ``out_dir`` (sorted by file name)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(Path(out_dir).glob("*.yaml")):
        docs.extend(_load_all(path.read_text(encoding="utf-8")))
    return docs
