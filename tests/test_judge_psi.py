"""The prediction check judges PSI above its sampling floor: small windows of one
distribution pass, a real shift fails."""

from __future__ import annotations

import numpy as np

from release.config import JudgeSettings
from release.deploy.judge import Sample, check_predictions

S = JudgeSettings()


def scores(n: int, a: float, b: float, seed: int) -> list[float]:
    return np.random.default_rng(seed).beta(a, b, n).tolist()


def test_small_windows_of_one_distribution_pass() -> None:
    failures = 0
    for seed in range(200):
        cand = Sample(requests=100, scores=scores(100, 0.6, 1.4, seed))
        base = Sample(requests=300, scores=scores(300, 0.6, 1.4, 10_000 + seed))
        failures += check_predictions(cand, base, S).status == "fail"
    assert failures <= 4  # at most ~alpha of the time, never systematically


def test_a_real_shift_fails() -> None:
    cand = Sample(requests=100, scores=scores(100, 3.0, 1.0, 1))
    base = Sample(requests=300, scores=scores(300, 0.6, 1.4, 2))
    check = check_predictions(cand, base, S)
    assert check.status == "fail" and "sampling floor" in check.reason


def test_accuracy_drop_must_significantly_exceed_the_margin() -> None:
    from release.deploy.judge import check_accuracy

    def labelled(n: int, right: int) -> Sample:
        return Sample(requests=n, correct=[True] * right + [False] * (n - right))

    noise = check_accuracy(labelled(176, 150), labelled(485, 439), S)  # -5.3%, small window
    assert noise.status == "pass"
    harm = check_accuracy(labelled(176, 122), labelled(485, 439), S)  # -21%
    assert harm.status == "fail" and "significantly more than 5.0%" in harm.reason
