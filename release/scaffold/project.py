"""``release init`` as functions: :func:`prepare` reads and plans, :func:`write.apply` writes.

The command line only parses options, prints a :class:`Prepared` and asks before writing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from release.errors import UsageError
from release.scaffold import plan as planning
from release.scaffold import write
from release.scaffold.infer import Inference, TaskChoice, infer
from release.scaffold.table import read_data


@dataclass(frozen=True)
class Prepared:
    """Everything ``release init`` will do, decided before anything is written."""

    root: Path
    artifact: str
    data: str | None  # the data file, relative to root (None for an example)
    inference: Inference | None
    setup: write.Setup
    steps: list[write.Step]

    @property
    def conflicts(self) -> list[str]:
        """Existing files that differ from the plan and were not forced."""
        return write.conflicts(self.steps)

    @property
    def changes(self) -> list[write.Step]:
        """Steps that change a file."""
        return [s for s in self.steps if s.action != "same"]

    @property
    def nothing_to_do(self) -> bool:
        """True when every file is already as planned and git and DVC are set up."""
        setup = self.setup
        return not self.changes and not (setup.git_init or setup.dvc_init or setup.dvc_remote)


def tool_source(root: Path) -> bool:
    """Whether ``root`` holds the ``release`` sources (this tool's own repository)."""
    pyproject = root / "pyproject.toml"
    return (
        (root / "release" / "cli.py").is_file()
        and pyproject.is_file()
        and ('name = "release"' in pyproject.read_text(encoding="utf-8", errors="replace"))
    )


def inside(root: Path, data: Path) -> str:
    """The data file's path relative to the project (it must live inside it)."""
    full = (data if data.is_absolute() else Path.cwd() / data).resolve()
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        raise UsageError(
            f"{data} is outside the project {root}",
            "copy it into the project first, e.g. data/raw/, and pass that path",
        ) from None


def example_artifact(example: str) -> str:
    """The artifact an example declares in its ``artifacts.yaml``."""
    index = yaml.safe_load(planning.package_file("examples", example, "artifacts.yaml")) or {}
    return str(next(iter(index), "model"))


def prepare(
    root: str | Path,
    *,
    data: str | None = None,
    target: str | None = None,
    task: TaskChoice = "auto",
    artifact: str | None = None,
    protected: list[str] | None = None,
    slices: list[str] | None = None,
    example: str | None = None,
    create_git: bool = False,
    force: list[str] | None = None,
) -> Prepared:
    """Read the data (or the example), infer, plan and compare with the disk; write nothing."""
    project = Path(root).resolve()
    if not project.is_dir():
        raise UsageError(f"{root} is not a folder", "create it, or pass --dir to an existing one")
    setup = write.setup_needed(project)
    if setup.git_init and not create_git:
        raise UsageError(
            f"{project} is not the root of a git repository",
            "run release init at the repository root, or pass --git to create one",
        )
    source = tool_source(project)
    inference = None
    rel_data = None
    if example:
        if data or target:
            raise UsageError("--example takes no --data or --target", "use one or the other")
        files = planning.example_plan(example, tool_source=source)
        name = example_artifact(example)
    else:
        if not data or not target:
            examples = "|".join(planning.EXAMPLES)
            raise UsageError("--data and --target are required", f"or use --example {examples}")
        rel_data = inside(project, Path(data))
        raw, delimiter = read_data(project / rel_data)
        inference = infer(
            raw, target, task=task, protected=protected, slices=slices, delimiter=delimiter
        )
        name = artifact or planning.default_artifact(rel_data)
        if not artifact:
            note = f"artifact name {name} (from the data file's name)"
            inference = dataclasses.replace(inference, notes=[*inference.notes, note])
        files = planning.project_plan(inference, rel_data, name, tool_source=source)
    steps = write.compare(project, files, force)
    return Prepared(project, name, rel_data, inference, setup, steps)


def next_commands(prepared: Prepared) -> list[tuple[str, str]]:
    """The commands to run next, each with why."""
    data, artifact = prepared.data, prepared.artifact
    rows = [(f"dvc add {data}", "track the raw data with DVC")] if data else []
    rows += [
        ("release doctor", "check tools, settings against the data, remote and ports"),
        ("dvc repro", "prepare, validate, train, evaluate, build the card"),
    ]
    if data:
        rows += [
            ("$EDITOR card.yaml", "replace every [TODO: ...]"),
            ("dvc repro && release card check", "the card is complete"),
        ]
    rows.append((f'git add -A && git commit -m "Train {artifact}"', ""))
    rows.append((f"release register {artifact}", "the first version, as a GTO tag"))
    return rows
