"""`release card diff A B`: cards read from git; real regressions flagged, noise not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_card_helpers import commit_all, git, make_project, write_outputs

from release.card.build import build_card
from release.card.diff import diff_cards, diff_revisions, read_card_at, resolve_revision
from release.cli import cli
from release.errors import UsageError

HARD = "employment_type=self_employed"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.0.0; a retrain on the same data (noise only); new data that breaks a slice."""
    root = make_project(tmp_path_factory.mktemp("diff") / "proj", seed=0)
    build_card(root)
    commit_all(root, "card v1")
    git(root, "tag", "-a", "model@v1.0.0", "-m", "Registering artifact model version v1.0.0")
    write_outputs(root, seed=0, retrain=1)
    build_card(root)
    commit_all(root, "retrain: noise")
    git(root, "tag", "noise")
    write_outputs(root, seed=2, hard_noise=0.6)
    build_card(root)
    commit_all(root, "retrain: self-employed broken")
    return root


def test_noise_is_not_flagged(history: Path) -> None:
    d = diff_revisions(history, "model@v1.0.0", "noise")
    assert d["regressions"] == [] and d["improvements"] == []
    changed = [r for r in d["slices"] if r["delta"] and abs(r["delta"]) > 0]
    assert changed, "the retrain should move the numbers a little"
    assert all(r["overlap"] for r in d["slices"])


def test_planted_slice_regression_is_flagged(history: Path) -> None:
    d = diff_revisions(history, "model@v1.0.0", "HEAD")
    assert HARD in d["regressions"]
    hard = {r["name"] for r in d["slices"] if "self_employed" in r["name"]}
    assert hard <= set(d["regressions"])
    # slices without self-employed rows are measured as before: none flagged
    assert not {r for r in d["regressions"] if r.startswith("employment_type=")} - hard
    row = next(r for r in d["slices"] if r["name"] == HARD)
    assert row["overlap"] is False and row["delta"] < 0
    assert row["a_ci"][1] > row["b_ci"][1]


def test_hyperparameters_data_hashes_and_hlp_changes(history: Path) -> None:
    d = diff_revisions(history, "model@v1.0.0", "HEAD")
    assert {"name": "max_depth", "a": 3, "b": 5} in d["hyperparameters"]
    assert diff_revisions(history, "model@v1.0.0", "noise")["data_hashes"] == []
    assert {h["path"] for h in d["data_hashes"]} == {
        "data/prepared/test.parquet",
        "data/prepared/train.parquet",
    }
    assert d["model_hashes"]
    assert any(r["name"] == HARD and "potential_impact" in r for r in d["hlp_impact"])
    accuracy = next(m for m in d["metrics"] if m["name"] == "accuracy")
    assert accuracy["better"] is False


def test_markdown_and_json_output(history: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(history)
    runner = CliRunner()
    md = runner.invoke(cli, ["card", "diff", "model@v1.0.0", "HEAD"])
    assert md.exit_code == 0, md.output
    assert "slice regression(s)" in md.output and f"| {HARD} |" in md.output
    assert "**regression**" in md.output and "`max_depth`: 3 → 5" in md.output
    js = runner.invoke(cli, ["card", "diff", "model@v1.0.0", "noise", "--json"])
    assert js.exit_code == 0
    assert json.loads(js.output)["regressions"] == []


def test_reads_git_without_checkout(history: Path) -> None:
    head = json.loads((history / "model_card/card.json").read_text())
    old = read_card_at(history, "model@v1.0.0")
    assert old != head
    assert old["lineage"]["git"]["commit"] != head["lineage"]["git"]["commit"]
    assert json.loads((history / "model_card/card.json").read_text()) == head  # untouched
    assert git(history, "status", "--porcelain") == ""


@pytest.mark.parametrize("rev", ["--output=/tmp/x", "a..b", "HEAD:secret", "x y", "-h"])
def test_bad_revisions_are_refused(history: Path, rev: str) -> None:
    with pytest.raises(UsageError, match="invalid revision"):
        resolve_revision(history, rev)


def test_unknown_revision_and_missing_card(history: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        read_card_at(history, "model@v9.9.9")
    first = git(history, "rev-list", "--max-parents=0", "HEAD")
    git(history, "tag", "bare", first)
    with pytest.raises(UsageError, match="is not committed at bare"):
        read_card_at(history, "bare")


def test_diff_cards_directions() -> None:
    def card(metric: float, lo: float, hi: float, better: bool) -> dict:
        return {
            "metrics": {"values": {"rmse": metric}, "higher_is_better": better, "overall": {}},
            "quantitative_analyses": {
                "slices": [{"name": "s", "metric": metric, "ci_low": lo, "ci_high": hi}]
            },
        }

    d = diff_cards(card(1.0, 0.9, 1.1, False), card(2.0, 1.8, 2.2, False))
    assert d["regressions"] == ["s"] and d["metrics"][0]["better"] is False
    d = diff_cards(card(2.0, 1.8, 2.2, False), card(1.0, 0.9, 1.1, False))
    assert d["improvements"] == ["s"] and d["metrics"][0]["better"] is True


def test_stage_shortcut_resolves_through_the_registry(history: Path) -> None:
    commit = git(history, "rev-parse", "model@v1.0.0^{commit}")
    git(
        history, "tag", "-a", "model#prod#1", "-m", "Assigning stage prod to version v1.0.0", commit
    )
    assert resolve_revision(history, "model#prod") == commit
    d = diff_revisions(history, "model#prod", "HEAD")
    assert d["a"] == "model#prod" and HARD in d["regressions"]
    with pytest.raises(UsageError, match="no version of model is in stage staging"):
        resolve_revision(history, "model#staging")


def test_fail_on_regression_exit_code(history: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from release.cli import main

    monkeypatch.chdir(history)
    with pytest.raises(SystemExit) as done:
        main(["card", "diff", "model@v1.0.0", "HEAD", "--fail-on-regression"])
    assert done.value.code == 1
    assert main(["card", "diff", "model@v1.0.0", "noise", "--fail-on-regression"]) is None


def test_a_card_file_can_stand_for_a_revision(history: Path, tmp_path: Path) -> None:
    card = json.loads((history / "model_card/card.json").read_text())
    card["model_details"]["hyperparameters"]["max_depth"] = 9
    (tmp_path / "work.json").write_text(json.dumps(card))
    d = diff_revisions(history, "HEAD", str(tmp_path / "work.json"))
    assert d["hyperparameters"] == [{"name": "max_depth", "a": 5, "b": 9}]
    assert d["regressions"] == [] and d["data_hashes"] == []
