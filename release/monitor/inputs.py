"""The inputs of a monitoring run: batches, references and the model's outputs.

This is the I/O edge of monitoring. A batch is a CSV or Parquet file. A reference is a
saved profile, a data file, or the profile registered with a model version (read from git
at that version's commit: ``git show``, or DVC's cache when the profile is a DVC output).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release import dvcstore, paths
from release.errors import DataError, ModelError, RegistryError, UsageError
from release.reference.profile import (
    Reference,
    check_profile,
    feature_columns,
    read_profile,
    reference_from_frame,
    reference_from_profile,
)
from release.registry.api import read_state

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from release.config import Settings

    # The model's outputs on a batch: labels, probabilities (None for a regressor), classes.
    Outputs = tuple[np.ndarray, np.ndarray | None, list[Any] | None]

TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
NAME_RE = re.compile(r"[a-z0-9]([a-z0-9/-]*[a-z0-9])?")
SEMVER_RE = re.compile(r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
STAGE_RE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_INDEX_COLUMN = re.compile(r"__index_level_\d+__")  # a pandas index saved as a column


# ---------------------------------------------------------------------------- tables
def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet batch; DataError for a missing, wrong-type or unreadable file."""
    import pandas as pd

    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path} has an unsupported file type {path.suffix or '(none)'!r}",
            "pass a .csv or .parquet file",
        )
    if not path.is_file():
        raise DataError(f"{path} not found", "check the path")
    try:
        if kind == "csv":
            return pd.read_csv(path)
        return _read_parquet(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except Exception as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(
            f"cannot read {path} as {kind}: {first}", f"pass a valid {kind} file"
        ) from None


def _read_parquet(path: Path) -> pd.DataFrame:
    """Parquet to pandas one column at a time: about half the peak memory of read_parquet."""
    import pandas as pd
    import pyarrow.parquet as pq

    pfile = pq.ParquetFile(path)
    names = [str(n) for n in pfile.schema_arrow.names if not _INDEX_COLUMN.fullmatch(str(n))]
    if pfile.metadata.num_rows == 0:
        return pfile.read().to_pandas()
    return pd.DataFrame(
        {n: pfile.read(columns=[n]).column(0).to_pandas() for n in names}, copy=False
    )


# ------------------------------------------------------------------------ references
def load_reference(
    settings: Settings,
    *,
    reference: str | None = None,
    version: str | None = None,
    stage: str | None = None,
    repo: str | Path = ".",
    features: list[str] | None = None,
) -> Reference:
    """The reference for a drift run, from at most one of the three sources."""
    given = [x for x in (reference, version, stage) if x]
    if len(given) > 1:
        raise UsageError(
            "--reference, --version and --stage are exclusive", "pass at most one of them"
        )
    repo = Path(repo)
    if reference:
        path = Path(reference)
        if path.suffix.lower() == ".json":
            profile = read_profile(path)
            return reference_from_profile(profile, source=str(path))
        if TABLE_SUFFIXES.get(path.suffix.lower()) == "parquet" and path.is_file():
            return _reference_from_parquet(path, settings, features)
        df = read_table(path)
        if len(df) == 0:
            raise DataError(f"reference data {path} has no rows", "pass a non-empty file")
        feats = feature_columns(settings, list(df.columns), features)
        return reference_from_frame(
            df, feats, target=settings.data.target, seed=settings.evaluate.seed, source=str(path)
        )
    if version or stage:
        commit, label = resolve_commit(settings, repo, version=version, stage=stage)
        profile = profile_at_commit(repo, commit, label)
        return reference_from_profile(profile, source=f"{paths.REFERENCE_PROFILE}@{label}")
    path = repo / paths.REFERENCE_PROFILE
    return reference_from_profile(read_profile(path), source=str(paths.REFERENCE_PROFILE))


def _reference_from_parquet(
    path: Path, settings: Settings, features: list[str] | None
) -> Reference:
    """A reference from Parquet data, one column at a time (peak memory: one column)."""
    import pyarrow.parquet as pq

    from release.reference.profile import column_ref

    try:
        pfile = pq.ParquetFile(path)
    except Exception as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(
            f"cannot read {path} as parquet: {first}", "pass a valid parquet file"
        ) from None
    names = [str(n) for n in pfile.schema_arrow.names]
    rows = int(pfile.metadata.num_rows)
    if rows == 0:
        raise DataError(f"reference data {path} has no rows", "pass a non-empty file")
    feats = feature_columns(settings, names, features)
    missing = [c for c in feats if c not in names]
    if missing:
        raise DataError(
            f"reference data lacks feature columns: {', '.join(missing)}",
            "use the data the model was evaluated on, or a saved reference profile",
        )
    seed = settings.evaluate.seed
    columns = {}
    for i, name in enumerate(feats):
        series = pfile.read(columns=[name]).column(0).to_pandas()
        columns[name] = column_ref(series, sample=None, seed=seed + i)
    target = settings.data.target if settings.data.target in names else None
    return Reference(columns=columns, features=feats, target=target, rows=rows, source=str(path))


def parse_version(text: str) -> tuple[str, str]:
    """Split and validate ``NAME@vX.Y.Z``."""
    name, sep, version = text.partition("@")
    if not sep or not NAME_RE.fullmatch(name) or not SEMVER_RE.fullmatch(version):
        raise UsageError(
            f"--version {text!r} is not NAME@vX.Y.Z", "for example --version model@v1.2.0"
        )
    return name, version


def resolve_commit(
    settings: Settings, repo: Path, *, version: str | None, stage: str | None
) -> tuple[str, str]:
    """The commit of a version (``NAME@vX.Y.Z``) or of the version in a stage."""
    if version:
        name, ver = parse_version(version)
        label = f"{name}@{ver}"
    else:
        assert stage is not None
        name, ver = settings.release.artifact, ""
        if not STAGE_RE.fullmatch(stage):
            raise UsageError(f"--stage {stage!r} is not a stage name", "for example --stage prod")
        if stage not in settings.release.stages:
            raise UsageError(
                f"stage {stage!r} is not configured",
                "use one of " + ", ".join(settings.release.stages),
            )
        label = f"{name}#{stage}"
    state = read_state(str(repo))
    if stage:
        active = state.active_version(name, stage)
        if not active:
            raise RegistryError(
                f"no version of {name} is in stage {stage}",
                f"promote one: release promote {shlex.quote(name)} {shlex.quote(stage)}",
            )
        ver, label = active, f"{name}@{active} ({stage})"
    return state.version_commit(name, ver), label


def profile_at_commit(repo: Path, commit: str, label: str) -> dict[str, Any]:
    """The reference profile stored at a commit: in git, or in DVC's cache."""
    if not re.fullmatch(r"[0-9a-f]{7,64}", commit):
        raise RegistryError(f"bad commit {commit!r} for {label}", "check the registry tags")
    try:
        raw = dvcstore.read_at(repo, commit, paths.REFERENCE_PROFILE)
    except dvcstore.DvcError:
        raw = None
    text = raw.decode("utf-8", "replace") if raw is not None else None
    if text is None:
        raise DataError(
            f"{label} has no {paths.REFERENCE_PROFILE} (neither in git nor in the DVC cache)",
            "register versions built by `release evaluate`, or pass --reference FILE",
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise DataError(f"{paths.REFERENCE_PROFILE} at {label} is not JSON", "rebuild it") from None
    return check_profile(data, f"{paths.REFERENCE_PROFILE} at {label}")


# ----------------------------------------------------------------------------- model
@dataclass
class MonitoredModel:
    """The model a monitoring run applies, and which one it is (for the report)."""

    pipeline: Any
    meta: dict[str, Any]
    source: str
    version: str | None
    sha256: str

    def describe(self) -> dict[str, Any]:
        """``{"source", "version", "sha256"}`` for the report."""
        return {"source": self.source, "version": self.version, "sha256": self.sha256}


def registered_model(
    settings: Settings, *, version: str | None, stage: str | None, repo: str | Path = "."
) -> MonitoredModel | None:
    """The model of ``NAME@vX.Y.Z`` or of the version in ``stage``, loaded as
    ``release serve`` loads it: from git and the DVC cache or remote, sha256-checked.

    None when that version's commit holds no model metadata at all (a profile-only
    version); a model that is there but fails its hash check is an error.
    """
    from release.serve import loader

    commit, _ = resolve_commit(settings, Path(repo), version=version, stage=stage)
    try:
        if version:
            loaded = loader.load_version(repo, *parse_version(version))
        else:
            loaded = loader.load(f"{settings.release.artifact}#{stage}", repo=repo)
    except ModelError:
        if loader.git_show(Path(repo), commit, paths.MODEL_META) is None:
            return None
        raise
    where = f"{loaded.name}@{loaded.version}" + (f" ({stage})" if stage else "")
    return MonitoredModel(loaded.pipeline, loaded.meta, where, loaded.version, loaded.sha256)


def workspace_model(model_path: str | Path, meta_path: str | Path) -> MonitoredModel | None:
    """The workspace's model file (sha256-checked against its metadata), or None if absent."""
    model_path, meta_path = Path(model_path), Path(meta_path)
    if not model_path.is_file() or not meta_path.is_file():
        return None
    from release.model.persist import load_model, read_metadata

    meta = read_metadata(str(meta_path))
    pipeline = load_model(str(model_path), expected_sha256=meta.get("sha256"))
    return MonitoredModel(
        pipeline, meta, f"workspace {model_path}", None, str(meta.get("sha256") or "")
    )


def model_features(meta: dict[str, Any]) -> list[str]:
    """The model's input columns from its metadata."""
    return [str(f["name"]) for f in meta.get("features", [])]


def apply_loaded(df: pd.DataFrame, model: MonitoredModel) -> Outputs:
    """The model's labels, probabilities and classes on the batch.

    A batch that lacks model features is a DataError naming them.
    """
    from release.model.predict import predict

    names = model_features(model.meta)
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise DataError(
            f"the batch lacks model features: {', '.join(missing)}",
            "send the columns the model was trained on (see models/model.json)",
        )
    labels, proba = predict(model.pipeline, model.meta, df[names])
    return labels, proba, model.meta.get("classes")


def apply_model(df: pd.DataFrame, model_path: str | Path, meta_path: str | Path) -> Outputs | None:
    """The workspace model's labels, probabilities and classes on the batch, or None.

    None when the model is not there; a batch that lacks model features is a DataError.
    """
    model = workspace_model(model_path, meta_path)
    return None if model is None else apply_loaded(df, model)
