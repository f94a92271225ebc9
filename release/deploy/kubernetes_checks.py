"""Checks of rendered Kubernetes objects against the fields Argo Rollouts and Istio define.

Split out of :mod:`release.deploy.kubernetes` as it was; that module re-exports these names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# DNS-1035 label: Service names must be one; every object name is held to it.
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


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
    managed = {
        r.get("name") for r in (routing or {}).get("managedRoutes", []) if isinstance(r, Mapping)
    }
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
        elif kind == "setMirrorRoute":
            out += [f"{where}.setMirrorRoute{p}" for p in _check_mirror(body, managed)]
        elif kind == "setCanaryScale":
            allowed = {"replicas", "weight", "matchTrafficWeight"}
            if not isinstance(body, Mapping) or len(body) != 1 or not set(body) <= allowed:
                out.append(f"{where}.setCanaryScale needs one of {sorted(allowed)}")
    return out


def _check_mirror(body: Any, managed: set[Any]) -> list[str]:
    """A mirror route Argo adds (with match) or removes (name only); it must be managed."""
    if not isinstance(body, Mapping) or not body.get("name"):
        return [" needs a name"]
    out = []
    if body["name"] not in managed:
        out.append(f" {body['name']!r} is not in trafficRouting.managedRoutes")
    pct = body.get("percentage", 100)
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
        out.append(f".percentage must be an integer 0..100, got {pct!r}")
    if "percentage" in body and not body.get("match"):
        out.append(".match is required to add a mirror route")
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
