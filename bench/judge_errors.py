"""Simulated false-rollback rate of the canary judge's error-rate check.

A healthy candidate has the baseline's own error rate; each canary step draws binomial
error counts for both variants and asks the judge's error-rate decision
(:func:`release.deploy.judge.error_rate_fails`, default settings) whether to roll back.
The false-rollback rate is the share of rollouts failed at any step. The power column is
the share of rollouts of a broken candidate (``--broken`` error rate, default 50%) failed
at the first step.

    .venv/bin/python bench/judge_errors.py [--trials 20000] [--steps 100:900 500:500 1000:1000]
"""

from __future__ import annotations

import argparse

import numpy as np

from release.config import JudgeSettings
from release.deploy.judge import error_rate_fails


def rollout_fails(
    rng: np.random.Generator, rate_c: float, rate_b: float, steps: list[tuple[int, int]]
) -> bool:
    """Whether any step of one simulated rollout fails on its error counts."""
    settings = JudgeSettings()
    for n_c, n_b in steps:
        e_c, e_b = int(rng.binomial(n_c, rate_c)), int(rng.binomial(n_b, rate_b))
        if error_rate_fails(e_c, n_c, e_b, n_b, settings)[0]:
            return True
    return False


def main() -> None:
    """Print the false-rollback rate per baseline error rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--steps", nargs="+", default=["100:900", "500:500", "1000:1000"])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.001, 0.005, 0.01, 0.02])
    parser.add_argument("--broken", type=float, default=0.5)
    args = parser.parse_args()
    steps = [(int(a), int(b)) for a, b in (s.split(":") for s in args.steps)]
    rng = np.random.default_rng(0)
    print(f"steps (candidate:baseline requests): {args.steps}; {args.trials} trials")
    print("baseline error rate   false rollbacks   broken candidate failed at step 1")
    for rate in args.rates:
        false = sum(rollout_fails(rng, rate, rate, steps) for _ in range(args.trials))
        first = steps[:1]
        power = sum(rollout_fails(rng, args.broken, rate, first) for _ in range(args.trials))
        print(f"{rate:>19.1%}   {false / args.trials:>15.2%}   {power / args.trials:>10.1%}")


if __name__ == "__main__":
    main()
