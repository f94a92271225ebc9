"""The built wheel works on its own: a fresh virtualenv holding only the wheel and its
declared dependencies, run from a temporary git repository with no source tree in reach.

The wheel is built from a copy of the sources (``pip wheel --no-deps``), installed into a
plain ``python -m venv`` (never ``--system-site-packages``, which would see this
checkout's environment), and every command runs with the repository as the working
directory and no ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from release.workspace import copy_project
from tests.support import ROOT
from tests.test_card_helpers import make_project

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel built from this checkout and its dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    sources = copy_project(ROOT, tmp / "src", commit=False)  # what a clone holds
    dist = tmp / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(sources)],
        tmp,
    )
    wheels = list(dist.glob("release-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "release/templates/card/README.md.j2" in names
    assert "release/templates/k8s/rollout-canary.yaml.j2" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]
    env_dir = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], tmp)
    # This pip installs into the new interpreter; --no-compile keeps the install quick.
    target = ["--python", str(env_dir / "bin" / "python")]
    options = ["-q", "--no-compile", "--prefer-binary"]
    _run([sys.executable, "-m", "pip", *target, "install", *options, str(wheels[0])], tmp)
    return env_dir


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    system = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *system])
    env["VIRTUAL_ENV"] = str(venv)
    return env


def test_installed_wheel_runs_without_the_source_tree(venv: Path, tmp_path: Path) -> None:
    env = _env(venv)
    repo = tmp_path / "user-repo"
    repo.mkdir()
    _run(["git", "init", "-q", "-b", "main"], repo)
    python = str(venv / "bin" / "python")
    where = _run([python, "-c", "import release; print(release.__file__)"], repo, env).strip()
    assert Path(where).is_relative_to(venv), where
    assert shutil.which("release", path=env["PATH"]) == str(venv / "bin" / "release")
    assert "Usage: release" in _run(["release", "--help"], repo, env)

    # A card rendered from the installed package's templates.
    make_project(repo)  # contract-shaped pipeline outputs, card.yaml, one commit
    _run(["release", "card", "build"], repo, env)
    readme = (repo / "model_card" / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("---\n") and "model-index" in readme
    assert (repo / "model_card" / "card.html").read_text(encoding="utf-8").startswith("<!")

    # Kubernetes manifests for a version in prod, also from the installed templates.
    _run(["release", "register", "model", "--version", "v0.1.0"], repo, env)
    _run(["git", "tag", "-a", "model#prod#1", "-m", "Assigning stage prod"], repo, env)
    params = repo / "params.yaml"  # Kubernetes renders refuse without an image
    params.write_text(
        params.read_text() + 'release:\n  deploy:\n    kubernetes: {image: "release:dev"}\n'
    )
    out = tmp_path / "manifests"
    k8s = ["--target", "kubernetes", "--render-only", "--out", str(out), "--json"]
    rendered = json.loads(_run(["release", "deploy", "model", "prod", *k8s], repo, env))
    assert rendered["version"] == "v0.1.0"
    sha = json.loads((repo / "models" / "model.json").read_text())["sha256"]
    files = [Path(f) for f in rendered["files"]]
    texts = [f.read_text(encoding="utf-8") for f in files if f.suffix == ".yaml"]
    kinds = {doc["kind"] for t in texts for doc in yaml.safe_load_all(t) if doc}
    assert {"Rollout", "AnalysisTemplate", "Service", "VirtualService", "PrometheusRule"} <= kinds
    assert any(f.name == "dashboard.json" for f in files)  # Grafana's, beside the manifests
    assert any(sha in t for t in texts)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_users_csv_goes_through_the_whole_loop_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    """#12's "done when": only the wheel, an empty repository and a user's CSV."""
    import re

    import sklearn.datasets

    from tests.test_scaffold import DEMO_WORDS, fill_card

    env = {**_env(venv), "OMP_NUM_THREADS": "1"}
    repo = tmp_path / "tumours"
    repo.mkdir()
    _run(["git", "init", "-q", "-b", "main"], repo)
    _run(["git", "config", "user.email", "team@example.org"], repo)
    _run(["git", "config", "user.name", "Team"], repo)
    frame = sklearn.datasets.load_breast_cancer(as_frame=True).frame
    (repo / "data" / "raw").mkdir(parents=True)
    frame.to_csv(repo / "data" / "raw" / "tumours.csv", index=False)

    def release(*args: str, code: int | None = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["release", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900
        )
        assert code is None or proc.returncode == code, (
            f"release {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    release("init", "--data", "data/raw/tumours.csv", "--target", "target", "--yes")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["bootstrap"] = 50  # a person would shorten it for a first look
    params["evaluate"]["explain"] = {"permutation_repeats": 1, "max_rows": 200}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["dvc", "add", "data/raw/tumours.csv"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "release init"], repo, env)
    _run(["dvc", "repro"], repo, env)
    failed = release("card", "check", code=1)
    assert "placeholder" in failed.stdout
    fill_card(repo / "card.yaml")
    _run(["dvc", "repro"], repo, env)
    release("card", "check")
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "model and card"], repo, env)
    status = _run(["git", "status", "--porcelain"], repo, env)
    assert status == "", status  # outputs committed or ignored, nothing stray

    name = params["release"]["artifact"]
    release("register", name, "--version", "v0.1.0")
    release("promote", name, "dev", "--version", "v0.1.0")
    shown = json.loads(_run(["gto", "show", "--json"], repo, env))
    assert shown[name]["version"] == "v0.1.0"  # gto reads what release wrote

    port = str(_free_port())
    try:
        release("deploy", name, "dev", "--strategy", "direct", "--port", port, "--no-golden")
        body = json.dumps(
            {
                "inputs": [
                    {"name": c, "shape": [1], "datatype": "FP64", "data": [float(frame[c][0])]}
                    for c in frame.columns
                    if c != "target"
                ]
            }
        )
        import urllib.request

        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v2/models/{name}/infer",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["outputs"]
    finally:
        release("deployments", "--stop", name, "dev", code=None)

    batch = repo / "batch.csv"
    frame.sample(200, random_state=1).to_csv(batch, index=False)
    drift = release("monitor", "drift", "--current", str(batch), "--stage", "dev", code=None)
    assert drift.returncode in (0, 1), drift.stderr
    release("verify", f"{name}@v0.1.0")

    for path in [
        *repo.glob("model_card/*"),
        *repo.glob("reports/*.md"),
        *repo.glob("monitoring/**/*.md"),
        repo / "params.yaml",
        repo / "dvc.yaml",
    ]:
        if path.is_file():
            found = DEMO_WORDS.search(path.read_text(encoding="utf-8"))
            assert not found, (path, found)
    assert not re.search("loan", _run(["release", "show"], repo, env), re.I)
