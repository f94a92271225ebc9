"""The files a project needs, rendered in memory from an inference (or an example).

Nothing here touches the disk except reading the package's own files; comparing with
the project and writing is :mod:`release.scaffold.write`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml

from release import __version__, paths
from release.errors import UsageError
from release.scaffold.image import image_files
from release.scaffold.infer import Inference

STAGES = ["dev", "staging", "prod"]
# gto's name grammar (gto/constants.py): lowercase, digits, dashes, slashes
_NAME = re.compile(r"^[a-z0-9]([a-z0-9\-/]*[a-z0-9])?$")
IGNORE_LINES = (
    "# release: pipeline outputs live in the DVC cache, never in git",
    "/data/prepared/",
    "/models/model.skops",
    "/reports/predictions.parquet",
    "/dvc_plots/",
    "# release: local DVC remote and deployment state",
    "/.dvc-storage/",
    "/.release/",
    "__pycache__/",
    ".venv/",
)
# The repository's CI runs its own test command; a project made by `release init` has no
# Makefile, so its CI checks the committed model card instead.
_SETUP_PYTHON = "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0"
_CI_TEST_STEPS = f"""      - uses: {_SETUP_PYTHON}
        with:
          python-version: "3.11"

      - name: Configure git for the tests' temporary repositories
        run: |
          git config --global user.name "github-actions[bot]"
          git config --global user.email "41898282+github-actions[bot]@users.noreply.github.com"

      - name: Lint, type-check and test (the README's test command)
        run: make test
"""
_CI_CARD_STEPS = """      - uses: $/.github/actions/setup-release

      - name: The committed model card is complete
        run: |
          if [[ -f model_card/card.json ]]; then release card check; fi
"""


@dataclass(frozen=True)
class PlannedFile:
    """One file of the plan; ``append`` files (ignore lists) only gain missing lines."""

    path: str
    content: str
    mode: int = 0o644
    append: bool = False


def package_file(*parts: str) -> str:
    """The text of a file shipped with the package under ``release/``."""
    node = resources.files("release")
    for part in parts:
        node = node / part
    return node.read_text(encoding="utf-8")


def check_artifact_name(name: str) -> str:
    """``name`` if gto accepts it as an artifact name, else a UsageError."""
    if not _NAME.match(name) or "//" in name:
        raise UsageError(
            f"artifact name {name!r} is invalid",
            "use lowercase letters, digits and dashes, e.g. churn-model",
        )
    return name


def default_artifact(data_path: str) -> str:
    """An artifact name from the data file's name: ``adult.csv`` -> ``adult-model``."""
    stem = re.sub(r"[^a-z0-9]+", "-", Path(data_path).stem.lower()).strip("-")
    return f"{stem or 'tabular'}-model"


# ------------------------------------------------------------------------------ params
def params_for(inf: Inference, data_path: str, artifact: str) -> dict[str, Any]:
    """``params.yaml`` as a mapping: every inference in its place, defaults elsewhere."""
    source = "parquet" if data_path.lower().endswith((".parquet", ".pq")) else "csv"
    features = [c for c in inf.columns if c.name != inf.target and c.name not in inf.id_like]
    n_test = max(1, round(inf.rows * 0.25))
    data: dict[str, Any] = {
        "source": source,
        "path": data_path,
        "target": inf.target,
        "task": inf.task,
        "features": "all",
        "exclude": list(inf.id_like),
        "annotators": [],
        "slice_columns": list(inf.slice_columns),
        "protected": list(inf.protected_checked),
    }
    if inf.na_values:
        data["na_values"] = list(inf.na_values)
    data.update({"test_size": 0.25, "seed": 42})
    null_rate = {
        c.name: min(1.0, round(c.nulls / inf.rows + 0.05, 2))
        for c in features
        if inf.rows and c.nulls / inf.rows > 0.3
    }
    validate: dict[str, Any] = {
        "min_rows": min(100, inf.rows),
        "dtypes": {c.name: c.kind for c in features},
        "max_null_rate": 0.3,
        "null_rate": null_rate,
        "ranges": {name: [0, None] for name in inf.nonnegative},
        "categories": {
            c.name: list(c.categories)
            for c in features
            if c.kind == "categorical" and c.categories is not None
        },
        "max_duplicate_rate": max(0.01, _ceil(inf.duplicate_rows / max(inf.rows, 1))),
        "max_leakage_rows": 0,
        "min_slice_rows": min(20, max(1, n_test // 10)),
    }
    evaluate: dict[str, Any] = {
        "primary_metric": inf.primary_metric,
        "bootstrap": 1000,
        "confidence": 0.95,
        "min_slice_size": min(50, max(5, n_test // 10)),
        "seed": 0,
        "slices": {"columns": [], "bins": dict(inf.bins), "predicates": {}, "intersections": []},
        "hlp": {"source": "auto", "kind": "annotator_accuracy", "given": {}},
    }
    release = {
        "artifact": artifact,
        "stages": list(STAGES),
        "policy": {
            "dev": {},
            "staging": {"requires": "dev", "card_complete": True},
            "prod": {"requires": "staging", "max_slice_regression": 0.05, "card_complete": True},
        },
        "deploy": {"strategies": {"dev": "direct", "staging": "bluegreen", "prod": "canary"}},
    }
    return {
        "data": data,
        "validate": validate,
        "train": {
            "estimator": "hist_gradient_boosting",
            "params": {},
            "scale_numeric": True,
            "use_protected": False,  # dvc.yaml's prepare and evaluate stages declare it
        },
        "evaluate": evaluate,
        "release": release,
    }


def _ceil(rate: float) -> float:
    return round(-(-rate * 100 // 1) / 100, 2) if rate > 0 else 0.0


def check_params(params: dict[str, Any]) -> None:
    """Validate ``params`` as ``release`` will read it (``release.config``)."""
    import dataclasses

    from release.config import DataSettings, settings_from_dict

    known = {f.name for f in dataclasses.fields(DataSettings)}
    data = {k: v for k, v in params.get("data", {}).items() if k in known or k != "na_values"}
    settings_from_dict({**params, "data": data})


PARAMS_HEADER = """\
# Settings of the whole loop, written by `release init` from your data. `release`
# validates this file on every command: unknown keys, wrong types and impossible values
# fail with the key and what is allowed. DVC tracks each section (`dvc params diff`).
# Inferences to check (run `release init --dry-run` again to see them):
"""


def render_params(params: dict[str, Any], notes: list[str]) -> str:
    """``params.yaml`` text: a header listing the inferences, then the settings."""
    lines = [PARAMS_HEADER]
    lines += [f"#   - {' '.join(note.split())}\n" for note in notes]
    body = yaml.dump(params, Dumper=_FlowLists, sort_keys=False, width=100)
    return "".join(lines) + "\n" + body


class _FlowLists(yaml.SafeDumper):
    """Lists on one line (``[0, null]``), mappings as blocks: as a person writes params."""


_FlowLists.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


# ------------------------------------------------------------------------ other files
def render_dvc_yaml(task: str, data_dep: str, *, tool_source: bool) -> str:
    """``dvc.yaml``: the repository's stages, with the plots of ``task``.

    ``tool_source``: the project holds the ``release`` sources (this repository), so stages
    also depend on the code that runs them.
    """
    env = jinja2.Environment(  # noqa: S701 - YAML, not HTML; values are our own names
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True
    )
    template = env.from_string(package_file("scaffold", "files", "dvc.yaml.j2"))
    return template.render(task=task, data_dep=data_dep, tool_source=tool_source)


def render_card_yaml(inf: Inference) -> str:
    """``card.yaml`` with a marked ``[TODO: ...]`` placeholder in every hand-written field."""
    env = jinja2.Environment(  # noqa: S701 - YAML, not HTML
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True
    )
    template = env.from_string(package_file("scaffold", "files", "card.yaml.j2"))
    text = template.render(
        target=inf.target, task=inf.task, slices=inf.slice_columns, protected=inf.protected
    )
    yaml.safe_load(text)  # a column name must never break the YAML
    return text


def gto_config(stages: list[str]) -> str:
    """gto's ``.gto`` config: the artifact types and the stages in promotion order."""
    return yaml.safe_dump({"types": ["model"], "stages": list(stages)}, sort_keys=False)


def artifacts_index(name: str, description: str, labels: list[str]) -> str:
    """``artifacts.yaml`` exactly as gto writes it (sorted keys, block style)."""
    state = {
        name: {
            "description": description,
            "labels": list(labels),
            "path": paths.MODEL,
            "type": "model",
        }
    }
    return yaml.safe_dump(state, sort_keys=True, default_flow_style=False, width=1000)


def github_files(*, tool_source: bool) -> list[PlannedFile]:
    """The repository's ``.github/`` workflows, scripts and composite action.

    Outside the ``release`` sources, the action installs this version of ``release``
    from the package index and CI checks the model card instead of ``make test``.
    """
    root = resources.files("release") / "scaffold" / "files" / "github"
    out = []
    for rel in sorted(_walk(root)):
        text = (root.joinpath(*rel.split("/"))).read_text(encoding="utf-8")
        if not tool_source:
            text = _for_user(rel, text)
        mode = 0o755 if rel.endswith(".sh") else 0o644
        out.append(PlannedFile(f".github/{rel}", text, mode))
    return out


def _walk(node: Any, prefix: str = "") -> list[str]:
    found = []
    for child in node.iterdir():
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                found += _walk(child, rel + "/")
        else:
            found.append(rel)
    return found


def _swap(text: str, old: str, new: str, where: str) -> str:
    if old not in text:  # the shipped file changed: the substitution must follow it
        raise RuntimeError(f"{where}: expected text not found: {old[:60]!r}")
    return text.replace(old, new)


def _for_user(rel: str, text: str) -> str:
    if rel == "actions/setup-release/action.yml":
        text = _swap(
            text,
            "installed from this checkout,",
            f"installed from the package index (release {__version__}),",
            rel,
        )
        text = _swap(text, '"") target="." ;;', f'"") target="release=={__version__}" ;;', rel)
        dev = f'dev) target="release[dev]=={__version__}" ;;'
        text = _swap(text, 'dev) target=".[dev]" ;;', dev, rel)
        # The shipped lock pins release's own dependencies; the tool itself comes from
        # the index (regenerate the lock with release in it to hash-pin that too).
        text = _swap(
            text,
            'pip install --quiet --no-deps --no-build-isolation -e "$target"',
            'pip install --quiet --no-deps "$target"',
            rel,
        )
    elif rel == "workflows/ci.yml":
        text = _swap(text, "    name: make test\n", "    name: model card check\n", rel)
        text = _swap(text, _CI_TEST_STEPS, _CI_CARD_STEPS, rel)
    elif rel == "WORKFLOWS.md":
        text = _swap(text, "| `make test`;", "| `release card check`;", rel)
    return text


def ignore_files() -> list[PlannedFile]:
    """``.gitignore`` lines that keep data, models and local state out of git."""
    return [PlannedFile(".gitignore", "\n".join(IGNORE_LINES) + "\n", append=True)]


# ------------------------------------------------------------------------------- plans
def project_plan(
    inf: Inference, data_path: str, artifact: str, *, tool_source: bool = False
) -> list[PlannedFile]:
    """Every file of a project made from the user's data."""
    check_artifact_name(artifact)
    params = params_for(inf, data_path, artifact)
    check_params(params)
    kind = "regression" if inf.task == "regression" else "classification"
    return [
        PlannedFile(paths.PARAMS, render_params(params, inf.notes)),
        PlannedFile("dvc.yaml", render_dvc_yaml(inf.task, data_path, tool_source=tool_source)),
        PlannedFile(paths.CARD_INPUT, render_card_yaml(inf)),
        PlannedFile(".gto", gto_config(STAGES)),
        PlannedFile(
            "artifacts.yaml",
            artifacts_index(
                artifact,
                f"{inf.task} model of {inf.target} (scikit-learn pipeline saved with skops)",
                ["tabular", kind, "scikit-learn"],
            ),
        ),
        *github_files(tool_source=tool_source),
        *(PlannedFile(p, t) for p, t in image_files(tool_source=tool_source)),
        *ignore_files(),
    ]


def example_names() -> tuple[str, ...]:
    """The example projects shipped under ``release/examples/`` (one folder each)."""
    root = resources.files("release") / "examples"
    names = [c.name for c in root.iterdir() if c.is_dir() and (c / "params.yaml").is_file()]
    return tuple(sorted(names))


EXAMPLES = example_names()


def example_plan(name: str, *, tool_source: bool = False) -> list[PlannedFile]:
    """Every file of the example project ``name`` (its own params, card and artifact)."""
    from release.config import settings_from_dict

    if name not in EXAMPLES:
        raise UsageError(f"unknown example {name!r}", "examples: " + ", ".join(EXAMPLES))
    params_text = package_file("examples", name, "params.yaml")
    settings = settings_from_dict(yaml.safe_load(params_text), source=f"example {name}")
    data_dep = settings.data.path or paths.RAW_DIR
    return [
        PlannedFile(paths.PARAMS, params_text),
        PlannedFile(
            "dvc.yaml", render_dvc_yaml(settings.data.task, data_dep, tool_source=tool_source)
        ),
        PlannedFile(paths.CARD_INPUT, package_file("examples", name, "card.yaml")),
        PlannedFile(".gto", gto_config(settings.release.stages)),
        PlannedFile("artifacts.yaml", package_file("examples", name, "artifacts.yaml")),
        PlannedFile(f"{paths.RAW_DIR}/.gitkeep", ""),
        *github_files(tool_source=tool_source),
        *(PlannedFile(p, t) for p, t in image_files(tool_source=tool_source)),
        *ignore_files(),
    ]
