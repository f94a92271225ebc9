"""Loading what to serve: a path, or NAME@vX.Y.Z from a real git + DVC repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from serve_support import make_registry, run, sample_rows, train_model

from release.errors import ModelError, RegistryError, UsageError
from release.model.predict import frame_from_records, predict
from release.serve.loader import load, load_path, load_version, parse_version_ref


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A repo with model@v1.0.0 and model@v2.0.0 (different models) in dvc.lock + cache."""
    made = make_registry(tmp_path_factory.mktemp("registry"), {"v1.0.0": 0, "v2.0.0": 5})
    assert made["metas"]["v1.0.0"]["sha256"] != made["metas"]["v2.0.0"]["sha256"]
    return made


def predictions(loaded, df):
    columns = {c: [None if isinstance(v, float) and np.isnan(v) else v for v in df[c]] for c in df}
    return predict(loaded.pipeline, loaded.meta, frame_from_records(loaded.meta, columns))[1]


def test_parse_version_ref_follows_gto_grammar():
    assert parse_version_ref("model@v1.2.3") == ("model", "v1.2.3")
    assert parse_version_ref("churn-model@v0.1.0-rc.1") == ("churn-model", "v0.1.0-rc.1")
    for bad in ("model@1.2.3", "model@v1.2", "-x@v1.0.0", "model#prod", "a b@v1.0.0"):
        assert parse_version_ref(bad) is None


def test_load_path_verifies_sha256(tmp_path):
    meta = train_model(tmp_path / "m")
    loaded = load_path(tmp_path / "m")
    assert loaded.sha256 == meta["sha256"] and loaded.name == "model"
    assert load_path(tmp_path / "m" / "model.skops").sha256 == meta["sha256"]
    tampered = dict(meta, sha256="0" * 64)
    (tmp_path / "m" / "model.json").write_text(json.dumps(tampered))
    with pytest.raises(ModelError, match="sha256"):
        load_path(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text(json.dumps({**meta, "sha256": None}))
    with pytest.raises(ModelError, match="refusing to serve"):
        load_path(tmp_path / "m")
    with pytest.raises(UsageError):
        load(str(tmp_path / "nowhere"))


def test_load_version_reads_that_commit_not_the_workspace(registry):
    repo = registry["repo"]
    old = load_version(repo, "model", "v1.0.0")
    assert old.commit == registry["commits"]["v1.0.0"]
    assert old.sha256 == registry["metas"]["v1.0.0"]["sha256"]
    assert old.version == "v1.0.0" and old.name == "model"
    new = load("model@v2.0.0", repo=repo)
    assert new.sha256 == registry["metas"]["v2.0.0"]["sha256"]
    df = sample_rows(20)
    direct_old = load_path(registry["root"] / "v1.0.0")
    np.testing.assert_allclose(predictions(old, df), predictions(direct_old, df))
    assert not np.allclose(predictions(old, df), predictions(new, df))


def test_unknown_version_is_a_registry_error(registry):
    with pytest.raises(RegistryError):
        load_version(registry["repo"], "model", "v9.9.9")


def test_corrupted_cache_refuses_to_serve(registry, tmp_path):
    repo = tmp_path / "proj"
    shutil.copytree(registry["repo"], repo, symlinks=True)
    lock = subprocess.run(
        ["git", "show", f"{registry['commits']['v1.0.0']}:dvc.lock"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    md5 = lock.split("md5: ")[-1].split()[0]
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    assert cached.is_file()
    os.chmod(cached, 0o644)
    data = bytearray(cached.read_bytes())
    data[-10] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="refusing to serve"):
        load_version(repo, "model", "v1.0.0")
    # v2 is untouched and still loads
    assert load_version(repo, "model", "v2.0.0").version == "v2.0.0"


def test_model_tracked_by_a_dvc_file(tmp_path):
    repo = tmp_path / "proj"
    (repo / "models").mkdir(parents=True)
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "git", "config", "user.email", "t@example.com")
    run(repo, "git", "config", "user.name", "Test")
    run(repo, "dvc", "init", "-q")
    meta = train_model(repo / "models", seed=2)
    run(repo, "dvc", "add", "-q", "models/model.skops")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", "model")
    run(repo, "git", "tag", "-a", "model@v0.1.0", "-m", "Registering artifact model v0.1.0")
    (repo / "models" / "model.skops").unlink()  # only the cache has it now
    loaded = load_version(repo, "model", "v0.1.0")
    assert loaded.sha256 == meta["sha256"]


@pytest.mark.slow
def test_missing_cache_falls_back_to_the_dvc_remote(tmp_path):
    remote = tmp_path / "remote"
    made = make_registry(tmp_path, {"v1.0.0": 0, "v2.0.0": 5}, remote=remote)
    repo = made["repo"]
    run(repo, "dvc", "push", "-q", "--all-commits")
    shutil.rmtree(repo / ".dvc" / "cache")
    (repo / "models" / "model.skops").unlink()
    loaded = load_version(repo, "model", "v1.0.0")
    assert loaded.sha256 == made["metas"]["v1.0.0"]["sha256"]
    shutil.rmtree(remote)
    with pytest.raises(ModelError, match="neither in the DVC cache nor on its remote"):
        load_version(repo, "model", "v2.0.0")


def test_stage_ref_resolves_through_the_registry(registry, tmp_path):
    repo = tmp_path / "proj"
    shutil.copytree(registry["repo"], repo, symlinks=True)
    commit = registry["commits"]["v1.0.0"]
    run(repo, "git", "tag", "-a", "model#prod#1", "-m", "Assigning stage prod", commit)
    loaded = load("model#prod", repo=repo)
    assert loaded.version == "v1.0.0" and loaded.commit == commit
    with pytest.raises(RegistryError, match="no version of model is in stage staging"):
        load("model#staging", repo=repo)


def test_an_oversized_cached_model_is_refused_by_its_size_before_it_is_read(registry, monkeypatch):
    from release.model import archive

    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 1000)
    commit = registry["commits"]["v1.0.0"]
    with pytest.raises(ModelError) as info:
        load_version(registry["repo"], "model", "v1.0.0")
    line = info.value.one_line()
    # Named as the file at its commit: the stat before reading refused it, not the
    # check on bytes already in memory (which names the version).
    assert f"models/model.skops at {commit[:8]} is " in line
    assert "model files may be at most 1000" in line and "\n" not in line
