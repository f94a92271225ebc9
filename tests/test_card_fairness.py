"""The card's Quantitative Analyses show fairness per protected attribute, and Factors say
whether protected attributes were model inputs."""

from __future__ import annotations

import json
from pathlib import Path

from test_card_helpers import make_project

from release.card.build import build_card
from release.cardspec.schema import schema_problems

FAIRNESS = {
    "attributes": [
        {
            "attribute": "sex",
            "groups": [
                {
                    "group": g,
                    "rows": 100,
                    "accuracy": {"value": a, "ci": [a - 0.1, a + 0.05], "n": 100},
                    "selection_rate": {"value": sr, "ci": [sr - 0.1, sr + 0.1], "n": 100},
                    "tpr": {"value": 0.7, "ci": [0.6, 0.8], "n": 40},
                    "fpr": {"value": 0.1, "ci": [0.05, 0.2], "n": 60},
                }
                for g, a, sr in (("female", 0.8, 0.2), ("male", 0.85, 0.35))
            ],
            "gaps": {
                "demographic_parity_difference": {"value": 0.15, "ci": [0.05, 0.25]},
                "equalized_odds_difference": {"value": 0.0, "ci": [0.0, 0.1]},
                "accuracy_difference": {"value": 0.05, "ci": [0.0, 0.12]},
            },
        }
    ],
    "positive_class": 1,
    "used_as_features": False,
    "largest_gap": {"attribute": "sex", "gap": "demographic_parity_difference", "value": 0.15},
}


def card_with(root: Path, fairness: dict) -> dict:  # type: ignore[type-arg]
    """Build the card of a project whose slices.json holds ``fairness``."""
    path = root / "reports/slices.json"
    slices = json.loads(path.read_text())
    slices["fairness"] = fairness
    path.write_text(json.dumps(slices))
    card = build_card(root)
    assert schema_problems(card) == []
    return card


def test_fairness_table_and_protected_inputs_statement(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    card = card_with(root, FAIRNESS)
    assert card["quantitative_analyses"]["fairness"] == FAIRNESS
    assert card["factors"]["protected_as_inputs"] is False
    readme = (root / "model_card/README.md").read_text()
    assert "### Fairness by protected attribute" in readme
    assert "demographic parity difference 0.1500 [0.0500, 0.2500]" in readme
    assert "0.1000]\n\n| Group |" in readme
    assert "| male | 100 | 0.3500 [0.2500, 0.4500] |" in readme
    assert "excluded from the model inputs (train.use_protected: false)" in readme
    html = (root / "model_card/card.html").read_text()
    assert "Fairness by protected attribute" in html and "selection rate" in html


def test_multiclass_fairness_in_the_card(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from release.analysis.fairness import analyse_fairness
    from release.config import settings_from_dict
    from release.stats.metrics import encode

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"group": rng.choice(["a", "b"], 300)})
    y = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 3, 300))
    settings = settings_from_dict({"data": {"protected": ["group"], "target": "y"}})
    names = np.array(["red", "green", "blue"])
    out, classes = encode("multiclass", names[y], names[pred], None, list(names))
    fairness = analyse_fairness(settings, frame, out, classes)
    assert fairness is not None
    root = make_project(tmp_path / "p")
    card_with(root, fairness)
    readme = (root / "model_card/README.md").read_text()
    assert "| Group | Rows | Accuracy [CI] | Macro TPR | Macro FPR | Class blue |" in readme
    worst = fairness["attributes"][0]["gaps"]["demographic_parity_difference"]["class"]
    assert f"(class {worst})" in readme
    (row,) = [line for line in readme.splitlines() if line.startswith("| a |")]
    assert row.count(" / ") == 6  # three classes: selection rate / TPR / FPR each
    html = (root / "model_card/card.html").read_text()
    assert "class blue: selection rate / TPR / FPR" in html and "macro tpr" in html
