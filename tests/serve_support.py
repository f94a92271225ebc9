"""Shared helpers for the serving tests: a tiny real model, free ports, a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RELEASE = str(BIN / "release")

NUMERIC = ["age", "income", "credit_score"]
CATEGORICAL = ["region", "employment_type"]
REGIONS = ["north", "south", "east", "west"]
EMPLOYMENT = ["salaried", "self_employed", "unemployed"]


def make_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small loan-like table with a learnable binary target."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(float),
            "income": rng.normal(50_000, 15_000, rows).round(0),
            "credit_score": rng.normal(650, 80, rows).round(0),
            "region": rng.choice(REGIONS, rows),
            "employment_type": rng.choice(EMPLOYMENT, rows),
        }
    )
    df.loc[rng.random(rows) < 0.05, "income"] = np.nan
    risk = (df["credit_score"] < 620).astype(int) + (df["employment_type"] == "unemployed")
    df["default"] = ((risk + rng.random(rows) * 0.8) > 0.9).astype(int)
    return df


def train_model(
    out_dir: Path, *, seed: int = 0, shuffle_labels: bool = False, portable: bool = True
) -> dict[str, Any]:
    """Train the default pipeline on the small table; write model.skops and model.json.

    ``portable``: also write the numpy serving form into the archive, as `release train`
    does.
    """
    from release.config import Settings
    from release.fsio import write_json
    from release.model.persist import save_model
    from release.model.pipeline import build_pipeline

    df = make_frame(seed=seed)
    y = df.pop("default")
    if shuffle_labels:
        y = y.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    pipeline = build_pipeline(Settings(), NUMERIC, CATEGORICAL)
    pipeline.set_params(model__max_iter=20 + seed)
    pipeline.fit(df, y)
    out_dir.mkdir(parents=True, exist_ok=True)
    sha = save_model(pipeline, out_dir / "model.skops", check_frame=df if portable else None)
    features = [{"name": c, "kind": "numeric", "dtype": "float64"} for c in NUMERIC] + [
        {"name": c, "kind": "categorical", "dtype": "object", "categories": cats}
        for c, cats in (("region", REGIONS), ("employment_type", EMPLOYMENT))
    ]
    meta = {
        "name": "model",
        "task": "binary",
        "target": "default",
        "features": features,
        "classes": [0, 1],
        "estimator": "hist_gradient_boosting",
        "hyperparameters": {"max_iter": 20 + seed},
        "sha256": sha,
        "trained_at": "2026-01-01T00:00:00Z",
        "training_seconds": 0.1,
        "train_rows": len(df),
        "packages": {},
    }
    write_json(out_dir / "model.json", meta)
    return meta


def sample_rows(n: int = 5, seed: int = 1) -> pd.DataFrame:
    """Feature rows (no target) for requests."""
    return make_frame(rows=n, seed=seed).drop(columns=["default"])


def column_inputs(df: pd.DataFrame) -> list[dict[str, Any]]:
    """One V2 input per column, BYTES for strings and FP64 for numbers (NaN -> null)."""
    inputs = []
    for col in df.columns:
        numeric = col in NUMERIC
        data = [None if (isinstance(v, float) and np.isnan(v)) else v for v in df[col].tolist()]
        inputs.append(
            {
                "name": col,
                "datatype": "FP64" if numeric else "BYTES",
                "shape": [len(df)],
                "data": data,
            }
        )
    return inputs


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """``release serve`` as a real subprocess; waits for its ``ready on`` line."""

    def __init__(self, args: list[str], cwd: Path, timeout: float = 60.0) -> None:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.proc = subprocess.Popen(
            [RELEASE, "serve", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.url: str | None = None
        ready = threading.Event()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("ready on "):
                    self.url = line.split("ready on ", 1)[1].strip()
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        self.started = time.perf_counter()
        ready.wait(timeout)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; return the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(repo: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=repo, capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def commit_version(repo: Path, staging: Path, version: str) -> str:
    """Put a trained model in place, run the DVC stage, commit and tag it as GTO does."""
    shutil.copy(staging / "model.skops", repo / "incoming" / "model.skops")
    shutil.copy(staging / "model.json", repo / "models" / "model.json")
    run(repo, "dvc", "repro", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", f"train {version}")
    run(repo, "git", "tag", "-a", f"model@{version}", "-m", f"Registering artifact model {version}")
    return run(repo, "git", "rev-parse", "HEAD").strip()


def make_registry(root: Path, versions: dict[str, int], remote: Path | None = None) -> dict:
    """A repo whose versions (name -> training seed) are DVC stage outputs, tagged as GTO does."""
    repo = root / "proj"
    (repo / "incoming").mkdir(parents=True)
    (repo / "models").mkdir()
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "git", "config", "user.email", "t@example.com")
    run(repo, "git", "config", "user.name", "Test")
    run(repo, "dvc", "init", "-q")
    if remote is not None:
        run(repo, "dvc", "remote", "add", "-d", "store", str(remote))
    (repo / ".gitignore").write_text("/incoming/\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n"
        "  train:\n"
        "    cmd: cp incoming/model.skops models/model.skops\n"
        "    deps: [incoming/model.skops]\n"
        "    outs: [models/model.skops]\n"
    )
    metas, commits = {}, {}
    for version, seed in versions.items():
        staging = root / version
        metas[version] = train_model(staging, seed=seed)
        commits[version] = commit_version(repo, staging, version)
    return {"repo": repo, "root": root, "metas": metas, "commits": commits}
