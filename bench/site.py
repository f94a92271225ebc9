"""Benchmark: the registry site of the 3,000-tag repository (bench/registry.py's repo (a)).

One artifact, 1,000 commits, 1,000 registrations and 2,000 assignments. Prints the median
wall time of a full ``release site build`` (empty output folder) and of an incremental
rebuild after one new tag (a promotion, which changes the stages every version page
compares against), each in a fresh process as a user or CI runs it, and the rebuild
``release ui`` does in its own warm process.
Goals: full <= 3 s, incremental <= 0.5 s.

    .venv/bin/python bench/site.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry import build

RELEASE = str(Path(sys.executable).parent / "release")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], cwd: Path, cpu: list[float]) -> tuple[float, bytes]:
    """Wall time of one run; its CPU time (the process and its git children) goes to ``cpu``."""
    before = _cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr.decode()[-500:]}")
    wall = time.perf_counter() - start
    cpu.append(_cpu() - before)
    return wall, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo, out = Path(tmp) / "a", Path(tmp) / "site"
        build(repo, ["model"], 1000, 2000)
        site = [RELEASE, "site", "build", "--out", str(out)]
        full: list[float] = []
        full_cpu: list[float] = []
        for _ in range(args.runs):
            shutil.rmtree(out, ignore_errors=True)
            full.append(_timed(site, repo, full_cpu)[0])
        incremental: list[float] = []
        inc_cpu: list[float] = []
        written: list[int] = []
        for i in range(args.runs):
            stage = ("dev", "staging", "prod")[i % 3]
            version = f"v0.9.{50 + i}"
            subprocess.run(
                [RELEASE, "promote", "model", stage, "--version", version],
                cwd=repo,
                check=True,
                capture_output=True,
            )
            wall, stdout = _timed([*site, "--json"], repo, inc_cpu)
            incremental.append(wall)
            written.append(json.loads(stdout)["written"])
        # the same inside one warm process, as `release ui` rebuilds when the refs change
        from release.site.build import build_site

        build_site(repo, out)
        warm: list[float] = []
        for i in range(args.runs):
            subprocess.run(
                [RELEASE, "promote", "model", "prod", "--version", f"v0.9.{80 + i}"],
                cwd=repo,
                check=True,
                capture_output=True,
            )
            start = time.perf_counter()
            build_site(repo, out, atomic=True)
            warm.append(time.perf_counter() - start)
        pages = sum(1 for _ in out.rglob("*.html"))
    med = statistics.median
    print(f"3,000-tag repository: {pages} pages; load average {os.getloadavg()[0]:.1f}")
    print(
        f"full build:        {med(full):.3f} s wall, {med(full_cpu):.3f} s CPU "
        f"(medians of {args.runs}; goal <= 3 s)"
    )
    print(
        f"incremental build: {med(incremental):.3f} s wall, {med(inc_cpu):.3f} s CPU "
        f"after one new tag (a promotion; {med(written):.0f} pages rewritten; goal <= 0.5 s)"
    )
    print(f"release ui's rebuild after one new tag (warm process): {med(warm):.3f} s wall")


if __name__ == "__main__":
    main()
