"""`release monitor drift` end to end: real files, real git/GTO/DVC, real subprocesses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from release.config import Settings
from release.reference.profile import build_profile, write_profile

BIN = Path(sys.executable).parent
RELEASE = str(BIN / "release")


def frame(n, *, seed=0, shift=0.0, probs=(0.5, 0.3, 0.2), odd=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "income": rng.normal(50 + shift * 10, 10, n),
            "age": rng.normal(40, 12, n),
            "region": rng.choice(["north", "south", "east"], n, p=list(probs)),
            "default": rng.integers(0, 2, n),
        }
    )
    if odd:  # a column name that must be escaped in HTML and Markdown
        df["<b>x|y</b>"] = rng.normal(shift * 3, 1, n)
    return df


def run(args, cwd, **kw):
    return subprocess.run(
        [RELEASE, "monitor", *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kw
    )


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    profile = build_profile(Settings(), frame(4000, seed=1, odd=True))
    write_profile(tmp_path / "models" / "reference_profile.json", profile)
    frame(2000, seed=2, odd=True).to_parquet(tmp_path / "ok.parquet")
    frame(2000, seed=3, shift=0.6, probs=(0.2, 0.3, 0.5), odd=True).to_csv(
        tmp_path / "drifted.csv", index=False
    )
    return tmp_path


def test_no_drift_exits_0_and_writes_reports(project):
    res = run(["drift", "--current", "ok.parquet"], project)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("no drift: 0 of 4 columns drifted")
    assert "prediction and concept drift not measured" in res.stdout
    flat = json.loads((project / "reports" / "drift.json").read_text())
    assert flat["drift_detected"] == 0 and flat["columns"] == 4
    assert all(isinstance(v, int | float) for v in flat.values())
    assert (project / "reports" / "drift.md").read_text().startswith("## Drift report: no drift")


def test_drift_exits_1_with_reports_and_escapes(project):
    res = run(["drift", "--current", "drifted.csv", "--out", "out"], project)
    assert res.returncode == 1
    assert res.stderr.startswith("Error: drift detected (dataset): income, region, <b>x|y</b>")
    html = (project / "out" / "drift.html").read_text()
    assert "<b>x|y</b>" not in html and "&lt;b&gt;x|y&lt;/b&gt;" in html
    assert html.count("<svg") == 3 and "<polyline" in html and "<script" not in html
    md = (project / "out" / "drift.md").read_text()
    assert "&lt;b&gt;x\\|y&lt;/b&gt;" in md
    assert "| income | numeric | tested | wasserstein |" in md
    flat = json.loads((project / "out" / "drift.json").read_text())
    assert flat["column.income.drifted"] == 1 and flat["dataset_drift"] == 1
    as_json = run(["drift", "--current", "drifted.csv", "--json", "--out", "out"], project)
    detail = json.loads(as_json.stdout)
    assert detail["drift_detected"] is True
    assert {c["column"] for c in detail["columns"] if c["drifted"]} == {
        "income",
        "region",
        "<b>x|y</b>",
    }


def test_fail_on_drift_false_and_reference_data(project):
    (project / "lenient.yaml").write_text("monitor:\n  drift:\n    fail_on_drift: false\n")
    res = run(["drift", "--current", "drifted.csv", "--params", "lenient.yaml"], project)
    assert res.returncode == 0 and res.stdout.startswith("DRIFT")
    frame(3000, seed=4, shift=0.6, probs=(0.2, 0.3, 0.5), odd=True).to_parquet(
        project / "ref.parquet"
    )
    same = run(["drift", "--current", "drifted.csv", "--reference", "ref.parquet"], project)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "reference" not in same.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--current", "batch.txt"], "unsupported file type '.txt'"),
        (["--current", "empty.csv"], "has no rows"),
        (["--current", "missing.csv"], "missing.csv not found"),
        (
            ["--current", "ok.parquet", "--reference", "nope.json"],
            "reference profile nope.json not found",
        ),
        (
            ["--current", "ok.parquet", "--reference", "params.yaml"],
            "unsupported file type '.yaml'",
        ),
        (["--current", "ok.parquet", "--reference", "ok.parquet", "--stage", "prod"], "exclusive"),
        (["--current", "ok.parquet", "--version", "model@1.0"], "is not NAME@vX.Y.Z"),
    ],
)
def test_clear_errors_exit_2(project, args, message):
    (project / "batch.txt").write_text("a,b\n1,2\n")
    (project / "empty.csv").write_text("income,age,region\n")
    res = run(["drift", *args], project)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_no_profile_says_how_to_make_one(tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    frame(100).to_csv(tmp_path / "b.csv", index=False)
    res = run(["drift", "--current", "b.csv"], tmp_path)
    assert res.returncode == 2 and "release evaluate" in res.stderr


@pytest.mark.slow
def test_version_and_stage_read_the_registered_profile(tmp_path):
    """Two versions with different references; GTO tags made by the real gto CLI."""
    repo = tmp_path
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "params.yaml").write_text("{}\n")
    gto = str(BIN / "gto")
    for version, shift, probs in (
        ("v1.0.0", 0.0, (0.5, 0.3, 0.2)),
        ("v1.1.0", 1.0, (0.2, 0.3, 0.5)),
    ):
        write_profile(
            repo / "models" / "reference_profile.json",
            build_profile(Settings(), frame(3000, seed=5, shift=shift, probs=probs)),
        )
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"model {version}")
        subprocess.run(
            [gto, "register", "model", "--version", version],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    subprocess.run(
        [gto, "assign", "model", "--version", "v1.0.0", "--stage", "prod"],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    frame(2000, seed=6).to_parquet(repo / "batch.parquet")
    # the workspace profile is v1.1.0's (shifted): drift
    assert run(["drift", "--current", "batch.parquet"], repo).returncode == 1
    assert (
        run(["drift", "--current", "batch.parquet", "--version", "model@v1.1.0"], repo).returncode
        == 1
    )
    old = run(["drift", "--current", "batch.parquet", "--version", "model@v1.0.0"], repo)
    assert old.returncode == 0, old.stderr
    prod = run(["drift", "--current", "batch.parquet", "--stage", "prod", "--json"], repo)
    assert prod.returncode == 0, prod.stderr
    assert json.loads(prod.stdout)["reference_source"].startswith(
        "models/reference_profile.json@model@v1.0.0"
    )
    none = run(["drift", "--current", "batch.parquet", "--stage", "staging"], repo)
    assert none.returncode == 2 and "no version of model is in stage staging" in none.stderr
    unknown = run(["drift", "--current", "batch.parquet", "--version", "model@v9.0.0"], repo)
    assert unknown.returncode == 2 and "v9.0.0" in unknown.stderr


@pytest.mark.slow
def test_version_profile_from_the_dvc_cache(tmp_path):
    """A profile tracked by DVC (not in git) is read from the cache at the version's commit."""
    repo = tmp_path
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    dvc = str(BIN / "dvc")
    subprocess.run([dvc, "init", "-q"], cwd=repo, check=True)
    (repo / "params.yaml").write_text("{}\n")
    write_profile(
        repo / "models" / "reference_profile.json", build_profile(Settings(), frame(3000, seed=7))
    )
    subprocess.run([dvc, "add", "-q", "models/reference_profile.json"], cwd=repo, check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "-a", "model@v1.0.0", "-m", "Registering artifact model version v1.0.0")
    shutil.rmtree(repo / "models")  # gone from the workspace: only the cache has it
    frame(2000, seed=8).to_parquet(repo / "batch.parquet")
    res = run(["drift", "--current", "batch.parquet", "--version", "model@v1.0.0"], repo)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("no drift: 0 of 3 columns")
