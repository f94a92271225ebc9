"""Benchmark: full `dvc repro` versus the same stage commands run directly.

Reference: running the stage commands by hand (`release data prepare`, `... validate`,
`release train`, `release evaluate`, `release card build`). Goals: ratio <= 1.15 and a full
repro <= 60 s on 2 cores; the no-op repro is reported too. Medians over --repeats runs,
each in a fresh throwaway copy of the project.

    .venv/bin/python bench/pipeline.py [--repeats 3] [--rows 20000]
"""

from __future__ import annotations

import argparse
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


def timed(cmds: list[list[str]], cwd: Path) -> float:
    env = git_env()
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    start = time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, cwd=cwd, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


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
    repro, direct, noop = [], [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for i in range(args.repeats):
            project = fresh(tmp, f"repro{i}", args.rows)
            repro.append(timed([["dvc", "repro", "-q"]], project))
            noop.append(timed([["dvc", "repro", "-q"]], project))
            project = fresh(tmp, f"direct{i}", args.rows)
            direct.append(timed(STAGES, project))
    med_repro, med_direct = statistics.median(repro), statistics.median(direct)
    rows = [
        ("full dvc repro", med_repro, med_repro / med_direct, "<= 1.15x, <= 60 s"),
        ("stage commands directly (reference)", med_direct, 1.0, ""),
        ("no-op dvc repro", statistics.median(noop), statistics.median(noop) / med_direct, ""),
    ]
    print(f"pipeline on {args.rows} rows, median of {args.repeats} runs")
    print(f"{'what':40} {'median s':>9} {'ratio':>7}  goal")
    for name, secs, ratio, goal in rows:
        print(f"{name:40} {secs:9.2f} {ratio:7.2f}  {goal}")


if __name__ == "__main__":
    main()
