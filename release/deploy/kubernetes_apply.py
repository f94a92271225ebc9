"""Apply rendered Kubernetes manifests, and view a Rollout's pod template as a Deployment.

Split out of :mod:`release.deploy.kubernetes` as it was; that module re-exports these names.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from release.errors import DeployError


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
