"""Helpers for the card tests: a project whose pipeline outputs follow the shared contracts.

The files have exactly the shapes the lead's pipeline and the error-analysis stage write
(``reports/metrics.json``, ``reports/slices.json``, ``models/model.json``...), with
numbers computed from real predictions, so card tests run in a second without a training
run. ``test_card_build.py`` also builds on a real pipeline run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
EVIL = "<script>alert(1)</script>"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def init_repo(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "Test")
    git(root, "config", "commit.gpgsign", "false")
    git(root, "config", "tag.gpgsign", "false")


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def _bootstrap_ci(correct: np.ndarray, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(correct), size=(300, len(correct)))
    means = correct[idx].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def write_outputs(
    root: Path,
    *,
    seed: int = 0,
    category: str = "self_employed",
    hard_noise: float = 0.35,
    n: int = 2000,
    retrain: int = 0,
) -> None:
    """Write contract-shaped pipeline outputs (binary task) computed from simulated data.

    ``seed`` draws the data and the model's errors; ``retrain`` > 0 flips 1% of the
    predictions at random, as retraining with another random state does (noise);
    ``hard_noise`` is the error rate on the planted hard slice.
    """
    rng = np.random.default_rng(seed)
    types = np.array(["salaried", category, "contract", "retired"])
    emp = types[rng.choice(4, size=n, p=[0.55, 0.2, 0.2, 0.05])]
    region = np.array(["north", "south"])[rng.integers(0, 2, size=n)]
    y_true = rng.integers(0, 2, size=n)
    noise = np.where(emp == category, hard_noise, 0.1)
    flip = rng.random(n) < noise
    y_pred = np.where(flip, 1 - y_true, y_true)
    if retrain:
        jitter = np.random.default_rng(1000 + retrain).random(n) < 0.01
        y_pred = np.where(jitter, 1 - y_pred, y_pred)
    p1 = np.clip(np.where(y_pred == 1, 0.7, 0.3) + rng.normal(0, 0.15, n), 0.01, 0.99)
    reports = root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"y_true": y_true, "y_pred": y_pred, "proba_0": 1 - p1, "proba_1": p1}).to_parquet(
        reports / "predictions.parquet"
    )
    correct = (y_true == y_pred).astype(float)
    acc = float(correct.mean())
    lo, hi = _bootstrap_ci(correct, seed)
    slices = []
    groups = [(f"employment_type={t}", "value", emp == t) for t in types]
    groups += [(f"region={r}", "value", region == r) for r in ("north", "south")]
    groups += [
        (f"employment_type={t} & region={r}", "intersection", (emp == t) & (region == r))
        for t in types[:2]
        for r in ("north", "south")
    ]
    for name, kind, mask in groups:
        c = correct[mask]
        s_lo, s_hi = _bootstrap_ci(c, seed + 1)
        hlp = 0.8 if category in name else 0.86
        share = float(mask.mean())
        slices.append(
            {
                "name": name,
                "kind": kind,
                "rows": int(mask.sum()),
                "share": share,
                "metric": float(c.mean()),
                "ci_low": s_lo,
                "ci_high": s_hi,
                "gap": float(c.mean()) - acc,
                "small": bool(mask.sum() < 50),
                "hlp": hlp,
                "hlp_annotator_accuracy": hlp,
                "hlp_agreement": hlp**2 + (1 - hlp) ** 2,
                "potential_impact": max(hlp - float(c.mean()), 0) * share,
                "rank": None,
            }
        )
    ranked = sorted((s for s in slices if not s["small"]), key=lambda s: -s["potential_impact"])
    for i, s in enumerate(ranked, 1):
        s["rank"] = i
    (reports / "slices.json").write_text(
        json.dumps(
            {
                "primary_metric": "accuracy",
                "higher_is_better": True,
                "overall": {"metric": acc, "ci_low": lo, "ci_high": hi, "rows": n},
                "hlp_kind": "annotator_accuracy",
                "slices": slices,
            }
        )
    )
    metrics = {
        "accuracy": acc,
        "balanced_accuracy": acc - 0.001,
        "f1": acc - 0.01,
        "roc_auc": 0.9 + 0.001 * seed,
        "log_loss": 0.4,
        "n_test": n,
    }
    (reports / "metrics.json").write_text(json.dumps(metrics))
    (reports / "explain.json").write_text(
        json.dumps(
            {
                "permutation_importance": {
                    "metric": "accuracy",
                    "features": [
                        {"feature": "credit_score", "mean": 0.08, "std": 0.01},
                        {"feature": "employment_type", "mean": 0.03, "std": 0.005},
                        {"feature": "income", "mean": 0.02, "std": 0.004},
                    ],
                },
                "surrogate": {
                    "depth": 3,
                    "fidelity": 0.91,
                    "rules": [{"conditions": ["credit_score <= 600"], "prediction": 1}],
                    "text": "credit_score <= 600 -> 1\ncredit_score > 600 -> 0",
                },
            }
        )
    )
    (reports / "examples.json").write_text(
        json.dumps(
            {
                "slice": f"employment_type={category}",
                "examples": [
                    {
                        "row": 17,
                        "features": {"employment_type": category, "credit_score": 710.0},
                        "y_true": 1,
                        "y_pred": 0,
                        "counterfactual": {
                            "feature": "credit_score",
                            "from": 710.0,
                            "to": 640.0,
                            "new_prediction": 1,
                        },
                    }
                ],
            }
        )
    )
    (reports / "data_quality.json").write_text(
        json.dumps(
            {
                "passed": True,
                "rules": [
                    {
                        "name": "min_rows",
                        "column": None,
                        "passed": True,
                        "observed": n,
                        "limit": 100,
                        "examples": [],
                    },
                    {
                        "name": "null_rate",
                        "column": "income",
                        "passed": True,
                        "observed": 0.0,
                        "limit": 0.3,
                        "examples": [],
                    },
                ],
            }
        )
    )
    data = root / "data"
    (data / "prepared").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"employment_type": emp, "region": region}).to_parquet(
        data / "prepared" / "test.parquet"
    )
    pd.DataFrame({"employment_type": emp[::-1], "region": region}).to_parquet(
        data / "prepared" / "train.parquet"
    )
    (data / "provenance.json").write_text(
        json.dumps(
            {
                "source": {"kind": "builtin", "path": None, "sha256": None},
                "seed": 42,
                "splits": {"train": {"rows": 3 * n}, "test": {"rows": n}},
            }
        )
    )
    models = root / "models"
    models.mkdir(exist_ok=True)
    (models / "model.skops").write_bytes(f"not a real model {seed} {retrain}".encode())
    (models / "model.json").write_text(
        json.dumps(
            {
                "name": "model",
                "task": "binary",
                "target": "default",
                "features": [
                    {"name": "credit_score", "kind": "numeric", "dtype": "float64"},
                    {
                        "name": "employment_type",
                        "kind": "categorical",
                        "dtype": "object",
                        "categories": [str(t) for t in types],
                    },
                ],
                "classes": [0, 1],
                "estimator": "hist_gradient_boosting",
                "hyperparameters": {"max_depth": 3 + seed + retrain, "learning_rate": 0.1},
                "sha256": f"{seed:032d}{retrain:032d}",
                "trained_at": "2026-11-29T02:00:00Z",
                "training_seconds": 1.5,
                "train_rows": 3 * n,
                "packages": {"scikit-learn": "1.5.0"},
            }
        )
    )


def make_project(root: Path, *, content: bool = True, **kwargs: object) -> Path:
    """A git repository with params.yaml, card.yaml and contract-shaped outputs, committed."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(
        "data:\n  protected: [sex]\n  slice_columns: [employment_type, region]\n"
        "evaluate:\n  bootstrap: 300\n  slices:\n    columns: [employment_type, region]\n"
        "    intersections: [[employment_type, region]]\n"
    )
    if content:
        shutil.copy(REPO / "card.yaml", root / "card.yaml")
    write_outputs(root, **kwargs)  # type: ignore[arg-type]
    init_repo(root)
    commit_all(root, "pipeline outputs")
    return root


def test_helper_project_follows_the_contract(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    slices = json.loads((root / "reports/slices.json").read_text())
    assert set(slices) == {"primary_metric", "higher_is_better", "overall", "hlp_kind", "slices"}
    first = min((s for s in slices["slices"] if s["rank"]), key=lambda s: s["rank"])
    assert "self_employed" in first["name"]


OUTPUTS = (
    "data/prepared",
    "data/provenance.json",
    "models/",
    "reports/",
    "model_card/",
    "dvc.lock",
)


CARD_STAGE = {
    "cmd": "release card build",
    "deps": [
        "reports/metrics.json",
        "reports/slices.json",
        "reports/explain.json",
        "reports/examples.json",
        "reports/predictions.parquet",
        "reports/data_quality.json",
        "data/provenance.json",
        "models/model.json",
        "card.yaml",
        "release/templates/card",
    ],
    "outs": [{"model_card": {"cache": False}}],
}


def run_real_pipeline(root: Path, rows: int = 3000, bootstrap: int = 200) -> Path:
    """Copy the project (its files, not its outputs) and run `dvc repro` for real, card included.

    Until the lead's ``dvc.yaml`` has the ``card`` stage, the copy gets one shaped as the
    brief describes (``release card build``, outs ``model_card/`` uncached).
    """
    import os

    import pytest
    import yaml

    if not (REPO / "dvc.yaml").is_file():
        pytest.skip("the pipeline (dvc.yaml) has not landed yet")
    listed = git(REPO, "ls-files", "-co", "--exclude-standard").splitlines()
    root.mkdir(parents=True)
    for rel in listed:
        src = REPO / rel
        if rel.startswith(OUTPUTS) or rel.startswith(("tests/", "bench/")) or not src.is_file():
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, root / rel)
    (root / "data/raw").mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["rows"] = rows
    params["evaluate"]["bootstrap"] = bootstrap
    # small and single-threaded: the machine is shared, the card needs real shapes, not accuracy
    params.setdefault("train", {}).setdefault("params", {})["max_iter"] = 40
    params["evaluate"].setdefault("explain", {}).update({"permutation_repeats": 2, "max_rows": 500})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    pipeline = yaml.safe_load((root / "dvc.yaml").read_text())
    if "card" not in pipeline["stages"]:
        pipeline["stages"]["card"] = CARD_STAGE
        (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    init_repo(root)
    if not (root / ".dvc").is_dir():
        subprocess.run(["dvc", "init", "-q"], cwd=root, check=True)
    commit_all(root, "project")
    env = {
        **os.environ,
        "PATH": f"{REPO / '.venv/bin'}:{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        ["dvc", "repro", "card"], cwd=root, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    commit_all(root, "repro")
    return root


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("intended_use: a\nintended_use: b\n", "intended_use"),  # a key twice
        ("a: &x [1]\nb: !!python/object:os.system x\n", "line 2"),  # a tag
        ("intended_use: [unclosed\n", "not valid YAML"),
    ],
)
def test_card_yaml_is_read_strictly(tmp_path: Path, text: str, fragment: str) -> None:
    from release.card.content import load_content
    from release.errors import UsageError

    path = tmp_path / "card.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=fragment) as caught:
        load_content(path)
    assert "\n" not in caught.value.one_line()
