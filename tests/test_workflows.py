"""Static checks of the GitHub Actions workflows: linters, pins, permissions, no injection."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from release import grammar
from tests.ci_harness import load_workflow, untrusted_in_run

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
NAMES = {p.name for p in WORKFLOWS}


def test_the_three_workflows_exist():
    assert {"ci.yml", "release.yml", "monitor.yml"} <= NAMES


def test_actionlint_finds_nothing():
    proc = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == ""


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.nope }}\n"
    )
    proc = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0


def test_zizmor_offline_finds_nothing():
    proc = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", ".github/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr
    audited = (proc.stdout + proc.stderr).count("completed .github/")
    assert audited == len(WORKFLOWS) + len(ACTIONS)


def test_zizmor_would_catch_template_injection(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.head_ref }}\n"
    )
    proc = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", str(bad)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode != 0
    assert "template-injection" in proc.stdout


# --------------------------------------------------------------- untrusted input
def _run_scripts(doc: dict) -> list[tuple[str, str]]:
    scripts = []
    jobs = doc.get("jobs") or {}
    for job_id, job in jobs.items():
        for step in job.get("steps", []):
            if "run" in step:
                scripts.append((f"{job_id}/{step.get('name', '?')}", step["run"]))
    for step in (doc.get("runs") or {}).get("steps", []):
        if "run" in step:
            scripts.append((f"action/{step.get('name', '?')}", step["run"]))
    return scripts


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_no_run_script_expands_an_untrusted_context(path):
    doc = load_workflow(path)
    scripts = _run_scripts(doc)
    assert scripts
    for where, script in scripts:
        assert untrusted_in_run(script) == [], f"{path.name} {where}"
        # stricter still: these workflows expand nothing at all inside scripts
        assert "${{" not in script, f"{path.name} {where}"


@pytest.mark.parametrize(
    "expr",
    [
        "github.ref_name",
        "github.head_ref",
        "github.ref",
        "github.event.pull_request.title",
        "github.event.head_commit.message",
        "steps.ref.outputs.artifact",
        "needs.parse.outputs.version",
        "inputs.batch",
        "env.REF_NAME",
        "format('{0}', github.ref_name)",
    ],
)
def test_the_checker_flags_untrusted_contexts(expr):
    assert untrusted_in_run(f"echo ${{{{ {expr} }}}}") == [expr]


def test_the_checker_allows_runner_and_run_ids():
    assert untrusted_in_run("cd ${{ runner.temp }} && echo ${{ github.run_id }}") == []


def test_tag_values_reach_scripts_only_through_env():
    doc = load_workflow(ROOT / ".github" / "workflows" / "release.yml")
    parse = doc["jobs"]["parse"]["steps"]
    first = parse[0]
    assert "run" in first, "the first step of the parse job must be the grammar check"
    assert first["env"]["REF_NAME"] == "${{ github.ref_name }}"
    assert "$REF_NAME" in first["run"] and "GTO_TAG_RE" in first["run"]
    # every expression naming the ref lives in an env: block
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    for line in text.splitlines():
        if "github.ref_name" in line:
            assert re.match(r"^\s+REF_NAME: \$\{\{ github\.ref_name \}\}$", line), line


# --------------------------------------------------------------- supply chain
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_third_party_action_is_pinned_to_a_full_sha(path):
    seen = 0
    for line in path.read_text().splitlines():
        m = _USES.match(line)
        if not m:
            continue
        ref, rest = m.group(1), m.group(2)
        if ref.startswith(("./", "$/")):
            continue
        seen += 1
        assert re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}", ref), line
        assert re.search(r"#\s*v\d+(\.\d+)*", rest), f"no version comment: {line}"
    assert seen > 0


def test_known_action_pins():
    pins = {
        "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
        "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
        "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
        "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    }
    for path in WORKFLOWS + ACTIONS:
        for line in path.read_text().splitlines():
            m = _USES.match(line)
            if m and "@" in m.group(1):
                action, sha = m.group(1).split("@")
                if action in pins:
                    assert (sha, pins[action][1]) == (
                        pins[action][0],
                        m.group(2).split("#")[1].strip(),
                    )


# ----------------------------------------------------------------- privileges
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_top_level_permissions_are_read_only(path):
    assert load_workflow(path)["permissions"] == {"contents": "read"}


def test_only_the_rollback_job_may_write_in_release():
    jobs = load_workflow(ROOT / ".github" / "workflows" / "release.yml")["jobs"]
    writers = {
        job_id
        for job_id, job in jobs.items()
        if any(v == "write" for v in (job.get("permissions") or {}).values())
        or job.get("permissions") == "write-all"
    }
    assert writers == {"rollback"}
    assert jobs["rollback"]["permissions"] == {"contents": "write"}


def test_monitor_writes_only_in_the_retrain_job():
    jobs = load_workflow(ROOT / ".github" / "workflows" / "monitor.yml")["jobs"]
    assert "permissions" not in jobs["monitor"]
    assert jobs["retrain"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert jobs["retrain"]["if"] == "needs.monitor.outputs.drift == 'true'"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_persist_credentials(path):
    for job_id, job in load_workflow(path)["jobs"].items():
        steps = job.get("steps", [])
        for i, step in enumerate(steps):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, job_id
                if path.name != "ci.yml" or job_id != "test":
                    assert step["with"]["fetch-depth"] == 0, job_id
                    nxt = steps[i + 1]
                    assert "fetch-annotated-tags.sh" in nxt.get("run", ""), job_id


def test_the_tag_refetch_step_explains_why():
    script = (ROOT / ".github" / "scripts" / "fetch-annotated-tags.sh").read_text()
    assert "git fetch --force --tags origin" in script
    assert "GTO" in script and "lightweight" in script


# -------------------------------------------------------------- release.yml
def test_release_triggers_on_gto_tags_only():
    doc = load_workflow(ROOT / ".github" / "workflows" / "release.yml")
    assert set(doc["on"]) == {"push"}
    patterns = doc["on"]["push"]["tags"]
    assert "branches" not in doc["on"]["push"]

    def matches(tag: str) -> bool:
        # GitHub filter patterns: ** crosses '/', * does not.
        for pattern in patterns:
            rx = "".join(
                ".*" if tok == "**" else "[^/]*" if tok == "*" else re.escape(tok)
                for tok in re.split(r"(\*\*|\*)", pattern)
            )
            if re.fullmatch(rx, tag):
                return True
        return False

    for tag in ("loan-model@v1.0.0", "loan-model#prod#3", "nlp/bert@v0.1.0", "cv=img#dev#1"):
        assert matches(tag), tag
    for tag in ("v1.0.0", "release-2026", "main"):
        assert not matches(tag), tag


def test_deploy_jobs_use_the_fixed_environment_map_and_never_cancel():
    jobs = load_workflow(ROOT / ".github" / "workflows" / "release.yml")["jobs"]
    env_expr = jobs["parse"]["outputs"]["environment"]
    mapping = re.search(r"fromJSON\('(\{.*?\})'\)", env_expr).group(1)
    assert yaml.safe_load(mapping) == {
        "dev": "development",
        "staging": "staging",
        "prod": "production",
    }
    for job_id in ("deploy", "kubernetes"):
        job = jobs[job_id]
        assert job["environment"] == "${{ needs.parse.outputs.environment }}"
        assert job["concurrency"]["cancel-in-progress"] is False
        assert "needs.parse.outputs.artifact" in job["concurrency"]["group"]
        assert "needs.parse.outputs.stage" in job["concurrency"]["group"]
        assert "needs.parse.outputs.environment != ''" in job["if"]
    assert jobs["deploy"]["concurrency"]["group"] == (
        "deploy-${{ needs.parse.outputs.artifact }}-${{ needs.parse.outputs.stage }}"
    )


# ------------------------------------------------------------- the tag grammar
GTO_TAG_RE = load_workflow(ROOT / ".github" / "workflows" / "release.yml")["env"]["GTO_TAG_RE"]


def bash_accepts(names: list[str]) -> list[bool]:
    """Run the workflow's own check (bash [[ =~ ]]) on each name."""
    script = 'for n in "$@"; do if [[ "$n" =~ $GTO_TAG_RE ]]; then echo 1; else echo 0; fi; done'
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script, "bash", *names],
        env={"GTO_TAG_RE": GTO_TAG_RE, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return [line == "1" for line in proc.stdout.splitlines()]


VALID = [
    "model@v1.0.0",
    "loan-model@v0.1.12",
    "loan-model#prod#3",
    "loan-model#staging",
    "nlp/bert@v2.0.0-rc.1",
    "nlp/bert@v2.0.0+build.5",
    "models/cv=resnet@v1.2.3",
    "m1#dev!#4",
    "model@v1.0.0!",
    "model@deprecated",
    "model@created",
    "a#b#10",
]
INVALID = [
    "model@v1.0.0$(touch pwned)",
    "model@v1.0.0`id`",
    "model#prod#1;id",
    "model@v1.0.0\nid",
    "model@v1.0.0\n",
    "model@1.0.0",
    "-model@v1.0.0",
    "model@v01.0.0",
    "model#prod#x",
    "model#pr od#1",
    "model@v1.0.0|id",
    "model@v1.0.0&&id",
    "model@v1.0.0>x",
    "$HOME@v1.0.0",
    "mo'del@v1.0.0",
    'mo"del@v1.0.0',
    "model",
    "",
]


def test_bash_grammar_agrees_with_gto_and_release():
    import gto.constants

    got = bash_accepts(VALID + INVALID)
    for name, ok in zip(VALID + INVALID, got, strict=True):
        assert ok == (name in VALID), name
        assert bool(gto.constants.tag_re.fullmatch(name)) == ok, name
        if not name.endswith("\n"):  # `$` in Python also matches before a final newline
            assert (grammar.parse_tag(name) is not None) == ok, name


def test_bash_grammar_passes_no_shell_metacharacter():
    specials = "$`;|&<>()\\'\" \t\n*?[]{}~%^"
    assert not any(c in specials for c in "".join(VALID))
    names = [f"model@v1.0.0{c}x" for c in specials] + [f"mo{c}del#prod#1" for c in specials]
    assert not any(bash_accepts(names))


def _cluster_step() -> str:
    doc = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    (step,) = [s for s in doc["jobs"]["kubernetes"]["steps"] if s.get("id") == "cluster"]
    return step["run"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ('release:\n  deploy:\n    kubernetes: {image: "release:dev"}\n', "image=true"),
        ("release:\n  artifact: model\n", "image=false"),
        ("release: [not, a, mapping]\n", None),  # unreadable settings fail the job
    ],
)
def test_the_kubernetes_job_renders_only_where_an_image_is_set(tmp_path, params, expected):
    (tmp_path / "params.yaml").write_text(params)
    out = tmp_path / "github_output"
    out.write_text("")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "GITHUB_OUTPUT": str(out)}
    proc = subprocess.run(
        ["bash", "-e", "-c", _cluster_step()], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    if expected is None:
        assert proc.returncode != 0 and out.read_text() == ""
        return
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().strip() == expected
    assert ("::notice::" in proc.stdout) == (expected == "image=false")
