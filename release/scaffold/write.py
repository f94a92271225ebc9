"""Compare a plan with the project on disk, refuse conflicts, then write; set up git and DVC.

A file that exists with other content is a conflict: nothing at all is written unless
each conflicting file is named with ``--force``. Ignore files only gain missing lines. A
second run over the same data finds every file ``same`` and changes nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from release.errors import UsageError
from release.fsio import write_text
from release.scaffold.plan import PlannedFile

Action = Literal["create", "same", "append", "conflict", "overwrite"]
DEFAULT_REMOTE = ("local", ".dvc-storage")


@dataclass(frozen=True)
class Step:
    """What happens to one planned file."""

    file: PlannedFile
    action: Action
    content: str  # what the file will hold after the step


@dataclass(frozen=True)
class Setup:
    """Repository set-up the plan needs beyond files."""

    git_init: bool
    dvc_init: bool
    dvc_remote: bool


def compare(root: Path, plan: list[PlannedFile], force: list[str] | None = None) -> list[Step]:
    """One step per planned file: create, same, append (ignore files), conflict or overwrite."""
    forced = {_norm(f) for f in force or []}
    unknown = forced - {f.path for f in plan}
    if unknown:
        raise UsageError(
            f"--force {sorted(unknown)[0]} is not a file of the plan", "name a file listed above"
        )
    steps = []
    for file in plan:
        target = root / file.path
        if not target.exists():
            steps.append(Step(file, "create", file.content))
            continue
        current = target.read_text(encoding="utf-8", errors="replace")
        if file.append:
            have = {line.strip() for line in current.splitlines()}
            missing = [line for line in file.content.splitlines() if line.strip() not in have]
            if not missing:
                steps.append(Step(file, "same", current))
            else:
                sep = "" if not current or current.endswith("\n") else "\n"
                steps.append(Step(file, "append", current + sep + "\n".join(missing) + "\n"))
        elif current == file.content:
            steps.append(Step(file, "same", current))
        elif file.path in forced:
            steps.append(Step(file, "overwrite", file.content))
        else:
            steps.append(Step(file, "conflict", file.content))
    return steps


def _norm(path: str) -> str:
    return Path(path).as_posix().removeprefix("./")


def conflicts(steps: list[Step]) -> list[str]:
    """Paths that exist with other content and were not forced."""
    return [s.file.path for s in steps if s.action == "conflict"]


def setup_needed(root: Path) -> Setup:
    """Whether git, DVC and a default DVC remote still need setting up in ``root``."""
    git_init = not _is_git_repo(root)
    dvc_init = not (root / ".dvc").is_dir()
    remote = dvc_init or not _has_default_remote(root)
    return Setup(git_init=git_init, dvc_init=dvc_init, dvc_remote=remote)


def _is_git_repo(root: Path) -> bool:
    done = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True
    )
    return done.returncode == 0 and Path(done.stdout.strip()).resolve() == root.resolve()


def _has_default_remote(root: Path) -> bool:
    from dvc.config import Config

    try:
        return bool(Config(dvc_dir=str(root / ".dvc")).get("core", {}).get("remote"))
    except Exception:  # DVC's own config errors: treat as no usable remote
        return False


def _dvc_init(root: Path) -> None:
    """``dvc init`` through DVC's API (it stages .dvc/ in git), analytics off."""
    from dvc.config import Config
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # DVC prints its welcome text
            Repo.init(str(root)).close()
        with Config(dvc_dir=str(root / ".dvc")).edit("repo") as conf:
            conf["core"]["analytics"] = "false"
    except DvcException as exc:
        raise UsageError(f"dvc init failed: {exc}", "fix it and run release init again") from None


def _dvc_default_remote(root: Path, name: str, path: str) -> None:
    """A default local remote, stored relative to ``.dvc/`` as ``dvc remote add`` does."""
    from dvc.config import Config
    from dvc.config_schema import RelPath

    with Config(dvc_dir=str(root / ".dvc")).edit("repo") as conf:
        conf["remote"][name] = {"url": RelPath(str(root / path))}
        conf["core"]["remote"] = name


def apply(root: Path, steps: list[Step], setup: Setup) -> list[str]:
    """Set up git and DVC, then write every step that changes a file; return what was done."""
    if conflicts(steps):
        raise UsageError(
            "existing files differ from the plan: " + ", ".join(conflicts(steps)),
            "keep yours, or pass --force FILE for each file to replace",
        )
    done: list[str] = []
    if setup.git_init:
        _run(root, "git", "init", "-q")
        done.append("git init")
    if setup.dvc_init:
        _dvc_init(root)
        done.append("dvc init")
    for step in steps:
        if step.action == "same":
            continue
        target = root / step.file.path
        write_text(target, step.content)
        os.chmod(target, step.file.mode)
        done.append(f"{step.action} {step.file.path}")
    if setup.dvc_remote:
        name, url = DEFAULT_REMOTE
        _dvc_default_remote(root, name, url)
        done.append(f"dvc remote add -d {name} {url}")
    return done


def _run(root: Path, *args: str) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    command = list(args)
    try:
        proc = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env)
    except OSError as exc:
        raise UsageError(f"cannot run {args[0]}: {exc.strerror}", f"install {args[0]}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise UsageError(f"`{' '.join(args)}` failed: {last}", "fix it and run release init again")
