"""The workflows' `run:` steps, executed for real by tests/ci_harness.py.

A tag push is simulated against a real git repository holding this project's `.github/`
and `params.yaml`, with real tags (written by gto) and the real `release` CLI on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci_harness import Event, HarnessError, Status, WorkflowRunner, evaluate, substitute

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RELEASE_YML = ROOT / ".github" / "workflows" / "release.yml"
ARTIFACT = "loan-model"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def gto(repo: Path, *args: str) -> None:
    subprocess.run([str(BIN / "gto"), *args], cwd=repo, capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def tagged_repo(tmp_path_factory) -> Path:
    """A repository with the workflows, params.yaml and GTO tags for every stage."""
    repo = tmp_path_factory.mktemp("origin")
    shutil.copytree(ROOT / ".github", repo / ".github")
    shutil.copy2(ROOT / "params.yaml", repo / "params.yaml")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "project")
    gto(repo, "register", ARTIFACT, "--version", "v1.0.0")
    for stage in ("dev", "staging", "prod"):
        gto(repo, "assign", ARTIFACT, "--version", "v1.0.0", "--stage", stage)
    return repo


def tag_push(repo: Path, tag: str, tmp: Path, **kw) -> WorkflowRunner:
    sha = git(repo, "rev-parse", "HEAD")
    return WorkflowRunner(
        RELEASE_YML,
        origin=repo,
        event=Event("push", f"refs/tags/{tag}", sha),
        tmp=tmp,
        path_prepend=[str(BIN)],
        **kw,
    )


# ------------------------------------------------------------------ hostile refs
HOSTILE = {
    "command substitution": "loan-model@v1.0.0$(touch${IFS}{marker})",
    "backticks": "loan-model@v1.0.0`touch${IFS}{marker}`",
    "semicolon": "loan-model#prod#1;touch${IFS}{marker}",
    "newline": "loan-model@v1.0.0\ntouch {marker}",
    "pipe": "loan-model@v1.0.0|touch${IFS}{marker}",
    "ampersand": "loan-model#prod#1&&touch${IFS}{marker}",
    "quote": "loan-model@v1.0.0'$(touch${IFS}{marker})'",
    "over-long": "m" * 300 + "@v1.0.0",
    "not a GTO tag": "v1.0.0",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_refs_are_rejected_before_any_other_command(tagged_repo, tmp_path, case):
    marker = tmp_path / "pwned"
    ref = HOSTILE[case].replace("{marker}", str(marker))
    jobs = tag_push(tagged_repo, ref, tmp_path / "run").run()
    parse = jobs["parse"]
    assert parse.result == "failure"
    # the grammar check is the first step and the only one that ran: no checkout,
    # no `release check-ref`, nothing else saw the name
    assert parse.ran == ["Check the tag name against the GTO grammar (before anything else)"]
    first = parse.steps[0]
    assert first.kind == "run" and first.outcome == "failure" and first.returncode == 1
    assert "::error::" in first.output
    assert "touch" not in first.output  # the name is never echoed back
    assert parse.outputs == {k: "" for k in parse.outputs}
    assert not marker.exists()
    assert not any(tmp_path.rglob("pwned"))
    for job_id in ("card", "deploy", "kubernetes", "rollback"):
        assert jobs[job_id].result == "skipped", job_id


def test_a_valid_name_without_a_tag_stops_at_check_ref(tagged_repo, tmp_path):
    jobs = tag_push(tagged_repo, "ghost@v9.9.9", tmp_path).run()
    parse = jobs["parse"]
    assert parse.result == "failure"
    assert parse.steps[0].outcome == "success"
    assert parse.step("Read the event").outcome == "failure"
    assert all(jobs[j].result == "skipped" for j in ("card", "deploy", "kubernetes", "rollback"))


# ------------------------------------------------------------------ valid refs
@pytest.mark.parametrize(
    ("tag", "event", "stage", "strategy", "environment"),
    [
        ("loan-model@v1.0.0", "registration", "", "", ""),
        ("loan-model#dev#1", "assignment", "dev", "direct", "development"),
        ("loan-model#staging#2", "assignment", "staging", "bluegreen", "staging"),
        ("loan-model#prod#3", "assignment", "prod", "canary", "production"),
    ],
)
def test_parse_job_exposes_the_event(
    tagged_repo, tmp_path, tag, event, stage, strategy, environment
):
    assert tag in git(tagged_repo, "tag", "--list").split()
    runner = tag_push(tagged_repo, tag, tmp_path)
    parse = runner.run(only={"parse"})["parse"]
    assert parse.result == "success", parse.log()
    assert parse.outputs == {
        "tag": tag,
        "artifact": ARTIFACT,
        "version": "v1.0.0",
        "stage": stage,
        "event": event,
        "strategy": strategy,
        "environment": environment,
    }
    # checkout left the pushed tag lightweight; the re-fetch made it annotated again,
    # which is what GTO (and release check-ref) need to see the event at all
    assert "left lightweight" in parse.step("actions/checkout").output
    assert git(parse.workspace, "cat-file", "-t", f"refs/tags/{tag}") == "tag"
    assert f"| `{tag}` | {event} | {ARTIFACT} | v1.0.0 |" in parse.summary
    assert [s.kind for s in parse.steps] == ["run", "checkout", "run", "skipped-uses", "run"]


def test_without_the_refetch_check_ref_would_not_see_the_tag(tagged_repo, tmp_path):
    """The reason for the re-fetch step: GTO ignores the lightweight tag checkout leaves."""
    runner = tag_push(tagged_repo, "loan-model#prod#3", tmp_path)
    runner.doc["jobs"]["parse"]["steps"] = [
        s for s in runner.doc["jobs"]["parse"]["steps"] if "fetch-annotated" not in s.get("run", "")
    ]
    parse = runner.run(only={"parse"})["parse"]
    assert parse.result == "failure"
    assert parse.step("Read the event").outcome == "failure"


def test_jobs_follow_the_event(tagged_repo, tmp_path):
    """A registration runs only the card job; an assignment only the deploy jobs."""
    runner = tag_push(tagged_repo, "loan-model#prod#3", tmp_path / "a")
    runner.doc["jobs"] = {k: v for k, v in runner.doc["jobs"].items() if k == "parse"} | {
        k: {**v, "steps": []} for k, v in runner.doc["jobs"].items() if k != "parse"
    }
    jobs = runner.run()
    assert {k: j.result for k, j in jobs.items()} == {
        "parse": "success",
        "card": "skipped",
        "deploy": "success",
        "kubernetes": "success",
        "rollback": "skipped",
    }
    assert jobs["deploy"].environment == "production"
    assert jobs["deploy"].concurrency == {
        "group": "deploy-loan-model-prod",
        "cancel-in-progress": False,
    }
    assert jobs["kubernetes"].environment == "production"

    runner = tag_push(tagged_repo, "loan-model@v1.0.0", tmp_path / "b")
    runner.doc["jobs"] = {k: v for k, v in runner.doc["jobs"].items() if k == "parse"} | {
        k: {**v, "steps": []} for k, v in runner.doc["jobs"].items() if k != "parse"
    }
    jobs = runner.run()
    assert {k: j.result for k, j in jobs.items()} == {
        "parse": "success",
        "card": "success",
        "deploy": "skipped",
        "kubernetes": "skipped",
        "rollback": "skipped",
    }


# --------------------------------------------------------- the harness itself
def test_expressions_follow_github_semantics():
    ctx = {
        "needs": {"parse": {"outputs": {"stage": "prod", "event": "assignment"}}},
        "steps": {},
        "vars": {},
        "secrets": {"KUBECONFIG": ""},
    }
    env_map = 'fromJSON(\'{"dev":"development","prod":"production"}\')'
    assert evaluate(f"{env_map}[needs.parse.outputs.stage]", ctx) == "production"
    assert evaluate(f"{env_map}['qa']", ctx) is None
    assert evaluate("needs.parse.outputs.event == 'ASSIGNMENT'", ctx) is True
    assert evaluate("secrets.KUBECONFIG != ''", ctx) is False
    assert evaluate("vars.REPLAY_RPS || '20'", ctx) == "20"
    assert evaluate("!contains(fromJSON('[\"a\",\"b\"]'), 'b')", ctx) is False
    assert evaluate("failure() && 1 == 1", ctx, Status(failed=True)) is True
    assert substitute("deploy-${{ needs.parse.outputs.stage }}", ctx) == "deploy-prod"
    with pytest.raises(HarnessError, match="env:"):
        substitute("echo ${{ needs.parse.outputs.stage }}", ctx, in_run=True)


# ----------------------------------------------------------------------- ci.yml
CI_YML = ROOT / ".github" / "workflows" / "ci.yml"


def pull_request(repo: Path, base: str, head: str, tmp: Path) -> WorkflowRunner:
    payload = {"pull_request": {"base": {"sha": base, "ref": "main"}, "head": {"sha": head}}}
    runner = WorkflowRunner(
        CI_YML,
        origin=repo,
        event=Event("pull_request", "refs/pull/7/merge", head, payload=payload),
        tmp=tmp,
        path_prepend=[str(BIN)],
    )
    # up to the change detection: what follows needs a trained DVC project (see e2e tests)
    steps = runner.doc["jobs"]["report"]["steps"]
    cut = next(i for i, s in enumerate(steps) if s.get("id") == "changes")
    runner.doc["jobs"]["report"]["steps"] = steps[: cut + 1]
    return runner


@pytest.mark.parametrize(
    ("path", "pipeline"),
    [("README.md", "false"), ("params.yaml", "true"), ("release/x.py", "true")],
)
def test_ci_reports_only_when_params_data_or_code_change(tagged_repo, tmp_path, path, pipeline):
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(tagged_repo), str(repo)], check=True)
    base = git(repo, "rev-parse", "HEAD")
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    with open(repo / path, "a") as fh:
        fh.write("\n# changed\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"change {path}")
    head = git(repo, "rev-parse", "HEAD")
    jobs = pull_request(repo, base, head, tmp_path / "run").run(only={"report"})
    report = jobs["report"]
    assert report.result == "success", report.log()
    assert report.step("Did params, data or code change?").outputs == {"pipeline": pipeline}


def test_ci_report_rejects_a_hostile_base_sha(tagged_repo, tmp_path):
    marker = tmp_path / "pwned"
    head = git(tagged_repo, "rev-parse", "HEAD")
    runner = pull_request(tagged_repo, f"$(touch {marker})", head, tmp_path / "run")
    report = runner.run(only={"report"})["report"]
    assert report.result == "failure"
    assert "::error::not a commit id" in report.step("Did params").output
    assert not marker.exists()


def test_ci_skips_the_report_on_push(tagged_repo, tmp_path):
    head = git(tagged_repo, "rev-parse", "HEAD")
    runner = WorkflowRunner(
        CI_YML,
        origin=tagged_repo,
        event=Event("push", "refs/heads/main", head),
        tmp=tmp_path,
        path_prepend=[str(BIN)],
    )
    assert runner.run(only={"report"})["report"].result == "skipped"


# ------------------------------------------------------------------ monitor.yml
def test_monitor_without_a_batch_fails_clearly(tagged_repo, tmp_path):
    head = git(tagged_repo, "rev-parse", "HEAD")
    runner = WorkflowRunner(
        ROOT / ".github" / "workflows" / "monitor.yml",
        origin=tagged_repo,
        event=Event("schedule", "refs/heads/main", head),
        tmp=tmp_path,
        path_prepend=[str(BIN)],
    )
    jobs = runner.run()
    step = jobs["monitor"].step("Find the newest production batch")
    assert (
        step.outcome == "failure"
        and "::error::no production batch in data/production" in step.output
    )
    assert jobs["retrain"].result == "skipped"


# ------------------------------------------------------- rollback tag hand-over
SCRIPTS = ROOT / ".github" / "scripts"


def script_env(tmp: Path, **extra: str) -> dict[str, str]:
    import os

    from tests.ci_harness import load_workflow

    grammar = load_workflow(RELEASE_YML)["env"]["GTO_TAG_RE"]
    return {
        **os.environ,
        "ARTIFACT": ARTIFACT,
        "STAGE": "prod",
        "GTO_TAG_RE": grammar,
        "GITHUB_OUTPUT": str(tmp / "output.txt"),
        **extra,
    }


def test_bundle_keeps_only_new_annotated_assignments_of_this_stage(tagged_repo, tmp_path):
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(tagged_repo), str(work)], check=True)
    before = tmp_path / "before.txt"
    before.write_text(git(work, "tag", "--list") + "\n")
    git(work, "tag", "-a", "-m", "rollback", f"{ARTIFACT}#prod#9")  # the tool's rollback
    git(work, "tag", f"{ARTIFACT}#prod#10")  # lightweight: GTO would ignore it
    git(work, "tag", "-a", "-m", "x", f"{ARTIFACT}#dev#11")  # another stage
    git(work, "tag", "-a", "-m", "x", "other-model#prod#12")  # another artifact
    out = tmp_path / "bundle"
    proc = subprocess.run(
        [str(SCRIPTS / "bundle-rollback.sh"), str(before), str(out)],
        cwd=work,
        env=script_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "tags.txt").read_text() == f"{ARTIFACT}#prod#9\n"
    assert (tmp_path / "output.txt").read_text() == "rollback=true\n"
    listed = subprocess.run(
        ["git", "bundle", "list-heads", str(out / "rollback.bundle")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listed.split()[1:] == [f"refs/tags/{ARTIFACT}#prod#9"]


@pytest.mark.parametrize("bad", [f"{ARTIFACT}#dev#9", "other#prod#9", f"{ARTIFACT}#prod#9;id"])
def test_push_rollback_refuses_a_tag_that_is_not_this_stages(tagged_repo, tmp_path, bad):
    origin = tmp_path / "origin"
    subprocess.run(["git", "clone", "-q", "--bare", str(tagged_repo), str(origin)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True)
    safe = bad.split(";")[0]
    git(work, "tag", "-a", "-m", "rollback", safe)
    art = tmp_path / "artifact"
    art.mkdir()
    git(work, "bundle", "create", str(art / "rollback.bundle"), f"refs/tags/{safe}")
    (art / "tags.txt").write_text(bad + "\n")
    deploy = tmp_path / "deploy"
    subprocess.run(["git", "clone", "-q", str(origin), str(deploy)], check=True)
    proc = subprocess.run(
        [str(SCRIPTS / "push-rollback.sh"), str(art)],
        cwd=deploy,
        env=script_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "not an assignment of this stage" in proc.stdout + proc.stderr
    assert safe not in git(origin, "tag", "--list").split()


def test_push_rollback_publishes_the_annotated_tag(tagged_repo, tmp_path):
    origin = tmp_path / "origin"
    subprocess.run(["git", "clone", "-q", "--bare", str(tagged_repo), str(origin)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True)
    tag = f"{ARTIFACT}#prod#9"
    git(work, "tag", "-a", "-m", "Rollback of prod", tag)
    art = tmp_path / "artifact"
    art.mkdir()
    git(work, "bundle", "create", str(art / "rollback.bundle"), f"refs/tags/{tag}")
    (art / "tags.txt").write_text(tag + "\n")
    deploy = tmp_path / "deploy"
    subprocess.run(["git", "clone", "-q", str(origin), str(deploy)], check=True)
    proc = subprocess.run(
        [str(SCRIPTS / "push-rollback.sh"), str(art)],
        cwd=deploy,
        env=script_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert git(origin, "cat-file", "-t", f"refs/tags/{tag}") == "tag"
    assert git(origin, "tag", "-l", "--format=%(contents)", tag) == "Rollback of prod"
