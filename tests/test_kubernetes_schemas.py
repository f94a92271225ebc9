"""Every rendered custom resource against the upstream CRD schemas (tests/crds), and the
whole folder through ``kubectl apply --dry-run=client`` where kubectl is installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.kubernetes_support import by_kind, render, settings

CRDS = Path(__file__).parent / "crds"
CUSTOM = {
    "Rollout",
    "AnalysisTemplate",
    "VirtualService",
    "DestinationRule",
    "InferenceService",
    "ServiceMonitor",
    "PrometheusRule",
}


def strict(schema: Any) -> Any:
    """Close every object schema that lists its properties (kubectl --validate=strict)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def schemas() -> dict[tuple[str, str], Any]:
    found = {}
    for path in sorted(CRDS.glob("*.json")):
        crd = json.loads(path.read_text())
        api = f"{crd['group']}/{crd['version']}"
        schema = strict(crd["openAPIV3Schema"])
        for key in ("apiVersion", "kind"):  # Istio's schemas list only spec and status
            schema["properties"].setdefault(key, {"type": "string"})
        # metadata is ObjectMeta, which a CRD schema leaves open: check it is a mapping.
        schema["properties"]["metadata"] = {"type": "object"}
        found[(api, crd["kind"])] = jsonschema.Draft7Validator(schema)
    return found


def validate(doc: dict[str, Any]) -> list[str]:
    validator = schemas().get((doc["apiVersion"], doc["kind"]))
    if validator is None:
        return [f"no upstream schema for {doc['apiVersion']} {doc['kind']}"]
    return [
        f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def test_every_schema_is_kept_with_its_source():
    readme = (CRDS / "README.md").read_text()
    kinds = {kind for _, kind in schemas()}
    assert kinds == CUSTOM
    for path in CRDS.glob("*.json"):
        assert f"`{path.name}`" in readme  # source, version and licence noted


RENDERS = [("canary", "argo"), ("shadow", "argo"), ("bluegreen", "argo"), ("direct", "argo")]
RENDERS += [("canary", "kserve"), ("direct", "kserve")]


@pytest.mark.parametrize(("strategy", "target"), RENDERS)
def test_rendered_custom_resources_validate_against_the_upstream_crds(tmp_path, strategy, target):
    docs = render(tmp_path, strategy, target=target)
    if target == "kserve":  # the later steps too
        from release.deploy.kubernetes import load_manifests

        docs += load_manifests(tmp_path / f"{strategy}-kserve" / "kserve-steps")
    custom = [d for d in docs if d["kind"] in CUSTOM]
    expected = {"PrometheusRule"} | (
        {"InferenceService"}
        if target == "kserve"
        else {"Rollout", "VirtualService", "ServiceMonitor"}
        | ({"AnalysisTemplate"} if strategy != "direct" else set())
    )
    assert {d["kind"] for d in custom} == expected
    problems = [p for d in custom for p in validate(d)]
    assert problems == []


def test_the_schemas_catch_a_misspelt_field(tmp_path):
    docs = render(tmp_path, "shadow")
    (rollout,) = by_kind(docs, "Rollout")
    rollout["spec"]["strategy"]["canary"]["steps"][1]["setMirrorRoute"]["percent"] = 40
    (template,) = by_kind(docs, "AnalysisTemplate")
    template["spec"]["metrics"][0]["failurelimit"] = 0
    problems = validate(rollout) + validate(template)
    assert any("percent" in p for p in problems) and any("failurelimit" in p for p in problems)
    (monitor,) = by_kind(docs, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["interval"] = "soon"
    assert any("interval" in p for p in validate(monitor))


def _kubectl() -> str | None:
    path = shutil.which("kubectl")
    if path is None and os.environ.get("CI") == "true":
        pytest.fail("kubectl is required under CI=true")
    return path


def test_kubectl_client_dry_run_reads_every_manifest(tmp_path):
    """kubectl with no cluster. ``kubectl apply|create --dry-run=client`` still asks the API
    server for discovery (even with ``--validate=false``) and fails without one, so the
    offline form is ``kubectl label --local --dry-run=client``: kubectl parses every
    file and builds every object, custom kinds included. Schemas are checked above."""
    kubectl = _kubectl()
    if kubectl is None:
        pytest.skip("kubectl is not installed here")
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}

    def dry_run(files: list[Path]) -> subprocess.CompletedProcess[str]:
        args = [kubectl, "label", "--local", "--dry-run=client", "-o", "name"]
        for path in files:
            args += ["-f", str(path)]
        return subprocess.run(
            [*args, "release.gitops.dev/checked=yes"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    for strategy, target in RENDERS:
        out = tmp_path / f"{strategy}-{target}"
        docs = render(tmp_path, strategy, settings(), out_dir=out, target=target)
        proc = dry_run(sorted(out.glob("*.yaml")))
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.split()) == len(docs)
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Service\nmetadata: [not, a, mapping]\n")
    assert dry_run([broken]).returncode != 0
