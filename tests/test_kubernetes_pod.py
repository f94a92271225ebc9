"""The rendered pod obtains and verifies its model: the init container's and the serving
container's own command lines and environment, run as they are written (only the mount
path and the port moved to this machine), against a real git + DVC registry reached
through a ``file://`` URL, the way a cluster reaches the team's repository."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes_support import by_kind, render
from serve_support import RELEASE, column_inputs, free_port, sample_rows
from test_fetch_model import _make_origin

VERSION = "v2.0.0"


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    root = tmp_path_factory.mktemp("pod")
    return _make_origin(root, root / "remote")


def _pod(tmp_path: Path, sha256: str) -> dict[str, Any]:
    docs = render(tmp_path, "canary", version=VERSION, tag=f"model@{VERSION}", model_sha256=sha256)
    (rollout,) = by_kind(docs, "Rollout")
    return rollout["spec"]["template"]["spec"]


def _moved(values: list[str], models_dir: str, here: Path, port: int | None = None) -> list[str]:
    out = [str(here) if v == models_dir else v for v in values]
    if port is not None:
        out[out.index("--port") + 1] = str(port)
        out[out.index("--host") + 1] = "127.0.0.1"
    return out


def _env(container: dict[str, Any], secret: dict[str, str], home: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELEASE_")}
    own = {e["name"]: e["value"] for e in container.get("env", [])}
    own["HOME"] = str(home)
    uses_secret = any("secretRef" in source for source in container.get("envFrom", []))
    return {**base, **(secret if uses_secret else {}), **own}


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [RELEASE, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready on "):
            return line.split("ready on ", 1)[1].strip()
    raise AssertionError(
        f"the server never became ready: {proc.stderr.read() if proc.stderr else ''}"
    )


def test_the_pod_fetches_verifies_and_serves_its_version(origin, tmp_path):
    sha = origin["metas"][VERSION]["sha256"]
    pod = _pod(tmp_path, sha)
    (init,) = pod["initContainers"]
    (serve,) = [c for c in pod["containers"] if c["name"] == "model"]
    models_dir = init["volumeMounts"][0]["mountPath"]
    assert {m["mountPath"] for m in serve["volumeMounts"]} >= {models_dir}
    # What the named Secret holds in a cluster: the repository URL (the DVC remote's
    # location is in the repository's own .dvc/config, an absolute directory here).
    secret = {"RELEASE_REPO_URL": origin["url"]}
    models, home = tmp_path / "models", tmp_path / "home"
    models.mkdir()
    home.mkdir()

    assert init["command"] == serve["command"] == ["release"]  # the image's own CLI
    fetched = subprocess.run(
        [RELEASE, *_moved(init["args"], models_dir, models)],
        env=_env(init, secret, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert fetched.returncode == 0, fetched.stderr
    meta = json.loads((models / "model.json").read_text())
    assert meta["sha256"] == sha

    port = free_port()
    server = _start(
        _moved(serve["args"], models_dir, models, port), _env(serve, secret, home), home
    )
    try:
        url = _ready_url(server)
        body = json.dumps({"inputs": column_inputs(sample_rows(3))}).encode()
        name = serve["args"][serve["args"].index("--name") + 1]
        request = urllib.request.Request(
            f"{url}/v2/models/{name}/infer", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            outputs = json.loads(answer.read())["outputs"]
        assert outputs and len(outputs[0]["data"]) == 3
    finally:
        server.terminate()
        server.wait(15)


def test_the_pod_refuses_a_model_the_registry_did_not_record(origin, tmp_path):
    pod = _pod(tmp_path, "cd" * 32)  # a hash the registry never recorded for this version
    (init,) = pod["initContainers"]
    models_dir = init["volumeMounts"][0]["mountPath"]
    models, home = tmp_path / "models", tmp_path / "home"
    models.mkdir()
    home.mkdir()
    fetched = subprocess.run(
        [RELEASE, *_moved(init["args"], models_dir, models)],
        env=_env(init, {"RELEASE_REPO_URL": origin["url"]}, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert fetched.returncode != 0
    assert [line for line in fetched.stderr.splitlines() if line.startswith("Error:")], (
        fetched.stderr
    )
    assert "Traceback" not in fetched.stderr
    assert list(models.iterdir()) == []  # nothing half-written into the shared volume
