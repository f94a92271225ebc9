"""Kubernetes manifests: rendered from templates/k8s, checked against the schemas and CRDs."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from release.config import Settings, settings_from_dict
from release.deploy import kubernetes as k8s
from release.errors import DeployError, UsageError

SHA = "3f" * 32
ROOT = Path(__file__).resolve().parents[1]


def render(tmp_path: Path, strategy: str, settings: Settings | None = None, **kw) -> list[dict]:
    args = dict(
        name="model",
        stage="prod",
        version="v1.2.3",
        tag="model#prod#3",
        model_sha256=SHA,
        strategy=strategy,
        out_dir=tmp_path / strategy,
    )
    args.update(kw)
    k8s.render_manifests(settings or Settings(), **args)
    return k8s.load_manifests(args["out_dir"])


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def validate_core(docs: list[dict]) -> list[str]:
    """kubernetes-validate (strict) on every core object and on each Rollout's pod template."""
    checked = []
    for doc in docs:
        if doc["kind"] == "Rollout":
            doc = k8s.pod_template_as_deployment(doc)
        if doc["apiVersion"] in ("v1", "apps/v1"):
            kubernetes_validate.validate(doc, "1.30", strict=True)
            checked.append(doc["kind"])
    return checked


@pytest.mark.parametrize("strategy", k8s.STRATEGIES)
def test_every_strategy_renders_valid_core_objects_and_custom_resources(tmp_path, strategy):
    docs = render(tmp_path, strategy)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["AnalysisTemplate", "Rollout", "Service", "Service", "VirtualService"]
    assert sorted(validate_core(docs)) == ["Deployment", "Service", "Service"]
    assert k8s.check_custom_resources(docs) == []


def test_canary_steps_come_from_the_same_settings_as_the_local_target(tmp_path):
    settings = settings_from_dict(
        {
            "release": {
                "deploy": {
                    "canary": {
                        "steps": [
                            {"weight": 5, "min_requests": 40, "min_duration": 2.5},
                            {"weight": 30, "min_requests": 80, "min_duration": 30},
                            {
                                "weight": 100,
                                "min_requests": 120,
                                "min_duration": 61,
                                "max_duration": 90,
                            },
                        ]
                    }
                }
            }
        }
    )
    (rollout,) = by_kind(render(tmp_path, "canary", settings), "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    steps = canary["steps"]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [5, 30, 100]
    assert [s["pause"]["duration"] for s in steps if "pause" in s] == ["3s", "30s", "61s"]
    analyses = [s["analysis"] for s in steps if "analysis" in s]
    assert [{a["name"]: a["value"] for a in x["args"]}["min-requests"] for x in analyses] == [
        "40",
        "80",
        "120",
    ]
    assert all(x["templates"] == [{"templateName": "model-prod-analysis"}] for x in analyses)
    # each weight is followed by its pause and its analysis, in that order
    assert [next(iter(s)) for s in steps] == ["setWeight", "pause", "analysis"] * 3
    assert canary["stableService"] == "model-prod-stable"
    assert canary["canaryService"] == "model-prod-canary"
    (vs_ref,) = canary["trafficRouting"]["istio"]["virtualServices"]
    assert vs_ref == {"name": "model-prod", "routes": ["primary"]}


def test_bluegreen_uses_active_and_preview_services_with_prepromotion_analysis(tmp_path):
    docs = render(tmp_path, "bluegreen")
    (rollout,) = by_kind(docs, "Rollout")
    bg = rollout["spec"]["strategy"]["blueGreen"]
    assert bg["activeService"] == "model-prod-active"
    assert bg["previewService"] == "model-prod-preview"
    assert bg["prePromotionAnalysis"]["templates"] == [{"templateName": "model-prod-analysis"}]
    assert {s["metadata"]["name"] for s in by_kind(docs, "Service")} == {
        "model-prod-active",
        "model-prod-preview",
    }
    (vs,) = by_kind(docs, "VirtualService")
    assert vs["spec"]["http"][0]["route"] == [
        {"destination": {"host": "model-prod-active", "port": {"number": 8080}}, "weight": 100}
    ]


def test_shadow_mirrors_to_the_canary_with_the_configured_percentage(tmp_path):
    settings = settings_from_dict({"release": {"deploy": {"shadow": {"weight": 40}}}})
    docs = render(tmp_path, "shadow", settings)
    (vs,) = by_kind(docs, "VirtualService")
    route = vs["spec"]["http"][0]
    assert route["mirror"]["host"] == "model-prod-canary"
    assert route["mirrorPercentage"] == {"value": 40.0}
    assert sum(d["weight"] for d in route["route"]) == 100
    assert [d["weight"] for d in route["route"]] == [100, 0]  # live traffic stays on stable
    (rollout,) = by_kind(docs, "Rollout")
    kinds = [next(iter(s)) for s in rollout["spec"]["strategy"]["canary"]["steps"]]
    assert "setWeight" not in kinds and kinds[0] == "setCanaryScale" and "analysis" in kinds
    # the other strategies never mirror
    for strategy in ("canary", "direct", "bluegreen"):
        (other,) = by_kind(render(tmp_path, strategy), "VirtualService")
        assert "mirror" not in other["spec"]["http"][0]


def test_every_object_carries_version_tag_and_model_hash(tmp_path):
    for doc in render(tmp_path, "canary"):
        meta = doc["metadata"]
        assert meta["labels"]["app.kubernetes.io/version"] == "v1.2.3"
        assert meta["labels"]["release.gitops.dev/version"] == "v1.2.3"
        assert meta["annotations"]["release.gitops.dev/tag"] == "model#prod#3"
        assert meta["annotations"]["release.gitops.dev/model-sha256"] == SHA
        assert meta["namespace"] == "models"
        if doc["kind"] == "Rollout":
            pod_meta = doc["spec"]["template"]["metadata"]
            assert pod_meta["annotations"]["release.gitops.dev/model-sha256"] == SHA
            assert pod_meta["labels"]["release.gitops.dev/version"] == "v1.2.3"


def test_container_serves_the_version_safely(tmp_path):
    (rollout,) = by_kind(render(tmp_path, "canary"), "Rollout")
    pod = rollout["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"] + c["args"] == [
        "release",
        "serve",
        "--model",
        "model@v1.2.3",
        "--port",
        "8080",
        "--host",
        "0.0.0.0",  # the pod's probes and Services reach it from outside the container
        "--name",
        "model",  # the labels the AnalysisTemplate's queries select on
        "--version-label",
        "v1.2.3",
    ]
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert set(c["resources"]["limits"]) == {"cpu", "memory"}
    assert set(c["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # selector labels are stable across versions (Argo Rollouts adds its own hash)
    assert rollout["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "model-prod"}


def test_analysis_queries_use_the_servers_metric_names(tmp_path):
    settings = settings_from_dict(
        {"monitor": {"signals": {"max_p99_ms": 150, "max_error_rate": 0.02}}}
    )
    (tpl,) = by_kind(render(tmp_path, "canary", settings), "AnalysisTemplate")
    metrics = {m["name"]: m for m in tpl["spec"]["metrics"]}
    assert set(metrics) == {"request-count", "success-rate", "latency-p99"}
    success = metrics["success-rate"]["provider"]["prometheus"]["query"]
    assert "model_requests_total{" in success and 'status!~"5.."' in success
    assert 'model="model"' in success and 'version="{{args.version}}"' in success
    assert metrics["success-rate"]["successCondition"] == "result[0] >= 0.98"
    p99 = metrics["latency-p99"]["provider"]["prometheus"]["query"]
    assert p99.startswith("histogram_quantile(0.99,")
    assert "model_request_duration_seconds_bucket{" in p99
    assert metrics["latency-p99"]["successCondition"] == "result[0] <= 0.15"
    # too few requests: neither condition can hold, so Argo reports inconclusive
    count = metrics["request-count"]
    assert count["failureCondition"] == "false"
    assert "{{args.min-requests}}" in count["successCondition"]


def test_rerender_replaces_the_previous_strategy_files(tmp_path):
    out = tmp_path / "out"
    render(tmp_path, "bluegreen", out_dir=out)
    assert (out / "service-active.yaml").exists()
    foreign = out / "notes.yaml"
    foreign.write_text("kind: ConfigMap\n")
    render(tmp_path, "canary", out_dir=out)
    names = sorted(p.name for p in out.glob("*.yaml"))
    assert "service-active.yaml" not in names and "service-canary.yaml" in names
    assert foreign.exists()  # files we did not render are left alone


# ----------------------------------------------------------------- hostile input
NASTY = [
    'a"b',
    "line\nbreak",
    "key: value",
    "# comment",
    "{{ x }}",
    "- item",
    "'single'",
    "back\\slash",
    "tab\there",
    "unicode \u2028 \u00e9",
    "yes",
    "null",
    "012",
    "@at",
    "*ref",
    "&anchor",
    "!!python/object:os.system",
]


@pytest.mark.parametrize("value", NASTY)
def test_yaml_scalar_round_trips_any_string(value):
    text = f"key: {k8s.yaml_scalar(value)}\nother: {k8s.yaml_scalar([value, 1, True])}\n"
    assert yaml.safe_load(text) == {"key": value, "other": [value, 1, True]}


def test_every_template_value_goes_through_the_quoting_filter():
    allowed = {"metadata(names.rollout)", "metadata(names.analysis)", "metadata(service_name)"}
    allowed |= {"metadata(names.virtualservice)", "pod_template()", "pad"}
    for path in (ROOT / "templates" / "k8s").glob("*.j2"):
        for expr in re.findall(r"\{\{(.*?)\}\}", path.read_text()):
            expr = expr.strip()
            if expr.startswith(("'", '"')):
                continue
            assert expr.endswith("| q") or expr in allowed, f"{path.name}: {{{{ {expr} }}}}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Model"),
        ("name", "my_model"),
        ("name", 'a"b'),
        ("name", "x" * 60),
        ("stage", "prod\nkind: Secret"),
        ("stage", "-prod"),
        ("version", "1.2.3"),
        ("version", "v1.2.3\nkind: Secret"),
        ("version", "v1.2.3+build"),
        ("tag", "model#prod#3; rm -rf /"),
        ("tag", "$(id)"),
        ("model_sha256", "abc"),
        ("model_sha256", "G" * 64),
        ("version", "v1.2.3\n"),
        ("stage", "prod\n"),
        ("tag", "model@v1.2.3\n"),
        ("model_sha256", SHA + "\n"),
        ("strategy", "yolo"),
    ],
)
def test_invalid_names_are_rejected_before_anything_is_written(tmp_path, field, value):
    out = tmp_path / "never"
    kw = {"strategy": "canary", "out_dir": out, field: value}
    with pytest.raises(UsageError):
        render(tmp_path, kw.pop("strategy"), **kw)
    assert not out.exists()


def test_validate_names_limits():
    assert k8s.validate_names("model", "prod") == "model-prod"
    with pytest.raises(UsageError, match="too long"):
        k8s.validate_names("m" * 40, "staging-eu-west")


# ------------------------------------------------------------- the CRD checker
@pytest.fixture(scope="module")
def canary_docs(tmp_path_factory) -> list[dict]:
    return render(tmp_path_factory.mktemp("k8s"), "canary")


def _mutate(docs: list[dict], kind: str, fn) -> list[str]:
    docs = copy.deepcopy(docs)
    fn(next(d for d in docs if d["kind"] == kind))
    return k8s.check_custom_resources(docs)


def _route(vs):
    return vs["spec"]["http"][0]


def _steps(ro):
    return ro["spec"]["strategy"]["canary"]["steps"]


@pytest.mark.parametrize(
    ("kind", "mutation", "expected"),
    [
        ("VirtualService", lambda d: _route(d)["route"][0].update(weight=99), "sum to 99"),
        ("VirtualService", lambda d: _route(d)["route"][1].update(weight=-1), "weight must be"),
        ("VirtualService", lambda d: _route(d).update(mirrorPercentage={"value": 150}), "0..100"),
        ("VirtualService", lambda d: _route(d).update(mirror={"host": "nowhere"}), "no Service"),
        ("VirtualService", lambda d: _route(d).update(weights=[1]), "not an HTTPRoute field"),
        ("VirtualService", lambda d: d["spec"].pop("hosts"), "spec.hosts"),
        ("VirtualService", lambda d: _route(d).update(name="other"), "route 'primary' is not"),
        ("Rollout", lambda d: _steps(d).append({"setWeight": 150}), "integer 0..100"),
        ("Rollout", lambda d: _steps(d).append({"setWeigth": 10}), "unknown step"),
        ("Rollout", lambda d: _steps(d).append({"setWeight": 10, "pause": {}}), "exactly one"),
        ("Rollout", lambda d: _steps(d).append({"pause": {"duration": "soon"}}), "duration"),
        ("Rollout", lambda d: _steps(d).insert(1, {"setWeight": 1}), "goes down"),
        (
            "Rollout",
            lambda d: _steps(d).append({"analysis": {"templates": [{"templateName": "x"}]}}),
            "'x' is not rendered",
        ),
        (
            "Rollout",
            lambda d: _steps(d).append(
                {"analysis": {"templates": [{"templateName": "model-prod-analysis"}]}}
            ),
            "'version' of",
        ),
        (
            "Rollout",
            lambda d: d["spec"]["strategy"]["canary"].update(canaryService="model-prod-stable"),
            "must differ",
        ),
        (
            "Rollout",
            lambda d: d["spec"]["strategy"]["canary"].pop("stableService"),
            "stableService is required",
        ),
        ("Rollout", lambda d: d["spec"]["strategy"].update(blueGreen={}), "exactly one"),
        ("Rollout", lambda d: d["spec"].pop("selector"), "matchLabels is required"),
        ("Rollout", lambda d: d.update(apiVersion="argoproj.io/v1"), "apiVersion"),
        ("AnalysisTemplate", lambda d: d["spec"].update(metrics=[]), "at least one metric"),
        (
            "AnalysisTemplate",
            lambda d: d["spec"]["args"].pop(0),
            "args.version, which spec.args does not declare",
        ),
        (
            "AnalysisTemplate",
            lambda d: d["spec"]["metrics"][0]["provider"]["prometheus"].pop("address"),
            "needs address and query",
        ),
        (
            "AnalysisTemplate",
            lambda d: d["spec"]["metrics"][1].update(name="request-count"),
            "is repeated",
        ),
    ],
)
def test_checker_finds_broken_custom_resources(canary_docs, kind, mutation, expected):
    problems = _mutate(canary_docs, kind, mutation)
    assert any(expected in p for p in problems), problems


def test_checker_on_bluegreen(tmp_path):
    docs = render(tmp_path, "bluegreen")
    assert k8s.check_custom_resources(docs) == []
    problems = _mutate(
        docs, "Rollout", lambda d: d["spec"]["strategy"]["blueGreen"].pop("activeService")
    )
    assert any("activeService is required" in p for p in problems)
    problems = _mutate(
        docs, "Rollout", lambda d: d["spec"]["strategy"]["blueGreen"].update(previewService="gone")
    )
    assert any("'gone' has no Service" in p for p in problems)


def test_core_validation_catches_a_broken_pod_template(canary_docs):
    docs = copy.deepcopy(canary_docs)
    rollout = next(d for d in docs if d["kind"] == "Rollout")
    rollout["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_core(docs)


# ------------------------------------------------------------------------ apply
def test_apply_without_kubectl_is_a_clear_error(tmp_path, monkeypatch, canary_docs):
    out = tmp_path / "out"
    render(tmp_path, "canary", out_dir=out)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(DeployError) as info:
        k8s.apply_manifests(out)
    assert info.value.one_line() == (
        "kubectl is not installed (install kubectl or use --render-only and apply elsewhere)"
    )


@pytest.mark.skipif(
    not any(
        os.access(os.path.join(p, "kubectl"), os.X_OK)
        for p in os.environ.get("PATH", "").split(os.pathsep)
    ),
    reason="kubectl is not installed here",
)
def test_apply_without_a_context_is_a_clear_error(tmp_path, monkeypatch):
    out = tmp_path / "out"
    render(tmp_path, "canary", out_dir=out)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DeployError) as info:
        k8s.apply_manifests(out)
    assert "no current context" in info.value.one_line()
    assert "\n" not in info.value.one_line()


def test_apply_without_manifests_is_a_clear_error(tmp_path):
    with pytest.raises(DeployError, match="no manifests"):
        k8s.apply_manifests(tmp_path)
