"""Kubernetes manifests: rendered from templates/k8s, checked against the schemas and CRDs."""

from __future__ import annotations

import copy
import os
import re

import kubernetes_validate
import pytest
import yaml

from release.deploy import kubernetes as k8s
from release.deploy import kubernetes_names as names
from release.errors import DeployError, UsageError
from tests.kubernetes_support import SHA, TEMPLATES, by_kind, render, settings


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
    expected = ["PrometheusRule", "Rollout", "Service", "Service", "Service"]
    expected += ["ServiceMonitor", "VirtualService"]
    expected += {
        "direct": [],
        "canary": ["AnalysisTemplate"] * 3,
        "shadow": ["AnalysisTemplate"],
    }.get(strategy, ["AnalysisTemplate"] * 3)
    assert kinds == sorted(expected)
    assert sorted(validate_core(docs)) == ["Deployment", "Service", "Service", "Service"]
    assert k8s.check_custom_resources(docs) == []


def test_canary_steps_come_from_the_same_settings_as_the_local_target(tmp_path):
    steps = [
        {"weight": 5, "min_requests": 40, "min_duration": 2.5},
        {"weight": 30, "min_requests": 90, "min_duration": 120, "max_duration": 180},
        {"weight": 100, "min_requests": 120, "min_duration": 61, "max_duration": 90},
    ]
    conf = settings({"deploy": {"canary": {"steps": steps}}})
    docs = render(tmp_path, "canary", conf)
    (rollout,) = by_kind(docs, "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    steps_out = canary["steps"]
    assert [s["setWeight"] for s in steps_out if "setWeight" in s] == [5, 30, 100]
    # each weight is followed by its analysis, which measures through the step
    assert [next(iter(s)) for s in steps_out] == ["setWeight", "analysis"] * 3
    refs = [s["analysis"] for s in steps_out if "analysis" in s]
    names = [r["templates"][0]["templateName"] for r in refs]
    assert names == ["model-prod-analysis-1", "model-prod-analysis-2", "model-prod-analysis-3"]
    assert all(r["args"] == [{"name": "version", "value": "v1.2.3"}] for r in refs)
    templates = {t["metadata"]["name"]: t for t in by_kind(docs, "AnalysisTemplate")}
    timing = {
        n: {(m["interval"], m["initialDelay"], m["count"]) for m in t["spec"]["metrics"]}
        for n, t in templates.items()
    }
    # 2.5 s: at least 3 measurements, each window two scrapes (15 s) long
    assert timing["model-prod-analysis-1"] == {("30s", "30s", 3)}
    # 120 s: three windows of 40 s tile the step
    assert timing["model-prod-analysis-2"] == {("40s", "40s", 3)}
    assert timing["model-prod-analysis-3"] == {("30s", "30s", 3)}
    drift = {
        n: "prediction-drift" in {m["name"] for m in t["spec"]["metrics"]}
        for n, t in templates.items()
    }
    # no baseline gets traffic at 100%: no drift metric that could only read NaN there
    assert drift == {
        "model-prod-analysis-1": True,
        "model-prod-analysis-2": True,
        "model-prod-analysis-3": False,
    }
    second = {m["name"]: m for m in templates["model-prod-analysis-2"]["spec"]["metrics"]}
    assert "[40s]" in second["success-rate"]["provider"]["prometheus"]["query"]
    # the step's 90 requests, shared by its three windows
    assert second["request-count"]["successCondition"].endswith("result[0] >= 30")
    assert canary["stableService"] == "model-prod-stable"
    assert canary["canaryService"] == "model-prod-canary"
    (vs_ref,) = canary["trafficRouting"]["istio"]["virtualServices"]
    assert vs_ref == {"name": "model-prod", "routes": ["primary"]}


def test_bluegreen_analyses_the_preview_under_smoke_traffic_and_the_bake(tmp_path):
    conf = settings({"deploy": {"bluegreen": {"bake": {"duration": 90, "min_requests": 60}}}})
    docs = render(tmp_path, "bluegreen", conf)
    (rollout,) = by_kind(docs, "Rollout")
    bg = rollout["spec"]["strategy"]["blueGreen"]
    assert bg["activeService"] == "model-prod-active"
    assert bg["previewService"] == "model-prod-preview"
    assert bg["prePromotionAnalysis"]["templates"] == [
        {"templateName": "model-prod-analysis-1"},
        {"templateName": "model-prod-smoke"},
    ]
    assert bg["postPromotionAnalysis"]["templates"] == [{"templateName": "model-prod-analysis-2"}]
    post = next(
        d for d in by_kind(docs, "AnalysisTemplate") if d["metadata"]["name"].endswith("-2")
    )
    assert "prediction-drift" not in {m["name"] for m in post["spec"]["metrics"]}
    assert bg["scaleDownDelaySeconds"] >= 90  # the old stack outlives the bake window
    smoke = next(
        d for d in by_kind(docs, "AnalysisTemplate") if d["metadata"]["name"].endswith("smoke")
    )
    (metric,) = smoke["spec"]["metrics"]
    job = metric["provider"]["job"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    assert container["command"] + container["args"][:4] == [
        "release",
        "check",
        "smoke",
        "--url",
        "http://model-prod-preview.models.svc:8080",
    ]
    assert job["backoffLimit"] == 0 and job["template"]["spec"]["restartPolicy"] == "Never"
    args = dict(zip(container["args"][4::2], container["args"][5::2], strict=True))
    pre = next(d for d in by_kind(docs, "AnalysisTemplate") if d["metadata"]["name"].endswith("-1"))
    (delay,) = {m["initialDelay"] for m in pre["spec"]["metrics"]}
    (interval,) = {m["interval"] for m in pre["spec"]["metrics"]}
    # windows open once the Job's pod has started; its traffic spans every window
    assert int(delay[:-1]) == int(interval[:-1]) + 30
    assert int(args["--duration"]) == 30 + 3 * int(interval[:-1])
    assert int(args["--requests"]) >= 100  # the step's min_requests, with room to spare
    assert {s["metadata"]["name"] for s in by_kind(docs, "Service")} == {
        "model-prod-active",
        "model-prod-preview",
        "model-prod-metrics",
    }
    (vs,) = by_kind(docs, "VirtualService")
    assert vs["spec"]["http"][0]["route"] == [
        {"destination": {"host": "model-prod-active", "port": {"number": 8080}}, "weight": 100}
    ]
    no_bake = settings({"deploy": {"bluegreen": {"bake": {"duration": 0}}}})
    (plain,) = by_kind(render(tmp_path / "nobake", "bluegreen", no_bake), "Rollout")
    assert "postPromotionAnalysis" not in plain["spec"]["strategy"]["blueGreen"]


def test_shadow_mirrors_through_a_managed_route_removed_at_the_end(tmp_path):
    conf = settings({"deploy": {"shadow": {"weight": 40, "min_duration": 60}}})
    docs = render(tmp_path, "shadow", conf)
    (rollout,) = by_kind(docs, "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"]["managedRoutes"] == [{"name": "mirror"}]
    steps = canary["steps"]
    assert steps[0] == {"setCanaryScale": {"replicas": 1}}
    assert steps[1] == {
        "setMirrorRoute": {"name": "mirror", "percentage": 40, "match": [{"path": {"prefix": "/"}}]}
    }
    assert "analysis" in steps[2]
    assert steps[3] == {"setMirrorRoute": {"name": "mirror"}}  # no match: the route is removed
    assert "setWeight" not in [next(iter(s)) for s in steps]  # live traffic stays on stable
    (vs,) = by_kind(docs, "VirtualService")
    route = vs["spec"]["http"][0]
    assert "mirror" not in route and [d["weight"] for d in route["route"]] == [100, 0]
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


def test_the_pod_fetches_its_model_and_serves_it_with_the_registry_hash(tmp_path):
    (rollout,) = by_kind(render(tmp_path, "canary"), "Rollout")
    pod = rollout["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (c,) = pod["containers"]
    assert init["image"] == c["image"] == "registry.example.com/team/release:1.4.0"
    assert init["command"] + init["args"] == [
        "release",
        "fetch-model",
        "model@v1.2.3",
        "--to",
        "/models",
    ]
    assert init["envFrom"] == [{"secretRef": {"name": "release-model-source"}}]
    assert "envFrom" not in c  # the credentials stay in the init container
    assert c["command"] + c["args"] == [
        "release",
        "serve",
        "--model",
        "/models",
        "--port",
        "8080",
        "--host",
        "0.0.0.0",  # the pod's probes and Services reach it from outside the container
        "--name",
        "model",  # the labels the AnalysisTemplates' queries select on
        "--version-label",
        "v1.2.3",
        "--max-batch-size",  # release.deploy.server, as the local target's servers get it
        "64",
        "--max-wait-ms",
        "2.0",
    ]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["RELEASE_MODEL_SHA256"] == SHA
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["models"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["models"] == {"name": "models", "mountPath": "/models", "readOnly": True}
    assert {m["name"]: m["mountPath"] for m in init["volumeMounts"]}["models"] == "/models"
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    for container in (init, c):
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    # selector labels are stable across versions (Argo Rollouts adds its own hash)
    assert rollout["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "model-prod"}


def test_rendering_refuses_without_an_image(tmp_path):
    out = tmp_path / "never"
    conf = settings(image=None)
    with pytest.raises(UsageError) as info:
        render(tmp_path, "canary", conf, out_dir=out)
    assert info.value.one_line().startswith("release.deploy.kubernetes.image is not set (")
    assert not out.exists()


def test_scraping_is_a_servicemonitor_or_pod_annotations(tmp_path):
    docs = render(tmp_path, "canary", settings(servicemonitor_labels={"release": "prom"}))
    (monitor,) = by_kind(docs, "ServiceMonitor")
    metrics_svc = next(
        s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-metrics")
    )
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert all(metrics_svc["metadata"]["labels"][k] == v for k, v in selected.items())
    others = [s for s in by_kind(docs, "Service") if s is not metrics_svc]
    # only the metrics Service matches, so a pod is not scraped once per Service
    assert not any(
        all(s["metadata"]["labels"].get(k) == v for k, v in selected.items()) for s in others
    )
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "15s", "scrapeTimeout": "15s"}
    ]
    (rollout,) = by_kind(docs, "Rollout")
    assert "prometheus.io/scrape" not in rollout["spec"]["template"]["metadata"]["annotations"]
    docs = render(tmp_path / "ann", "canary", settings(scrape="annotations"))
    assert not by_kind(docs, "ServiceMonitor")
    (rollout,) = by_kind(docs, "Rollout")
    pod_annotations = rollout["spec"]["template"]["metadata"]["annotations"]
    assert pod_annotations["prometheus.io/scrape"] == "true"
    assert pod_annotations["prometheus.io/port"] == "8080"
    assert pod_annotations["prometheus.io/path"] == "/metrics"


def test_analysis_queries_use_the_servers_metric_names(tmp_path):
    conf = settings({"monitor": {"signals": {"max_p99_ms": 150, "max_error_rate": 0.02}}})
    tpl = by_kind(render(tmp_path, "canary", conf), "AnalysisTemplate")[0]
    metrics = {m["name"]: m for m in tpl["spec"]["metrics"]}
    assert set(metrics) == {"request-count", "success-rate", "latency-p99", "prediction-drift"}
    success = metrics["success-rate"]["provider"]["prometheus"]["query"]
    assert "model_requests_total{" in success and 'status!~"5.."' in success
    assert 'model="model"' in success and 'version="{{args.version}}"' in success
    assert metrics["success-rate"]["successCondition"].endswith("result[0] >= 0.98")
    assert metrics["success-rate"]["failureCondition"].endswith("result[0] < 0.98")
    p99 = metrics["latency-p99"]["provider"]["prometheus"]["query"]
    assert p99.startswith("histogram_quantile(0.99,")
    assert "model_request_duration_seconds_bucket{" in p99
    assert metrics["latency-p99"]["successCondition"].endswith("result[0] <= 0.15")
    drift = metrics["prediction-drift"]["provider"]["prometheus"]["query"]
    assert "model_prediction_score_bucket{" in drift and 'version!="{{args.version}}"' in drift
    for metric in metrics.values():
        assert metric["inconclusiveLimit"] == 0
        assert metric["successCondition"].startswith("len(result) > 0 && !isNaN(result[0])")
    assert metrics["success-rate"]["failureLimit"] == 0
    assert metrics["request-count"]["failureCondition"] == "false"


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
    paths = sorted(TEMPLATES.glob("*.j2"))
    assert len(paths) >= 10  # the folder really holds the templates
    texts = {path.name: path.read_text() for path in paths}
    # A macro's output is built of quoted values itself (its template is checked too).
    macros = {m for t in texts.values() for m in re.findall(r"\{%-? macro (\w+)\(", t)}
    assert {"metadata", "pod_template", "init_containers", "serve_container"} <= macros
    call = re.compile(r"^(\w+)\(.*\)( \| indent\(\d+, true\))?$")
    for name, text in texts.items():
        for expr in re.findall(r"\{\{(.*?)\}\}", text):
            expr = expr.strip()
            if expr.startswith(("'", '"')) or expr == "pad":
                continue
            made = call.fullmatch(expr)
            ok = expr.endswith("| q") or (made is not None and made.group(1) in macros)
            assert ok, f"{name}: {{{{ {expr} }}}}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 'a"b'),
        ("name", "-model"),
        ("name", "x" * 256),
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


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model", "model"),
        ("Team_Model", "team-model-"),
        ("team/model", "team-model-"),
        ("team_model", "team-model-"),
        ("9lives", "m-9lives-"),
    ],
)
def test_gto_names_become_dns_labels_with_a_hash_when_changed(name, expected):
    derived = names.dns_name(name, "artifact name")
    assert names.DNS_LABEL.fullmatch(derived) and len(derived) <= 63
    if expected == name:
        assert derived == name
    else:
        assert derived.startswith(expected) and len(derived) == len(expected) + 6


def test_names_that_map_alike_get_different_objects(tmp_path):
    derived = {n: names.base_name(n, "prod") for n in ("Team_Model", "team/model", "team_model")}
    assert len(set(derived.values())) == 3
    long = names.base_name("m" * 60, "staging-eu-west")
    assert len(long) <= names.MAX_BASE and names.DNS_LABEL.fullmatch(long)
    assert long != names.base_name("m" * 60, "staging-eu-east")


def test_a_gto_name_kubernetes_refused_renders_and_keeps_its_name(tmp_path):
    docs = render(tmp_path, "canary", name="team/Fraud_Model", tag="team/Fraud_Model#prod#1")
    (rollout,) = by_kind(docs, "Rollout")
    base = rollout["metadata"]["name"]
    assert names.DNS_LABEL.fullmatch(base) and base.startswith("team-fraud-model-")
    for doc in docs:
        meta = doc["metadata"]
        assert meta["annotations"]["release.gitops.dev/artifact"] == "team/Fraud_Model"
        assert names.LABEL_VALUE.fullmatch(meta["labels"]["release.gitops.dev/artifact"])
    pod = rollout["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["args"][1] == "team/Fraud_Model@v1.2.3"
    args = pod["containers"][0]["args"]
    serve_name = args[args.index("--name") + 1]
    assert serve_name == names.dns_name("team/Fraud_Model", "artifact name")
    query = by_kind(docs, "AnalysisTemplate")[0]["spec"]["metrics"][1]["provider"]
    assert f'model="{serve_name}"' in query["prometheus"]["query"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("namespace", "Models_1"),
        ("prometheus_url", "http://prom\n kind: Secret"),
        ("prometheus_url", "file:///etc/passwd"),
        ("model_secret", "Source_Secret"),
        ("image", "Registry/Image:1"),
        ("cpu_limit", "lots"),
        ("servicemonitor_labels", {"release": "a b"}),
    ],
)
def test_bad_cluster_settings_are_refused_before_anything_is_written(tmp_path, key, value):
    out = tmp_path / "never"
    with pytest.raises(UsageError, match=key.split("_")[0]):
        render(tmp_path, "canary", settings(**{key: value}), out_dir=out)
    assert not out.exists()


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
        ("Rollout", lambda d: _steps(d).insert(2, {"setWeight": 1}), "goes down"),
        (
            "Rollout",
            lambda d: _steps(d).append({"analysis": {"templates": [{"templateName": "x"}]}}),
            "'x' is not rendered",
        ),
        (
            "Rollout",
            lambda d: _steps(d).append(
                {"analysis": {"templates": [{"templateName": "model-prod-analysis-1"}]}}
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


def test_checker_on_shadow_mirror_routes(tmp_path):
    docs = render(tmp_path, "shadow")
    assert k8s.check_custom_resources(docs) == []

    def unmanaged(ro):
        ro["spec"]["strategy"]["canary"]["trafficRouting"].pop("managedRoutes")

    problems = _mutate(docs, "Rollout", unmanaged)
    assert any("not in trafficRouting.managedRoutes" in p for p in problems), problems
    problems = _mutate(
        docs, "Rollout", lambda d: _steps(d)[1]["setMirrorRoute"].update(percentage=300)
    )
    assert any("percentage must be" in p for p in problems), problems
    problems = _mutate(docs, "Rollout", lambda d: _steps(d)[1]["setMirrorRoute"].pop("match"))
    assert any("match is required" in p for p in problems), problems


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


# ------------------------------------------------------------------------ KServe
def test_kserve_renders_a_v2_custom_predictor_per_canary_step(tmp_path):
    out = tmp_path / "kserve"
    docs = render(tmp_path, "canary", target="kserve", out_dir=out)
    (isvc,) = by_kind(docs, "InferenceService")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10  # the first of the 10/50/100 steps
    (c,) = predictor["containers"]
    assert c["name"] == "kserve-container"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["PROTOCOL"] == "v2" and env["RELEASE_MODEL_SHA256"] == SHA
    assert c["args"][:3] == ["serve", "--model", "/models"]
    (init,) = predictor["initContainers"]
    assert init["args"] == ["fetch-model", "model@v1.2.3", "--to", "/models"]
    assert {v["name"] for v in predictor["volumes"]} == {"models", "tmp"}
    assert predictor["annotations"]["prometheus.io/scrape"] == "true"
    steps = [k8s.load_manifests(out / "kserve-steps")]
    percents = [d["spec"]["predictor"].get("canaryTrafficPercent") for d in steps[0]]
    assert percents == [10, 50, None]  # the last step promotes (no canary split)
    assert {d["kind"] for d in docs} == {"InferenceService", "PrometheusRule"}
    (direct,) = by_kind(render(tmp_path, "direct", target="kserve"), "InferenceService")
    assert "canaryTrafficPercent" not in direct["spec"]["predictor"]


@pytest.mark.parametrize("strategy", ["shadow", "bluegreen"])
def test_kserve_refuses_strategies_it_has_no_form_for(tmp_path, strategy):
    out = tmp_path / "never"
    with pytest.raises(UsageError, match="no KServe form"):
        render(tmp_path, strategy, target="kserve", out_dir=out)
    assert not out.exists()
