"""`release verify`: a registered version is reproduced in a clone and compared."""

from __future__ import annotations

import json

import pytest

from tests.support import run

pytestmark = pytest.mark.slow

FAST = {
    "data": {"rows": 2000},
    "evaluate": {"bootstrap": 100, "explain": {"permutation_repeats": 2}},
    "train": {"params": {"max_iter": 50}},
}


def test_verify_reproduces_and_detects_tampering(make_project) -> None:
    project = make_project(FAST)
    run(["dvc", "repro", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "pipeline outputs"], project)
    run(["release", "register", "loan-model", "--version", "v0.1.0"], project)
    status_before = run(["git", "status", "--porcelain"], project).stdout

    ok = run(["release", "verify", "loan-model@v0.1.0", "--json"], project)
    report = json.loads(ok.stdout)
    assert report["passed"] is True
    names = {c["name"]: c for c in report["checks"]}
    assert names["model file sha256"]["note"] == "identical bytes"
    assert names["data train sha256"]["passed"] and names["metrics"]["passed"]
    assert report["lineage"]["tags"][0] == "loan-model@v0.1.0"
    assert run(["git", "status", "--porcelain"], project).stdout == status_before

    metrics = json.loads((project / "reports/metrics.json").read_text())
    metrics["accuracy"] = 0.99  # a hand-edited metric no pipeline produced
    (project / "reports/metrics.json").write_text(json.dumps(metrics))
    run(["git", "commit", "-q", "-am", "edit metrics by hand"], project)
    run(["release", "register", "loan-model", "--version", "v0.2.0"], project)
    bad = run(["release", "verify", "loan-model@v0.2.0"], project, check=False)
    assert bad.returncode == 1
    assert "FAIL metrics: differ: accuracy" in bad.stdout
    assert "Error: loan-model@v0.2.0 is not reproducible: metrics" in bad.stderr


def test_verify_rejects_bad_specs(make_project) -> None:
    project = make_project()
    proc = run(["release", "verify", "loan-model"], project, check=False)
    assert proc.returncode == 2 and "is not NAME@vX.Y.Z" in proc.stderr
    proc = run(["release", "verify", "loan-model@v9.9.9"], project, check=False)
    assert proc.returncode == 2 and "not registered" in proc.stderr
