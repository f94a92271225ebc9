"""Benchmark: full `dvc repro` versus the same stage commands run directly.

Reference: running the stage commands by hand (`release data prepare`, `... validate`,
`release train`, `release evaluate`, `release card build`). Goals: ratio <= 1.15 and a full
repro <= 60 s on 2 cores; the no-op repro is reported too. Medians over --repeats runs,
each in a fresh throwaway copy of the project. Besides wall time, the CPU seconds of each
run (its processes' user + system time) are shown: on a shared machine they move far less
with the other work than wall time does, so their ratio is the steadier figure of DVC's
own cost. The load average before and after is printed with the table.

    .venv/bin/python bench/pipeline.py [--repeats 3] [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from release.workspace import copy_project, git_env  # noqa: E402

STAGES = [
    ["release", "data", "prepare"],
    ["release", "data", "validate"],
    ["release", "train"],
    ["release", "evaluate"],
    ["release", "card", "build"],
]


def timed(cmds: list[list[str]], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of every process started) to run ``cmds``."""
    env = git_env()
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, cwd=cwd, check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def fresh(tmp: Path, name: str, rows: int) -> Path:
    project = copy_project(ROOT, tmp / name, commit=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["rows"] = rows
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    load_before = os.getloadavg()
    repro, direct, noop = [], [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for i in range(args.repeats):
            project = fresh(tmp, f"repro{i}", args.rows)
            repro.append(timed([["dvc", "repro", "-q"]], project))
            noop.append(timed([["dvc", "repro", "-q"]], project))
            project = fresh(tmp, f"direct{i}", args.rows)
            direct.append(timed(STAGES, project))
    wall_ref = statistics.median(w for w, _ in direct)
    cpu_ref = statistics.median(c for _, c in direct)
    rows = [
        ("full dvc repro", repro, "<= 1.15x, <= 60 s"),
        ("stage commands directly (reference)", direct, ""),
        ("no-op dvc repro", noop, ""),
    ]
    print(f"pipeline on {args.rows} rows, median of {args.repeats} runs")
    print(f"{'what':38} {'wall s':>7} {'ratio':>6} {'cpu s':>7} {'ratio':>6}  goal")
    for name, runs, goal in rows:
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        ratios = f"{wall / wall_ref:6.2f} {cpu:7.2f} {cpu / cpu_ref:6.2f}"
        print(f"{name:38} {wall:7.2f} {ratios}  {goal}")
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min): before {_load(load_before)}, after {_load(load_after)}")


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
