"""`release card build`: facts, schema, Markdown with Hugging Face front matter, HTML."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_card_helpers import EVIL, commit_all, git, make_project

from release.card.build import build_card
from release.cardspec.check import check_card
from release.cardspec.schema import load_schema, schema_problems
from release.cli import cli
from release.errors import DataError, UsageError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def _front_matter_results(readme: str) -> dict[str, float]:
    from huggingface_hub import ModelCard

    card = ModelCard(readme)  # the Hub library's own parser, offline
    assert card.data.eval_results, "model-index did not parse into eval results"
    return {r.metric_type: r.metric_value for r in card.data.eval_results}


def test_build_writes_three_files_that_agree(project: Path) -> None:
    card = build_card(project)
    out = project / "model_card"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "card.html", "card.json"]
    on_disk = json.loads((out / "card.json").read_text())
    assert on_disk == card
    assert schema_problems(on_disk) == []
    assert on_disk["schema_version"] == load_schema()["properties"]["schema_version"]["const"]
    metrics = json.loads((project / "reports/metrics.json").read_text())
    metrics.pop("n_test")
    metrics = {k: v for k, v in metrics.items() if not k.endswith(("_ci_low", "_ci_high"))}
    readme = (out / "README.md").read_text()
    assert _front_matter_results(readme) == metrics
    for section in (
        "Model Details",
        "Intended Use",
        "Factors",
        "Metrics",
        "Evaluation Data",
        "Training Data",
        "Quantitative Analyses",
        "Ethical Considerations",
        "Caveats and Recommendations",
        "Lineage",
        "How to load the model",
    ):
        assert f"## {section}\n" in readme
    # per slice and intersection rows with CI, HLP and impact, straight from slices.json
    slices = json.loads((project / "reports/slices.json").read_text())["slices"]
    hard = next(s for s in slices if s["name"] == "employment_type=self_employed")
    row = next(line for line in readme.splitlines() if "| employment_type=self_employed |" in line)
    assert f"{hard['ci_low']:.4f}, {hard['ci_high']:.4f}" in row
    assert f"{100 * hard['potential_impact']:.2f}%" in row
    assert "### Intersections" in readme
    assert check_card(card) == []


def test_front_matter_fields(project: Path) -> None:
    from huggingface_hub import ModelCard

    build_card(project)
    data = ModelCard((project / "model_card/README.md").read_text()).data.to_dict()
    assert data["license"] == "apache-2.0"
    assert "tabular-classification" in data["tags"]
    assert data["datasets"] == ["release/builtin-loan-default"]
    assert set(data["metrics"]) == {"accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def test_html_is_one_self_contained_file(project: Path) -> None:
    build_card(project)
    html = (project / "model_card/card.html").read_text()
    assert "http" not in html.lower()
    parser = _Collector()
    parser.feed(html)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not [a for a in parser.attrs if a[0] in ("src", "href")]
    assert "url(" not in html and "@import" not in html
    assert parser.tags.count("svg") == 4  # confusion matrix, ROC, slices, importance
    for section in ("Model Details", "Quantitative Analyses", "Ethical Considerations"):
        assert f">{section}</h2>" in html


def test_regression_cards_draw_residuals(tmp_path: Path) -> None:
    import pandas as pd

    from release.card.facts import plot_data

    df = pd.DataFrame({"y_true": [1.0, 2.0, 3.5, 4.0], "y_pred": [1.1, 2.5, 3.0, 4.0]})
    df.to_parquet(tmp_path / "p.parquet")
    plots = plot_data(tmp_path / "p.parquet", {"task": "regression"})
    assert plots["confusion_matrix"] is None and plots["roc"] == []
    assert plots["residuals"]["residual"] == [-0.1, -0.5, 0.5, 0.0]
    from release.card import svg

    assert str(svg.residuals(plots["residuals"])).count("<circle") == 4


def test_roc_matches_sklearn(project: Path) -> None:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from release.card.facts import plot_data

    plots = plot_data(
        project / "reports/predictions.parquet", {"task": "binary", "classes": [0, 1]}
    )
    df = pd.read_parquet(project / "reports/predictions.parquet")
    assert plots["roc"][0]["auc"] == pytest.approx(roc_auc_score(df.y_true, df.proba_1), abs=1e-6)
    cm = plots["confusion_matrix"]["matrix"]
    assert sum(map(sum, cm)) == len(df)
    assert cm[1][1] == int(((df.y_true == 1) & (df.y_pred == 1)).sum())


def test_regeneration_keeps_hand_written_text(project: Path) -> None:
    build_card(project)
    first = (project / "model_card/README.md").read_text()
    assert build_card(project) and (project / "model_card/README.md").read_text() == first
    text = (project / "card.yaml").read_text()
    mine = "Only for the loan officers of branch 42; never for automatic rejection."
    text = re.sub(r"primary_users: >-\n(  .*\n)+", f"primary_users: {mine}\n", text)
    (project / "card.yaml").write_text(text)
    for _ in range(2):  # rebuild twice: the hand-written text survives every regeneration
        card = build_card(project)
    assert card["intended_use"]["primary_users"] == mine
    assert mine in (project / "model_card/README.md").read_text()
    assert mine in (project / "model_card/card.html").read_text()
    assert (project / "card.yaml").read_text() == text  # the build never writes card.yaml


def test_missing_hand_written_content_renders_placeholders(project: Path) -> None:
    (project / "card.yaml").unlink()
    card = build_card(project)
    assert "intended_use.out_of_scope" in card["placeholders"]
    readme = (project / "model_card/README.md").read_text()
    assert "[TODO: uses the model is not meant for (edit card.yaml: out_of_scope)]" in readme
    assert 'class="prose todo"' in (project / "model_card/card.html").read_text()
    assert "license" not in card["front_matter"]
    problems = check_card(card)
    assert any("intended_use.out_of_scope" in p for p in problems)


def test_missing_input_names_the_stage(project: Path) -> None:
    (project / "reports/slices.json").unlink()
    with pytest.raises(DataError) as err:
        build_card(project)
    assert err.value.one_line().startswith("reports/slices.json missing: run dvc repro")
    assert "release evaluate" in err.value.one_line()
    assert not (project / "model_card").exists()  # nothing half-written


def test_cli_missing_input_exit_code(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from release.cli import main

    (project / "data/provenance.json").unlink()
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as done:
        main(["card", "build"])
    assert done.value.code == 2


def test_hostile_category_is_escaped(tmp_path: Path) -> None:
    root = make_project(tmp_path / "evil", category=EVIL)
    card = build_card(root)
    assert any(EVIL in s["name"] for s in card["quantitative_analyses"]["slices"])
    html = (root / "model_card/card.html").read_text()
    assert EVIL not in html and "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    readme = (root / "model_card/README.md").read_text()
    assert "<script" not in readme.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in readme
    parser = _Collector()
    parser.feed(html)
    assert parser.script_text == [] and "script" not in parser.tags


def test_markdown_table_cells_cannot_break_out(tmp_path: Path) -> None:
    name = "a|b [x](javascript:alert(1))\nnew line"
    root = make_project(tmp_path / "pipes", category=name)
    build_card(root)
    readme = (root / "model_card/README.md").read_text()
    row = next(line for line in readme.splitlines() if "employment_type=a" in line)
    assert row.count(" | ") == 8  # nine cells, none split by the category's pipe
    assert "[x](javascript" not in readme and "\\[x\\](javascript" in readme


def test_user_template_dir_overrides_and_falls_back(project: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md.j2").write_text(
        "# {{ card.model_details.name }} by {{ card.model_details.authors | join(', ') }}\n"
    )
    build_card(project, template_dir=mine)
    assert (project / "model_card/README.md").read_text().startswith("# model by release")
    assert "<!DOCTYPE html>" in (project / "model_card/card.html").read_text()  # built-in
    with pytest.raises(UsageError, match=r"template folder .*nope not found"):
        build_card(project, template_dir=tmp_path / "nope")


def test_project_templates_are_used_by_default(project: Path) -> None:
    (project / "templates/card").mkdir(parents=True)
    (project / "templates/card/card.html.j2").write_text("<p>{{ card.model_details.name }}</p>\n")
    build_card(project)
    assert (project / "model_card/card.html").read_text() == "<p>model</p>\n"


def test_template_errors_name_template_and_line(project: Path, tmp_path: Path) -> None:
    build_card(project)
    before = (project / "model_card/card.json").read_text()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "README.md.j2").write_text("line one\nline two\n{% if %}\n")
    with pytest.raises(UsageError) as err:
        build_card(project, template_dir=bad)
    assert "README.md.j2 line 3" in err.value.one_line()
    (bad / "README.md.j2").write_text("ok\n\n{{ card.no_such_field.deeper }}\n")
    with pytest.raises(UsageError) as err:
        build_card(project, template_dir=bad)
    assert "README.md.j2 line 3" in err.value.one_line()
    assert (project / "model_card/card.json").read_text() == before  # untouched on failure


def test_lineage_skips_the_card_stages_own_previous_lock_entry(project: Path) -> None:
    """While `dvc repro` builds the card, dvc.lock's card entry is the previous build's:
    its hashes of the inputs and its params are stale, so the card reads the other stages'."""
    (project / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  train:\n    cmd: release train\n"
        "    params:\n      params.yaml:\n        train:\n          scale_numeric: true\n"
        "    outs:\n    - path: models/model.json\n      hash: md5\n      md5: new\n"
        "  card:\n    cmd: release card build\n    deps:\n    - path: models/model.json\n"
        "      hash: md5\n      md5: old\n    params:\n      params.yaml:\n"
        "        release.stages: [dev]\n    outs:\n    - path: model_card\n"
        "      hash: md5\n      md5: card.dir\n"
    )
    dvc = build_card(project)["lineage"]["dvc"]
    assert dvc["model"] == {"models/model.json": "md5:new"}
    assert dvc["params"]["values"] == {"params.yaml": {"train": {"scale_numeric": True}}}


def test_lineage_from_dvc_lock_and_registry_tags(project: Path) -> None:
    (project / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: release data prepare\n"
        "    params:\n      params.yaml:\n        data:\n          seed: 42\n"
        "    outs:\n    - path: data/prepared\n      hash: md5\n      md5: abc.dir\n"
        "  train:\n    cmd: release train\n    outs:\n    - path: models/model.skops\n"
        "      hash: md5\n      md5: def\n"
    )
    commit = commit_all(project, "lock")
    git(project, "tag", "-a", "model@v1.2.0", "-m", "Registering artifact model version v1.2.0")
    git(project, "tag", "-a", "model#staging#1", "-m", "Assigning stage staging")
    card = build_card(project)
    dvc = card["lineage"]["dvc"]
    assert dvc["source"] == "dvc.lock"
    assert dvc["data"] == {"data/prepared": "md5:abc.dir"}
    assert dvc["model"] == {"models/model.skops": "md5:def"}
    assert dvc["params"]["values"] == {"params.yaml": {"data": {"seed": 42}}}
    assert card["lineage"]["git"]["commit"] == commit
    assert card["model_details"]["version"] == "v1.2.0"
    assert card["lineage"]["registry"][0]["stages"] == ["staging"]
    assert "v1.2.0" in (project / "model_card/README.md").read_text()


def test_cli_build_and_check(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    runner = CliRunner()
    result = runner.invoke(cli, ["card", "build", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["placeholders"] == []
    result = runner.invoke(cli, ["card", "check"])
    assert result.exit_code == 0 and "complete" in result.output


@pytest.mark.slow
def test_real_pipeline_outputs(tmp_path: Path) -> None:
    """The card builds from the outputs of a real `release` pipeline run, when present."""
    import yaml
    from test_card_helpers import run_real_pipeline

    root = run_real_pipeline(tmp_path / "real")  # `dvc repro card`: the stage built the card
    card = json.loads((root / "model_card/card.json").read_text())
    assert check_card(card) == [], check_card(card)
    assert check_card(card, "hf") == []
    metrics = json.loads((root / "reports/metrics.json").read_text())
    metrics.pop("n_test", None)
    metrics = {k: v for k, v in metrics.items() if not k.endswith(("_ci_low", "_ci_high"))}
    assert _front_matter_results((root / "model_card/README.md").read_text()) == metrics
    assert card["lineage"]["dvc"]["source"] == "dvc.lock"
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    model_out = next(o for o in lock["train"]["outs"] if o["path"] == "models/model.skops")
    assert card["lineage"]["dvc"]["model"]["models/model.skops"] == "md5:" + model_out["md5"]
    assert card["lineage"]["git"]["dirty"] is False
    again = build_card(root)  # after the commit: only the commit it was built at differs
    assert again["lineage"].pop("git") != card["lineage"].pop("git")
    assert again == card
    slices = json.loads((root / "reports/slices.json").read_text())
    ranks = {s["name"]: s["rank"] for s in slices["slices"]}
    assert {s["name"]: s["rank"] for s in card["quantitative_analyses"]["slices"]} == ranks
    assert any(s["kind"] == "intersection" for s in card["quantitative_analyses"]["slices"])
    assert card["explanations"]["importance"] and card["explanations"]["surrogate"]
    html = (root / "model_card/card.html").read_text()
    assert "http" not in html.lower() and html.count("<svg") == 4
    # the card's "how to load" snippet loads the real model and predicts the example row
    import os

    here = os.getcwd()
    os.chdir(root)
    try:
        scope: dict = {}
        exec(compile(card["how_to_load"]["python"], "how_to_load", "exec"), scope)
    finally:
        os.chdir(here)
    assert len(scope["labels"]) == 1 and scope["proba"].shape == (1, 2)


def test_multiclass_plots(tmp_path: Path) -> None:
    import pandas as pd

    from release.card import svg
    from release.card.facts import plot_data

    df = pd.DataFrame(
        {
            "y_true": ["a", "b", "c", "a", "b", "c"],
            "y_pred": ["a", "b", "b", "a", "c", "c"],
            "proba_a": [0.8, 0.1, 0.1, 0.7, 0.2, 0.1],
            "proba_b": [0.1, 0.8, 0.5, 0.2, 0.3, 0.2],
            "proba_c": [0.1, 0.1, 0.4, 0.1, 0.5, 0.7],
        }
    )
    df.to_parquet(tmp_path / "p.parquet")
    plots = plot_data(tmp_path / "p.parquet", {"task": "multiclass", "classes": ["a", "b", "c"]})
    assert plots["confusion_matrix"]["matrix"] == [[2, 0, 0], [0, 1, 1], [0, 1, 1]]
    assert [c["class"] for c in plots["roc"]] == ["a", "b", "c"]
    assert plots["roc"][0]["auc"] == 1.0
    assert str(svg.roc(plots["roc"])).count("<polyline") == 3


def test_bad_card_yaml_is_a_usage_error(project: Path) -> None:
    (project / "card.yaml").write_text("license: mit\nintended_uses: typo\n")
    with pytest.raises(UsageError, match="unknown field intended_uses"):
        build_card(project)
    (project / "card.yaml").write_text("license: mit\ncaveats: [unclosed\n")
    with pytest.raises(UsageError, match=r"card.yaml line \d+ is not valid YAML"):
        build_card(project)
    (project / "card.yaml").write_text("authors: {a: 1}\n")
    with pytest.raises(UsageError, match="authors must be a list of text"):
        build_card(project)
    assert not (project / "model_card").exists()


def test_regression_card(project: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    y = rng.normal(150, 50, 400)
    pd.DataFrame({"y_true": y, "y_pred": y + rng.normal(0, 20, 400)}).to_parquet(
        project / "reports/predictions.parquet"
    )
    meta = json.loads((project / "models/model.json").read_text())
    meta.update(task="regression", classes=None, target="progression")
    (project / "models/model.json").write_text(json.dumps(meta))
    metrics = {"mae": 16.1, "rmse": 20.2, "r2": 0.83, "n_test": 400}
    (project / "reports/metrics.json").write_text(json.dumps(metrics))
    slices = json.loads((project / "reports/slices.json").read_text())
    slices.update(primary_metric="mae", higher_is_better=False, hlp_kind=None)
    slices["overall"] = {"metric": 16.1, "ci_low": 14.9, "ci_high": 17.4, "rows": 400}
    for s in slices["slices"]:
        s.update(metric=16.0, ci_low=14.0, ci_high=18.0, hlp=None, potential_impact=None)
    (project / "reports/slices.json").write_text(json.dumps(slices))
    (project / "params.yaml").write_text(
        "data:\n  task: regression\n  target: progression\n"
        "train:\n  estimator: ridge\nevaluate:\n  primary_metric: mae\n"
    )
    card = build_card(project)
    assert check_card(card) == [] and check_card(card, "hf") == []
    assert card["front_matter"]["pipeline_tag"] == "tabular-regression"
    readme = (project / "model_card/README.md").read_text()
    assert _front_matter_results(readme) == {"mae": 16.1, "rmse": 20.2, "r2": 0.83}
    assert "(lower is better)" in readme and "Confusion matrix" not in readme
    html = (project / "model_card/card.html").read_text()
    assert html.count("<svg") == 3  # residuals, slices, importance
    assert "Residuals" in html and "ROC" not in html
