"""`release card check`: complete cards pass, placeholders and gaps fail, both profiles."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_card_helpers import make_project

from release.card.build import build_card
from release.cardspec.check import check_card, readme_problems
from release.cli import cli, main
from release.errors import UsageError


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("check") / "proj")
    build_card(root)
    return root


@pytest.fixture
def card(built: Path) -> dict:
    return json.loads((built / "model_card/card.json").read_text())


def test_complete_card_passes_both_profiles(card: dict) -> None:
    assert check_card(card) == []
    assert check_card(card, "hf") == []


def test_placeholder_fails(card: dict) -> None:
    card["ethical_considerations"] = "[TODO: risks (edit card.yaml: ethical_considerations)]"
    card["intended_use"]["primary_users"] = "   "
    problems = check_card(card)
    assert any(p.startswith("ethical_considerations is a placeholder") for p in problems)
    assert any(p.startswith("intended_use.primary_users is a placeholder") for p in problems)
    assert len(problems) == 2


def test_hand_written_todo_marker_fails(card: dict) -> None:
    card["caveats_and_recommendations"]["caveats"] = "Some text. [todo: finish this]"
    assert check_card(card) == [
        "caveats_and_recommendations.caveats is a placeholder or empty "
        "(write it in card.yaml and rebuild)"
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.pop("factors"), "section factors is missing"),
        (lambda c: c["metrics"].update(values={}), "metrics.values is empty"),
        (lambda c: c["metrics"]["overall"].update(ci_low=None), "metrics.overall lacks"),
        (lambda c: c["quantitative_analyses"].update(slices=[]), "slices is empty"),
        (lambda c: c["quantitative_analyses"]["slices"][0].update(ci_high=None), "lacks its"),
        (lambda c: c["lineage"]["git"].update(commit=None), "lineage.git.commit is missing"),
        (lambda c: c["lineage"]["dvc"].update(model={}), "lineage.dvc.model has no hashes"),
        (lambda c: c["lineage"]["dvc"].update(data={}), "lineage.dvc.data has no hashes"),
        (lambda c: c["front_matter"].pop("license"), "front_matter.license is missing"),
        (lambda c: c["front_matter"].update(tags="x"), "front_matter.tags must be"),
        (
            lambda c: c["front_matter"]["model-index"][0]["results"][0].pop("dataset"),
            "model-index is malformed",
        ),
        (
            lambda c: c["front_matter"]["model-index"][0]["results"][0]["metrics"][0].update(
                value=0.5
            ),
            "differs from metrics",
        ),
    ],
)
def test_incomplete_cards_fail(card: dict, mutate, expected: str) -> None:
    broken = copy.deepcopy(card)
    mutate(broken)
    problems = check_card(broken)
    assert any(expected in p for p in problems), problems


def test_hf_profile_uses_the_hub_parser(card: dict) -> None:
    broken = copy.deepcopy(card)
    broken["front_matter"]["model-index"][0]["results"][0]["task"] = "not a mapping"
    problems = check_card(broken, "hf")
    assert any("huggingface_hub cannot parse" in p for p in problems), problems
    broken = copy.deepcopy(card)
    broken["front_matter"]["model-index"][0]["results"][0]["metrics"].pop()
    assert any("model-index lacks metric" in p for p in check_card(broken, "hf"))
    broken = copy.deepcopy(card)
    broken["model_details"]["license"] = "[TODO: license]"
    assert check_card(broken, "hf") == [
        "model_details.license is a placeholder or empty (write it in card.yaml)"
    ]


def test_readme_front_matter_parses_as_the_hub_does(built: Path, card: dict) -> None:
    text = (built / "model_card/README.md").read_text()
    assert readme_problems(text, card["metrics"]["values"]) == []
    tampered = text.replace(f"value: {card['metrics']['values']['accuracy']}", "value: 0.1", 1)
    assert any("accuracy" in p for p in readme_problems(tampered, card["metrics"]["values"]))
    broken = text.replace("model-index:", "model-index: 3\nx:", 1)
    assert readme_problems(broken, card["metrics"]["values"])


def test_unknown_profile_is_a_usage_error(card: dict) -> None:
    with pytest.raises(UsageError):
        check_card(card, "nope")


def test_cli_exit_codes(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(built)
    runner = CliRunner()
    ok = runner.invoke(cli, ["card", "check", "--profile", "hf", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["complete"] is True
    bad = json.loads((built / "model_card/card.json").read_text())
    bad["intended_use"]["out_of_scope"] = "[TODO: out of scope]"
    (tmp_path / "card.json").write_text(json.dumps(bad))
    with pytest.raises(SystemExit) as done:
        main(["card", "check", str(tmp_path / "card.json")])
    assert done.value.code == 1
    with pytest.raises(SystemExit) as done:
        main(["card", "check", str(tmp_path / "missing")])
    assert done.value.code == 2


def test_hf_profile_without_huggingface_hub(card: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from release.cardspec.check import hf_parser_note

    # huggingface_hub is a dev dependency: without it, a structural check and a note
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    monkeypatch.setitem(sys.modules, "huggingface_hub.repocard_data", None)
    assert "not installed" in (hf_parser_note() or "")
    assert check_card(card, "hf") == []
    broken = copy.deepcopy(card)
    broken["front_matter"]["model-index"][0]["results"][0].pop("task")
    assert any("model-index is malformed" in p for p in check_card(broken, "hf"))
