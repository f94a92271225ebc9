"""False-positive rates of the drift tests over many seeded no-drift simulations.

p-value tests (KS, chi-squared) must be calibrated: at alpha 0.05 the rate of false alarms
stays within 2-8%. Distance tests are not calibrated to alpha (their thresholds are effect
sizes), so at the sizes where they are the default their rate must stay under 8% too.
The goodness-of-fit chi-squared that Evidently uses is shown to over-alarm by comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from release.config import Settings
from release.monitor.drift import column_drift
from release.reference import quantiles as stats
from release.reference.profile import categorical_ref, numeric_ref

pytestmark = pytest.mark.slow  # ~15 s of simulations

SIMS = 1000
ALPHA = 0.05


def _rate(flags) -> float:
    return float(np.mean(flags))


@pytest.mark.parametrize("n_ref,n_cur", [(500, 300), (1000, 1000), (5000, 200)])
def test_ks_false_positive_rate(n_ref, n_cur):
    rng = np.random.default_rng(n_ref + n_cur)
    ref = np.sort(rng.normal(size=(SIMS, n_ref)), axis=1)
    cur = np.sort(rng.normal(size=(SIMS, n_cur)), axis=1)
    flags = [stats.ks_test(ref[i], cur[i])[1] < ALPHA for i in range(SIMS)]
    assert 0.02 <= _rate(flags) <= 0.08


@pytest.mark.parametrize(
    "probs,n_ref,n_cur",
    [
        ([0.4, 0.3, 0.2, 0.1], 500, 300),
        ([0.6, 0.4], 800, 150),
        ([0.3, 0.25, 0.2, 0.15, 0.1], 5000, 1000),
    ],
)
def test_chi2_false_positive_rate(probs, n_ref, n_cur):
    rng = np.random.default_rng(len(probs) * 1000 + n_cur)
    ref = rng.multinomial(n_ref, probs, size=SIMS).astype(float)
    cur = rng.multinomial(n_cur, probs, size=SIMS).astype(float)
    flags = [stats.chi2_homogeneity(ref[i], cur[i])[1] < ALPHA for i in range(SIMS)]
    assert 0.02 <= _rate(flags) <= 0.08


def test_goodness_of_fit_chi2_over_alarms_where_the_contingency_test_does_not():
    # A small reference taken as exact proportions: the one-sample test ignores its noise.
    probs, n_ref, n_cur = [0.4, 0.3, 0.2, 0.1], 200, 2000
    rng = np.random.default_rng(3)
    ref = rng.multinomial(n_ref, probs, size=SIMS).astype(float)
    cur = rng.multinomial(n_cur, probs, size=SIMS).astype(float)
    ours = _rate([stats.chi2_homogeneity(ref[i], cur[i])[1] < ALPHA for i in range(SIMS)])
    gof = _rate(
        [chisquare(cur[i], ref[i] * n_cur / n_ref)[1] < ALPHA for i in range(SIMS) if ref[i].all()]
    )
    assert 0.02 <= ours <= 0.08
    assert gof > 0.3


@pytest.mark.parametrize("n_cur", [1001, 5000])
def test_distance_tests_rarely_alarm_without_drift(n_cur):
    sims = 300
    rng = np.random.default_rng(n_cur)
    ref = np.sort(rng.normal(size=(sims, 5000)), axis=1)
    cur = np.sort(rng.normal(size=(sims, n_cur)), axis=1)
    w = [
        stats.normalised_wasserstein(ref[i], cur[i], float(ref[i].std())) >= 0.1
        for i in range(sims)
    ]
    psi = [stats.psi_numeric(ref[i], cur[i]) >= 0.2 for i in range(sims)]
    probs = [0.3, 0.25, 0.2, 0.15, 0.1]
    rc = rng.multinomial(5000, probs, size=sims).astype(float)
    cc = rng.multinomial(n_cur, probs, size=sims).astype(float)
    js = [stats.jensenshannon(rc[i], cc[i]) >= 0.1 for i in range(sims)]
    for rate in (_rate(w), _rate(psi), _rate(js)):
        assert rate <= 0.08


def test_default_policy_false_positive_rate_per_column_through_profiles():
    """The whole column path (profile sample, method choice, verdict) at small batch size."""
    settings = Settings().monitor.drift
    import pandas as pd

    sims = 300
    rng = np.random.default_rng(21)
    ref_num = numeric_ref(pd.Series(rng.normal(size=20_000)), sample=5000, seed=0)
    ref_cat = categorical_ref(pd.Series(rng.choice(list("abcd"), 20_000, p=[0.4, 0.3, 0.2, 0.1])))
    num = rng.normal(size=(sims, 400))
    cat = rng.choice(list("abcd"), size=(sims, 400), p=[0.4, 0.3, 0.2, 0.1])
    flags_num = [
        column_drift("x", ref_num, pd.Series(num[i]), settings).drifted for i in range(sims)
    ]
    flags_cat = [
        column_drift("c", ref_cat, pd.Series(cat[i]), settings).drifted for i in range(sims)
    ]
    assert 0.02 <= _rate(flags_num) <= 0.08
    assert 0.02 <= _rate(flags_cat) <= 0.08
