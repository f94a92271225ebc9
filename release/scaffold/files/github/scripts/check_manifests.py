"""Validate rendered Kubernetes manifests: core kinds with kubernetes-validate (strict),
each Rollout's pod template as a Deployment, and the Argo Rollouts / Istio custom
resources with release's field checker.

Usage: python .github/scripts/check_manifests.py DIR [KUBERNETES_VERSION]
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Print every problem; return 1 when there is any."""
    import kubernetes_validate

    from release.deploy.kubernetes import (
        check_custom_resources,
        load_manifests,
        pod_template_as_deployment,
    )

    if not argv:
        print("usage: check_manifests.py DIR [KUBERNETES_VERSION]", file=sys.stderr)
        return 2
    version = argv[1] if len(argv) > 1 else "1.30"
    docs = load_manifests(argv[0])
    if not docs:
        print(f"::error::no manifests in {argv[0]}", file=sys.stderr)
        return 1
    problems = list(check_custom_resources(docs))
    core = 0
    for doc in docs:
        if doc.get("kind") == "Rollout":
            doc = pod_template_as_deployment(doc)
        if doc.get("apiVersion") in ("v1", "apps/v1"):
            core += 1
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{doc['kind']}/{doc['metadata'].get('name')}: {exc.message}")
    for problem in problems:
        print(f"::error::{problem}", file=sys.stderr)
    print(f"{len(docs)} objects, {core} core objects validated, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
