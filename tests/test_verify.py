"""`release verify`: a registered version is reproduced in a clone and compared."""

from __future__ import annotations

import json
import shutil

import pytest

from release import dvcstore
from release.data.builtin import generate
from tests.support import run

pytestmark = pytest.mark.slow

FAST = {
    "data": {"source": "csv", "path": "data/raw/loans.csv"},
    "evaluate": {"bootstrap": 100, "explain": {"permutation_repeats": 2}},
    "train": {"params": {"max_iter": 50}},
}


def test_verify_reproduces_and_detects_tampering(make_project, tmp_path) -> None:
    """Raw data tracked by `dvc add`, a DVC remote with a relative URL, a shared cache.dir:
    register --push makes a fresh clone pullable, verify reproduces, tampering fails, and
    data that is nowhere fails with DVC's own reason."""
    project = make_project(FAST)
    storage, shared = tmp_path / "storage", tmp_path / "shared-cache"
    run(["dvc", "remote", "add", "-d", "-f", "local", "../storage"], project)  # ../../storage
    run(["dvc", "cache", "dir", "--local", str(shared)], project)
    generate(rows=3000, seed=42).to_csv(project / "data/raw/loans.csv", index=False)
    run(["dvc", "add", "-q", "data/raw/loans.csv"], project)
    run(["dvc", "repro", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "raw data by dvc add, pipeline outputs"], project)
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], project)
    run(["git", "push", "-q", "origin", "HEAD:main"], project)

    pushed = run(["release", "register", "loan-model", "--version", "v0.1.0", "--push"], project)
    assert "Pushed the version's DVC outputs" in pushed.stdout
    model_md5 = dvcstore.tracked_md5(project, "HEAD", "models/model.skops")
    assert model_md5 and dvcstore.object_paths(project, model_md5, cache=storage)[0].is_file()
    # A fresh clone (what CI does) pulls the version's data and model from the remote.
    fresh = tmp_path / "fresh"
    run(["git", "clone", "-q", "-b", "main", str(origin), str(fresh)], tmp_path)
    run(["dvc", "pull", "-q"], fresh)
    model = (project / "models/model.skops").read_bytes()
    assert (fresh / "models/model.skops").read_bytes() == model
    status_before = run(["git", "status", "--porcelain"], project).stdout

    ok = run(["release", "verify", "loan-model@v0.1.0", "--json"], project)
    report = json.loads(ok.stdout)
    assert report["passed"] is True
    names = {c["name"]: c for c in report["checks"]}
    assert names["model file sha256"]["note"] == "identical bytes"
    assert names["data train sha256"]["passed"] and names["metrics"]["passed"]
    assert names["source file sha256"]["passed"]
    assert report["lineage"]["tags"][0] == "loan-model@v0.1.0"
    assert run(["git", "status", "--porcelain"], project).stdout == status_before
    assert not (project / ".dvc" / "cache").exists()  # the shared cache was used throughout

    metrics = json.loads((project / "reports/metrics.json").read_text())
    metrics["accuracy"] = 0.99  # a hand-edited metric no pipeline produced
    (project / "reports/metrics.json").write_text(json.dumps(metrics))
    run(["git", "commit", "-q", "-am", "edit metrics by hand"], project)
    run(["release", "register", "loan-model", "--version", "v0.2.0"], project)
    bad = run(["release", "verify", "loan-model@v0.2.0"], project, check=False)
    assert bad.returncode == 1
    assert "FAIL metrics: differ: accuracy" in bad.stdout
    assert "Error: loan-model@v0.2.0 is not reproducible: metrics" in bad.stderr

    # With the raw data neither in a cache nor on the remote, DVC's reason is the error.
    shutil.rmtree(storage)
    shutil.rmtree(shared)
    gone = run(["release", "verify", "loan-model@v0.1.0"], project, check=False)
    assert gone.returncode == 1, gone.stderr
    line = gone.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: cannot check out the version's data (data/raw/loans.csv.dvc)")
    assert "Missing cache files" in line or "Checkout failed" in line, line


def test_verify_rejects_bad_specs(make_project) -> None:
    project = make_project()
    proc = run(["release", "verify", "loan-model"], project, check=False)
    assert proc.returncode == 2 and "is not NAME@vX.Y.Z" in proc.stderr
    proc = run(["release", "verify", "loan-model@v9.9.9"], project, check=False)
    assert proc.returncode == 2 and "not registered" in proc.stderr
