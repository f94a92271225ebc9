"""Simulated rollbacks of the canary judge on regression models, with labels.

Each rollout runs the 10%/50%/100% canary (``--steps`` candidate:baseline requests per
step); every step is judged ``--looks`` times on its growing window, as the controller
polls it. An urgent failure (errors, latency) rolls it back at that look; a comparison of
the model's answers (error, distribution) decides at the step's last look, when its
minimum duration is reached (:func:`release.deploy.judge.judge`, default settings).
Truths are N(150, 70) and every request carries its label.

- healthy: the candidate is the baseline's model (the same error distribution);
- better, spread differently: the baseline shrinks towards the mean (outputs about
  0.3 truth stds wide), the candidate follows the truth with half its error: the labels
  show it better while its outputs are about 2 baseline stds away (Wasserstein);
- worse: the candidate's errors are 1.5 times the baseline's.

The "labels decide" column judges as the judge does; "shift alone" drops the labels, so
the output distribution decides as it must without them.

    .venv/bin/python bench/judge_regression.py [--trials 2000] [--looks 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from release.config import JudgeSettings
from release.deploy.judge import Sample, judge

Model = Callable[[np.random.Generator, np.ndarray], np.ndarray]


def plain(noise: float) -> Model:
    """Predictions: the truth plus normal noise of ``noise``."""
    return lambda rng, truth: truth + rng.normal(0, noise, truth.size)


def shrunk(rng: np.random.Generator, truth: np.ndarray) -> np.ndarray:
    """A heavily regularised model: outputs pulled towards the mean."""
    return 150 + 0.3 * (truth - 150) + rng.normal(0, 10, truth.size)


def sample(rng: np.random.Generator, model: Model, n: int, labels: bool) -> Sample:
    """One variant's window of ``n`` labelled requests."""
    truth = rng.normal(150, 70, n)
    pred = model(rng, truth)
    return Sample(
        requests=n,
        latencies_ms=[5.0] * n,
        predictions=pred.tolist(),
        abs_errors=np.abs(pred - truth).tolist() if labels else [],
    )


def rolled_back(
    rng: np.random.Generator,
    candidate: Model,
    baseline: Model,
    steps: list[tuple[int, int]],
    looks: int,
    labels: bool,
    only_first: bool = False,
) -> bool:
    """Whether one simulated rollout fails at any look of any step (of the first only)."""
    settings = JudgeSettings()
    for n_c, n_b in steps[:1] if only_first else steps:
        cand, base = sample(rng, candidate, n_c, labels), sample(rng, baseline, n_b, labels)
        for look in range(1, looks + 1):
            c, b = n_c * look // looks, n_b * look // looks
            window_c = Sample(
                c, 0, cand.latencies_ms[:c], cand.predictions[:c], (), (), cand.abs_errors[:c]
            )
            window_b = Sample(
                b, 0, base.latencies_ms[:b], base.predictions[:b], (), (), base.abs_errors[:b]
            )
            verdict = judge(window_c, window_b, min_requests=min(100, n_c), settings=settings)
            # As the controller does: an urgent failure (errors, latency) stops the step at
            # once; a comparison of the model's answers decides at the step's last look.
            if verdict.status == "fail" and (verdict.urgent or look == looks):
                return True
    return False


def main() -> None:
    """Print the share of rollouts rolled back per scenario."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2_000)
    parser.add_argument("--looks", type=int, default=5)
    parser.add_argument("--steps", nargs="+", default=["100:900", "500:500", "1000:1000"])
    args = parser.parse_args()
    steps = [(int(a), int(b)) for a, b in (s.split(":") for s in args.steps)]
    rng = np.random.default_rng(0)
    base = plain(45)
    scenarios = [
        ("healthy (same model)", base, base, False),
        ("better, spread differently", plain(22), shrunk, False),
        ("worse (errors x1.5), step 1", plain(67.5), base, True),
    ]
    print(f"steps {args.steps}, {args.looks} looks a step, {args.trials} trials")
    print(f"{'scenario':<30} {'labels decide':>14} {'shift alone':>12}")
    for name, cand, baseline, first in scenarios:
        shares = []
        for labels in (True, False):
            fails = sum(
                rolled_back(rng, cand, baseline, steps, args.looks, labels, first)
                for _ in range(args.trials)
            )
            shares.append(fails / args.trials)
        print(f"{name:<30} {shares[0]:>14.2%} {shares[1]:>12.2%}")


if __name__ == "__main__":
    main()
