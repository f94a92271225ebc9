"""Card and report wording on real data: no HLP, error metrics, ranks, predictions, lineage."""

from __future__ import annotations

import json
from pathlib import Path

from test_card_helpers import commit_all, make_project

from release.analysis.report import render_markdown
from release.card.build import _impact_wording, build_card
from release.card.render import mval, rank
from release.cardspec.check import check_card


def _regression_without_hlp(project: Path) -> None:
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
    (project / "reports/metrics.json").write_text(
        json.dumps({"mae": 16.1, "rmse": 20.2, "r2": 0.83, "n_test": 400})
    )
    slices = json.loads((project / "reports/slices.json").read_text())
    slices.update(primary_metric="mae", higher_is_better=False, hlp_kind=None, ranking="gap")
    slices["impact_metric"] = "mae"
    slices["overall"] = {"metric": 16.1, "ci_low": 14.9, "ci_high": 17.4, "rows": 400}
    for i, s in enumerate(slices["slices"]):
        s.update(metric=16.0 + i, ci_low=14.0, ci_high=18.0, hlp=None, potential_impact=None)
        s["rank"] = float(i + 1)  # a float rank must still print as an integer
    (project / "reports/slices.json").write_text(json.dumps(slices))
    examples = {
        "slice": "overall",
        "examples": [
            {
                "row": 3,
                "features": {"bmi": 31.2},
                "y_true": 151.0,
                "y_pred": 123.456789,
                "counterfactual": {"feature": "bmi", "from": 31.2, "to": 27.123456},
            }
        ],
    }
    (project / "reports/examples.json").write_text(json.dumps(examples))
    (project / "params.yaml").write_text(
        "data:\n  task: regression\n  target: progression\n"
        "train:\n  estimator: ridge\nevaluate:\n  primary_metric: mae\n"
    )


def test_error_metric_without_hlp(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    _regression_without_hlp(project)
    card = build_card(project)
    readme = (project / "model_card/README.md").read_text()
    html = (project / "model_card/card.html").read_text()
    for text in (readme, html):
        assert "No human-level performance (HLP) is available" in text
        assert "max(model - overall, 0)" in text
        assert "HLP is ``" not in text and "None" not in text
        assert "HLP - model" not in text
    rows = [line for line in readme.splitlines() if line.startswith("| 1 | ")]
    assert rows, "ranks print as integers"
    assert "| 1.0 |" not in readme and ">1.0<" not in html
    assert "| 123.5 |" in readme  # predictions with 4 significant digits
    assert "27.12" in readme and "27.123456" not in readme
    assert card["metrics"]["impact_higher_is_better"] is False
    assert "### Largest errors" in readme and "Misclassified" not in readme


def test_accuracy_with_annotators_uses_hlp_minus_model(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    card = build_card(project)
    readme = (project / "model_card/README.md").read_text()
    assert "a single annotator's accuracy" in readme
    assert "max(HLP - model, 0) x share of the test set" in readme
    assert card["metrics"]["impact_formula"].startswith("max(HLP - model, 0)")


def test_version_and_lineage_name_the_right_commit(tmp_path: Path) -> None:
    import subprocess

    project = make_project(tmp_path / "proj")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "tag", "-a", "model@v0.1.0", "-m", "v0.1.0"], cwd=project, check=True)
    card = build_card(project)
    readme = (project / "model_card/README.md").read_text()
    assert card["model_details"]["version"] == "v0.1.0"
    assert f"- Git commit: `{head}` (the commit of " in readme
    # a retrained model on top of that commit: not the tagged version's card any more
    meta = json.loads((project / "models/model.json").read_text())
    meta["sha256"] = "f" * 64
    (project / "models/model.json").write_text(json.dumps(meta))
    card = build_card(project)
    readme = (project / "model_card/README.md").read_text()
    assert card["model_details"]["version"] is None
    assert "not registered yet" in readme
    assert f"not committed yet; built on `{head}`, the parent of the commit" in readme
    commit_all(project, "retrained")
    card = build_card(project)
    assert card["lineage"]["git"]["model_committed"] is True


def test_leftover_markers_in_optional_fields_fail_the_check(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    text = (project / "card.yaml").read_text()
    (project / "card.yaml").write_text(text + "\ncitation: '[TODO: how to cite]'\n")
    problems = check_card(build_card(project))
    assert "model_details.citation still holds a placeholder" in " ".join(problems)


def test_filters_and_report() -> None:
    assert rank(2.0) == "2" and rank(3) == "3" and rank(None) == "-"
    assert mval(0.8123, "accuracy") == "81.2%" and mval(16.123456, "mae") == "16.12"
    no_hlp = _impact_wording({"primary_metric": "rmse", "hlp_kind": None}, {"evaluate": {}})
    assert no_hlp["impact_formula"].startswith("max(model - overall, 0)")
    result = {
        "primary_metric": "mae",
        "impact_metric": "mae",
        "higher_is_better": False,
        "confidence": 0.95,
        "hlp_kind": None,
        "ranking": "gap",
        "overall": {"metric": 10.0, "ci_low": 9.0, "ci_high": 11.0, "rows": 100},
        "slices": [
            {
                "name": "a=x",
                "rank": 1.0,
                "potential_impact": None,
                "gap_impact": 0.5,
                "gap": 1.0,
                "hlp": None,
                "metric": 11.0,
                "ci_low": 10.0,
                "ci_high": 12.0,
                "share": 0.5,
                "rows": 50,
                "small": False,
            }
        ],
    }
    md = render_markdown(result)
    assert "max(model - HLP, 0)" in md and "| 1 | 50 |" in md


def test_card_diff_prints_ranks_as_integers(tmp_path: Path) -> None:
    import re

    from test_card_helpers import write_outputs

    from release.card.diff import diff_revisions, to_markdown

    project = make_project(tmp_path / "proj", seed=0)
    build_card(project)
    commit_all(project, "card v1")
    write_outputs(project, seed=2, hard_noise=0.6)
    build_card(project)
    commit_all(project, "card v2")
    md = to_markdown(diff_revisions(project, "HEAD~1", "HEAD"))
    table = md.split("### HLP and potential impact", 1)[1].split("###", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "Slice" not in line]
    ranks = [r.strip().strip("|").split("|")[3].strip() for r in rows]
    assert any(ranks), table
    for rank_change in filter(None, ranks):
        assert re.fullmatch(r"(\d+|-) → (\d+|-)", rank_change), rank_change
