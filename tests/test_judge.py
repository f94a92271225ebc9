"""The canary judge: a pure function, tested on synthetic samples without I/O."""

from __future__ import annotations

import random

import pytest

from release.config import JudgeSettings
from release.deploy.judge import (
    Sample,
    ShadowStats,
    judge,
    judge_golden,
    judge_shadow,
)
from release.stats import divergence, proportions

S = JudgeSettings()


def sample(
    n: int,
    *,
    errors: int = 0,
    latency: float = 5.0,
    jitter: float = 1.0,
    p_one: float = 0.3,
    accuracy: float | None = None,
    seed: int = 0,
    scores: bool = True,
) -> Sample:
    rng = random.Random(seed)
    ok = n - errors
    lat = [max(0.1, rng.gauss(latency, jitter)) for _ in range(ok)]
    preds = [1 if rng.random() < p_one else 0 for _ in range(ok)]
    sc = [min(0.99, max(0.01, (0.7 if p else 0.2) + rng.gauss(0, 0.1))) for p in preds]
    correct = [] if accuracy is None else [rng.random() < accuracy for _ in range(ok)]
    return Sample(
        requests=n,
        errors=errors,
        latencies_ms=lat,
        predictions=preds,
        scores=sc if scores else [],
        correct=correct,
    )


def test_healthy_candidate_passes():
    v = judge(sample(200, seed=1), sample(800, seed=2), min_requests=100, settings=S)
    assert v.status == "pass", v.reasons
    names = [c.name for c in v.checks]
    assert names == ["traffic", "errors", "latency", "predictions", "accuracy"]
    assert v.to_dict()["checks"][2]["numbers"]["baseline_p50_ms"] > 0


def test_too_few_requests_is_inconclusive_never_pass():
    v = judge(sample(20, seed=1), sample(800, seed=2), min_requests=100, settings=S)
    assert v.status == "inconclusive"
    assert "too few requests" in v.reasons[0]
    v = judge(Sample(), Sample(), min_requests=1, settings=S)
    assert v.status == "inconclusive"


def test_half_errors_fail_even_before_min_requests():
    v = judge(sample(30, errors=15), sample(300, seed=2), min_requests=100, settings=S)
    assert v.status == "fail"
    assert "error rate 50.0%" in v.reasons[0]


def test_small_error_increase_within_threshold_passes():
    # 1 error in 200 vs 0 in 800: not significant and within the allowed increase.
    v = judge(sample(200, errors=1), sample(800, seed=2), min_requests=100, settings=S)
    assert v.status == "pass", v.reasons


def test_slow_candidate_fails_on_latency():
    v = judge(sample(150, latency=305), sample(600, seed=2), min_requests=100, settings=S)
    assert v.status == "fail"
    (lat,) = [c for c in v.checks if c.name == "latency"]
    assert lat.status == "fail"
    assert lat.numbers["increase_ms"] > 250
    assert lat.numbers["probability_slower"] > 0.99


def test_small_latency_difference_is_not_a_failure():
    # Significant but tiny (2 ms): below the effect-size thresholds.
    v = judge(
        sample(400, latency=7, jitter=0.2),
        sample(400, latency=5, jitter=0.2, seed=3),
        min_requests=100,
        settings=S,
    )
    assert v.status == "pass", v.reasons


def test_shifted_predictions_fail_on_psi():
    v = judge(sample(300, p_one=0.9), sample(300, p_one=0.2, seed=5), min_requests=100, settings=S)
    assert v.status == "fail"
    (pred,) = [c for c in v.checks if c.name == "predictions"]
    assert pred.numbers["psi"] > S.max_prediction_psi
    assert pred.numbers["bins"] == "probability"


def test_predictions_by_class_without_scores():
    v = judge(
        sample(300, p_one=0.9, scores=False),
        sample(300, p_one=0.2, seed=5, scores=False),
        min_requests=100,
        settings=S,
    )
    (pred,) = [c for c in v.checks if c.name == "predictions"]
    assert pred.numbers["bins"] == "class" and pred.status == "fail"


def test_accuracy_drop_with_labels_fails():
    v = judge(
        sample(300, accuracy=0.5),
        sample(300, accuracy=0.85, seed=4),
        min_requests=100,
        settings=S,
    )
    assert v.status == "fail"
    assert any("accuracy" in r for r in v.reasons)


def test_accuracy_skipped_without_enough_labels():
    v = judge(sample(200, accuracy=0.2), sample(200, seed=4), min_requests=100, settings=S)
    (acc,) = [c for c in v.checks if c.name == "accuracy"]
    assert acc.status == "skip"
    assert v.status == "pass"


def test_min_requests_must_be_positive():
    with pytest.raises(ValueError):
        judge(Sample(), Sample(), min_requests=0, settings=S)


def test_statistics_helpers():
    assert proportions.fisher_greater(50, 100, 5, 100) < 1e-6
    assert proportions.fisher_greater(0, 100, 0, 100) == 1.0
    assert divergence.psi([50, 50], [50, 50]) == 0.0
    assert divergence.psi([90, 10], [10, 90]) > 1


def test_shadow_agreement_and_flips():
    base, cand = sample(200, seed=1), sample(200, seed=2)
    same = ShadowStats(compared=200, agree=200, flips={}, max_proba_diff=0.0)
    v = judge_shadow(same, cand, base, min_requests=100, settings=S)
    assert v.status == "pass"
    different = ShadowStats(compared=200, agree=150, flips={"0->1": 40, "1->0": 10})
    v = judge_shadow(different, cand, base, min_requests=100, settings=S)
    assert v.status == "fail"
    assert "50 class flips" in v.reasons[0]
    few = ShadowStats(compared=10, agree=10)
    assert judge_shadow(few, cand, base, min_requests=100, settings=S).status == "inconclusive"


def test_golden_replay():
    ok = judge_golden(
        [0, 1, 1],
        [0, 1, 1],
        expected_scores=[0.1, 0.8, 0.9],
        got_scores=[0.1, 0.8, 0.9],
        settings=S,
    )
    assert ok.status == "pass"
    bad = judge_golden([0, 1, 1], [0, 0, 1], settings=S)
    assert bad.status == "fail" and "1/3" in bad.reasons[0]
    drift = judge_golden(
        [0, 1], [0, 1], expected_scores=[0.1, 0.8], got_scores=[0.1, 0.7], settings=S
    )
    assert drift.status == "fail"
    assert judge_golden([], [], settings=S).status == "fail"
