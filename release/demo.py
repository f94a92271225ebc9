"""``make demo``: the whole loop, in a throwaway project made by ``release init --example loan``.

Every step is a command a user would type (``release``, ``dvc`` or ``git``), echoed before
it runs. The project lives in a temporary folder: the user's own tags, outputs and
deployments are never touched. Everything specific to the demo (its generator settings,
card text, predicates and caveats) comes from the example, never from release's defaults.
Steps that are meant to fail (a policy gate, a canary that rolls back, drift that is
detected) say so, and the demo checks that they did.

    python -m release.demo [--rows N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from release.workspace import git_env

ARTIFACT = "loan-model"  # the example's artifact (release/examples/loan/artifacts.yaml)


class Demo:
    """Runs and echoes the demo's commands in one project folder."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.env = git_env()
        self.env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), self.env["PATH"]])
        self.env.setdefault("CI", "")
        self.started = time.monotonic()
        self.step_no = 0

    def step(self, title: str) -> None:
        """Announce a step of the loop."""
        self.step_no += 1
        elapsed = time.monotonic() - self.started
        print(f"\n=== {self.step_no}. {title}  [{elapsed:5.1f}s]", flush=True)

    def sh(self, *args: str, expect: int | None = 0, note: str = "") -> subprocess.CompletedProcess:
        """Echo and run one command; check its exit code when ``expect`` is given."""
        line = "$ " + " ".join(shlex.quote(a) for a in args)
        print(line + (f"    # {note}" if note else ""), flush=True)
        proc = subprocess.run(
            list(args), cwd=self.project, env=self.env, capture_output=True, text=True
        )
        for text in (proc.stdout, proc.stderr):
            for out_line in text.rstrip().splitlines():
                print(f"    {out_line}", flush=True)
        if expect is not None and proc.returncode != expect:
            raise SystemExit(
                f"demo: `{' '.join(args)}` exited {proc.returncode}, expected {expect}"
            )
        return proc


REPLAY = ("--replay", "data/prepared/test.parquet", "--rps", "100")


def tune(project: Path, **hyperparameters: float) -> None:
    """Edit train.params in params.yaml, as a person would."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"]["params"].update(hyperparameters)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run_demo(project: Path) -> None:
    """The loop: data -> model -> card -> registry -> deployments -> monitoring -> verify."""
    d = Demo(project)
    rel = "release"
    try:
        _first_release(d, rel)
        _tuned_release(d, project, rel)
        _bad_release(d, project, rel)
        _monitoring(d, rel)
        _verify(d, rel)
        _where_things_are(d, project, rel)
    finally:
        for stage in ("dev", "staging", "prod"):
            subprocess.run(
                [rel, "deployments", "--stop", ARTIFACT, stage],
                cwd=project,
                env=d.env,
                capture_output=True,
            )
    print(f"\ndemo finished in {time.monotonic() - d.started:.0f}s")


def _first_release(d: Demo, rel: str) -> None:
    """The first version: pipeline, registration, first deployments."""
    d.step("Reproduce the pipeline: data, validation, training, evaluation, card")
    d.sh("dvc", "repro")
    d.sh("head", "-n", "14", "reports/slices.md", note="error analysis: where to work next")
    d.sh("git", "add", "-A")
    d.sh("git", "commit", "-q", "-m", "Train loan-model: pipeline outputs")

    d.step("Register v0.1.0 and promote it to dev, staging and prod")
    d.sh(rel, "register", ARTIFACT, "--version", "v0.1.0")
    for stage in ("dev", "staging", "prod"):
        d.sh(rel, "promote", ARTIFACT, stage)
        d.sh(rel, "deploy", ARTIFACT, stage, note="first deployment of the stage: direct")


def _tuned_release(d: Demo, project: Path, rel: str) -> None:
    """A better version through each strategy."""
    d.step("A tuned v0.1.1: direct to dev, blue/green to staging, canary to prod")
    tune(project, learning_rate=0.08)
    d.sh("dvc", "repro")
    d.sh("dvc", "metrics", "diff", "HEAD")
    d.sh("git", "commit", "-q", "-am", "Tune the learning rate")
    d.sh(rel, "register", ARTIFACT, "--bump", "patch")
    d.sh(rel, "promote", ARTIFACT, "dev")
    d.sh(rel, "deploy", ARTIFACT, "dev", note="direct: replace")
    d.sh(rel, "promote", ARTIFACT, "staging")
    d.sh(
        rel,
        "deploy",
        ARTIFACT,
        "staging",
        *REPLAY,
        note="blue/green: checks, atomic switch, then a bake judged against the old version",
    )
    d.sh(rel, "promote", ARTIFACT, "prod")
    d.sh(rel, "deploy", ARTIFACT, "prod", *REPLAY, note="canary, judged step by step")


def _bad_release(d: Demo, project: Path, rel: str) -> None:
    """A worse version: the gate refuses it, the canary rolls it back."""
    d.step("A worse v0.2.0: the prod gate refuses it; forced, the canary rolls it back")
    tune(project, max_iter=2, learning_rate=0.05, max_leaf_nodes=4)
    d.sh("git", "diff", "--stat")
    d.sh("dvc", "repro")
    d.sh("dvc", "metrics", "diff", "HEAD")
    d.sh("git", "commit", "-q", "-am", "Try a much smaller model")
    d.sh(rel, "register", ARTIFACT, "--version", "v0.2.0")
    d.sh(
        rel,
        "promote",
        ARTIFACT,
        "prod",
        "--version",
        "v0.2.0",
        expect=1,
        note="expected: the policy gates refuse",
    )
    d.sh(
        rel,
        "promote",
        ARTIFACT,
        "prod",
        "--version",
        "v0.2.0",
        "--force",
        "--reason",
        "demo: force past the gates to show the canary",
        note="forced, reason recorded",
    )
    d.sh(
        rel,
        "deploy",
        ARTIFACT,
        "prod",
        *REPLAY,
        expect=1,
        note="expected: the canary fails and rolls back",
    )
    d.sh("git", "tag", "-n1", "--list", f"{ARTIFACT}#prod*", note="git records the rollback")
    d.sh("git", "revert", "--no-edit", "HEAD", note="the team reverts the bad change")
    d.sh("dvc", "checkout", note="outputs of the reverted commit, from the DVC cache")


def _monitoring(d: Demo, rel: str) -> None:
    """Drift, quality and golden signals of what prod serves."""
    d.step("Monitoring: a drifted production batch against what prod serves")
    d.sh(
        rel,
        "data",
        "generate-batch",
        "--drift",
        "1.0",
        "--rows",
        "5000",
        "--seed",
        "7",
        "--out",
        "batches/2026-11-29.parquet",
    )
    d.sh(
        rel,
        "monitor",
        "drift",
        "--current",
        "batches/2026-11-29.parquet",
        "--stage",
        "prod",
        expect=1,
        note="expected: drift detected",
    )
    d.sh(rel, "monitor", "quality", "--current", "batches/2026-11-29.parquet")
    d.sh(
        rel,
        "monitor",
        "signals",
        "--deployment",
        ARTIFACT,
        "prod",
        expect=None,
        note="golden signals of the live prod server",
    )


def _verify(d: Demo, rel: str) -> None:
    """Rebuild the first version from its commit."""
    d.step("Reproducibility: rebuild v0.1.0 from its commit and compare")
    d.sh(rel, "verify", f"{ARTIFACT}@v0.1.0")


def _where_things_are(d: Demo, project: Path, rel: str) -> None:
    """The registry, the deployments and the pages to open."""
    d.step("Where things are")
    d.sh(rel, "show")
    d.sh(rel, "history", ARTIFACT)
    d.sh(rel, "deployments")
    d.sh(rel, "site", "build", "--out", "site")
    print(f"\nregistry site: {project / 'site/index.html'} (or: release ui)")
    print(f"model card:   {project / 'model_card/card.html'}")
    print(f"drift report: {project / 'reports/drift.html'}")
    print(f"project:      {project}")


def main(argv: list[str] | None = None) -> None:
    """Create the example project somewhere temporary and run the loop there."""
    parser = argparse.ArgumentParser(description="The whole release loop in a throwaway copy.")
    parser.add_argument("--rows", type=int, default=None, help="builtin rows (default: params)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the copy")
    args = parser.parse_args(argv)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="release-demo-"))
    project = base / "loan-project"
    if project.exists():
        raise SystemExit(f"demo: {project} already exists; choose another --workdir")
    print(f"demo: creating the example project in {project} (your own repository is not touched)")
    project.mkdir(parents=True)
    env = git_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, env=env, check=True)
    init = ["release", "init", "--example", "loan", "--yes"]
    print("$ " + " ".join(init), flush=True)
    subprocess.run(init, cwd=project, env=env, check=True)
    if args.rows:
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["data"]["rows"] = args.rows
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "add", "-A"], cwd=project, env=env, check=True)
    subprocess.run(
        ["git", "commit", "-q", "-m", "Project sources"], cwd=project, env=env, check=True
    )
    try:
        run_demo(project)
    finally:
        print(f"demo: the copy stays at {project} for you to explore (rm -rf {base})")


if __name__ == "__main__":
    main()
