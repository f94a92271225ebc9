"""Set-up shared by the rollouts of real models (`release serve NAME@vX.Y.Z` behind the
real router): a temporary git repository, models trained in it by the pipeline's own
functions, GTO tags, settings with short steps, and a client sending real test-set rows
with their labels in ``parameters.labels``.

Used by tests/test_deploy_serve.py (the loan demo data) and
tests/test_deploy_regression.py (sklearn's diabetes)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from test_deploy_rollout import settings_for

from release.config import CanaryStep, Settings, load_settings
from release.deploy import processes
from release.deploy.controller import DeployOptions, ServeLauncher, deploy_local
from release.deploy.replay import load_rows
from release.deploy.results import DeployResult
from release.registry import api


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its standard output."""
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def init_repo(root: Path) -> Path:
    """A new git repository at ``root`` with a committer identity."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    return root


def build(repo: Path, *, shuffle: bool = False) -> None:
    """prepare + train + evaluate in ``repo`` from its params.yaml (train targets
    shuffled when asked: a model that learned nothing)."""
    from release.data.prepare import prepare
    from release.model.evaluate import evaluate
    from release.model.train import train

    settings = load_settings(repo / "params.yaml")
    prepare(settings, repo)
    if shuffle:
        import pandas as pd

        path = repo / "data/prepared/train.parquet"
        frame = pd.read_parquet(path)
        target = settings.data.target
        frame[target] = frame[target].sample(frac=1.0, random_state=1).to_numpy()
        frame.to_parquet(path, index=False)
    train(settings, repo)
    evaluate(settings, repo)


def snapshot(repo: Path, version: str) -> None:
    """Commit the workspace, register ``version`` and promote it to prod."""
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"model {version}", "--allow-empty")
    api.register(str(repo), "model", version=version)
    api.promote(str(repo), "model", "prod", version=version)


def settings_with(steps: list[CanaryStep] | None = None) -> Settings:
    """Two canary steps (50%, 100%) of at least 40 requests, a 60-request shadow step,
    30 labelled rows for the accuracy and error checks, a minute to start a server."""
    settings = settings_for(
        steps
        or [
            CanaryStep(50, min_requests=40, min_duration=1.0, max_duration=20.0),
            CanaryStep(100, min_requests=40, min_duration=1.0, max_duration=20.0),
        ],
        min_labelled=30,
    )
    dep = replace(
        settings.release.deploy,
        start_timeout=60.0,
        shadow=CanaryStep(100, min_requests=60, min_duration=1.0, max_duration=20.0),
    )
    return replace(settings, release=replace(settings.release, deploy=dep))


class RowClient:
    """The test's own client: real test-set rows with their labels, through the router."""

    def __init__(self, repo: Path, url: str, threads: int = 2) -> None:
        meta = json.loads((repo / "models/model.json").read_text())
        self.datatypes = {
            f["name"]: "FP64" if f["kind"] == "numeric" else "BYTES" for f in meta["features"]
        }
        target = load_settings(repo / "params.yaml").data.target
        self.rows = load_rows(
            repo / "data/prepared/test.parquet", list(self.datatypes), target=target
        )
        self.url = url + "/v2/models/model/infer"
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, offset: int) -> None:
        i = offset * 97
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                row = i % len(self.rows)
                body = self.rows.request(row, row + 1, self.datatypes)
                try:
                    r = client.post(self.url, json=body)
                    if r.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))
                i += 1
                time.sleep(0.005)

    def __enter__(self) -> RowClient:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


class Stage:
    """The prod stage of ``repo`` served on one router port by real `release serve`s
    (``extra_args`` per version, e.g. ``--chaos``)."""

    def __init__(
        self,
        repo: Path,
        settings: Settings | None = None,
        extra_args: dict[str, list[str]] | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings or settings_with()
        self.port = processes.free_port()
        self.launcher = ServeLauncher(repo=str(repo), extra_args=extra_args or {})
        self.url = f"http://127.0.0.1:{self.port}"

    def deploy(self, **options: Any) -> DeployResult:
        """``release deploy model prod`` on this port (``options`` as DeployOptions')."""
        opts = DeployOptions(port=self.port, launcher=self.launcher, **options)
        return deploy_local(self.repo, self.settings, "model", "prod", opts)

    def client(self) -> RowClient:
        """A labelled client of this stage's router."""
        return RowClient(self.repo, self.url)
