"""A realistic built-in dataset: loan default, with slices that differ in difficulty.

The generator is deterministic (same seed and arguments, same bytes) and plants the
structure the rest of the loop is meant to find:

* ``employment_type == "self_employed"`` is the hard slice: its default risk depends
  mostly on a latent cash-flow factor the features do not carry, but the human
  annotators (who read the applicant's documents) do see. The model falls well short
  of human-level performance there, so error analysis should rank it first.
* Three annotator labels per row whose accuracy (and so their disagreement) differ by
  slice, for measuring human-level performance.
* Missing values in numeric and categorical columns, and a protected attribute (``sex``).
* A drift knob for production batches: numeric shifts, changed category frequencies and
  a changed relationship between features and default (concept drift).
"""

from __future__ import annotations

from typing import Any

GENERATOR_VERSION = "1"
TARGET = "default"
ANNOTATORS = ("annotator_1", "annotator_2", "annotator_3")
NUMERIC = (
    "age",
    "income",
    "loan_amount",
    "credit_score",
    "employment_years",
    "debt_to_income",
    "num_credit_lines",
)
CATEGORICAL = ("region", "sex", "employment_type", "home_ownership", "purpose")
CATEGORIES: dict[str, list[str]] = {
    "region": ["north", "south", "east", "west"],
    "sex": ["female", "male"],
    "employment_type": ["salaried", "self_employed", "contractor", "retired"],
    "home_ownership": ["own", "rent", "mortgage"],
    "purpose": ["car", "home", "education", "business", "personal"],
}
# Probability that one annotator gives the reference label, by employment type.
ANNOTATOR_ACCURACY = {"salaried": 0.94, "self_employed": 0.9, "contractor": 0.93, "retired": 0.95}


def generate(rows: int = 20_000, seed: int = 42, drift: float = 0.0) -> Any:
    """Generate ``rows`` loan applications; ``drift`` > 0 shifts them away from training."""
    import numpy as np
    import pandas as pd

    if rows < 1:
        raise ValueError("rows must be >= 1")
    if drift < 0:
        raise ValueError("drift must be >= 0")
    rng = np.random.default_rng(seed)
    d = float(drift)
    mix = min(d, 1.0)

    region_p = (1 - 0.6 * mix) * np.array([0.3, 0.25, 0.25, 0.2]) + 0.6 * mix * np.array(
        [0.1, 0.15, 0.25, 0.5]
    )
    region = rng.choice(CATEGORIES["region"], size=rows, p=region_p)
    sex = rng.choice(CATEGORIES["sex"], size=rows, p=[0.48, 0.52])
    age = np.clip(rng.normal(42 + 5 * d, 12, rows), 18, 90).round(0)

    se_share = 0.15 + 0.12 * mix
    work_p = np.array([1 - se_share - 0.15, se_share, 0.15]) / 1.0
    employment = rng.choice(["salaried", "self_employed", "contractor"], size=rows, p=work_p)
    retired = (age >= 63) & (rng.random(rows) < 0.75)
    employment = np.where(retired, "retired", employment)

    is_se = employment == "self_employed"
    log_income = rng.normal(np.log(48_000) + 0.008 * (age - 42), np.where(is_se, 0.75, 0.45))
    income = np.exp(log_income) * (1 + 0.3 * d)
    loan_amount = np.exp(rng.normal(np.log(12_000), 0.6, rows)).round(-1)
    credit_score = np.clip(rng.normal(680 - 30 * d, 70, rows), 300, 850).round(0)
    employment_years = np.minimum(age - 18, rng.gamma(2.0, 4.0, rows)).round(1)
    debt_to_income = np.clip(rng.beta(2, 5, rows) * 0.8 + 0.05 * d, 0, 2).round(3)
    num_credit_lines = rng.poisson(4, rows)
    home = rng.choice(CATEGORIES["home_ownership"], size=rows, p=[0.25, 0.4, 0.35])
    purpose = rng.choice(CATEGORIES["purpose"], size=rows, p=[0.25, 0.2, 0.15, 0.15, 0.25])

    z = _observed_risk(
        credit_score, debt_to_income, income, loan_amount, age, purpose, home, num_credit_lines, d
    )
    # Self-employed: risk is mostly the latent cash flow the features do not show.
    latent = rng.normal(0, 1, rows)
    z = np.where(is_se, 0.35 * z + 2.2 * latent - 0.6, z)
    p_default = 1 / (1 + np.exp(-np.where(is_se, 2.5, 6.0) * z))
    target = (rng.random(rows) < p_default).astype("int64")

    annotations = _annotations(rng, employment, target)

    def holes(values: Any, rate: float) -> Any:
        mask = rng.random(rows) < rate
        out = values.astype("float64") if values.dtype.kind in "if" else values.astype(object)
        out[mask] = np.nan
        return out

    frame = pd.DataFrame(
        {
            "age": holes(age, 0.01),
            "income": holes(income.round(0), 0.03),
            "loan_amount": loan_amount,
            "credit_score": credit_score,
            "employment_years": holes(employment_years, 0.05),
            "debt_to_income": debt_to_income,
            "num_credit_lines": num_credit_lines.astype("int64"),
            "region": region.astype(object),
            "sex": sex.astype(object),
            "employment_type": employment.astype(object),
            "home_ownership": holes(home, 0.02),
            "purpose": purpose.astype(object),
            **annotations,
            TARGET: target,
        }
    )
    return frame


def _observed_risk(
    credit_score: Any,
    debt_to_income: Any,
    income: Any,
    loan_amount: Any,
    age: Any,
    purpose: Any,
    home: Any,
    num_credit_lines: Any,
    d: float,
) -> Any:
    """The log-odds of default that the features can tell (before the latent cash flow)."""
    import numpy as np

    return (
        -1.0
        - 1.1 * (credit_score - 680) / 70
        + 0.9 * (debt_to_income - 0.23) / 0.13
        - 0.6 * (np.log(income) - np.log(48_000)) / 0.5
        + 0.45 * (np.log(loan_amount) - np.log(12_000)) / 0.6
        - 0.25 * (age - 42) / 12
        + 0.35 * (purpose == "business")
        + 0.35 * (home == "rent")
        + 0.8 * d * (num_credit_lines - 4) / 2  # concept drift: a new driver of risk
    )


def _annotations(rng: Any, employment: Any, target: Any) -> dict[str, Any]:
    """Each annotator's label: right with the accuracy of the row's employment type."""
    import numpy as np

    rows = len(target)
    accuracy = np.vectorize(ANNOTATOR_ACCURACY.get)(employment)
    annotations = {}
    for name in ANNOTATORS:
        correct = rng.random(rows) < accuracy
        annotations[name] = np.where(correct, target, 1 - target).astype("int64")
    return annotations


def generate_batch(rows: int, seed: int, drift: float) -> Any:
    """A production batch: the same columns with labels, without annotator columns."""
    return generate(rows=rows, seed=seed, drift=drift).drop(columns=list(ANNOTATORS))
