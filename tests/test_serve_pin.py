"""``release serve`` with ``RELEASE_MODEL_SHA256``: the model must have exactly that hash."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest
from serve_support import RELEASE, ServeProcess, free_port, train_model

from release.errors import ModelError, UsageError
from release.serve.commands import build_server
from release.serve.loader import pinned_sha256


def test_pin_is_checked_before_the_model_is_unpickled(tmp_path):
    meta = train_model(tmp_path / "m")
    assert build_server(str(tmp_path / "m"), pinned=meta["sha256"]).schema.name == "model"
    (tmp_path / "m" / "model.skops").write_bytes(b"not a model")  # never read when pinned
    with pytest.raises(ModelError, match="RELEASE_MODEL_SHA256"):
        build_server(str(tmp_path / "m"), pinned="0" * 64)


def test_pin_from_the_environment():
    assert pinned_sha256({}) is None and pinned_sha256({"RELEASE_MODEL_SHA256": " "}) is None
    assert pinned_sha256({"RELEASE_MODEL_SHA256": "a" * 64}) == "a" * 64
    for bad in ("A" * 64, "a" * 63, "sha256:" + "a" * 64):
        with pytest.raises(UsageError):
            pinned_sha256({"RELEASE_MODEL_SHA256": bad})


def test_serve_refuses_another_hash_and_serves_the_pinned_one(tmp_path):
    meta = train_model(tmp_path / "m")
    port = free_port()
    args = ["--model", str(tmp_path / "m"), "--port", str(port)]
    for pin in ("f" * 64, "nothex"):
        proc = subprocess.run(
            [RELEASE, "serve", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "RELEASE_MODEL_SHA256": pin},
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
        assert "RELEASE_MODEL_SHA256" in lines[0] and "ready on" not in proc.stdout
    os.environ["RELEASE_MODEL_SHA256"] = meta["sha256"]
    try:
        server = ServeProcess(args, cwd=tmp_path)
    finally:
        del os.environ["RELEASE_MODEL_SHA256"]
    try:
        assert server.url is not None, server.stderr()
        with urllib.request.urlopen(f"{server.url}/v2/health/ready", timeout=10) as resp:
            assert json.load(resp) == {"ready": True}
    finally:
        assert server.stop() == 0
