"""Deploy enforces the policy of the protected ref: every bypass of issue #15 is refused.

Real git repositories, the real `release` CLI (deploy renders Kubernetes manifests, the
fastest real deploy path) and real SSH keys made with ssh-keygen for signed tags.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_registry_support import commit, fake_time_env, git, gto_json, init_repo, release, tags

from release.errors import CheckFailed, UsageError
from release.registry import api, enforce

PARAMS = """\
release:
  stages: [dev, staging, prod]
  policy:
    dev:
      min_metrics: {accuracy: 0.7}
    staging:
      requires: dev
      min_metrics: {accuracy: 0.8}
    prod:
      requires: staging
      min_metrics: {accuracy: 0.85}
      force: forbidden
  deploy:
    kubernetes: {image: "release:dev"}
"""


def rel(repo: Path, *args: str, check: bool = True):
    return release(repo, *args, check=check, env=fake_time_env())


def version_commit(repo: Path, accuracy: float, metrics: dict | None = None) -> None:
    """Commit the reports and model metadata of one version, then register it."""
    data = {"accuracy": accuracy, "n_test": 100} if metrics is None else metrics
    commit(repo, "reports/metrics.json", json.dumps(data))
    commit(repo, "models/model.json", json.dumps({"sha256": f"{int(accuracy * 1000):064x}"}))
    rel(repo, "register", "model")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo")
    commit(path, "params.yaml", PARAMS)
    version_commit(path, 0.9)  # v0.0.1: good
    version_commit(path, 0.75)  # v0.0.2: dev only
    return path


def hand_tag(repo: Path, name: str, target: str, message: str) -> None:
    """What an attacker (or a careless user) does: a tag written with git alone."""
    git(repo, "tag", "-a", name, "-m", message, f"{target}^{{commit}}", env=fake_time_env())


def deploy(repo: Path, stage: str = "prod", check: bool = False):
    out = repo.parent / f"out-{stage}"
    args = ("deploy", "model", stage, "--target", "kubernetes", "--render-only", "--out", str(out))
    return rel(repo, *args, check=check), out


def test_a_hand_made_tag_that_skips_staging_is_refused(repo: Path) -> None:
    hand_tag(repo, "model#prod#1", "model@v0.0.1", "Assigning stage prod to model v0.0.1")
    proc, out = deploy(repo)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "deploy refused" in proc.stderr and "must be promoted to staging first" in proc.stderr
    assert not out.exists()  # nothing rendered, nothing applied
    # promoted through the gates, the same version deploys
    rel(repo, "promote", "model", "dev", "--version", "v0.0.1")
    rel(repo, "promote", "model", "staging", "--version", "v0.0.1")
    # the stage holds v0.0.1 already (the hand-made tag): a new assignment needs --force,
    # which passes every gate here, so no forced record is written
    rel(repo, "promote", "model", "prod", "--version", "v0.0.1", "--force", "--reason", "redo")
    proc, out = deploy(repo, check=True)
    assert out.is_dir() and any(out.iterdir())


def test_a_hand_made_staging_tag_on_a_version_that_fails_is_refused(repo: Path) -> None:
    rel(repo, "promote", "model", "dev", "--version", "v0.0.2")
    hand_tag(repo, "model#staging#2", "model@v0.0.2", "Assigning stage staging")
    with pytest.raises(CheckFailed, match=r"min_metrics.accuracy: accuracy = 0.75"):
        enforce.check_deploy(repo, "model", "staging")
    assert enforce.check_deploy(repo, "model", "dev") is not None  # dev: 0.75 >= 0.7


def test_policy_comes_from_the_protected_ref_not_the_tagged_commit(repo: Path) -> None:
    # the version's own commit (and the working tree) lower the floor: deploy ignores both
    git(repo, "checkout", "-q", "-b", "attack")
    commit(repo, "params.yaml", PARAMS.replace("accuracy: 0.8}", "accuracy: 0.1}"))
    rel(repo, "register", "model")  # v0.0.3 at the attacker's commit, accuracy 0.75
    rel(repo, "promote", "model", "dev", "--version", "v0.0.3")
    rel(repo, "promote", "model", "staging", "--version", "v0.0.3")  # passes its own policy
    proc, _ = deploy(repo, "staging")
    assert proc.returncode == 1 and "from main" in proc.stderr
    assert "accuracy = 0.75 (needs >= 0.8)" in proc.stderr
    # an explicit policy ref (CI passes the default branch) is honoured, and must exist
    env = {"RELEASE_POLICY_REF": "attack"}
    os.environ.update(env)
    try:
        assert enforce.check_deploy(repo, "model", "staging") is not None
        os.environ["RELEASE_POLICY_REF"] = "nowhere"
        with pytest.raises(Exception, match="nowhere"):
            enforce.check_deploy(repo, "model", "staging")
    finally:
        os.environ.pop("RELEASE_POLICY_REF")


def test_forced_record_deploys_only_where_the_stage_allows_forcing(repo: Path) -> None:
    rel(repo, "promote", "model", "dev", "--version", "v0.0.2")
    tag = api.promote(repo, "model", "staging", version="v0.0.2", force=True, reason="demo")
    clearance = enforce.check_deploy(repo, "model", "staging")
    assert clearance is not None and clearance.tag == tag
    assert clearance.forced == ("min_metrics.accuracy",)
    # prod forbids forcing: the recorded override does not carry the deployment
    api.promote(repo, "model", "prod", version="v0.0.2", force=True, reason="please")
    proc, out = deploy(repo)
    assert proc.returncode == 1 and "force is forbidden" in proc.stderr and not out.exists()
    # a forged record without a reason, or for other gates, is refused too
    hand_tag(
        repo,
        "model#staging#9",
        "model@v0.0.2",
        "Assigning stage staging\n\nForced past failed gates: requires",
    )
    with pytest.raises(CheckFailed, match="refuse model#staging#9"):
        enforce.check_deploy(repo, "model", "staging")


def test_a_missing_fact_blocks_naming_it(repo: Path) -> None:
    version_commit(repo, 0.0, metrics={"n_test": 100})  # v0.0.3: no accuracy at all
    missing = r"accuracy missing from reports/metrics\.json at v0\.0\.3"
    with pytest.raises(CheckFailed, match=missing):
        api.promote(repo, "model", "dev", version="v0.0.3")
    hand_tag(repo, "model#dev#1", "model@v0.0.3", "Assigning stage dev")
    with pytest.raises(CheckFailed, match=r"accuracy missing from reports/metrics\.json"):
        enforce.check_deploy(repo, "model", "dev")


def test_an_uncommitted_policy_edit_is_refused(repo: Path) -> None:
    (repo / "params.yaml").write_text(PARAMS.replace("accuracy: 0.7}", "accuracy: 0.5}"))
    before = tags(repo)
    proc = rel(repo, "promote", "model", "dev", "--version", "v0.0.2", check=False)
    assert proc.returncode == 2 and "commit it first" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and tags(repo) == before
    with pytest.raises(UsageError, match="differs from the committed one"):
        api.rollback(repo, "model", "dev", to="v0.0.1")
    git(repo, "checkout", "params.yaml")
    rel(repo, "promote", "model", "dev", "--version", "v0.0.2")


@pytest.mark.slow
def test_rollback_to_a_version_that_never_held_the_stage_is_gated(repo: Path) -> None:
    version_commit(repo, 0.95)  # v0.0.3
    for v in ("v0.0.1", "v0.0.3"):
        rel(repo, "promote", "model", "dev", "--version", v)
    # v0.0.2 never held staging and fails its floor: refused without --force
    rel(repo, "promote", "model", "staging", "--version", "v0.0.1")
    rel(repo, "promote", "model", "staging", "--version", "v0.0.3")
    before = tags(repo)
    proc = rel(repo, "rollback", "model", "staging", "--to", "v0.0.2", check=False)
    assert proc.returncode == 1 and "never held staging without force" in proc.stderr
    assert tags(repo) == before
    # it held the stage before: allowed, and deploy sees a rollback
    rel(repo, "rollback", "model", "staging", "--to", "v0.0.1")
    assert enforce.check_deploy(repo, "model", "staging") is not None
    # --force needs a real reason, and then writes the forced record deploy checks
    proc = rel(repo, "rollback", "model", "staging", "--to", "v0.0.2", "--force", check=False)
    assert proc.returncode == 2 and "--reason" in proc.stderr
    rel(repo, "rollback", "model", "staging", "--to", "v0.0.2", "--force", "--reason", "drill")
    clearance = enforce.check_deploy(repo, "model", "staging")
    assert clearance is not None and clearance.forced == ("min_metrics.accuracy", "requires")
    # a plain rollback from there goes to v0.0.1; a second plain one would re-promote the
    # forced v0.0.2, which never held staging unforced: refused
    rel(repo, "rollback", "model", "staging")
    assert api.read_state(repo).active_version("model", "staging") == "v0.0.1"
    proc = rel(repo, "rollback", "model", "staging", check=False)
    assert proc.returncode == 1 and "v0.0.2 never held staging" in proc.stderr


# ---------------------------------------------------------------------- signed tags
def _keys(tmp: Path) -> tuple[Path, Path]:
    if shutil.which("ssh-keygen") is None:
        if os.environ.get("CI"):
            pytest.fail("ssh-keygen is required in CI")
        pytest.skip("ssh-keygen is not installed")
    tmp.mkdir()
    good, bad = tmp / "good", tmp / "bad"
    for key in (good, bad):
        args = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key.name, "-f", str(key)]
        subprocess.run(args, check=True, capture_output=True)
    return good, bad


@pytest.mark.slow
def test_signed_promotions_with_ssh_keys(repo: Path, tmp_path: Path) -> None:
    good, bad = _keys(tmp_path / "keys")
    signers = f'tester@example.invalid namespaces="git" {(good.with_suffix(".pub")).read_text()}'
    commit(repo, ".release/allowed_signers", signers)
    signed = PARAMS.replace("    dev:\n", "    dev:\n      require_signed: true\n")
    commit(repo, "params.yaml", signed)
    git(repo, "config", "gpg.format", "ssh")
    # unsigned: promote refuses to write it, and a hand-made one is refused at deploy
    proc = rel(repo, "promote", "model", "dev", "--version", "v0.0.1", check=False)
    assert proc.returncode == 2 and "add --sign" in proc.stderr
    hand_tag(repo, "model#dev#1", "model@v0.0.1", "Assigning stage dev")
    with pytest.raises(CheckFailed, match="model#dev#1 is not signed"):
        enforce.check_deploy(repo, "model", "dev")
    # signed by a key that is not in the allowed signers: refused
    git(repo, "config", "user.signingkey", str(bad))
    rel(repo, "promote", "model", "dev", "--version", "v0.0.2", "--sign")
    with pytest.raises(CheckFailed, match="not in the allowed signers"):
        enforce.check_deploy(repo, "model", "dev")
    # signed by an allowed key: deployed
    git(repo, "config", "user.signingkey", str(good))
    out = rel(repo, "promote", "model", "dev", "--version", "v0.0.1", "--sign").stdout
    tag = out.split("'")[1]
    assert "BEGIN SSH SIGNATURE" in git(repo, "cat-file", "tag", tag)
    clearance = enforce.check_deploy(repo, "model", "dev")
    assert clearance is not None and clearance.tag == tag
    proc, out = deploy(repo, "dev", check=True)
    assert out.is_dir()
    # gto reads signed tags, and sees exactly what release shows
    assert gto_json(repo, "show", "model") == json.loads(
        rel(repo, "show", "model", "--json").stdout
    )
    gto_history = gto_json(repo, "history", "model")
    ours = json.loads(rel(repo, "history", "model", "--json").stdout)
    assert {e["ref"]: e["message"] for e in gto_history} == {e["ref"]: e["message"] for e in ours}
    # a missing signing key is one clear line, and no tag
    git(repo, "config", "user.signingkey", str(tmp_path / "missing"))
    before = tags(repo)
    proc = rel(repo, "rollback", "model", "dev", "--sign", check=False)
    assert proc.returncode == 2 and "could not sign" in proc.stderr and tags(repo) == before
