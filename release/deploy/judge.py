"""The canary judge: candidate against baseline over the same window, as a pure function.

Each check pairs a statistical test (is the difference real?) with a practical threshold
from ``release.deploy.judge`` (is it big enough to matter?); a check fails only when
both say so. Too little traffic is "inconclusive", never "pass". The verdict carries
every number it used and one reason per failed or skipped check, so a rollback can be
explained from the deployment record alone.

- errors and latency: the golden signals (:mod:`release.deploy.judge_signals`);
- predictions: population stability index between the two variants' outputs (binned
  probabilities, or classes), gated by a chi-square test of homogeneity; for regression,
  the Wasserstein distance in baseline standard deviations, gated by a KS test;
- accuracy (classification): where requests carried labels, a non-inferiority test on
  accuracy against the ``max_accuracy_drop`` margin;
- model_error (regression, :mod:`release.deploy.judge_regression`): absolute errors
  against labels, a non-inferiority test that the configured metric (MAE or RMSE) rose
  by more than ``max_error_increase``. Where labels arrive they decide: a shifted output
  distribution alone then holds the step (inconclusive) until the error is shown within
  the margin or beyond it.

The task is inferred from the samples (numeric, non-integral predictions are regression)
unless the caller names it. PSI, Jensen-Shannon and the exact tests come from the
statistics core (:mod:`release.stats`). This module is also the judges' public face: it
re-exports the shadow judge (:mod:`release.deploy.judge_shadow`), the golden-set
verdict (:mod:`release.deploy.judge_golden`) and what they read and answer
(:mod:`release.deploy.verdict`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from release.config import JudgeSettings
from release.deploy.judge_golden import judge_golden
from release.deploy.judge_regression import (
    check_model_error,
    check_shadow_values,
    check_value_distribution,
    is_regression,
    labels_decide,
)
from release.deploy.judge_shadow import judge_shadow
from release.deploy.judge_signals import (
    check_errors,
    check_latency,
    check_traffic,
    combine,
    error_rate_fails,
)
from release.deploy.verdict import (
    Check,
    CheckStatus,
    Sample,
    ShadowStats,
    Status,
    Verdict,
    norm_label,
)
from release.stats import divergence, noninferiority

__all__ = [
    "Check",
    "CheckStatus",
    "Sample",
    "ShadowStats",
    "Status",
    "Verdict",
    "check_accuracy",
    "check_errors",
    "check_latency",
    "check_model_error",
    "check_predictions",
    "check_shadow_values",
    "check_value_distribution",
    "error_rate_fails",
    "is_regression",
    "judge",
    "judge_golden",
    "judge_shadow",
    "margin_test",
    "norm_label",
]

PROBABILITY_BINS = 10


# ----------------------------------------------------------------------------- tests
def _histograms(candidate: Sample, baseline: Sample) -> tuple[list[int], list[int], str] | None:
    """Counts over shared bins: probability deciles when both have scores, else classes."""
    if candidate.scores and baseline.scores:

        def bins(values: Sequence[float]) -> list[int]:
            counts = [0] * PROBABILITY_BINS
            for v in values:
                counts[min(PROBABILITY_BINS - 1, max(0, int(v * PROBABILITY_BINS)))] += 1
            return counts

        return bins(candidate.scores), bins(baseline.scores), "probability"
    if candidate.predictions and baseline.predictions:
        values = [*candidate.predictions, *baseline.predictions]
        classes = sorted({str(v) for v in values})
        count_c = Counter(str(v) for v in candidate.predictions)
        count_b = Counter(str(v) for v in baseline.predictions)
        return [count_c[k] for k in classes], [count_b[k] for k in classes], "class"
    return None


def merge_sparse(count_c: list[int], count_b: list[int]) -> tuple[list[int], list[int]]:
    """Adjacent bins merged until every cell of the 2 x k table expects at least 5 rows.

    Cochran's rule for the chi-square test: with a few dozen rows over ten bins, empty and
    near-empty cells make the asymptotic p-value and the PSI of two samples of one model
    look significant. Fewer, fuller bins keep both honest; one bin left means no test.
    """
    n_c, n_b = sum(count_c), sum(count_b)
    total = n_c + n_b
    if total == 0:
        return [], []
    need = 5 * total / max(1, min(n_c, n_b))  # a column total giving expected >= 5
    merged_c: list[int] = []
    merged_b: list[int] = []
    acc_c = acc_b = 0
    for c, b in zip(count_c, count_b, strict=True):
        acc_c, acc_b = acc_c + c, acc_b + b
        if acc_c + acc_b >= need:
            merged_c.append(acc_c)
            merged_b.append(acc_b)
            acc_c = acc_b = 0
    if acc_c + acc_b:
        if merged_c:  # the remainder joins the last full bin
            merged_c[-1] += acc_c
            merged_b[-1] += acc_b
        else:
            merged_c, merged_b = [acc_c], [acc_b]
    return merged_c, merged_b


def check_predictions(candidate: Sample, baseline: Sample, settings: JudgeSettings) -> Check:
    """Prediction distribution: PSI above the threshold and a significant chi-square,
    over bins merged until the chi-square's expected counts hold (:func:`merge_sparse`)."""
    from scipy.stats import chi2, chi2_contingency

    hist = _histograms(candidate, baseline)
    if hist is None:
        return Check("predictions", "inconclusive", "no predictions to compare")
    raw_c, raw_b, kind = hist
    n_c, n_b = sum(raw_c), sum(raw_b)
    if n_c == 0 or n_b == 0:
        return Check("predictions", "inconclusive", "no predictions to compare")
    count_c, count_b = merge_sparse(raw_c, raw_b)
    value = divergence.psi(count_b, count_c)
    keep = list(range(len(count_c)))
    p = 1.0
    if len(keep) >= 2:
        table = [count_c, count_b]
        p = float(chi2_contingency(table).pvalue)
    # PSI is a symmetrised KL divergence, about chi2(k - 1) * (1/n_c + 1/n_b) for two
    # samples of one distribution. The sampling floor is that null's 1 - alpha quantile,
    # not its mean: a healthy candidate's PSI stays under it with probability 1 - alpha at
    # every look, so small canary windows judged many times do not fail it.
    floor = 0.0
    if len(keep) >= 2:
        floor = float(chi2.ppf(1 - settings.alpha, len(keep) - 1)) * (1 / n_c + 1 / n_b)
    excess = max(0.0, value - floor)
    numbers = {
        "psi": value,
        "psi_sampling_floor": floor,
        "psi_excess": excess,
        "jensen_shannon": divergence.jensen_shannon(count_b, count_c),
        "p_value": p,
        "bins": kind,
        "merged_bins": len(count_c),
        "candidate_rows": n_c,
        "baseline_rows": n_b,
        "max_psi": settings.max_prediction_psi,
    }
    if excess > settings.max_prediction_psi and p < settings.alpha:
        reason = (
            f"prediction distribution shifted: PSI {value:.3f} (sampling floor {floor:.3f}) > "
            f"{settings.max_prediction_psi} ({kind} bins, p={p:.2g})"
        )
        return Check("predictions", "fail", reason, numbers)
    return Check(
        "predictions", "pass", f"prediction PSI {value:.3f} (sampling floor {floor:.3f})", numbers
    )


def check_accuracy(candidate: Sample, baseline: Sample, settings: JudgeSettings) -> Check:
    """Accuracy on labelled requests: a significant drop beyond ``max_accuracy_drop`` fails."""
    n_c, n_b = len(candidate.correct), len(baseline.correct)
    if min(n_c, n_b) < settings.min_labelled:
        return Check(
            "accuracy",
            "skip",
            f"labelled rows {n_c}/{n_b} < {settings.min_labelled}",
            {"candidate_labelled": n_c, "baseline_labelled": n_b},
        )
    ok_c, ok_b = sum(candidate.correct), sum(baseline.correct)
    acc_c, acc_b = ok_c / n_c, ok_b / n_b
    drop, margin = acc_b - acc_c, settings.max_accuracy_drop
    # Non-inferiority: fail only when the drop is significantly larger than the tolerated
    # margin. Candidate and baseline answer different requests, so a drop just above the
    # margin in a small window is as likely noise as harm.
    z, p = margin_test(drop, margin, acc_b, n_b, acc_c, n_c)
    numbers = {
        "candidate_accuracy": acc_c,
        "baseline_accuracy": acc_b,
        "candidate_labelled": n_c,
        "baseline_labelled": n_b,
        "drop": drop,
        "z": z,
        "p_value": p,
        "max_drop": margin,
    }
    if p < settings.alpha and drop > margin:
        reason = (
            f"accuracy {acc_c:.1%} vs baseline {acc_b:.1%} "
            f"(-{drop:.1%}, significantly more than {margin:.1%}, p={p:.2g})"
        )
        return Check("accuracy", "fail", reason, numbers)
    return Check("accuracy", "pass", f"accuracy {acc_c:.1%} vs {acc_b:.1%}", numbers)


margin_test = noninferiority.proportion_drop


# ----------------------------------------------------------------------------- judge
def judge(
    candidate: Sample,
    baseline: Sample,
    *,
    min_requests: int,
    settings: JudgeSettings,
    task: str | None = None,
) -> Verdict:
    """Compare candidate with baseline over one window; pass, fail or inconclusive.

    A significant error-rate increase fails even before ``min_requests`` (fail fast);
    every other check, and any pass, needs ``min_requests`` on both sides. ``task``
    (``regression`` or a classification task) is inferred from the outputs when None.
    """
    if min_requests < 1:
        raise ValueError(f"min_requests must be >= 1, got {min_requests}")
    traffic = check_traffic(candidate, baseline, min_requests)
    errors = check_errors(candidate, baseline, settings)
    if traffic.status != "pass":
        checks = [traffic, errors]
        if errors.status == "fail":
            return Verdict("fail", [errors.reason], checks)
        return Verdict("inconclusive", [traffic.reason], checks)
    regression = is_regression(candidate, baseline) if task is None else task == "regression"
    checks = [traffic, errors, check_latency(candidate, baseline, settings)]
    if regression:
        error = check_model_error(candidate, baseline, settings)
        shift = check_value_distribution(candidate, baseline, settings)
        checks += [error, labels_decide(shift, error, settings)]
    else:
        checks.append(check_predictions(candidate, baseline, settings))
        checks.append(check_accuracy(candidate, baseline, settings))
    return combine(checks)
