"""What the Kubernetes templates are rendered with: checked inputs, names, labels, analyses.

Pure functions from the settings and the release being deployed to a plain mapping the
templates read. Every value a user or the registry controls is validated here, before
anything is rendered.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from release.deploy import kubernetes_analysis as analysis
from release.deploy.kubernetes_names import (
    DNS_LABEL,
    LABEL_VALUE,
    base_name,
    check_namespace,
    dns_name,
    label_value,
)
from release.errors import UsageError

STRATEGIES = ("direct", "canary", "shadow", "bluegreen")
TARGETS = ("argo", "kserve")
PORT = 8080
ROUTE = "primary"
MODELS_DIR = "/models"
LABEL_PREFIX = "release.gitops.dev"
SMOKE_LEAD = 30  # seconds for the blue/green smoke Job to start sending

_SEMVER = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_GTO_PART = r"[a-zA-Z0-9]([a-zA-Z0-9/_-]*[a-zA-Z0-9])?"
_TAG = re.compile(rf"^{_GTO_PART}(@v[0-9A-Za-z.+-]+|#{_GTO_PART}(#\d+)?)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|k|M|G)?$")
HTTP_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


@dataclass(frozen=True)
class Release:
    """The release being rendered: which version of which model goes to which stage."""

    name: str
    stage: str
    version: str
    tag: str
    model_sha256: str
    strategy: str
    target: str = "argo"


def check_release(rel: Release) -> None:
    """Refuse a version, tag, hash, strategy or target the registry would not produce."""
    if rel.target not in TARGETS:
        raise UsageError(f"target {rel.target!r} is unknown", "use one of " + ", ".join(TARGETS))
    if rel.strategy not in STRATEGIES:
        raise UsageError(
            f"strategy {rel.strategy!r} is unknown", "use one of " + ", ".join(STRATEGIES)
        )
    v = rel.version
    if not _SEMVER.fullmatch(v) or len(v) > 63 or not LABEL_VALUE.fullmatch(v):
        raise UsageError(
            f"version {v!r} is not a registry version usable as a Kubernetes label",
            "use vMAJOR.MINOR.PATCH (an optional -prerelease, no +build, at most 63 chars)",
        )
    if not _TAG.fullmatch(rel.tag) or len(rel.tag) > 255:
        raise UsageError(f"tag {rel.tag!r} is not a GTO tag", "pass name@vX.Y.Z or name#stage#N")
    if not _SHA256.fullmatch(rel.model_sha256):
        raise UsageError(
            f"model sha256 {rel.model_sha256!r} is invalid",
            "pass the 64 hex digits of model.skops",
        )


def check_cluster(k8s: Any) -> None:
    """Refuse cluster settings Kubernetes would reject (release.deploy.kubernetes)."""
    key = "release.deploy.kubernetes"
    if not k8s.image:
        raise UsageError(
            f"{key}.image is not set",
            "set it to the image built from the repository's Dockerfile "
            "(e.g. registry.example.com/team/release:1.4.0)",
        )
    if not _IMAGE.fullmatch(k8s.image):
        raise UsageError(f"{key}.image {k8s.image!r} is invalid", "use a lowercase image reference")
    check_namespace(k8s.namespace)
    for q in (k8s.cpu_request, k8s.cpu_limit, k8s.memory_request):
        if not _QUANTITY.fullmatch(q):
            raise UsageError(
                f"{key}: cpu or memory quantity {q!r} is invalid", "use 250m, 1, 512Mi"
            )
    if not HTTP_URL.fullmatch(k8s.prometheus_url):
        raise UsageError(
            f"{key}.prometheus_url {k8s.prometheus_url!r} is invalid",
            "use http(s)://host[:port][/path]",
        )
    if not DNS_LABEL.fullmatch(k8s.model_secret) or len(k8s.model_secret) > 63:
        raise UsageError(
            f"{key}.model_secret {k8s.model_secret!r} is not a Secret name",
            "use lowercase letters, digits and '-'",
        )
    for gateway in k8s.gateways:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9./]*[a-z0-9])?", gateway):
            raise UsageError(f"{key}.gateways: {gateway!r} is not a gateway name")
    for k, v in k8s.servicemonitor_labels.items():
        if not _LABEL_KEY.fullmatch(k) or len(v) > 63 or not LABEL_VALUE.fullmatch(v):
            raise UsageError(f"{key}.servicemonitor_labels: {k!r}: {v!r} is not a label")


def object_names(base: str) -> dict[str, str]:
    """Every object's name, from the base (``<name>-<stage>``)."""
    suffixes = ("stable", "canary", "active", "preview", "metrics", "smoke")
    return {"base": base, "rollout": base, "virtualservice": base} | {
        s: f"{base}-{s}" for s in suffixes
    }


def metadata(rel: Release, base: str, artifact: str) -> dict[str, Any]:
    """Selector, labels and annotations: the version, its tag and hash, the GTO name."""
    selector = {"app.kubernetes.io/name": base}
    labels = {
        **selector,
        "app.kubernetes.io/part-of": "release",
        "app.kubernetes.io/managed-by": "release",
        "app.kubernetes.io/version": rel.version,
        f"{LABEL_PREFIX}/artifact": label_value(rel.name, artifact),
        f"{LABEL_PREFIX}/stage": label_value(rel.stage, dns_name(rel.stage, "stage")),
        f"{LABEL_PREFIX}/version": rel.version,
        f"{LABEL_PREFIX}/model-sha256-prefix": rel.model_sha256[:12],
    }
    # The GTO names as the registry spells them (a label value cannot hold '/').
    annotations = {
        f"{LABEL_PREFIX}/artifact": rel.name,
        f"{LABEL_PREFIX}/stage": rel.stage,
        f"{LABEL_PREFIX}/version": rel.version,
        f"{LABEL_PREFIX}/tag": rel.tag,
        f"{LABEL_PREFIX}/model-sha256": rel.model_sha256,
        f"{LABEL_PREFIX}/strategy": rel.strategy,
    }
    return {"selector": selector, "labels": labels, "annotations": annotations}


def analyses(settings: Any, rel: Release, names: dict[str, str]) -> dict[str, Any]:
    """The analysis templates (one per timing) and the Rollout steps that use them."""
    deploy = settings.release.deploy
    scrape = deploy.kubernetes.scrape_interval
    if rel.strategy == "canary":
        plan = [(s.min_duration, s.min_requests) for s in deploy.canary.steps]
    elif rel.strategy == "shadow":
        plan = [(deploy.shadow.min_duration, deploy.shadow.min_requests)]
    elif rel.strategy == "bluegreen":
        first = deploy.canary.steps[0] if deploy.canary.steps else None
        plan = [(first.min_duration, first.min_requests) if first else (30.0, 100)]
        bake = deploy.bluegreen.bake
        if bake.duration > 0:
            plan.append((bake.duration, bake.min_requests))
    else:
        plan = []
    if len(plan) > analysis.MAX_ANALYSES:
        raise UsageError(f"{len(plan)} analysed steps is too many", "use at most 99 steps")
    timings = [analysis.timing(d, n, scrape) for d, n in plan]
    if rel.strategy == "bluegreen":  # the smoke Job's pod must start before windows open
        timings[0] = dataclasses.replace(timings[0], lead=SMOKE_LEAD)
    tnames = [f"{names['base']}-analysis-{i}" for i in range(1, len(timings) + 1)]
    # Drift compares against versions served at the same time: none at a 100% step or
    # after a blue/green switch, where the old version no longer gets traffic.
    if rel.strategy == "canary":
        compared = [int(s.weight) < 100 for s in deploy.canary.steps]
    else:
        compared = [True, False][: len(timings)]
    templates: list[dict[str, Any]] = [
        {"name": n, "timing": t, "drift": d}
        for n, t, d in zip(tnames, timings, compared, strict=True)
    ]
    out: dict[str, Any] = {"templates": templates, "steps": [], "pre": None, "post": None}
    if rel.strategy == "canary":
        weights = [int(s.weight) for s in deploy.canary.steps]
        out["steps"] = analysis.canary_steps(weights, rel.version, tnames)
    elif rel.strategy == "shadow":
        out["steps"] = analysis.shadow_steps(deploy.shadow.weight, rel.version, tnames[0])
    elif rel.strategy == "direct":
        out["steps"] = [{"setWeight": 100}]
    else:
        pre = analysis.analysis_ref(tnames[0], rel.version)
        pre["templates"].append({"templateName": names["smoke"]})
        out["pre"] = pre
        first = timings[0]
        # Spread over every window, with a quarter to spare for the pod's late start.
        out["smoke_requests"] = math.ceil(1.25 * first.per_window * first.count)
        out["smoke_seconds"] = first.seconds
        if len(tnames) > 1:
            out["post"] = analysis.analysis_ref(tnames[1], rel.version)
    return out


def build(settings: Any, rel: Release) -> dict[str, Any]:
    """The whole template context for ``rel`` (raises UsageError on bad input)."""
    check_release(rel)
    k8s = settings.release.deploy.kubernetes
    check_cluster(k8s)
    artifact = dns_name(rel.name, "artifact name")
    base = base_name(rel.name, rel.stage)
    names = object_names(base)
    signals = settings.monitor.signals
    thresholds = {
        "min_success_rate": round(1.0 - signals.max_error_rate, 6),
        "max_p99_seconds": round(signals.max_p99_ms / 1000.0, 6),
        "max_prediction_ks": k8s.max_prediction_ks,
    }
    plan = analyses(settings, rel, names)
    for template in plan["templates"]:
        template["metrics"] = analysis.metrics(
            artifact,
            template["timing"],
            drift=template["drift"] and settings.data.task != "regression",
            **thresholds,
        )
    scrape = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(PORT),
        "prometheus.io/path": "/metrics",
    }
    return {
        "release": rel,
        **metadata(rel, base, artifact),
        "name": rel.name,
        "serve_name": artifact,
        "version": rel.version,
        "model_sha256": rel.model_sha256,
        "model_ref": f"{rel.name}@{rel.version}",
        "strategy": rel.strategy,
        "names": names,
        "namespace": k8s.namespace,
        "k8s": k8s,
        "port": PORT,
        "route": ROUTE,
        "mirror_route": analysis.MIRROR_ROUTE,
        "models_dir": MODELS_DIR,
        "memory_limit": f"{max(64, int(signals.max_memory_mb))}Mi",
        "threads": str(settings.release.deploy.server.threads),
        "server": settings.release.deploy.server,
        "pod_annotations": scrape if k8s.scrape == "annotations" else {},
        "scrape_annotations": scrape,
        "analysis": plan,
        "thresholds": thresholds,
        "signals": signals,
    }
