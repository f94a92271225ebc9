"""Bootstrap intervals: nominal coverage on known truth, determinism, exactness."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from release.stats import bootstrap
from release.stats import metrics as m


def binary(n: int, rng: np.random.Generator, k: int = 2) -> m.Outcomes:
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    return m.Outcomes("binary" if k == 2 else "multiclass", y, proba.argmax(1), proba, k)


@pytest.mark.parametrize("k", [2, 3])
def test_point_metrics_match_scikit_learn(k):
    out = binary(400, np.random.default_rng(k), k)
    yt, yp, p = out.y_true, out.y_pred, out.proba
    average = "binary" if k == 2 else "macro"
    assert m.point("accuracy", out) == pytest.approx(sk.accuracy_score(yt, yp))
    assert m.point("balanced_accuracy", out) == pytest.approx(sk.balanced_accuracy_score(yt, yp))
    assert m.point("f1", out) == pytest.approx(sk.f1_score(yt, yp, average=average))
    assert m.point("log_loss", out) == pytest.approx(sk.log_loss(yt, p))
    auc = sk.roc_auc_score(yt, p[:, 1]) if k == 2 else sk.roc_auc_score(yt, p, multi_class="ovr")
    assert m.point("roc_auc", out) == pytest.approx(auc)


def test_regression_metrics_match_scikit_learn():
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    yhat = y + rng.normal(size=300)
    out = m.Outcomes("regression", y, yhat, None, 0)
    assert m.point("mae", out) == pytest.approx(sk.mean_absolute_error(y, yhat))
    assert m.point("rmse", out) == pytest.approx(sk.root_mean_squared_error(y, yhat))
    assert m.point("r2", out) == pytest.approx(sk.r2_score(y, yhat))


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss", "mae", "rmse", "r2"])
def test_vectorised_resamples_equal_explicit_resamples(metric):
    """The chunked index-matrix path computes exactly the metric of each resample."""
    rng = np.random.default_rng(11)
    if metric in ("mae", "rmse", "r2"):
        y = rng.normal(size=150)
        out = m.Outcomes("regression", y, y + rng.normal(size=150), None, 0)
    else:
        out = binary(150, rng)
    samples = bootstrap.resample_metric(metric, out, 7, np.random.default_rng(5))
    idx = np.random.default_rng(5).integers(0, 150, size=(7, 150))
    explicit = [m.point(metric, out.take(rows)) for rows in idx]
    np.testing.assert_allclose(samples, explicit)


def test_confusion_resampling_has_the_row_bootstrap_spread():
    """Multinomial draws of confusion cells spread like resampled rows: sd = sqrt(p(1-p)/n)."""
    rng = np.random.default_rng(2)
    n, p = 1000, 0.8
    correct = rng.random(n) < p
    y = np.ones(n, dtype=int)
    out = m.Outcomes("binary", y, np.where(correct, 1, 0), None, 2)
    acc = correct.mean()
    samples = bootstrap.resample_metric("accuracy", out, 4000, np.random.default_rng(0))
    assert samples.mean() == pytest.approx(acc, abs=0.002)
    assert samples.std() == pytest.approx(np.sqrt(acc * (1 - acc) / n), rel=0.06)


def coverage(metric: str, draw, truth: float, reps: int, resamples: int) -> float:
    rng = np.random.default_rng(123)
    hits = 0
    for _ in range(reps):
        est = bootstrap.estimate(metric, draw(rng), resamples=resamples, confidence=0.95, rng=rng)
        hits += est.low <= truth <= est.high
    return hits / reps


def test_accuracy_interval_covers_truth_at_nominal_rate():
    def draw(rng):
        n = 400
        correct = rng.random(n) < 0.8  # the model is right 80% of the time
        return m.Outcomes("binary", np.ones(n, dtype=int), correct.astype(int), None, 2)

    rate = coverage("accuracy", draw, 0.8, reps=400, resamples=1000)
    assert 0.92 <= rate <= 0.98  # nominal 0.95; sd of the estimate about 0.011


def test_mae_interval_covers_truth_at_nominal_rate():
    def draw(rng):
        n = 300
        y = rng.normal(size=n)
        return m.Outcomes("regression", y, y + rng.laplace(0, 1.0, n), None, 0)

    # |Laplace(0, 1)| has mean 1: the true MAE.
    rate = coverage("mae", draw, 1.0, reps=300, resamples=400)
    assert 0.91 <= rate <= 0.985


def test_same_seed_same_numbers_and_names_get_independent_streams():
    out = binary(500, np.random.default_rng(9))
    a = bootstrap.estimate(
        "roc_auc", out, resamples=300, confidence=0.95, rng=bootstrap.rng_for(0, "x")
    )
    b = bootstrap.estimate(
        "roc_auc", out, resamples=300, confidence=0.95, rng=bootstrap.rng_for(0, "x")
    )
    c = bootstrap.estimate(
        "roc_auc", out, resamples=300, confidence=0.95, rng=bootstrap.rng_for(1, "x")
    )
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low < a.value < a.high


def test_undefined_metric_has_no_interval():
    out = m.Outcomes(
        "binary", np.ones(20, dtype=int), np.ones(20, dtype=int), np.full((20, 2), 0.5), 2
    )
    est = bootstrap.estimate(
        "roc_auc", out, resamples=50, confidence=0.95, rng=np.random.default_rng(0)
    )
    assert est.value is None and est.low is None  # one class only: AUC is undefined
    est = bootstrap.estimate(
        "accuracy", out, resamples=0, confidence=0.95, rng=np.random.default_rng(0)
    )
    # Accuracy is a proportion: its Wilson interval needs no resamples and never collapses.
    assert est.value == 1.0 and est.method == "wilson" and 0.83 < est.low < 0.84
    est = bootstrap.estimate(
        "balanced_accuracy", out, resamples=0, confidence=0.95, rng=np.random.default_rng(0)
    )
    assert est.value == 1.0 and est.low is None


def test_perfect_small_scores_get_a_wilson_interval():
    out = m.Outcomes("multiclass", np.arange(45) % 3, np.arange(45) % 3, None, 3)
    rng = np.random.default_rng(0)
    acc = bootstrap.estimate("accuracy", out, resamples=200, confidence=0.95, rng=rng)
    assert acc.method == "wilson" and 0.91 < acc.low < 0.93 and acc.high == 1.0
    f1 = bootstrap.estimate("f1", out, resamples=200, confidence=0.95, rng=rng)
    assert f1.method == "wilson_fallback" and f1.low == acc.low


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss", "mae", "rmse"])
def test_large_slices_resample_cells_like_rows(metric):
    """Above ``exact_rows`` the cell bootstrap gives the row bootstrap's distribution."""
    rng = np.random.default_rng(21)
    n = 8000
    if metric in ("mae", "rmse"):
        y = rng.normal(size=n)
        out = m.Outcomes("regression", y, y + rng.standard_t(4, n), None, 0)
    else:
        y = rng.integers(0, 2, n)
        s = np.round(np.clip(0.3 * y + rng.normal(0.35, 0.25, n), 0.001, 0.999), 3)
        out = m.Outcomes("binary", y, (s > 0.5).astype(int), np.column_stack([1 - s, s]), 2)
    rows = bootstrap.resample_metric(metric, out, 2000, np.random.default_rng(1), exact_rows=n)
    cells = bootstrap.resample_metric(metric, out, 2000, np.random.default_rng(2), exact_rows=0)
    assert cells.shape == rows.shape == (2000,)
    sd = rows.std()
    assert abs(cells.mean() - m.point(metric, out)) < 0.1 * sd
    assert cells.std() == pytest.approx(sd, rel=0.08)
    for q in (0.025, 0.975):
        assert abs(np.quantile(cells, q) - np.quantile(rows, q)) < 0.2 * sd


@pytest.mark.slow
def test_cell_bootstrap_covers_truth_at_nominal_rate():
    def draw(rng):
        n = 6000
        y = rng.normal(size=n)
        return m.Outcomes("regression", y, y + rng.laplace(0, 1.0, n), None, 0)

    rng = np.random.default_rng(5)
    hits = 0
    reps = 200
    for _ in range(reps):
        samples = bootstrap.resample_metric("mae", draw(rng), 500, rng, exact_rows=0)
        low, high = bootstrap.percentile_interval(samples, 0.95)
        hits += low <= 1.0 <= high
    assert 0.91 <= hits / reps <= 0.985
