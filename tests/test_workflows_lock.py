"""The locked supply chain: CI installs only hash-pinned packages, and the lock file is
not stale against pyproject.toml (compared on the declared top-level requirements, no
network: the lock is regenerated with `make requirements`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / ".github" / "requirements-ci.txt"
ACTION = ROOT / ".github" / "actions" / "setup-release" / "action.yml"
DIRECT = re.compile(r"^#\s+release \(pyproject\.toml(::build-system\.requires)?\)$")


def declared(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, Requirement]:
    """Top-level requirements: dependencies, the dev extra and the build backend."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    lines = (
        data["project"]["dependencies"]
        + data["project"]["optional-dependencies"]["dev"]
        + data["build-system"]["requires"]
    )
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): r for r in reqs}


def parse_lock(text: str) -> tuple[dict[str, Version], set[str], dict[str, int]]:
    """Pinned versions, the packages pip-compile marks as direct, and hashes per package."""
    pins: dict[str, Version] = {}
    direct: set[str] = set()
    hashes: dict[str, int] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", raw)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = Version(match.group(2))
            hashes[current] = 0
        elif current and line.startswith("--hash=sha256:"):
            hashes[current] += 1
        elif current and (DIRECT.match(line) or DIRECT.match("#  " + line.removeprefix("# via"))):
            direct.add(current)
    return pins, direct, hashes


def stale(pyproject_reqs: dict[str, Requirement], lock_text: str) -> list[str]:
    """Why the lock does not match the declared requirements (empty when it does)."""
    pins, direct, hashes = parse_lock(lock_text)
    problems = []
    for name, req in sorted(pyproject_reqs.items()):
        if name not in pins:
            problems.append(f"{name} is declared but not locked")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} does not satisfy {req.specifier}")
        elif name not in direct:
            problems.append(f"{name} is locked only as someone else's dependency")
    for name in sorted(direct - set(pyproject_reqs)):
        problems.append(f"{name} is locked as direct but no longer declared")
    problems += [f"{name} has no hash" for name, n in sorted(hashes.items()) if n == 0]
    return problems


def test_the_lock_matches_pyproject() -> None:
    problems = stale(declared(), LOCK.read_text(encoding="utf-8"))
    assert problems == [], (
        "stale .github/requirements-ci.txt (run make requirements): " + "; ".join(problems)
    )


def test_a_stale_lock_is_detected(tmp_path: Path) -> None:
    lock = LOCK.read_text(encoding="utf-8")
    reqs = declared()
    # a new dependency, a tightened range, a dropped dependency: each is caught
    added = dict(reqs, newdep=Requirement("newdep>=1"))
    assert stale(added, lock) == ["newdep is declared but not locked"]
    tightened = dict(reqs, click=Requirement("click>=99"))
    assert stale(tightened, lock)[0].startswith("click==")
    dropped = {k: v for k, v in reqs.items() if k != "httpx"}
    assert stale(dropped, lock) == ["httpx is locked as direct but no longer declared"]
    unhashed = re.sub(
        r"(?m)^(click==[^ ]+) \\\n(    --hash=\S+ \\\n)*    --hash=\S+\n", r"\1\n", lock
    )
    assert "click has no hash" in stale(reqs, unhashed)


def test_the_setup_action_installs_only_from_the_hash_locked_file() -> None:
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    script = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    installs = [line.strip() for line in script.splitlines() if "pip install" in line]
    assert installs, "the action installs nothing"
    assert any("--require-hashes" in i and "requirements-ci.txt" in i for i in installs)
    # everything else installs the checkout itself, without resolving anything from PyPI
    for line in installs:
        assert "--require-hashes" in line or (
            "--no-deps" in line and "--no-build-isolation" in line
        )
    assert "--upgrade" not in script
    workflows = (ROOT / ".github" / "workflows").glob("*.yml")
    for path in workflows:
        text = path.read_text(encoding="utf-8")
        assert "pip install" not in text, f"{path.name} installs packages outside the action"
