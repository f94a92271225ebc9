"""``release data prepare``: read the source, split it, write Parquet and provenance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from release import paths
from release.config import Settings
from release.errors import DataError
from release.fsio import atomic_path, sha256_file, write_json
from release.versions import package_versions


def split(settings: Settings, frame: Any) -> tuple[Any, Any]:
    """Seeded train/test split, stratified by the target for classification."""
    from sklearn.model_selection import train_test_split

    data = settings.data
    stratify = None
    if data.task != "regression":
        counts = frame[data.target].value_counts()
        if len(counts) < 2:
            raise DataError(
                f"target {data.target!r} has a single value", "a classifier needs two classes"
            )
        if counts.min() < 2:
            raise DataError(
                f"class {counts.idxmin()!r} of {data.target!r} has fewer than 2 rows",
                "add rows of that class or drop it before preparing",
            )
        stratify = frame[data.target]
    try:
        train, test = train_test_split(
            frame, test_size=data.test_size, random_state=data.seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(f"cannot split the data: {exc}", "add rows or change test_size") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)


def deduplicate(frame: Any, drop: bool) -> tuple[Any, dict[str, Any]]:
    """Exact duplicate rows of the source: dropped when ``drop``, counted either way."""
    mask = frame.duplicated(keep="first")
    count = int(mask.sum())
    groups = int(frame[mask].drop_duplicates().shape[0]) if count else 0
    record = {"rows": count, "groups": groups, "dropped": count if drop else 0}
    if drop and count:
        frame = frame[~mask].reset_index(drop=True)
    return frame, record


def read_split(path: str | Path, stage: str = "prepare") -> Any:
    """Read a prepared split, naming the stage to run when it is missing."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} missing", f"run `dvc repro {stage}` or `release data {stage}`")
    return pd.read_parquet(path)


def write_parquet(frame: Any, target: str | Path) -> None:
    """Write a frame to Parquet atomically and deterministically (no index)."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow", compression="snappy")


def prepare(settings: Settings, root: str | Path = ".") -> dict[str, Any]:
    """Run the prepare stage; return the provenance record it wrote."""
    from release.data.checks import check_columns, check_settings
    from release.data.schema import (
        coerce_declared_categorical,
        coerce_declared_numeric,
        resolve_columns,
    )
    from release.data.sources import load_source

    root = Path(root)
    frame, source = load_source(settings)
    where = source.get("path", "the builtin data")
    check_columns(settings, [str(c) for c in frame.columns], where)
    columns = resolve_columns(settings, frame)
    frame = coerce_declared_numeric(frame, columns, where)
    # Every column declared categorical, features or not: a protected attribute left out of
    # the model is still sliced and measured as the same labels a feature would be.
    declared = [
        c for c, kind in settings.validate.dtypes.items() if kind == "categorical" and c in frame
    ]
    categorical = list(dict.fromkeys([*columns.categorical, *declared]))
    frame = coerce_declared_categorical(frame, categorical, where)
    check_settings(settings, frame, where)
    frame, source["duplicates"] = deduplicate(frame, settings.data.deduplicate)
    if frame[settings.data.target].isna().any():
        n = int(frame[settings.data.target].isna().sum())
        raise DataError(
            f"target {settings.data.target!r} is missing in {n} rows",
            "drop or label those rows before preparing",
        )
    train, test = split(settings, frame)
    outputs = {"train": (train, root / paths.TRAIN), "test": (test, root / paths.TEST)}
    for part, target in outputs.values():
        write_parquet(part, target)
    record = {
        "source": source,
        "target": settings.data.target,
        "task": settings.data.task,
        "features": {"numeric": columns.numeric, "categorical": columns.categorical},
        "annotators": columns.annotators,
        "seed": settings.data.seed,
        "test_size": settings.data.test_size,
        "splits": {
            name: {
                "path": paths.TRAIN if name == "train" else paths.TEST,
                "sha256": sha256_file(target),
                "rows": len(part),
                "columns": int(part.shape[1]),
                "target_distribution": _distribution(part[settings.data.target], settings),
            }
            for name, (part, target) in outputs.items()
        },
        "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "packages": package_versions(),
    }
    write_json(root / paths.PROVENANCE, record)
    return record


def _distribution(target: Any, settings: Settings) -> dict[str, Any]:
    if settings.data.task == "regression":
        return {"mean": float(target.mean()), "std": float(target.std())}
    counts = target.value_counts().sort_index()
    return {str(k): int(v) for k, v in counts.items()}
