"""The statistics core against scipy and scikit-learn (differential tests)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import binomtest, wasserstein_distance
from sklearn import metrics as skm

from release.model.metrics import compute_metrics
from release.reference import quantiles as monitor_stats
from release.stats import divergence, proportions, twosample
from release.stats import metrics as m

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("seed", range(5))
def test_jensen_shannon_is_scipys_natural_log_distance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = rng.integers(0, 50, 8).astype(float), rng.integers(0, 50, 8).astype(float)
    p[0] += 1
    q[1] += 1
    assert divergence.jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q), abs=1e-12)
    assert divergence.jensen_shannon([1, 0], [0, 1]) == pytest.approx(divergence.JS_MAX)
    # Monitor and judge read the same function.
    assert monitor_stats.jensenshannon(p, q) == divergence.jensen_shannon(p, q)


def test_psi_formula_and_floor() -> None:
    p, q = np.array([30.0, 50, 20]), np.array([10.0, 40, 50])
    ps, qs = p / p.sum(), q / q.sum()
    assert divergence.psi(p, q) == pytest.approx(np.sum((qs - ps) * np.log(qs / ps)))
    assert np.isfinite(divergence.psi([10, 0], [0, 10]))
    ref = np.sort(RNG.normal(0, 1, 5000))
    cur = np.sort(RNG.normal(0.5, 1, 5000))
    edges = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
    rc = np.histogram(ref, np.r_[-np.inf, edges, np.inf])[0]
    cc = np.histogram(cur, np.r_[-np.inf, edges, np.inf])[0]
    assert divergence.psi_numeric(ref, cur) == pytest.approx(divergence.psi(rc, cc), rel=1e-2)


def test_wasserstein_agrees_with_scipy() -> None:
    a, b = np.sort(RNG.normal(0, 1, 700)), np.sort(RNG.normal(0.3, 2, 333))
    assert twosample.wasserstein(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-9)


@pytest.mark.parametrize(("k", "n"), [(45, 45), (0, 45), (86, 86), (7, 20), (1, 3), (500, 1000)])
def test_wilson_and_clopper_pearson(k: int, n: int) -> None:
    w = proportions.wilson(k, n, 0.95)
    cp = proportions.clopper_pearson(k, n, 0.95)
    assert w is not None and cp is not None
    ref = binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert (w.low, w.high) == pytest.approx((ref.low, ref.high), abs=1e-9)
    ref = binomtest(k, n).proportion_ci(0.95, method="exact")
    assert (cp.low, cp.high) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert w.low < w.high  # never a point, even at 45/45
    if (k, n) == (45, 45):
        assert 0.91 < w.low < 0.93 and w.high == 1.0


def _classification(k: int, n: int, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    labels = [f"c{i}" for i in range(k)]
    yt = rng.choice(labels, n)
    yp = np.where(rng.random(n) < 0.7, yt, rng.choice(labels, n))
    raw = rng.random((n, k)) + (yp[:, None] == np.array(labels)[None, :]) * 1.5
    return yt, yp, raw / raw.sum(axis=1, keepdims=True), labels


@pytest.mark.parametrize(("k", "seed"), [(2, 0), (2, 1), (3, 2), (5, 3)])
def test_classification_metrics_agree_with_sklearn(k: int, seed: int) -> None:
    yt, yp, proba, labels = _classification(k, 400, seed)
    got = compute_metrics("binary" if k == 2 else "multiclass", yt, yp, proba, labels)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(yt, yp), abs=1e-12)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(yt, yp), abs=1e-12)
    if k == 2:
        f1 = skm.f1_score(yt, yp, pos_label=labels[-1])
        auc = skm.roc_auc_score(yt == labels[-1], proba[:, -1])
    else:
        f1 = skm.f1_score(yt, yp, average="macro")
        auc = skm.roc_auc_score(yt, proba, multi_class="ovr", labels=labels)
    assert got["f1"] == pytest.approx(f1, abs=1e-12)
    assert got["roc_auc"] == pytest.approx(auc, abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(yt, proba, labels=labels), abs=1e-9)


def test_regression_metrics_agree_with_sklearn() -> None:
    yt = RNG.normal(100, 30, 300)
    yp = yt + RNG.normal(0, 10, 300)
    got = compute_metrics("regression", yt, yp)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(yt, yp), abs=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(yt, yp)), abs=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(yt, yp), abs=1e-12)
    assert m.by_name("mae", "regression", yt, yp) == got["mae"]


def test_one_class_truth_leaves_out_probability_metrics() -> None:
    got = compute_metrics("binary", np.array([1, 1, 1]), np.array([1, 0, 1]), None, [0, 1])
    assert "roc_auc" not in got and got["accuracy"] == pytest.approx(2 / 3)
