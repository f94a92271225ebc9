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
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.errors import DeployError, UsageError
from release.resources import builtin_templates

TEMPLATE_DIR = builtin_templates("k8s")
STRATEGIES = ("direct", "canary", "shadow", "bluegreen")
PORT = 8080
ROUTE = "primary"
LABEL_PREFIX = "release.gitops.dev"

# DNS-1035 label: Service names must be one; we hold every object name to it.
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
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


# ----------------------------------------------------------------------------- check
def _fields(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Field names from the published CRDs: argoproj.io/v1alpha1 Rollout and AnalysisTemplate
# (argo-rollouts manifests/crds) and networking.istio.io VirtualService (istio/api).
ROLLOUT_STEP_KEYS = _fields(
    "setWeight pause analysis experiment setCanaryScale setHeaderRoute setMirrorRoute plugin"
)
CANARY_KEYS = _fields(
    "canaryService stableService steps trafficRouting analysis maxSurge "
    "maxUnavailable antiAffinity canaryMetadata stableMetadata "
    "scaleDownDelaySeconds scaleDownDelayRevisionLimit abortScaleDownDelaySeconds "
    "dynamicStableScale pingPong minPodsPerReplicaSet replicaProgressThreshold"
)
BLUEGREEN_KEYS = _fields(
    "activeService previewService autoPromotionEnabled autoPromotionSeconds "
    "prePromotionAnalysis postPromotionAnalysis previewReplicaCount "
    "scaleDownDelaySeconds scaleDownDelayRevisionLimit abortScaleDownDelaySeconds "
    "antiAffinity activeMetadata previewMetadata maxUnavailable"
)
ANALYSIS_KEYS = frozenset({"templates", "args", "dryRun", "measurementRetention"})
METRIC_KEYS = _fields(
    "name provider successCondition failureCondition interval initialDelay count "
    "failureLimit inconclusiveLimit consecutiveErrorLimit consecutiveSuccessLimit"
)
HTTP_ROUTE_KEYS = _fields(
    "name match route redirect directResponse delegate rewrite timeout retries "
    "fault mirror mirrorPercentage mirrors corsPolicy headers"
)


def check_custom_resources(docs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Check Rollouts, AnalysisTemplates and VirtualServices; return the problems found.

    Checks the required keys, the shape of each canary step, weights (0..100, summing to
    100 per route), mirror percentages and the references between objects (services,
    virtual service routes, analysis templates and their arguments).
    """
    docs = list(docs)
    problems: list[str] = []
    services = {_name(d) for d in docs if d.get("kind") == "Service"}
    templates = {
        _name(d): d
        for d in docs
        if d.get("kind") in ("AnalysisTemplate", "ClusterAnalysisTemplate")
    }
    vservices = {_name(d): d for d in docs if d.get("kind") == "VirtualService"}
    for doc in docs:
        kind = doc.get("kind")
        where = f"{kind}/{_name(doc)}"
        if kind == "Rollout":
            problems += [
                f"{where}: {p}" for p in _check_rollout(doc, services, templates, vservices)
            ]
        elif kind == "AnalysisTemplate":
            problems += [f"{where}: {p}" for p in _check_analysis_template(doc)]
        elif kind == "VirtualService":
            problems += [f"{where}: {p}" for p in _check_virtual_service(doc, services)]
    return problems


def _name(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, Mapping) else ""


def _check_metadata(doc: Mapping[str, Any], api: str) -> list[str]:
    out = []
    if doc.get("apiVersion") != api:
        out.append(f"apiVersion must be {api}, got {doc.get('apiVersion')!r}")
    if not _DNS_LABEL.fullmatch(_name(doc)):
        out.append(f"metadata.name {_name(doc)!r} is not a DNS-1035 label")
    return out


def _check_rollout(
    doc: Mapping[str, Any],
    services: set[str],
    templates: Mapping[str, Mapping[str, Any]],
    vservices: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    out = _check_metadata(doc, "argoproj.io/v1alpha1")
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        return [*out, "spec is required"]
    selector = spec.get("selector", {}).get("matchLabels") if "selector" in spec else None
    if not isinstance(selector, Mapping) or not selector:
        out.append("spec.selector.matchLabels is required")
    if "template" not in spec and "workloadRef" not in spec:
        out.append("spec.template (or spec.workloadRef) is required")
    else:
        pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
        if isinstance(selector, Mapping) and any(
            pod_labels.get(k) != v for k, v in selector.items()
        ):
            out.append("spec.selector.matchLabels must match spec.template.metadata.labels")
    strategy = spec.get("strategy")
    if not isinstance(strategy, Mapping) or len(strategy) != 1:
        return [*out, "spec.strategy must hold exactly one of canary, blueGreen"]
    if "canary" in strategy:
        out += _check_canary(strategy["canary"], services, templates, vservices)
    elif "blueGreen" in strategy:
        out += _check_bluegreen(strategy["blueGreen"], services, templates)
    else:
        out.append(f"unknown strategy {next(iter(strategy))!r}")
    return out


def _check_canary(
    canary: Any,
    services: set[str],
    templates: Mapping[str, Mapping[str, Any]],
    vservices: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    if not isinstance(canary, Mapping):
        return ["spec.strategy.canary must be a mapping"]
    out = [
        f"spec.strategy.canary.{k} is not a Rollout field" for k in canary if k not in CANARY_KEYS
    ]
    routing = canary.get("trafficRouting")
    if routing is not None:
        for key in ("canaryService", "stableService"):
            if not canary.get(key):
                out.append(f"spec.strategy.canary.{key} is required with trafficRouting")
            elif canary[key] not in services:
                out.append(f"spec.strategy.canary.{key} {canary[key]!r} has no Service")
        if canary.get("canaryService") and canary.get("canaryService") == canary.get(
            "stableService"
        ):
            out.append("canaryService and stableService must differ")
        out += _check_istio_routing(routing, canary, vservices)
    steps = canary.get("steps", [])
    if not isinstance(steps, list):
        return [*out, "spec.strategy.canary.steps must be a list"]
    last_weight = 0
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(step, Mapping) or len(step) != 1:
            out.append(f"{where} must hold exactly one step kind")
            continue
        ((kind, body),) = step.items()
        if kind not in ROLLOUT_STEP_KEYS:
            out.append(f"{where}: unknown step {kind!r}")
        elif kind == "setWeight":
            if not isinstance(body, int) or isinstance(body, bool) or not 0 <= body <= 100:
                out.append(f"{where}.setWeight must be an integer 0..100, got {body!r}")
            elif body < last_weight:
                out.append(f"{where}.setWeight {body} goes down from {last_weight}")
            else:
                last_weight = body
        elif kind == "pause":
            out += [f"{where}.{p}" for p in _check_pause(body)]
        elif kind == "analysis":
            out += [f"{where}.analysis{p}" for p in _check_analysis_ref(body, templates)]
        elif kind == "setCanaryScale":
            allowed = {"replicas", "weight", "matchTrafficWeight"}
            if not isinstance(body, Mapping) or len(body) != 1 or not set(body) <= allowed:
                out.append(f"{where}.setCanaryScale needs one of {sorted(allowed)}")
    return out


def _check_pause(body: Any) -> list[str]:
    if not isinstance(body, Mapping) or set(body) - {"duration"}:
        return ["pause must be {} or {duration: ...}"]
    duration = body.get("duration")
    if duration is None or (isinstance(duration, int) and duration >= 0):
        return []
    if isinstance(duration, str) and re.fullmatch(r"\d+(s|m|h)?", duration):
        return []
    return [f"pause.duration {duration!r} must be seconds or a string like 30s, 5m, 1h"]


def _check_analysis_ref(body: Any, templates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not isinstance(body, Mapping):
        return [" must be a mapping"]
    out = [f".{k} is not an analysis field" for k in body if k not in ANALYSIS_KEYS]
    refs = body.get("templates")
    if not isinstance(refs, list) or not refs:
        return [*out, ".templates must list at least one templateName"]
    given = {a.get("name") for a in body.get("args", []) if isinstance(a, Mapping)}
    for ref in refs:
        name = ref.get("templateName") if isinstance(ref, Mapping) else None
        if not name:
            out.append(".templates[] needs templateName")
            continue
        template = templates.get(name)
        if template is None:
            out.append(f": AnalysisTemplate {name!r} is not rendered")
            continue
        for arg in template.get("spec", {}).get("args", []):
            if "value" not in arg and "valueFrom" not in arg and arg.get("name") not in given:
                out.append(f": argument {arg.get('name')!r} of {name!r} is not passed")
    return out


def _check_istio_routing(
    routing: Any, canary: Mapping[str, Any], vservices: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    istio = routing.get("istio") if isinstance(routing, Mapping) else None
    if not isinstance(istio, Mapping):
        return ["trafficRouting.istio is required (the only router rendered here)"]
    refs = istio.get("virtualServices") or (
        [istio["virtualService"]] if "virtualService" in istio else []
    )
    if not refs:
        return ["trafficRouting.istio.virtualService(s) is required"]
    out = []
    for ref in refs:
        vs = vservices.get(ref.get("name", "")) if isinstance(ref, Mapping) else None
        if vs is None:
            out.append(f"trafficRouting VirtualService {ref!r} is not rendered")
            continue
        routes = {r.get("name"): r for r in vs.get("spec", {}).get("http", [])}
        for route_name in ref.get("routes", []):
            route = routes.get(route_name)
            if route is None:
                out.append(f"trafficRouting route {route_name!r} is not in the VirtualService")
                continue
            hosts = {d.get("destination", {}).get("host") for d in route.get("route", [])}
            for key in ("stableService", "canaryService"):
                if canary.get(key) not in hosts:
                    out.append(f"route {route_name!r} has no destination for {key}")
    return out


def _check_bluegreen(
    bg: Any, services: set[str], templates: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    if not isinstance(bg, Mapping):
        return ["spec.strategy.blueGreen must be a mapping"]
    out = [
        f"spec.strategy.blueGreen.{k} is not a Rollout field" for k in bg if k not in BLUEGREEN_KEYS
    ]
    if not bg.get("activeService"):
        out.append("spec.strategy.blueGreen.activeService is required")
    for key in ("activeService", "previewService"):
        if bg.get(key) and bg[key] not in services:
            out.append(f"spec.strategy.blueGreen.{key} {bg[key]!r} has no Service")
    if bg.get("activeService") and bg.get("activeService") == bg.get("previewService"):
        out.append("activeService and previewService must differ")
    for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
        if key in bg:
            out += [f"{key}{p}" for p in _check_analysis_ref(bg[key], templates)]
    return out


def _check_analysis_template(doc: Mapping[str, Any]) -> list[str]:
    out = _check_metadata(doc, "argoproj.io/v1alpha1")
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        return [*out, "spec is required"]
    metrics = spec.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        return [*out, "spec.metrics must list at least one metric"]
    declared = {a.get("name") for a in spec.get("args", []) if isinstance(a, Mapping)}
    seen = set()
    for i, metric in enumerate(metrics):
        where = f"metrics[{i}]"
        if not isinstance(metric, Mapping):
            out.append(f"{where} must be a mapping")
            continue
        out += [f"{where}.{k} is not a metric field" for k in metric if k not in METRIC_KEYS]
        if not metric.get("name"):
            out.append(f"{where}.name is required")
        elif metric["name"] in seen:
            out.append(f"{where}.name {metric['name']!r} is repeated")
        seen.add(metric.get("name"))
        provider = metric.get("provider")
        if not isinstance(provider, Mapping) or len(provider) != 1:
            out.append(f"{where}.provider must hold exactly one provider")
            continue
        prom = provider.get("prometheus")
        if prom is not None and (
            not isinstance(prom, Mapping) or not prom.get("query") or not prom.get("address")
        ):
            out.append(f"{where}.provider.prometheus needs address and query")
        texts = [str(prom.get("query", "")) if isinstance(prom, Mapping) else ""]
        texts += [str(metric.get(k, "")) for k in ("successCondition", "failureCondition")]
        for used in re.findall(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}", " ".join(texts)):
            if used not in declared:
                out.append(f"{where} uses args.{used}, which spec.args does not declare")
    return out


def _check_virtual_service(doc: Mapping[str, Any], services: set[str]) -> list[str]:
    api = doc.get("apiVersion", "")
    out = (
        []
        if api
        in ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
        else [f"apiVersion {api!r} is not a networking.istio.io version"]
    )
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        return [*out, "spec is required"]
    if not isinstance(spec.get("hosts"), list) or not spec["hosts"]:
        out.append("spec.hosts must list at least one host")
    routes = spec.get("http")
    if not isinstance(routes, list) or not routes:
        return [*out, "spec.http must list at least one route"]
    for i, route in enumerate(routes):
        where = f"http[{i}]"
        if not isinstance(route, Mapping):
            out.append(f"{where} must be a mapping")
            continue
        out += [f"{where}.{k} is not an HTTPRoute field" for k in route if k not in HTTP_ROUTE_KEYS]
        dests = route.get("route")
        if not isinstance(dests, list) or not dests:
            out.append(f"{where}.route must list at least one destination")
            continue
        weights = []
        for j, dest in enumerate(dests):
            host = dest.get("destination", {}).get("host") if isinstance(dest, Mapping) else None
            if not host:
                out.append(f"{where}.route[{j}].destination.host is required")
            elif host not in services:
                out.append(f"{where}.route[{j}] host {host!r} has no Service")
            weight = dest.get("weight", 100 if len(dests) == 1 else None)
            if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
                out.append(f"{where}.route[{j}].weight must be an integer 0..100, got {weight!r}")
            else:
                weights.append(weight)
        if len(weights) == len(dests) and sum(weights) != 100:
            out.append(f"{where} weights sum to {sum(weights)}, not 100")
        if "mirror" in route:
            host = route["mirror"].get("host") if isinstance(route["mirror"], Mapping) else None
            if host not in services:
                out.append(f"{where}.mirror.host {host!r} has no Service")
        if "mirrorPercentage" in route:
            pct = route["mirrorPercentage"]
            value = pct.get("value") if isinstance(pct, Mapping) else None
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not 0 <= value <= 100
            ):
                out.append(f"{where}.mirrorPercentage.value must be 0..100, got {value!r}")
            if "mirror" not in route:
                out.append(f"{where}.mirrorPercentage needs mirror")
    return out


# ----------------------------------------------------------------------------- apply
def apply_manifests(out_dir: str | Path) -> None:
    """Run ``kubectl apply -f out_dir`` when kubectl and a current context exist.

    Raises DeployError with one line when kubectl is missing, no context is set, the
    directory holds no manifests or kubectl fails.
    """
    out = Path(out_dir)
    if not out.is_dir() or not any(out.glob("*.yaml")):
        raise DeployError(f"no manifests in {out}", "render them first with --render-only")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise DeployError(
            "kubectl is not installed", "install kubectl or use --render-only and apply elsewhere"
        )
    ctx = subprocess.run(
        [kubectl, "config", "current-context"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if ctx.returncode != 0 or not ctx.stdout.strip():
        raise DeployError(
            "kubectl has no current context",
            "set KUBECONFIG or run `kubectl config use-context NAME`",
        )
    result = subprocess.run(
        [kubectl, "apply", "-f", str(out)], capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[:300]
        raise DeployError(f"kubectl apply failed: {detail}", "check the cluster and the manifests")


def pod_template_as_deployment(rollout: Mapping[str, Any]) -> dict[str, Any]:
    """The Rollout's core part (replicas, selector, pod template) as an apps/v1 Deployment.

    A Rollout embeds a core ``PodTemplateSpec``; validating this Deployment with the
    Kubernetes schemas checks the containers, probes, resources and security context.
    """
    spec = rollout.get("spec", {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": dict(rollout.get("metadata", {})),
        "spec": {k: spec[k] for k in ("replicas", "selector", "template") if k in spec},
    }
