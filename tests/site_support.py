"""A project that went through promotions, a forced promotion and a canary rollback.

Tags are made with the `release` CLI in a real temporary git repository; the cards are
built by `release card build` from contract-shaped pipeline outputs (test_card_helpers);
the canary's rollout record is saved through `release.deploy.records.save_record`, whose
hook writes the git note, then the local record is removed (the site must find it in
`refs/notes/release`). Hostile text sits in a tag message, a forced-promotion reason and a
category value.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from test_card_helpers import commit_all, make_project, write_outputs

from release.card.build import build_card
from release.deploy.records import save_record

BIN = Path(sys.executable).parent
ARTIFACT = "model"
EVIL = "<script>alert(1)</script>{{7*7}}"
POLICY = "release:\n  stages: [dev, staging, prod]\n  policy:\n    prod:\n      requires: staging\n"
ROLLBACK_REASON = "canary error rate 9% > 1%"


def release(root: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "release"), *args], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def start_ui(root: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`release ui --port 0` in ``root``: the process and the URL it printed."""
    proc = subprocess.Popen(
        [str(BIN / "release"), "ui", "--port", "0", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    return proc, url


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def tags(root: Path) -> set[str]:
    return set(git(root, "tag", "--list").splitlines())


def new_tag(root: Path, before: set[str]) -> str:
    (tag,) = tags(root) - before
    return tag


def canary_entry(baseline: str, candidate: str, rollback_tag: str) -> dict:
    return {
        "id": "c0ffee000001",
        "strategy": "canary",
        "candidate": candidate,
        "baseline": baseline,
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2099-01-01T00:00:10+00:00",
        "outcome": "rolled_back",
        "reason": f"10%: {ROLLBACK_REASON} <script>alert(3)</script>",
        "rollback_tag": rollback_tag,
        "checks": [{"name": "contract", "status": "pass", "reason": "same inputs"}],
        "steps": [
            {
                "step": "10%",
                "kind": "canary",
                "weight": 10,
                "seconds": 4.2,
                "candidate": {"requests": 120},
                "baseline": {"requests": 1080},
                "verdict": {"status": "fail", "reasons": [ROLLBACK_REASON], "checks": []},
                "outcome": "fail",
            }
        ],
    }


def make_registry_project(root: Path) -> Path:
    """The project described above; returns its root."""
    make_project(root, category=EVIL)
    with (root / "params.yaml").open("a") as fh:
        fh.write(POLICY)
    build_card(root)
    commit_all(root, "v1 outputs and card")
    release(root, "register", ARTIFACT, "--version", "v1.0.0", "-m", f"first {EVIL}")
    for stage in ("dev", "staging", "prod"):
        release(root, "promote", ARTIFACT, stage, "--version", "v1.0.0")
    write_outputs(root, category=EVIL, retrain=1)
    build_card(root)
    commit_all(root, "v2 outputs and card")
    release(root, "register", ARTIFACT, "--version", "v1.1.0")
    # prod requires staging: v1.1.0 never was there, so this is a forced promotion
    before = tags(root)
    release(
        root, "promote", ARTIFACT, "prod", "--version", "v1.1.0",
        "--force", "--reason", f"hotfix {EVIL}",
    )  # fmt: skip
    assignment = new_tag(root, before)
    before = tags(root)
    release(root, "rollback", ARTIFACT, "prod", "--reason", ROLLBACK_REASON)
    rollback_tag = new_tag(root, before)
    state_dir = root / ".release" / "deployments"
    record = {
        "name": ARTIFACT,
        "stage": "prod",
        "target": "local",
        "current": None,
        "standby": None,
        "router": None,
        "history": [canary_entry("v1.0.0", "v1.1.0", rollback_tag)],
    }
    save_record(state_dir, record)  # the hook notes it on `assignment`
    assert "c0ffee000001" in git(root, "notes", "--ref=release", "show", assignment)
    shutil.rmtree(root / ".release")
    return root


def copy_of_registry_project(tmp_path_factory, dest: Path) -> Path:
    """A copy of one :func:`make_registry_project`, built once per test session."""
    pristine = tmp_path_factory.getbasetemp() / "registry-project"
    if not (pristine / ".git").is_dir():
        make_registry_project(pristine)
    shutil.copytree(pristine, dest, symlinks=True)
    return dest
