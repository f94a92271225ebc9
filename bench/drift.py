"""Benchmark: data drift on 20 numeric + 5 categorical columns, 100,000 and 1,000,000 rows.

Whole-process wall time and peak memory (max RSS of the child process, from ``wait4``) of

- ``release monitor drift --current cur.parquet --reference ref.parquet`` (the CLI, all of it:
  start-up, reading both files, every column, the three reports);
- a plain scipy baseline (read both files with pandas, ``scipy.stats.wasserstein_distance``
  / reference std per numeric column, ``scipy.spatial.distance.jensenshannon`` per
  categorical column: the same decisions, written the obvious way);
- Evidently's ``DataDriftPreset`` on the same files, when an Evidently environment exists
  (Evidently 0.7 needs pandas < 3: ``python -m venv /tmp/evvenv && /tmp/evvenv/bin/pip
  install evidently "pandas<3" pyarrow``); skipped with a note otherwise.

Drift is planted in some columns (strong, near the threshold, and tiny); the script
prints medians, ratios to each reference, and per-column verdict agreement.
Goals (issue 8): >= 10x faster than Evidently at 1M rows, peak memory at most half.

    .venv/bin/python bench/drift.py [--rows 100000 1000000] [--runs 3]
                                    [--evidently-python /tmp/evvenv/bin/python]

Measured here (2 shared cores, load average ~7 from other work; medians; Evidently 0.7.23
with pandas 2.3.3, one run at 1M rows):

    rows       release          scipy baseline     Evidently DataDriftPreset
    100,000    5.5 s, 238 MiB   12.4 s, 342 MiB    60.6 s, 552 MiB   (11.0x time, 2.3x memory)
    1,000,000  7.9 s, 624 MiB   50.2 s, 1139 MiB   503 s, 2322 MiB   (63.7x time, 3.7x memory)

Verdicts agreed on 25/25 columns with both, at both sizes (same scores to 4 decimals).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
# Planted drift, in reference standard deviations (numeric) or as changed frequencies.
SHIFT = {"n00": 0.5, "n01": 0.3, "n02": 0.15, "n03": 0.11, "n04": 0.05, "n05": 0.01}
SCALE = {"n06": 1.25, "n07": 1.05}
CAT_LEVELS = [["a", "b", "c", "d"], ["x", "y", "z"], list("pqrstuvw"), ["on", "off"], list("klmno")]
CAT_PROBS = [
    [0.4, 0.3, 0.2, 0.1],
    [0.5, 0.3, 0.2],
    [0.2, 0.15, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1],
    [0.7, 0.3],
    [0.3, 0.3, 0.2, 0.1, 0.1],
]
CAT_DRIFT = {0: [0.2, 0.2, 0.3, 0.3], 1: [0.45, 0.32, 0.23]}


# ------------------------------------------------------------------------------ data
def make_data(rows: int, seed: int, drifted: bool) -> Any:
    """One frame: reference (drifted=False) or current (drifted=True)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        loc, scale = 10.0 * i, 1.0 + i / 4
        shift = SHIFT.get(name, 0.0) if drifted else 0.0
        factor = SCALE.get(name, 1.0) if drifted else 1.0
        if i % 5 == 4:  # some skewed columns
            base = rng.lognormal(0, 0.5, rows)
            sd = float(np.sqrt((np.exp(0.25) - 1) * np.exp(0.25)))
            cols[name] = loc + scale * ((base - base.mean()) * factor + shift * sd)
        else:
            cols[name] = rng.normal(loc + shift * scale, scale * factor, rows)
    for i, name in enumerate(CATEGORICAL):
        probs = CAT_DRIFT.get(i, CAT_PROBS[i]) if drifted else CAT_PROBS[i]
        cols[name] = pd.Series(rng.choice(CAT_LEVELS[i], rows, p=probs), dtype="str")
    return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- workers
def worker_scipy(ref_path: str, cur_path: str, out: str) -> None:
    """The plain scipy baseline: Evidently's large-data decisions written directly."""
    import numpy as np
    import pandas as pd
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    result = {}
    for col in NUMERIC:
        r, c = ref[col].dropna().to_numpy(), cur[col].dropna().to_numpy()
        score = wasserstein_distance(r, c) / np.std(r)
        result[col] = {
            "method": "wasserstein",
            "score": float(score),
            "drifted": bool(score >= 0.1),
        }
    for col in CATEGORICAL:
        rc, cc = ref[col].value_counts(), cur[col].value_counts()
        keys = sorted(set(rc.index) | set(cc.index))
        p = np.array([rc.get(k, 0) for k in keys], dtype=float)
        q = np.array([cc.get(k, 0) for k in keys], dtype=float)
        score = jensenshannon(p / p.sum(), q / q.sum())
        result[col] = {
            "method": "jensenshannon",
            "score": float(score),
            "drifted": bool(score >= 0.1),
        }
    Path(out).write_text(json.dumps(result))


def worker_evidently(ref_path: str, cur_path: str, out: str) -> None:
    """Evidently 0.7's DataDriftPreset with default settings."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    result = {}
    for metric in snapshot.dict()["metrics"]:
        cfg = metric.get("config", {})
        column = cfg.get("column")
        if column is None or "method" not in cfg:
            continue
        method, threshold = str(cfg["method"]), float(cfg.get("threshold") or 0.05)
        score = float(metric["value"])
        p_value = "p_value" in method or method.lower().startswith(("k-s", "chi", "z-test"))
        drifted = score < threshold if p_value else score >= threshold
        result[column] = {"method": method, "score": score, "drifted": drifted}
    Path(out).write_text(json.dumps(result))


# ----------------------------------------------------------------------------- timing
def measure(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process; raise if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):  # 1: drift found, expected
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err[-800:]}")
    return wall, usage.ru_maxrss / 1024


def release_verdicts(report_json: Path) -> dict[str, Any]:
    """Per-column verdicts of `release monitor drift --json`."""
    detail = json.loads(report_json.read_text())
    return {
        c["column"]: {"method": c["method"], "score": c["score"], "drifted": c["drifted"]}
        for c in detail["columns"]
    }


def run_size(rows: int, runs: int, ev_python: str | None, work: Path) -> dict[str, Any]:
    """All tools at one size: timings and verdicts."""
    ref_path, cur_path = work / "ref.parquet", work / "cur.parquet"
    make_data(rows, 1, False).to_parquet(ref_path)
    make_data(rows, 2, True).to_parquet(cur_path)
    (work / "params.yaml").write_text("monitor:\n  drift:\n    fail_on_drift: false\n")
    release = str(Path(sys.executable).with_name("release"))
    tools: dict[str, list[str]] = {
        "release": [
            "sh",
            "-c",
            f'"{release}" monitor drift --current cur.parquet --reference ref.parquet '
            "--json --out reports > release.json",
        ],
        "scipy": [
            sys.executable,
            str(HERE),
            "--worker",
            "scipy",
            str(ref_path),
            str(cur_path),
            "scipy.json",
        ],
    }
    if ev_python:
        tools["evidently"] = [
            ev_python,
            str(HERE),
            "--worker",
            "evidently",
            str(ref_path),
            str(cur_path),
            "evidently.json",
        ]
    out: dict[str, Any] = {"rows": rows, "tools": {}}
    for name, cmd in tools.items():
        n = 1 if name == "evidently" and rows >= 1_000_000 else runs
        samples = [measure(cmd, work) for _ in range(n)]
        out["tools"][name] = {
            "wall_s": statistics.median(s[0] for s in samples),
            "peak_mib": statistics.median(s[1] for s in samples),
            "runs": n,
        }
    out["verdicts"] = {"release": release_verdicts(work / "release.json")}
    out["verdicts"]["scipy"] = json.loads((work / "scipy.json").read_text())
    if ev_python:
        out["verdicts"]["evidently"] = json.loads((work / "evidently.json").read_text())
    return out


def evidently_python(path: str) -> str | None:
    """The interpreter of an environment where Evidently imports, or None."""
    if not Path(path).is_file():
        return None
    ok = subprocess.run([path, "-c", "import evidently, pandas"], capture_output=True, check=False)
    return path if ok.returncode == 0 else None


def report(result: dict[str, Any]) -> None:
    """Print timings, ratios and per-column agreement for one size."""
    rows, tools = result["rows"], result["tools"]
    print(f"\n== {rows:,} rows x 25 columns (reference and current each) ==")
    head = ("tool", "median s", "peak MiB", "runs", "time ratio", "mem ratio")
    widths = (12, 10, 10, 6, 12, 11)
    print(
        head[0].ljust(widths[0])
        + "".join(h.rjust(w) for h, w in zip(head[1:], widths[1:], strict=True))
    )
    mine = tools["release"]
    for name, t in tools.items():
        ratio = t["wall_s"] / mine["wall_s"]
        mem = t["peak_mib"] / mine["peak_mib"]
        print(
            f"{name:<12}{t['wall_s']:>10.2f}{t['peak_mib']:>10.0f}{t['runs']:>6}{ratio:>11.1f}x{mem:>10.1f}x"
        )
    print("(ratios: tool / release; > 1 means release is faster or smaller)")
    verdicts = result["verdicts"]
    others = [k for k in verdicts if k != "release"]
    head = f"{'column':<8}{'release':>22}" + "".join(f"{k:>22}" for k in others) + "  agree"
    print(head)
    agree = {k: 0 for k in others}
    for col in NUMERIC + CATEGORICAL:
        mine_v = verdicts["release"][col]
        cells = [f"{mine_v['score']:.4f} {'DRIFT' if mine_v['drifted'] else 'ok':>5}"]
        flags = []
        for k in others:
            v = verdicts[k].get(col)
            if v is None:
                cells.append("missing")
                flags.append("?")
                continue
            cells.append(f"{v['score']:.4f} {'DRIFT' if v['drifted'] else 'ok':>5}")
            same = v["drifted"] == mine_v["drifted"]
            agree[k] += same
            flags.append("=" if same else "DIFFERS")
        print(f"{col:<8}" + "".join(f"{c:>22}" for c in cells) + "  " + " ".join(flags))
    for k, n in agree.items():
        print(f"verdict agreement with {k}: {n}/{len(NUMERIC) + len(CATEGORICAL)} columns")


def main() -> None:
    """Run the benchmark (or one worker, when called with --worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "REF", "CUR", "OUT"))
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--evidently-python", default="/tmp/evvenv/bin/python")
    parser.add_argument("--json", help="Also write the results to this file.")
    args = parser.parse_args()
    if args.worker:
        kind, ref, cur, out = args.worker
        {"scipy": worker_scipy, "evidently": worker_evidently}[kind](ref, cur, out)
        return
    ev = evidently_python(args.evidently_python)
    if ev is None:
        print(
            f"note: Evidently not measured: no environment at {args.evidently_python} where "
            "`import evidently` works (Evidently 0.7 needs pandas < 3: python -m venv "
            '/tmp/evvenv && /tmp/evvenv/bin/pip install evidently "pandas<3" pyarrow)'
        )
    results = []
    for rows in args.rows:
        work = Path(tempfile.mkdtemp(prefix=f"drift-bench-{rows}-"))
        try:
            result = run_size(rows, args.runs, ev, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        results.append(result)
        report(result)
    big = [r for r in results if "evidently" in r["tools"] and r["rows"] >= 1_000_000]
    for r in big:
        t = r["tools"]
        speed = t["evidently"]["wall_s"] / t["release"]["wall_s"]
        mem = t["release"]["peak_mib"] / t["evidently"]["peak_mib"]
        print(
            f"\ngoals at {r['rows']:,} rows: speed-up {speed:.1f}x (goal >= 10x) "
            f"{'met' if speed >= 10 else 'NOT met'}; memory {mem:.2f} of Evidently's "
            f"(goal <= 0.5) {'met' if mem <= 0.5 else 'NOT met'}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
