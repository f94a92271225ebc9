"""Benchmark: registry reads and writes against gto and against the git floor.

Builds repositories with ``git fast-import`` (annotated tags, distinct tagger times):

  (a) one artifact, 1,000 commits, 1,000 registrations and 2,000 assignments (3,000 tags);
  (b) 10 artifacts x 200 versions (a registration and an assignment each; no gto);
  (c) one artifact, 5,000 versions and 10,000 assignments (15,000 tags; reads only, no
      gto: it is too slow there).

and prints, per command, the median wall time of ``release`` (the installed console
script, a fresh process each run, as a user or CI runs it) cold (``RELEASE_NO_CACHE=1``:
every tag, commit and index file read) and cached (the read cache keyed by the refs, see
``release/registry/readcache.py``; a hit is answered by ``release/entry.py`` before click
is imported), of ``gto`` (one run, with a timeout) and of the floor
``git for-each-ref refs/tags``, with the ratios, all in the same run.
Goals: reads <= 3x the floor, check-ref <= 0.3 s, promote <= 0.5 s, --help <= 0.25 s.

Which install it measures (printed with the results): by default this interpreter's
console script, an editable install (``pip install -e``, as ``make`` and CI's
setup-release action install it), whose ``.pth`` finder makes every Python start-up import
pathlib first. ``--wheel`` builds a wheel of this checkout and installs it into a
temporary virtualenv that borrows this one's dependencies through a ``.pth`` (so no
editable finder runs), as a team installs the wheel. Either way release's own modules run
from compiled bytecode (written under the temporary folder, ``PYTHONPYCACHEPREFIX``), as
any install has: ``PYTHONDONTWRITEBYTECODE=1``, set on some machines, would recompile
every module on every run; ``--no-bytecode`` measures that instead.

    .venv/bin/python bench/registry.py [--runs 5] [--gto-timeout 60] [--no-gto]
                                       [--wheel] [--no-bytecode]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RELEASE = str(BIN / "release")  # --wheel: the wheel's console script (see main)
PYTHON = sys.executable  # the interpreter of RELEASE
GTO = str(BIN / "gto")
ROOT = Path(__file__).resolve().parent.parent
ENV: dict[str, str] = dict(os.environ)  # every timed process's environment (see main)
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
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout, env=ENV)
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
            full_env = {**ENV, **(env or {})}
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
            # store the entry the cached runs hit
            subprocess.run([RELEASE, *cmd], cwd=repo, capture_output=True, check=True, env=ENV)
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


def install_wheel(tmp: Path) -> tuple[str, str]:
    """A wheel of this checkout in a new virtualenv that borrows this one's dependencies
    (a ``.pth`` line, written after the install so pip never sees the editable release):
    its ``release`` script and its python."""
    from release.workspace import copy_project

    sources = copy_project(ROOT, tmp / "src", commit=False)  # what a clone holds
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip"]
    built = subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "-w", str(dist), str(sources)], capture_output=True
    )
    if built.returncode != 0:  # setuptools' deprecation notices only when it failed
        raise RuntimeError(f"pip wheel failed: {built.stderr.decode()[-2000:]}")
    (wheel,) = dist.glob("release-*.whl")
    env_dir = tmp / "wheelenv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    target = ["--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*pip, *target, str(wheel)], check=True)
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    borrowed = Path(purelib.stdout.strip()) / "borrowed-dependencies.pth"
    borrowed.write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(env_dir / "bin" / "release"), str(python)


def setup(args: argparse.Namespace, tmp: Path) -> str:
    """Point RELEASE, PYTHON and ENV at the install and bytecode measured; say which."""
    global RELEASE, PYTHON
    kind = "editable install (this virtualenv's console script)"
    if args.wheel:
        RELEASE, PYTHON = install_wheel(tmp)
        kind = "wheel installed into a fresh virtualenv (dependencies borrowed by a .pth)"
    if args.no_bytecode:
        flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
        return f"{kind}; bytecode as this environment has it (PYTHONDONTWRITEBYTECODE={flag})"
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return f"{kind}; release's modules run from compiled bytecode"


def startup_rows(repo: Path, runs: int) -> dict[str, float]:
    """What every command pays before it reads: the interpreter, the entry, click."""
    cmds: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "python": ([PYTHON, "-c", "pass"], None),
        "entry": ([PYTHON, "-c", "import release.entry"], None),
        "cli": ([PYTHON, "-c", "import release.cli"], None),
        "floor": (["git", "for-each-ref", "refs/tags"], None),
    }
    return interleaved(cmds, repo, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gto-timeout", type=float, default=60.0)
    parser.add_argument("--no-gto", action="store_true", help="skip gto (it is slow)")
    parser.add_argument("--wheel", action="store_true", help="measure a wheel install")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE as set"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measured = setup(args, Path(tmp))
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        build(a, ["model"], 1000, 2000)
        build(b, [f"model{i}" for i in range(10)], 200, 200)
        c = Path(tmp) / "c"
        build(c, ["model"], 5000, 10000)
        rows = bench_repo("(a) 3,000 tags", a, "model", args)
        rows += bench_repo("(b) 10x200+200", b, "model3", args, gto=False)
        rows += bench_repo("(c) 15,000 tags", c, "model", args, full=False)
        help_time = median([RELEASE, "--help"], a, args.runs)
        start = startup_rows(a, args.runs)
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
    print(f"measured: {measured}\n")
    for row in [headers, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"\nrelease --help: {help_time:.3f} s median (goal <= 0.25 s)")
    floor = start["floor"]
    print("start-up, paid before any read (repo a, medians, in rounds with the floor):")
    for key, what in (
        ("python", "python -c pass"),
        ("entry", "python -c 'import release.entry' (what a cache hit imports)"),
        ("cli", "python -c 'import release.cli' (click: every other command)"),
    ):
        print(f"  {what}: {start[key]:.3f} s, {start[key] / floor:.1f}x the floor {floor:.3f} s")
    print(f"git for-each-ref with the tag fields the state needs (repo a): {fields:.3f} s median")
    print("(the floor does not read tag objects; tagger, message and target need them).")
    print("floor = git for-each-ref refs/tags (one process); goals: reads <= 3x floor,")
    print("check-ref <= 0.3 s, promote <= 0.5 s.")


if __name__ == "__main__":
    main()
