"""Regression canaries are judged by their error against labels, not by exact matches."""

from __future__ import annotations

import numpy as np
import pytest

from release.config import JudgeSettings
from release.deploy.judge import Sample, ShadowStats, is_regression, judge, judge_shadow

S = JudgeSettings()


def regression_sample(n: int, noise: float, seed: int, bias: float = 0.0) -> Sample:
    rng = np.random.default_rng(seed)
    truth = rng.normal(150, 70, n)
    pred = truth + bias + rng.normal(0, noise, n)
    return Sample(
        requests=n,
        latencies_ms=rng.normal(5, 0.5, n).tolist(),
        predictions=pred.tolist(),
        abs_errors=np.abs(pred - truth).tolist(),
        correct=[False] * n,  # exact matches on continuous outputs: meaningless
    )


def check(verdict, name):  # type: ignore[no-untyped-def]
    (found,) = [c for c in verdict.checks if c.name == name]
    return found


def test_a_worse_regression_model_fails_on_its_error() -> None:
    verdict = judge(
        regression_sample(300, 80, 1), regression_sample(900, 45, 2), min_requests=100, settings=S
    )
    assert verdict.status == "fail"
    err = check(verdict, "model_error")
    assert err.status == "fail" and "MAE" in err.reason
    assert err.numbers["candidate_mae"] > err.numbers["baseline_mae"]
    assert "accuracy" not in [c.name for c in verdict.checks]


def test_a_better_or_equal_regression_model_passes() -> None:
    for noise in (35, 45):
        verdict = judge(
            regression_sample(300, noise, 3),
            regression_sample(900, 45, 4),
            min_requests=100,
            settings=S,
        )
        assert verdict.status == "pass", verdict.reasons
        assert check(verdict, "predictions").numbers["bins"] == "value"


def test_rmse_is_the_configured_metric_when_asked() -> None:
    settings = JudgeSettings(regression_metric="rmse")
    verdict = judge(
        regression_sample(300, 80, 1),
        regression_sample(900, 45, 2),
        min_requests=100,
        settings=settings,
    )
    assert check(verdict, "model_error").numbers["metric"] == "rmse"
    assert verdict.status == "fail"


def test_shifted_regression_outputs_fail_on_wasserstein() -> None:
    verdict = judge(
        regression_sample(300, 45, 5, bias=60),
        regression_sample(900, 45, 6),
        min_requests=100,
        settings=S,
    )
    pred = check(verdict, "predictions")
    assert pred.status == "fail" and "Wasserstein" in pred.reason
    assert pred.numbers["candidate_quantiles"][1] > pred.numbers["baseline_quantiles"][1]


def test_task_is_inferred_and_can_be_named() -> None:
    reg = regression_sample(10, 1, 0)
    assert is_regression(reg, reg)
    assert not is_regression(Sample(predictions=[0, 1, 1.0]), Sample(predictions=["a"]))
    verdict = judge(reg, reg, min_requests=5, settings=S, task="binary")
    assert "accuracy" in [c.name for c in verdict.checks]


def test_shadow_compares_numeric_outputs_within_a_tolerance() -> None:
    base = regression_sample(300, 45, 7)
    std = float(np.std(base.predictions, ddof=1))
    close = ShadowStats(compared=300, agree=0, value_diffs=[0.05 * std] * 300)
    verdict = judge_shadow(close, base, base, min_requests=100, settings=S)
    assert verdict.status == "pass", verdict.reasons
    assert check(verdict, "agreement").numbers["share_within"] == 1.0
    far = ShadowStats(compared=300, agree=0, value_diffs=[0.5 * std] * 300)
    verdict = judge_shadow(far, base, base, min_requests=100, settings=S)
    assert verdict.status == "fail" and "within" in verdict.reasons[0]


def test_shadow_judges_the_mirrored_error_with_labels() -> None:
    base, worse = regression_sample(300, 45, 8), regression_sample(300, 90, 9)
    diffs = ShadowStats(compared=300, agree=0, value_diffs=[0.0] * 300)
    verdict = judge_shadow(diffs, worse, base, min_requests=100, settings=S)
    assert check(verdict, "model_error").status == "fail"


def test_labels_decide_over_a_shifted_output_distribution() -> None:
    rng = np.random.default_rng(10)
    truth = rng.normal(150, 70, 300)
    # The old model shrinks towards the mean; the new one spreads like the truth.
    shrunk = 150 + 0.2 * (truth - 150) + rng.normal(0, 10, 300)
    sharp = truth + rng.normal(0, 20, 300)

    def sample(pred: np.ndarray) -> Sample:
        return Sample(
            requests=300,
            latencies_ms=[5.0] * 300,
            predictions=pred.tolist(),
            abs_errors=np.abs(pred - truth).tolist(),
        )

    verdict = judge(sample(sharp), sample(shrunk), min_requests=100, settings=S)
    assert verdict.status == "pass", verdict.reasons
    shift = check(verdict, "predictions")
    assert shift.status == "pass" and shift.numbers["decided_by"] == "labels"
    assert shift.numbers["wasserstein_std"] > S.max_prediction_wasserstein
    assert "within +10%" in shift.reason
    # The same shift without labels is a failure of its own.
    unlabelled = judge(
        Sample(requests=300, latencies_ms=[5.0] * 300, predictions=sharp.tolist()),
        Sample(requests=300, latencies_ms=[5.0] * 300, predictions=shrunk.tolist()),
        min_requests=100,
        settings=S,
    )
    assert unlabelled.status == "fail" and "Wasserstein" in unlabelled.reasons[0]


def test_a_shift_waits_for_the_labels_when_the_error_is_undecided() -> None:
    rng = np.random.default_rng(11)
    errors = rng.exponential(40, 120)

    def sample(shift: float, errs: np.ndarray) -> Sample:
        return Sample(
            requests=60,
            latencies_ms=[5.0] * 60,
            predictions=(rng.normal(150, 50, 60) + shift).tolist(),
            abs_errors=errs.tolist(),
        )

    verdict = judge(sample(100, errors[:60]), sample(0, errors[60:]), min_requests=50, settings=S)
    assert verdict.status == "inconclusive", verdict.reasons
    assert check(verdict, "model_error").status == "pass"
    shift = check(verdict, "predictions")
    assert shift.status == "inconclusive" and "waiting for labelled rows" in shift.reason
    # A worse error beside the shift fails, the error named first.
    worse = judge(sample(100, errors[:60] * 3), sample(0, errors[60:]), min_requests=50, settings=S)
    assert worse.status == "fail" and worse.reasons[0].startswith("MAE")
    assert check(worse, "predictions").status == "fail"


def test_the_wasserstein_sampling_floor_is_what_one_distribution_scores() -> None:
    from release.stats import twosample

    rng = np.random.default_rng(12)
    for n, m in ((40, 45), (100, 900)):
        pairs = [(np.sort(rng.normal(0, 1, m)), np.sort(rng.normal(0, 1, n))) for _ in range(300)]
        mean_w = np.mean([twosample.wasserstein(b, c) for b, c in pairs])
        mean_floor = np.mean([twosample.wasserstein_floor(b, c) for b, c in pairs])
        assert mean_floor == pytest.approx(mean_w, rel=0.15)  # asymptotic, small n
    # Windows of 40 rows of one model: above 0.25 stds about 40% of the time, never
    # beyond the floor by as much.
    healthy = [
        judge(
            regression_sample(40, 45, 100 + i, bias=0.0),
            regression_sample(45, 45, 200 + i),
            min_requests=40,
            settings=JudgeSettings(min_labelled=1000),  # no labels: the shift alone
        )
        for i in range(60)
    ]
    shifts = [check(v, "predictions") for v in healthy]
    assert sum(c.numbers["wasserstein_std"] > 0.25 for c in shifts) > 10
    assert all(c.status == "pass" for c in shifts)
