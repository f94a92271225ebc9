"""``release fetch-model``: a real git repository with a real DVC directory remote and a
real ``gto register`` tag, cloned bare and fetched from through a ``file://`` URL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from serve_support import RELEASE, commit_version, run, train_model

from release.errors import ModelError, RegistryError, UsageError
from release.fetch_model import FETCHED_FILE, fetch_model
from release.serve.loader import load_path


def _release(*args: str, cwd: Path, env: dict[str, str] | None = None):
    full = {k: v for k, v in os.environ.items() if k != "RELEASE_MODEL_SHA256"}
    return subprocess.run(
        [RELEASE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**full, **(env or {})},
        timeout=120,
    )


def _make_origin(root: Path, remote: Path) -> dict:
    """A DVC project whose model@v1.0.0 and v2.0.0 are pushed to ``remote``, tagged by gto."""
    repo = root / "proj"
    (repo / "incoming").mkdir(parents=True)
    (repo / "models").mkdir()
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "dvc", "init", "-q")
    # An absolute URL, as a cluster's remote is: the clone must find it from anywhere.
    run(repo, "dvc", "remote", "add", "-d", "store", str(remote))
    (repo / ".gitignore").write_text("/incoming/\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: cp incoming/model.skops models/model.skops\n"
        "    deps: [incoming/model.skops]\n    outs: [models/model.skops]\n"
    )
    metas, commits = {}, {}
    for version, seed in (("v1.0.0", 0), ("v2.0.0", 3)):
        metas[version] = train_model(root / version, seed=seed)
        commits[version] = commit_version(repo, root / version, version)
    run(repo, "git", "tag", "-d", "model@v2.0.0")  # v2 is registered by gto itself
    run(repo, "gto", "register", "model", "--version", "v2.0.0", commits["v2.0.0"])
    run(repo, "dvc", "push", "-q", "--all-commits")
    bare = root / "origin.git"
    run(root, "git", "clone", "-q", "--bare", str(repo), str(bare))
    return {"repo": repo, "bare": bare, "url": bare.as_uri(), "metas": metas, "commits": commits}


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    root = tmp_path_factory.mktemp("fetch")
    return _make_origin(root, root / "remote")


def test_fetches_exactly_that_version_through_the_cli(origin, tmp_path):
    to = tmp_path / "models"
    proc = _release(
        "fetch-model", "model@v2.0.0", "--repo-url", origin["url"], "--to", str(to), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "fetched model@v2.0.0" in proc.stdout
    meta = origin["metas"]["v2.0.0"]
    data = (to / "model.skops").read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    assert json.loads((to / "model.json").read_text())["sha256"] == meta["sha256"]
    record = json.loads((to / FETCHED_FILE).read_text())
    assert record["name"] == "model" and record["version"] == "v2.0.0"
    assert record["sha256"] == meta["sha256"]
    assert record["commit"] == origin["commits"]["v2.0.0"]
    assert record["md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert sorted(p.name for p in to.iterdir()) == sorted(
        ["model.skops", "model.json", FETCHED_FILE]
    )
    # what `release serve --model DIR` loads, verified again by its own check
    assert load_path(to, pinned=meta["sha256"]).sha256 == meta["sha256"]


def test_an_older_version_and_the_pin(origin, tmp_path):
    meta = origin["metas"]["v1.0.0"]
    got = fetch_model("model@v1.0.0", tmp_path / "a", repo_url=origin["url"], pinned=meta["sha256"])
    assert got.sha256 == meta["sha256"] and got.commit == origin["commits"]["v1.0.0"]
    with pytest.raises(ModelError, match="RELEASE_MODEL_SHA256"):
        fetch_model("model@v1.0.0", tmp_path / "b", repo_url=origin["url"], pinned="0" * 64)
    assert not (tmp_path / "b").exists()


def test_one_line_errors_and_nothing_written(origin, tmp_path):
    to = tmp_path / "empty"
    to.mkdir()
    cases = [
        (["model@v9.9.9", "--repo-url", origin["url"]], "not registered"),
        (["model@latest", "--repo-url", origin["url"]], "NAME@vX.Y.Z"),
        (["model@v1.0.0", "--repo-url", "--upload-pack=touch x"], "not a git URL"),
        (["model@v1.0.0", "--repo-url", (tmp_path / "nowhere.git").as_uri()], "git fetch failed"),
    ]
    for args, said in cases:
        proc = _release("fetch-model", *args, "--to", str(to), cwd=tmp_path)
        assert proc.returncode != 0, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and said in lines[0], proc.stderr
    proc = _release(
        "fetch-model",
        "model@v1.0.0",
        "--repo-url",
        origin["url"],
        "--to",
        str(to),
        cwd=tmp_path,
        env={"RELEASE_MODEL_SHA256": "abc"},
    )
    assert proc.returncode == 2 and "is not a sha256" in proc.stderr
    assert list(to.iterdir()) == []
    with pytest.raises(UsageError):
        fetch_model("model@v1.0.0", tmp_path / "x", repo_url="https://h/r.git x")


def _corrupt(obj: Path) -> None:
    os.chmod(obj, 0o644)
    data = bytearray(obj.read_bytes())
    data[-10] ^= 0xFF
    obj.write_bytes(bytes(data))


def _object(repo: Path, commit: str, under: Path) -> Path:
    lock = run(repo, "git", "show", f"{commit}:dvc.lock")
    md5 = lock.split("md5: ")[-1].split()[0]
    return under / "files" / "md5" / md5[:2] / md5[2:]


@pytest.mark.slow
def test_unreachable_remote_and_corrupted_object(tmp_path):
    remote = tmp_path / "remote"
    made = _make_origin(tmp_path / "o", remote)
    to = tmp_path / "models"
    to.mkdir()
    # a corrupted object in a local cache: our own hash check refuses it
    local = tmp_path / "local"
    shutil.copytree(made["repo"], local, symlinks=True)
    _corrupt(_object(local, made["commits"]["v1.0.0"], local / ".dvc" / "cache"))
    with pytest.raises(ModelError, match="refusing to fetch"):
        fetch_model("model@v1.0.0", to, repo=local)
    assert list(to.iterdir()) == []
    # a corrupted object on the remote: DVC refuses to take it, so the model is missing
    _corrupt(_object(made["repo"], made["commits"]["v1.0.0"], remote))
    proc = _release(
        "fetch-model", "model@v1.0.0", "--repo-url", made["url"], "--to", str(to), cwd=tmp_path
    )
    assert proc.returncode == 2 and "nor on its remote" in proc.stderr, proc.stderr
    assert list(to.iterdir()) == []
    # the remote gone: a one-line error naming DVC's reason
    shutil.rmtree(remote)
    proc = _release(
        "fetch-model", "model@v2.0.0", "--repo-url", made["url"], "--to", str(to), cwd=tmp_path
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "neither in the DVC cache nor on its remote" in proc.stderr
    assert list(to.iterdir()) == []


@pytest.mark.slow
def test_remote_from_dvc_global_config_dir(tmp_path):
    """A Secret mounted as a DVC config folder (DVC_GLOBAL_CONFIG_DIR) supplies the remote."""
    remote = tmp_path / "remote"
    made = _make_origin(tmp_path / "o", remote)
    # the committed config names no remote at all: only the mounted config does
    repo = made["repo"]
    run(repo, "dvc", "remote", "remove", "store")
    run(repo, "git", "commit", "-qam", "no remote in git")
    run(repo, "gto", "register", "model", "--version", "v3.0.0", "HEAD")
    run(repo, "git", "push", "-q", str(made["bare"]), "main", "--tags")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "config").write_text(
        f"[core]\n    remote = vault\n['remote \"vault\"']\n    url = {remote}\n"
    )
    to = tmp_path / "models"
    env = {"DVC_GLOBAL_CONFIG_DIR": str(secret)}
    proc = _release(
        "fetch-model",
        "model@v3.0.0",
        "--repo-url",
        made["url"],
        "--to",
        str(to),
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        json.loads((to / FETCHED_FILE).read_text())["sha256"] == made["metas"]["v2.0.0"]["sha256"]
    )


def test_local_repository_without_url(origin, tmp_path):
    got = fetch_model("model@v1.0.0", tmp_path / "m", repo=origin["repo"])
    assert got.sha256 == origin["metas"]["v1.0.0"]["sha256"]
    with pytest.raises(RegistryError):
        fetch_model("model@v7.0.0", tmp_path / "n", repo=origin["repo"])
    assert not (tmp_path / "n").exists()


def test_credentials_in_a_url_never_reach_the_message(tmp_path):
    url = "https://user:s3cret@127.0.0.1:1/acme/model.git"
    with pytest.raises(RegistryError) as caught:
        fetch_model("model@v1.0.0", tmp_path / "m", repo_url=url)
    assert "s3cret" not in caught.value.one_line()
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        fetch_model("model@v1.0.0", file, repo_url=url)
