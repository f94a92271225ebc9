"""Gather the facts a model card states: pipeline outputs, git, DVC lock, registry, packages.

Nothing here is typed by hand: every number comes from a file the pipeline wrote or from
git. A missing input names the stage that writes it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

from release import dvcstore, gitcmd, paths
from release.errors import DataError
from release.facts import load_metrics, load_slices
from release.fsio import read_json, sha256_file
from release.registry.api import read_state

# input file -> the pipeline stage (and command) that writes it
REQUIRED_INPUTS: dict[str, tuple[str, str]] = {
    paths.PROVENANCE: ("prepare", "release data prepare"),
    paths.DATA_QUALITY: ("validate", "release data validate"),
    paths.MODEL_META: ("train", "release train"),
    paths.METRICS: ("evaluate", "release evaluate"),
    paths.SLICES_JSON: ("evaluate", "release evaluate"),
    paths.PREDICTIONS: ("evaluate", "release evaluate"),
}
OPTIONAL_INPUTS: dict[str, tuple[str, str]] = {
    paths.EXPLAIN_JSON: ("evaluate", "release evaluate"),
    paths.EXAMPLES_JSON: ("evaluate", "release evaluate"),
}
PACKAGES = (
    "release",
    "scikit-learn",
    "skops",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "dvc",
    "gto",
    "jinja2",
)
_VERSION_TAG = re.compile(
    r"^(?P<name>[a-zA-Z0-9]([a-zA-Z0-9\-/_=.]*[a-zA-Z0-9])?)@(?P<version>v\d+\.\d+\.\d+\S*?)$"
)
ROC_POINTS = 60
RESIDUAL_POINTS = 300


def require(root: Path, rel: str) -> Path:
    """The path of a required input, or a DataError naming the stage that writes it."""
    path = root / rel
    if not path.exists():
        stage, command = REQUIRED_INPUTS.get(rel) or OPTIONAL_INPUTS.get(rel, ("?", "?"))
        raise DataError(
            f"{rel} missing: run dvc repro",
            f"or run `{command}`, the {stage} stage that writes it",
        )
    return path


def gather_facts(root: str | Path = ".", params: str | Path = paths.PARAMS) -> dict[str, Any]:
    """Read every input the card states; raise DataError naming the stage for a missing one."""
    root = Path(root)
    for rel in REQUIRED_INPUTS:
        require(root, rel)
    params_path = Path(params) if Path(params).is_absolute() else root / params
    facts: dict[str, Any] = {
        "params": read_params(params_path),
        # the evaluate stage's contracts, through their one typed reader
        "metrics": dict(load_metrics(require(root, paths.METRICS)).values),
        "slices": load_slices(require(root, paths.SLICES_JSON)).doc,
        "explain": _read_optional(root, paths.EXPLAIN_JSON),
        "examples": _read_optional(root, paths.EXAMPLES_JSON),
        "provenance": _read(root, paths.PROVENANCE),
        "data_quality": _read(root, paths.DATA_QUALITY),
        "model": _read(root, paths.MODEL_META),
    }
    facts["plots"] = plot_data(root / paths.PREDICTIONS, facts["model"])
    facts["git"] = git_facts(root)
    facts["dvc"] = dvc_lock_facts(root, params_path)
    facts["registry"] = registry_facts(root, facts["git"].get("commit"), facts["params"])
    if not _model_is_committed(root, facts["git"].get("commit"), facts["model"]):
        # A new model built on top of HEAD: the versions registered at HEAD are another
        # model's, so this card must not claim them (it is registered after its commit).
        facts["registry"] = []
        facts["git"]["model_committed"] = False
    elif facts["git"].get("commit"):
        facts["git"]["model_committed"] = True
    facts["packages"] = package_versions()
    return facts


def _model_is_committed(root: Path, commit: str | None, model: dict[str, Any]) -> bool:
    """Whether HEAD's committed model metadata describes the workspace's model file."""
    if not commit:
        return False
    committed = gitcmd.try_output(root, "show", f"{commit}:{paths.MODEL_META}")
    if not committed:
        return False
    try:
        return bool(json.loads(committed).get("sha256") == model.get("sha256"))
    except ValueError:
        return False


def _read(root: Path, rel: str) -> Any:
    path = require(root, rel)
    try:
        return read_json(path)
    except ValueError as exc:
        stage, command = REQUIRED_INPUTS.get(rel) or OPTIONAL_INPUTS[rel]
        raise DataError(
            f"{rel} is not valid JSON ({exc})", f"run `{command}` (stage {stage}) again"
        ) from None


def _read_optional(root: Path, rel: str) -> Any:
    return _read(root, rel) if (root / rel).exists() else None


def read_params(path: Path) -> dict[str, Any]:
    """The settings the card reports (data, train, evaluate, release), as plain dicts."""
    from release.config import Settings, load_settings

    settings = load_settings(path) if path.is_file() else Settings()
    return {
        "data": dataclasses.asdict(settings.data),
        "train": dataclasses.asdict(settings.train),
        "evaluate": dataclasses.asdict(settings.evaluate),
        "release": {"artifact": settings.release.artifact, "stages": settings.release.stages},
    }


# --------------------------------------------------------------------------- git and dvc
def git_facts(root: Path) -> dict[str, Any]:
    """HEAD commit, branch and whether tracked source files differ from it.

    Pipeline outputs (data, models, reports, the card, ``dvc.lock``) are rewritten by the
    very run that builds the card, so they do not make the tree "dirty"; code and params do.
    """
    commit = gitcmd.try_output(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not commit:
        return {"commit": None, "branch": None, "dirty": None}
    status = gitcmd.try_output(root, "status", "--porcelain", "--untracked-files=no") or ""
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    ignored = (
        paths.CARD_DIR + "/",
        paths.REPORTS + "/",
        paths.MODELS + "/",
        "data/",
        "dvc.lock",
    )
    dirty = [p for p in changed if not p.startswith(ignored)]
    return {
        "commit": commit,
        "branch": gitcmd.try_output(root, "rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(dirty),
    }


def dvc_lock_facts(root: Path, params_path: Path) -> dict[str, Any]:
    """Hashes of data, params and model: from ``dvc.lock`` where present, else the files."""
    data: dict[str, str] = {}
    model: dict[str, str] = {}
    params_values: dict[str, Any] = {}
    source = "files"
    stages = dvcstore.read_lock(root)
    if stages:
        source = "dvc.lock"
        for stage in stages.values():
            if not isinstance(stage, dict) or _writes_card(stage):
                continue
            for entry in (stage.get("deps") or []) + (stage.get("outs") or []):
                path, digest = _entry_hash(entry)
                if not path or not digest:
                    continue
                if path.startswith(paths.MODELS + "/") or path == paths.MODELS:
                    model[path] = digest
                elif path.startswith("data/") or path == "data":
                    data[path] = digest
            for file, values in (stage.get("params") or {}).items():
                if isinstance(values, dict):
                    params_values.setdefault(str(file), {}).update(values)
    if not data:
        for rel in (paths.TRAIN, paths.TEST):
            if (root / rel).is_file():
                data[rel] = "sha256:" + sha256_file(root / rel)
    if not model:
        for rel in (paths.MODEL, paths.MODEL_META):
            if (root / rel).is_file():
                model[rel] = "sha256:" + sha256_file(root / rel)
    params_hash = "sha256:" + sha256_file(params_path) if params_path.is_file() else None
    return {
        "source": source,
        "data": dict(sorted(data.items())),
        "model": dict(sorted(model.items())),
        "params": {"file": params_path.name, "sha256": params_hash, "values": params_values},
    }


def _writes_card(stage: dict[str, Any]) -> bool:
    """The stage that builds this card: its lock entry is the previous build's (stale
    hashes of the card's inputs, its own params), so the card never reads it."""
    outs = stage.get("outs") or []
    return any(isinstance(o, dict) and o.get("path") == paths.CARD_DIR for o in outs)


def _entry_hash(entry: Any) -> tuple[str | None, str | None]:
    if not isinstance(entry, dict):
        return None, None
    path = entry.get("path")
    algo = entry.get("hash") or "md5"
    digest = entry.get(algo) or entry.get("md5") or entry.get("etag")
    if not isinstance(path, str) or not digest:
        return None, None
    return path, f"{algo}:{digest}"


# ----------------------------------------------------------------------------- registry
def registry_facts(root: Path, commit: str | None, params: dict[str, Any]) -> list[dict[str, Any]]:
    """GTO versions registered at ``commit`` and the stages each one holds now."""
    if not commit:
        return []
    tags = (gitcmd.try_output(root, "tag", "--points-at", commit) or "").split()
    versions: list[tuple[str, str]] = []
    for tag in tags:
        if m := _VERSION_TAG.match(tag):
            versions.append((m["name"].replace("=", ":"), m["version"]))
    stages_order: list[str] = list(params.get("release", {}).get("stages") or [])
    state = _registry_state(root)
    out = []
    for name, version in sorted(set(versions)):
        # Stages come from the one GTO resolver only; unreadable, the card says so.
        if state is not None:
            held = [s for s in stages_order if _active(state, name, s) == version]
            source = "registry"
        else:
            held, source = [], "unavailable"
        out.append({"name": name, "version": version, "stages": held, "source": source})
    return out


def _registry_state(root: Path) -> Any:
    try:
        return read_state(str(root))
    except Exception:  # the registry is a fact source here, never a reason to fail the card
        return None


def _active(state: Any, name: str, stage: str) -> str | None:
    try:
        value = state.active_version(name, stage)
    except Exception:
        return None
    return value if isinstance(value, str) else None


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the model and the card."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


# -------------------------------------------------------------------------------- plots
def plot_data(predictions: Path, model: dict[str, Any]) -> dict[str, Any]:
    """Compact plot data from test predictions: confusion matrix and ROC, or residuals."""
    import numpy as np
    import pandas as pd

    try:
        df = pd.read_parquet(predictions)
    except Exception as exc:
        raise DataError(
            f"{paths.PREDICTIONS} is unreadable ({type(exc).__name__})",
            "run `release evaluate` (stage evaluate) again",
        ) from None
    for col in ("y_true", "y_pred"):
        if col not in df.columns:
            raise DataError(
                f"{paths.PREDICTIONS} has no column {col}",
                "run `release evaluate` (stage evaluate) again",
            )
    task = model.get("task", "binary")
    if task == "regression":
        return {"confusion_matrix": None, "roc": [], "residuals": _residuals(df)}
    classes = [str(c) for c in (model.get("classes") or [])]
    y_true = df["y_true"].astype(str).to_numpy()
    y_pred = df["y_pred"].astype(str).to_numpy()
    labels = classes or sorted(set(y_true) | set(y_pred))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    roc = []
    targets = labels[1:] if len(labels) == 2 else labels
    for label in targets:
        col = f"proba_{label}"
        if col in df.columns:
            scores = df[col].to_numpy(dtype=float)
            roc.append({"class": label, **_roc(y_true == label, scores)})
    return {
        "confusion_matrix": {"labels": labels, "matrix": matrix.tolist()},
        "roc": roc,
        "residuals": None,
    }


def _roc(positive: Any, scores: Any) -> dict[str, Any]:
    import numpy as np

    keep = np.isfinite(scores)
    positive, scores = np.asarray(positive)[keep], np.asarray(scores)[keep]
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0], "auc": None}
    distinct = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(positive)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoid rule
    if len(fpr) > ROC_POINTS:
        pick = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).round().astype(int))
        fpr, tpr = fpr[pick], tpr[pick]
    return {
        "fpr": [round(float(v), 5) for v in fpr],
        "tpr": [round(float(v), 5) for v in tpr],
        "auc": round(auc, 6),
    }


def _residuals(df: Any) -> dict[str, Any]:
    import numpy as np

    y_true = df["y_true"].to_numpy(dtype=float)
    y_pred = df["y_pred"].to_numpy(dtype=float)
    order = np.argsort(y_pred, kind="mergesort")
    pick = np.unique(np.linspace(0, len(order) - 1, min(RESIDUAL_POINTS, len(order))).astype(int))
    chosen = order[pick] if len(order) else order
    resid = y_true - y_pred
    return {
        "predicted": [round(float(v), 6) for v in y_pred[chosen]],
        "residual": [round(float(v), 6) for v in resid[chosen]],
        "mean_residual": round(float(resid.mean()), 6) if len(resid) else None,
        "std_residual": round(float(resid.std()), 6) if len(resid) else None,
    }
