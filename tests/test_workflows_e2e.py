"""release.yml end to end: the same commands as on GitHub, run by tests/ci_harness.py.

One small copy of this project is trained with DVC (data and model in a local DVC
remote), registered and promoted with the real `release` CLI; each tag push then runs
the whole workflow: a registration builds and publishes the card, a promotion to each
stage deploys with the stage's strategy (local target) and renders and validates the
Kubernetes manifests, and a failing canary rolls back and the rollback job pushes the
rollback tag the tool wrote to the origin.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from release.workspace import copy_project
from tests.ci_harness import Event, JobRun, WorkflowRunner
from tests.support import Exact, edit_params

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RELEASE_YML = ROOT / ".github" / "workflows" / "release.yml"
ARTIFACT = "loan-model"
STAGES = ("dev", "staging", "prod")

pytestmark = pytest.mark.slow


def sh(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Project:
    """The origin repository every simulated runner clones."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.origin = root / "origin"
        self.runs = 0
        self.workspaces: list[Path] = []

    def release(self, *args: str) -> str:
        return sh(self.origin, str(BIN / "release"), *args).stdout

    def tags(self) -> list[str]:
        return sh(self.origin, "git", "tag", "--list").stdout.split()

    def active(self, stage: str) -> str | None:
        from release.registry.api import read_state

        return read_state(self.origin).active_version(ARTIFACT, stage)

    def push(self, tag: str, **kw) -> dict[str, JobRun]:
        """What GitHub does when ``tag`` is pushed: run release.yml for it."""
        self.runs += 1
        sha = sh(self.origin, "git", "rev-parse", f"refs/tags/{tag}^{{commit}}").stdout.strip()
        runner = WorkflowRunner(
            RELEASE_YML,
            origin=self.origin,
            event=Event("push", f"refs/tags/{tag}", sha),
            tmp=self.root / f"run{self.runs}",
            path_prepend=[str(BIN)],
            vars={"REPLAY_RPS": "60"},
            **kw,
        )
        jobs = runner.run()
        self.workspaces += [j.workspace for j in jobs.values() if j.workspace]
        return jobs

    def new_tag(self, before: list[str]) -> str:
        (tag,) = sorted(set(self.tags()) - set(before))
        return tag


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """A trained, registered copy of this project (v1.0.0), its DVC remote beside it."""
    root = tmp_path_factory.mktemp("e2e")
    proj = Project(root)
    dest = copy_project(ROOT, proj.origin, commit=False)
    edit_params(
        dest,
        {
            "data": {"rows": 2400},
            "evaluate": {"bootstrap": 50, "explain": {"permutation_repeats": 1, "max_rows": 400}},
            "release": {
                "policy": Exact({}),
                "deploy": {
                    "router_port": free_port(),
                    "canary": {
                        "steps": [
                            {
                                "weight": 50,
                                "min_requests": 40,
                                "min_duration": 1,
                                "max_duration": 25,
                            },
                            {
                                "weight": 100,
                                "min_requests": 40,
                                "min_duration": 1,
                                "max_duration": 25,
                            },
                        ]
                    },
                    "judge": {"min_labelled": 30},
                },
            },
        },
    )
    sh(dest, str(BIN / "dvc"), "remote", "modify", "local", "url", str(root / "dvc-remote"))
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "commit", "-q", "-m", "project")
    sh(dest, str(BIN / "dvc"), "repro")
    sh(dest, str(BIN / "dvc"), "push", "-q")
    proj.release("card", "build")
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "commit", "-q", "-m", "train v1")
    proj.release("register", ARTIFACT, "--version", "v1.0.0")
    yield proj
    # Whatever happened, leave no router or model server behind.
    for ws in proj.workspaces:
        if not (ws / ".release").exists():
            continue  # no deployment ever ran there
        for stage in STAGES:
            subprocess.run(
                [str(BIN / "release"), "deployments", "--stop", ARTIFACT, stage],
                cwd=ws,
                capture_output=True,
                timeout=60,
                check=False,
            )


def results(jobs: dict[str, JobRun]) -> dict[str, str]:
    return {k: j.result for k, j in jobs.items()}


def logs(jobs: dict[str, JobRun]) -> str:
    return "\n".join(f"===== {k}\n{j.log()}" for k, j in jobs.items())


def test_registration_builds_and_publishes_the_card(project):
    jobs = project.push(f"{ARTIFACT}@v1.0.0")
    assert results(jobs) == {
        "parse": "success",
        "card": "success",
        "deploy": "skipped",
        "rollback": "skipped",
        "kubernetes": "skipped",
    }, logs(jobs)
    card = jobs["card"]
    assert card.ran == [
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "Fetch tags as annotated tags (GTO ignores lightweight tags)",
        "$/.github/actions/setup-release",
        "Reproduce the pipeline at the registered commit",
        "Build the model card",
        "Write the release note",
        "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02",
    ]
    published = project.root / f"run{project.runs}" / "artifacts" / "model-card"
    assert (published / "card.json").is_file() and (published / "README.md").is_file()
    note = (published / "release-note.md").read_text()
    assert note.startswith(f"# {ARTIFACT} v1.0.0\n")
    assert f"Registered by tag `{ARTIFACT}@v1.0.0`" in note and "- accuracy: " in note
    assert card.summary.startswith(f"# {ARTIFACT} v1.0.0")
    assert json.loads((published / "card.json").read_text())


def test_a_promotion_to_each_stage_deploys_with_its_strategy(project):
    expected = {"dev": "direct", "staging": "bluegreen", "prod": "canary"}
    environments = {"dev": "development", "staging": "staging", "prod": "production"}
    for stage in STAGES:
        before = project.tags()
        project.release("promote", ARTIFACT, stage)
        tag = project.new_tag(before)
        jobs = project.push(tag)
        assert results(jobs) == {
            "parse": "success",
            "card": "skipped",
            "deploy": "success",
            "rollback": "success",  # no rollback tag: it publishes the rollout notes
            "kubernetes": "success",
        }, logs(jobs)
        parse = jobs["parse"].outputs
        assert (parse["event"], parse["stage"], parse["strategy"]) == (
            "assignment",
            stage,
            expected[stage],
        )
        deploy = jobs["deploy"]
        assert deploy.environment == environments[stage]
        assert deploy.concurrency == {
            "group": f"deploy-{ARTIFACT}-{stage}",
            "cancel-in-progress": False,
        }
        rollout = deploy.step("Roll out")
        assert f"promoted: {ARTIFACT} v1.0.0 in {stage}" in rollout.output, deploy.log()
        assert "first deployment of" in deploy.step("Start the baseline").output
        assert deploy.step("Keep the rollback tag").outcome == "skipped"
        assert jobs["rollback"].step("Push the rollback tag").outcome == "skipped"
        assert "pushed rollout notes" in jobs["rollback"].step("Push the rollout notes").output
        noted = sh(project.origin, "git", "notes", "--ref=release", "show", f"refs/tags/{tag}")
        assert '"outcome":"promoted"' in noted.stdout
        assert "stopped" in deploy.step("Stop the local router").output
        # Kubernetes: rendered with the same strategy, validated, uploaded, not applied
        k8s = jobs["kubernetes"]
        assert k8s.step("Apply to the cluster").outcome == "skipped"
        assert "0 problem(s)" in k8s.step("Validate the manifests").output
        out = project.root / f"run{project.runs}" / "artifacts" / "kubernetes-manifests"
        rollout_doc = yaml.safe_load((out / "rollout.yaml").read_text())
        kind = "blueGreen" if expected[stage] == "bluegreen" else "canary"
        assert list(rollout_doc["spec"]["strategy"]) == [kind]
        annotations = rollout_doc["metadata"]["annotations"]
        assert annotations["release.gitops.dev/version"] == "v1.0.0"
        assert annotations["release.gitops.dev/tag"] == f"{ARTIFACT}@v1.0.0"
        assert project.active(stage) == "v1.0.0"


def test_kubernetes_apply_runs_only_with_a_kubeconfig_secret(project):
    if project.active("dev") is None:
        project.release("promote", ARTIFACT, "dev")
    dev_tags = [t for t in project.tags() if t.startswith(f"{ARTIFACT}#dev#")]
    tag = max(dev_tags, key=lambda t: int(t.rsplit("#", 1)[1]))
    kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"
    runner_jobs = {"parse", "kubernetes"}
    project.runs += 1
    sha = sh(project.origin, "git", "rev-parse", f"refs/tags/{tag}^{{commit}}").stdout.strip()
    runner = WorkflowRunner(
        RELEASE_YML,
        origin=project.origin,
        event=Event("push", f"refs/tags/{tag}", sha),
        tmp=project.root / f"run{project.runs}",
        path_prepend=[str(BIN)],
        secrets={"KUBECONFIG": kubeconfig},
    )
    jobs = runner.run(only=runner_jobs)
    apply = jobs["kubernetes"].step("Apply to the cluster")
    assert apply.outcome == "failure"
    assert "::error::kubectl has no current context" in apply.output or (
        "::error::kubectl is not installed" in apply.output
    )
    assert jobs["kubernetes"].step("Validate the manifests").outcome == "success"


def test_a_failing_canary_rolls_back_and_the_rollback_tag_is_pushed(project):
    if project.active("prod") != "v1.0.0":
        project.release("promote", ARTIFACT, "prod", "--force", "--reason", "test setup")
    # v2: a model that learned almost nothing (one boosting round)
    edit_params(project.origin, {"train": {"params": {"max_iter": 1, "learning_rate": 0.01}}})
    sh(project.origin, str(BIN / "dvc"), "repro")
    sh(project.origin, str(BIN / "dvc"), "push", "-q")
    project.release("card", "build")
    sh(project.origin, "git", "add", "-A")
    sh(project.origin, "git", "commit", "-q", "-m", "train v2 (broken)")
    project.release("register", ARTIFACT, "--version", "v2.0.0")
    before = project.tags()
    project.release("promote", ARTIFACT, "prod", "--force", "--reason", "rehearse a bad release")
    tag = project.new_tag(before)
    assert project.active("prod") == "v2.0.0"

    before = project.tags()
    jobs = project.push(tag)
    assert results(jobs) == {
        "parse": "success",
        "card": "skipped",
        "deploy": "failure",
        "rollback": "success",
        "kubernetes": "success",
    }, logs(jobs)
    deploy = jobs["deploy"]
    assert "baseline: loan-model v1.0.0 in prod" in deploy.step("Start the baseline").output
    rollout = deploy.step("Roll out")
    assert rollout.outcome == "failure" and "rolled_back" in rollout.output, deploy.log()
    assert deploy.step("Keep the rollback tag").outcome == "success"
    assert deploy.outputs == {"rollback": "true", "notes": "true"}
    # the rollback job published exactly the tag the tool wrote, annotated, to the origin
    rollback = jobs["rollback"]
    assert rollback.permissions == {"contents": "write"}
    pushed = project.new_tag(before)
    assert pushed.startswith(f"{ARTIFACT}#prod#")
    assert f"pushed rollback tag {pushed}" in rollback.step("Push the rollback tag").output
    assert (
        sh(project.origin, "git", "cat-file", "-t", f"refs/tags/{pushed}").stdout.strip() == "tag"
    )
    assert project.active("prod") == "v1.0.0"
    # the rollout's analysis went to origin as a git note on the assignment it executed
    noted = sh(project.origin, "git", "notes", "--ref=release", "show", f"refs/tags/{tag}")
    assert '"outcome":"rolled_back"' in noted.stdout and pushed in noted.stdout
    # the judge failed the candidate on evidence, not for want of traffic
    assert "inconclusive" not in rollout.output
    message = sh(project.origin, "git", "tag", "-l", "--format=%(contents)", pushed).stdout
    assert "v2.0.0" in message and "v1.0.0" in message
    # and GTO itself reads the origin the same way
    shown = json.loads(sh(project.origin, str(BIN / "gto"), "show", "--json").stdout)
    assert "v1.0.0" in json.dumps(shown[ARTIFACT]["stage"]["prod"])


def test_pull_request_report_compares_metrics_and_cards_with_the_base(project):
    """ci.yml on a pull request that changed params: repro, metrics diff, card diff."""
    log = sh(project.origin, "git", "log", "--format=%H %s").stdout.splitlines()
    commits = {subject: sha for sha, subject in (line.split(" ", 1) for line in log)}
    if "train v2 (broken)" not in commits:
        pytest.skip("needs the v2 commit of the failing-canary test")
    base, head = commits["train v1"], commits["train v2 (broken)"]
    payload = {"pull_request": {"base": {"sha": base, "ref": "main"}, "head": {"sha": head}}}
    project.runs += 1
    runner = WorkflowRunner(
        ROOT / ".github" / "workflows" / "ci.yml",
        origin=project.origin,
        event=Event("pull_request", "refs/pull/7/merge", head, payload=payload),
        tmp=project.root / f"run{project.runs}",
        path_prepend=[str(BIN)],
    )
    report = runner.run(only={"report"})["report"]
    assert report.result == "success", report.log()
    assert report.step("Did params").outputs == {"pipeline": "true"}
    summary = report.summary
    assert "## Metrics (base → pull request)" in summary
    assert "| reports/metrics.json | accuracy" in summary  # dvc metrics diff --md table
    assert "## Model card (base → pull request)" in summary
    assert "Model card diff" in summary and "| accuracy |" in summary  # Markdown, not a log
    card_diff = report.step("Model card against the base branch").output
    assert report.step("Model card against the base branch").outcome == "success", card_diff


def run_monitor(project: Project) -> dict[str, JobRun]:
    """What the daily schedule does: run monitor.yml on main's head."""
    project.runs += 1
    sha = sh(project.origin, "git", "rev-parse", "HEAD").stdout.strip()
    runner = WorkflowRunner(
        ROOT / ".github" / "workflows" / "monitor.yml",
        origin=project.origin,
        event=Event("schedule", "refs/heads/main", sha),
        tmp=project.root / f"run{project.runs}",
        path_prepend=[str(BIN)],
    )
    jobs = runner.run()
    project.workspaces += [j.workspace for j in jobs.values() if j.workspace]
    return jobs


def test_monitor_confirms_drift_and_opens_the_retraining_path(project):
    origin = project.origin
    if project.active("prod") != "v1.0.0":
        project.release(
            "promote", ARTIFACT, "prod", "--version", "v1.0.0", "--force", "--reason", "setup"
        )
    # the broken v2 settings are reverted on main; a clean batch arrives first
    edit_params(origin, {"train": {"params": {"max_iter": 200, "learning_rate": 0.1}}})
    batches = origin / "data" / "production"
    batches.mkdir(parents=True, exist_ok=True)
    project.release(
        "data",
        "generate-batch",
        "--drift",
        "0",
        "--rows",
        "1500",
        "--seed",
        "5",
        "--out",
        str(batches / "2026-11-28.parquet"),
    )
    sh(origin, "git", "add", "-A")
    sh(origin, "git", "commit", "-q", "-m", "production batch 2026-11-28")
    jobs = run_monitor(project)
    assert results(jobs) == {"monitor": "success", "retrain": "skipped"}, logs(jobs)
    assert jobs["monitor"].outputs == {"drift": "false"}
    assert "2026-11-28.parquet" in jobs["monitor"].step("Find the newest").output

    # then a drifted one: drift is confirmed and the retraining path opens
    project.release(
        "data",
        "generate-batch",
        "--drift",
        "2",
        "--rows",
        "1500",
        "--seed",
        "6",
        "--out",
        str(batches / "2026-11-29.parquet"),
    )
    sh(origin, "git", "add", "-A")
    sh(origin, "git", "commit", "-q", "-m", "production batch 2026-11-29")
    before = project.tags()
    jobs = run_monitor(project)
    assert jobs["monitor"].result == "success", logs(jobs)
    assert jobs["monitor"].outputs == {"drift": "true"}
    retrain = jobs["retrain"]
    assert retrain.permissions == {"contents": "write", "pull-requests": "write"}
    assert retrain.step("Reproduce the pipeline").outcome == "success", retrain.log()
    assert retrain.step("Commit, register and push").outcome == "success", retrain.log()
    # the new version is registered on the pushed retrain branch
    tag = project.new_tag(before)
    assert tag.startswith(f"{ARTIFACT}@v")
    branch_head = sh(origin, "git", "rev-parse", "refs/heads/retrain/drift-4242").stdout.strip()
    tag_commit = sh(origin, "git", "rev-parse", f"refs/tags/{tag}^{{commit}}").stdout.strip()
    assert branch_head == tag_commit
    assert sh(origin, "git", "cat-file", "-t", f"refs/tags/{tag}").stdout.strip() == "tag"
    # the pull request carries the drift report (gh itself is not installed here)
    pr = retrain.step("Open the pull request")
    assert f"registers it as `{tag}`" in retrain.summary
    assert "drift" in retrain.summary.lower()
    if shutil.which("gh") is None:
        assert pr.outcome == "failure" and "gh CLI is needed" in pr.output
