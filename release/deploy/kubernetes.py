"""The Kubernetes target: render, check and apply manifests for a model version in a stage.

``render_manifests`` turns the same settings the local target uses (canary steps, shadow
step, judge and signal thresholds) into an Argo Rollouts ``Rollout`` (canary or blue/green),
an ``AnalysisTemplate`` whose Prometheus queries use the model server's own metric names,
stable and canary (or active and preview) ``Service``s and an Istio ``VirtualService``.
Every object carries the model version, its registry tag and the model file's sha256.

Templates are Jinja with autoescape off (YAML is not HTML), so every value goes through
the ``q`` filter, which emits a YAML-safe scalar (a JSON string, or a number/boolean):
nothing a user controls can break out of its scalar. Names are validated as DNS-1035
labels before anything is rendered, and the rendered objects are checked against the
fields Argo Rollouts and Istio define before any file is written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.deploy.kubernetes_apply import apply_manifests as apply_manifests
from release.deploy.kubernetes_apply import (
    pod_template_as_deployment as pod_template_as_deployment,
)

# DNS-1035 label: Service names must be one; we hold every object name to it.
from release.deploy.kubernetes_checks import _DNS_LABEL, check_custom_resources
from release.errors import DeployError, UsageError
from release.resources import builtin_templates

TEMPLATE_DIR = builtin_templates("k8s")
STRATEGIES = ("direct", "canary", "shadow", "bluegreen")
PORT = 8080
ROUTE = "primary"
LABEL_PREFIX = "release.gitops.dev"

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SEMVER = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_GTO_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9/_-]*[a-zA-Z0-9])?"
_TAG = re.compile(rf"^{_GTO_NAME}(@v[0-9A-Za-z.+-]+|#{_GTO_NAME}(#\d+)?)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
_K8S_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|k|M|G)?$")
_LONGEST_SUFFIX = len("-analysis")
_MAX_BASE = 63 - _LONGEST_SUFFIX


@dataclass(frozen=True)
class KubernetesOptions:
    """Cluster-side choices the settings file does not hold."""

    namespace: str = "models"
    image: str = "ghcr.io/example/release-server:0.1.0"
    replicas: int = 2
    prometheus: str = "http://prometheus.monitoring.svc.cluster.local:9090"
    cpu_request: str = "250m"
    cpu_limit: str = "1"
    memory_request: str = "256Mi"
    run_as_user: int = 10001
    gateways: list[str] = field(default_factory=lambda: ["mesh"])


# ---------------------------------------------------------------------------- render
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
    options: KubernetesOptions | None = None,
) -> list[Path]:
    """Render the manifests for ``name`` ``version`` in ``stage`` into ``out_dir``.

    Returns the files written (sorted). Raises UsageError for a name, version, tag, hash
    or strategy Kubernetes or the registry would not accept, and DeployError if the
    rendered objects fail the custom-resource checks. Nothing is written on error.
    """
    opts = options or KubernetesOptions()
    context = _context(
        settings,
        name=name,
        stage=stage,
        version=version,
        tag=tag,
        model_sha256=model_sha256,
        strategy=strategy,
        opts=opts,
    )
    env = _environment()
    files: dict[str, str] = {}
    bluegreen = strategy == "bluegreen"
    rollout = "rollout-bluegreen.yaml.j2" if bluegreen else "rollout-canary.yaml.j2"
    files["rollout.yaml"] = env.get_template(rollout).render(context)
    files["analysistemplate.yaml"] = env.get_template("analysistemplate.yaml.j2").render(context)
    names = context["names"]
    roles = ("active", "preview") if bluegreen else ("stable", "canary")
    for role in roles:
        files[f"service-{role}.yaml"] = env.get_template("service.yaml.j2").render(
            context, service_name=names[role], role=role
        )
    files["virtualservice.yaml"] = env.get_template("virtualservice.yaml.j2").render(context)

    docs = []
    for fname, text in files.items():
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


def _context(
    settings: Any,
    *,
    name: str,
    stage: str,
    version: str,
    tag: str,
    model_sha256: str,
    strategy: str,
    opts: KubernetesOptions,
) -> dict[str, Any]:
    base = validate_names(name, stage, namespace=opts.namespace)
    if strategy not in STRATEGIES:
        raise UsageError(f"strategy {strategy!r} is unknown", "use one of " + ", ".join(STRATEGIES))
    if not _SEMVER.fullmatch(version) or len(version) > 63 or not _LABEL_VALUE.fullmatch(version):
        raise UsageError(
            f"version {version!r} is not a registry version usable as a Kubernetes label",
            "use vMAJOR.MINOR.PATCH (an optional -prerelease, no +build, at most 63 chars)",
        )
    if not _TAG.fullmatch(tag) or len(tag) > 255:
        raise UsageError(f"tag {tag!r} is not a GTO tag", "pass name@vX.Y.Z or name#stage#N")
    if not _SHA256.fullmatch(model_sha256):
        raise UsageError(
            f"model sha256 {model_sha256!r} is invalid", "pass the 64 hex digits of model.skops"
        )
    if not _IMAGE.fullmatch(opts.image):
        raise UsageError(f"image {opts.image!r} is invalid", "use a lowercase image reference")
    if not 1 <= opts.replicas <= 100:
        raise UsageError(f"replicas {opts.replicas} is invalid", "use 1..100")
    for q in (opts.cpu_request, opts.cpu_limit, opts.memory_request):
        if not _K8S_QUANTITY.fullmatch(q):
            raise UsageError(f"resource quantity {q!r} is invalid", "use e.g. 250m, 1, 512Mi")

    deploy = settings.release.deploy
    signals = settings.monitor.signals
    names = {
        "base": base,
        "rollout": base,
        "stable": f"{base}-stable",
        "canary": f"{base}-canary",
        "active": f"{base}-active",
        "preview": f"{base}-preview",
        "virtualservice": base,
        "analysis": f"{base}-analysis",
    }
    selector = {"app.kubernetes.io/name": base}
    labels = {
        **selector,
        "app.kubernetes.io/part-of": "release",
        "app.kubernetes.io/managed-by": "release",
        "app.kubernetes.io/version": version,
        f"{LABEL_PREFIX}/artifact": _label_value(name),
        f"{LABEL_PREFIX}/stage": _label_value(stage),
        f"{LABEL_PREFIX}/version": version,
        f"{LABEL_PREFIX}/model-sha256-prefix": model_sha256[:12],
    }
    annotations = {
        f"{LABEL_PREFIX}/artifact": name,
        f"{LABEL_PREFIX}/version": version,
        f"{LABEL_PREFIX}/tag": tag,
        f"{LABEL_PREFIX}/model-sha256": model_sha256,
        f"{LABEL_PREFIX}/strategy": strategy,
    }
    memory_limit = f"{max(64, int(signals.max_memory_mb))}Mi"
    window = "2m"
    analysis_args = [{"name": "version", "value": version}]

    def analysis(min_requests: int) -> dict[str, Any]:
        return {
            "templates": [{"templateName": names["analysis"]}],
            "args": [*analysis_args, {"name": "min-requests", "value": str(min_requests)}],
        }

    steps: list[dict[str, Any]] = []
    if strategy == "canary":
        for step in deploy.canary.steps:
            steps.append({"setWeight": int(step.weight)})
            steps.append({"pause": {"duration": _duration(step.min_duration)}})
            steps.append({"analysis": analysis(step.min_requests)})
    elif strategy == "shadow":
        shadow = deploy.shadow
        steps.append({"setCanaryScale": {"replicas": 1}})
        steps.append({"pause": {"duration": _duration(shadow.min_duration)}})
        steps.append({"analysis": analysis(shadow.min_requests)})
        steps.append({"setCanaryScale": {"matchTrafficWeight": True}})
    elif strategy == "direct":
        steps.append({"setWeight": 100})
    first_min = deploy.canary.steps[0].min_requests if deploy.canary.steps else 100

    return {
        "name": name,
        "stage": stage,
        "version": version,
        "tag": tag,
        "model_sha256": model_sha256,
        "model_ref": f"{name}@{version}",
        "strategy": strategy,
        "names": names,
        "namespace": opts.namespace,
        "selector": selector,
        "labels": labels,
        "annotations": annotations,
        "opts": opts,
        "port": PORT,
        "route": ROUTE,
        "memory_limit": memory_limit,
        "threads": str(deploy.server.threads),
        "steps_json": steps,
        "prepromotion": analysis(first_min),
        "mirror_percentage": float(deploy.shadow.weight),
        "metrics": _metrics(
            name,
            window=window,
            min_success_rate=round(1.0 - signals.max_error_rate, 6),
            max_p99_seconds=round(signals.max_p99_ms / 1000.0, 6),
        ),
    }


def _metrics(
    model: str, *, window: str, min_success_rate: float, max_p99_seconds: float
) -> list[dict[str, Any]]:
    """Prometheus metrics on the server's own names, for the canary's version only."""
    sel = f'model="{_promql_string(model)}",version="{{{{args.version}}}}"'
    total = f"sum(rate(model_requests_total{{{sel}}}[{window}]))"
    ok = f'sum(rate(model_requests_total{{{sel},status!~"5.."}}[{window}]))'
    p99 = (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(model_request_duration_seconds_bucket{{{sel}}}[{window}])))"
    )
    count = f"sum(increase(model_requests_total{{{sel}}}[{window}]))"
    return [
        {
            # Too few requests is inconclusive, never a pass: neither condition holds.
            "name": "request-count",
            "query": count,
            "successCondition": "result[0] >= {{args.min-requests}}",
            "failureCondition": "false",
            "inconclusiveLimit": 1,
        },
        {
            "name": "success-rate",
            "query": f"{ok} / {total}",
            "successCondition": f"result[0] >= {min_success_rate}",
            "failureLimit": 1,
        },
        {
            "name": "latency-p99",
            "query": p99,
            "successCondition": f"result[0] <= {max_p99_seconds}",
            "failureLimit": 1,
        },
    ]


def validate_names(name: str, stage: str, *, namespace: str = "models") -> str:
    """Check that ``name``-``stage`` and ``namespace`` make valid Kubernetes names.

    Returns the base object name. Kubernetes Services need DNS-1035 labels (lowercase
    letters, digits, '-', starting with a letter, at most 63 characters); the longest
    suffix we add is ``-analysis``.
    """
    for what, value in (("artifact name", name), ("stage", stage), ("namespace", namespace)):
        if not isinstance(value, str) or not _DNS_LABEL.fullmatch(value) or len(value) > 63:
            raise UsageError(
                f"{what} {value!r} is not a valid Kubernetes name",
                "use lowercase letters, digits and '-', starting with a letter",
            )
    base = f"{name}-{stage}"
    if len(base) > _MAX_BASE:
        raise UsageError(
            f"{base!r} is too long for Kubernetes names ({len(base)} > {_MAX_BASE} characters)",
            "use a shorter artifact or stage name",
        )
    return base


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
        raise UsageError(f"{value!r} is not a valid Kubernetes label value")
    return value


def _duration(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"


def _promql_string(value: str) -> str:
    # Validated names hold no quotes or backslashes; escape anyway (defence in depth).
    return value.replace("\\", "\\\\").replace('"', '\\"')


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
    # Drop manifests of an earlier render (e.g. canary services after a blue/green render),
    # so `kubectl apply -f DIR` applies exactly this render.
    for stale in out_dir.glob("*.yaml"):
        if stale.name not in files and _rendered_by_us(stale):
            stale.unlink()
    written = []
    for fname, text in sorted(files.items()):
        write_text(out_dir / fname, text)
        written.append(out_dir / fname)
    return written


def _rendered_by_us(path: Path) -> bool:
    try:
        return "app.kubernetes.io/managed-by" in path.read_text(encoding="utf-8")
    except OSError:
        return False


def load_manifests(out_dir: str | Path) -> list[dict[str, Any]]:
    """Read every object from the ``*.yaml`` files in ``out_dir`` (sorted by file name)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(Path(out_dir).glob("*.yaml")):
        docs.extend(_load_all(path.read_text(encoding="utf-8")))
    return docs
