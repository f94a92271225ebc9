"""Benchmark: registry reads and writes against gto and against the git floor.

Builds repositories with ``git fast-import`` (annotated tags, distinct tagger times):

  (a) one artifact, 1,000 commits, 1,000 registrations and 2,000 assignments (3,000 tags);
  (b) 10 artifacts x 200 versions (a registration and an assignment each; no gto);
  (c) one artifact, 5,000 versions and 10,000 assignments (15,000 tags; reads only, no
      gto: it is too slow there).

and prints, per command, the median wall time of ``release`` (the installed console
script, a fresh process each run, as a user or CI runs it) cold (``RELEASE_NO_CACHE=1``:
every tag, commit and index file read) and cached (the read cache keyed by the refs, see
``release/registry/readcache.py``), of ``gto`` (one run, with a timeout) and of the floor
``git for-each-ref refs/tags``, with the ratios, all in the same run.
Goals: reads <= 3x the floor, check-ref <= 0.3 s, promote <= 0.5 s, --help <= 0.25 s.

    .venv/bin/python bench/registry.py [--runs 5] [--gto-timeout 60] [--no-gto]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RELEASE = str(BIN / "release")
GTO = str(BIN / "gto")
STAGES = ("dev", "staging", "prod")
T0 = 1_700_000_000


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n" % len(raw) + raw + b"\n"


def build(path: Path, artifacts: list[str], versions: int, assignments: int) -> None:
    """A repository with ``versions`` commits; each artifact registered on each commit."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.invalid")):
        subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
    out = bytearray()
    clock = T0
    for i in range(versions):
        clock += 1
        out += b"commit refs/heads/main\nmark :%d\n" % (i + 1)
        out += b"committer Bench <bench@example.invalid> %d +0000\n" % clock
        out += _data(f"commit {i}")
        if i:
            out += b"from :%d\n" % i
        out += b"M 644 inline model.txt\n" + _data(f"model {i}\n")
    tags = bytearray()
    for name in artifacts:
        counter = 0
        for i in range(versions):
            clock += 1
            version = f"v0.{i // 100}.{i % 100}"
            tags += f"tag {name}@{version}\nfrom :{i + 1}\n".encode()
            tags += b"tagger Bench <bench@example.invalid> %d +0000\n" % clock
            tags += _data(f"Registering artifact {name} version {version}")
            for _ in range(assignments // versions):
                counter += 1
                clock += 1
                stage = STAGES[counter % len(STAGES)]
                tags += f"tag {name}#{stage}#{counter}\nfrom :{i + 1}\n".encode()
                tags += b"tagger Bench <bench@example.invalid> %d +0000\n" % clock
                tags += _data(f"Assigning stage {stage} to artifact {name} version {version}")
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=bytes(out + tags), check=True
    )
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)


def timed(cmd: list[str], cwd: Path, timeout: float | None = None) -> float | None:
    """Wall time of one run (None on timeout); raises if the command fails."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr.decode()[-300:]}")
    return time.perf_counter() - start


def median(cmd: list[str], cwd: Path, runs: int) -> float:
    return interleaved({"cmd": (cmd, None)}, cwd, runs)["cmd"]


COLD = {"RELEASE_NO_CACHE": "1"}


def interleaved(
    cmds: dict[str, tuple[list[str], dict[str, str] | None]], cwd: Path, runs: int
) -> dict[str, float]:
    """Median wall time of each command, run in rounds (one of each per round), so a
    change of load on a shared machine hits every command alike and the ratios hold."""
    times: dict[str, list[float]] = {key: [] for key in cmds}
    for _ in range(runs):
        for key, (cmd, env) in cmds.items():
            full_env = None if env is None else {**os.environ, **env}
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, capture_output=True, check=True, env=full_env)
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


def bench_repo(
    label: str,
    repo: Path,
    name: str,
    args: argparse.Namespace,
    *,
    full: bool = True,
    gto: bool = True,
) -> list[list[str]]:
    """Rows for one repository; ``full`` adds history, check-ref and promote, ``gto`` runs
    gto too (only at 3,000 tags: it takes minutes)."""
    last_tag = subprocess.run(
        ["git", "-C", str(repo), "tag", "-l", f"{name}#*", "--sort=-taggerdate"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    cases = [
        ("show", ["show", "--json"], True),
        ("show NAME", ["show", name, "--json"], True),
        ("history NAME", ["history", name, "--json"], False),
        ("check-ref TAG", ["check-ref", last_tag, "--json"], False),
    ][: None if full else 2]
    cmds: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "floor": (["git", "for-each-ref", "refs/tags"], None)
    }
    for case, cmd, cached in cases:
        cmds[f"{case} cold"] = ([RELEASE, *cmd], COLD)
        if cached:
            subprocess.run([RELEASE, *cmd], cwd=repo, capture_output=True, check=True)  # store
            cmds[f"{case} cached"] = ([RELEASE, *cmd], None)
    medians = interleaved(cmds, repo, args.runs)
    floor = medians["floor"]
    rows = []
    for case, cmd, cached in cases:
        use_gto = gto and full and not args.no_gto
        t_gto = timed([GTO, *cmd], repo, args.gto_timeout) if use_gto else None
        warm = medians[f"{case} cached"] if cached else None
        rows.append(_row(label, case, medians[f"{case} cold"], warm, t_gto, floor, args, use_gto))
    if not full:
        return rows
    # promote: a different version each run, so every run writes a new tag
    times = []
    for i in range(args.runs):
        cmd = [RELEASE, "promote", name, "prod", "--version", f"v0.0.{10 + i}"]
        times.append(timed(cmd, repo) or 0.0)
    t_gto = None
    use_gto = gto and not args.no_gto
    if use_gto:
        # --force: gto refuses a version with an active assignment to the stage
        cmd = [GTO, "assign", name, "--version", "v0.0.50", "--stage", "prod", "--force"]
        t_gto = timed(cmd, repo, args.gto_timeout)
    rows.append(_row(label, "promote", statistics.median(times), None, t_gto, floor, args, use_gto))
    return rows


def _row(
    label: str,
    case: str,
    cold: float,
    warm: float | None,
    gto: float | None,
    floor: float,
    args: argparse.Namespace,
    use_gto: bool,
) -> list[str]:
    best = warm if warm is not None else cold
    gto_text = "-" if not use_gto else f">{args.gto_timeout:.0f}" if gto is None else f"{gto:.3f}"
    speedup = "-" if gto is None else f"{gto / best:.0f}x"
    if gto is None and use_gto:
        speedup = f">{args.gto_timeout / best:.0f}x"
    warm_text = "-" if warm is None else f"{warm:.3f}"
    warm_ratio = "-" if warm is None else f"{warm / floor:.1f}x"
    return [
        label,
        case,
        f"{cold:.3f}",
        warm_text,
        gto_text,
        speedup,
        f"{floor:.3f}",
        f"{cold / floor:.1f}x",
        warm_ratio,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gto-timeout", type=float, default=60.0)
    parser.add_argument("--no-gto", action="store_true", help="skip gto (it is slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        build(a, ["model"], 1000, 2000)
        build(b, [f"model{i}" for i in range(10)], 200, 200)
        c = Path(tmp) / "c"
        build(c, ["model"], 5000, 10000)
        rows = bench_repo("(a) 3,000 tags", a, "model", args)
        rows += bench_repo("(b) 10x200+200", b, "model3", args, gto=False)
        rows += bench_repo("(c) 15,000 tags", c, "model", args, full=False)
        help_time = median([RELEASE, "--help"], a, args.runs)
        startup = median([sys.executable, "-c", "import release.cli"], a, args.runs)
        from release.registry.state import FORMAT

        fields = median(["git", "for-each-ref", f"--format={FORMAT}", "refs/tags"], a, args.runs)
    headers = [
        "repo",
        "command",
        "cold s",
        "cached s",
        "gto s",
        "gto/release",
        "floor s",
        "cold/floor",
        "cached/floor",
    ]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"\nrelease --help: {help_time:.3f} s median (goal <= 0.25 s)")
    print(f"python start-up + import release.cli (click): {startup:.3f} s median, paid by every")
    print("release command before it reads anything.")
    print(f"git for-each-ref with the tag fields the state needs (repo a): {fields:.3f} s median")
    print("(the floor does not read tag objects; tagger, message and target need them).")
    print("floor = git for-each-ref refs/tags (one process); goals: reads <= 3x floor,")
    print("check-ref <= 0.3 s, promote <= 0.5 s.")


if __name__ == "__main__":
    main()
