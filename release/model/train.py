"""``release train``: fit the pipeline on the prepared training data and save it."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from release import paths
from release.config import Settings
from release.data.prepare import read_split
from release.fsio import write_json
from release.versions import package_versions


def train(settings: Settings, root: str | Path = ".") -> dict[str, Any]:
    """Fit, save ``models/model.skops`` and ``models/model.json``; return the metadata."""
    import numpy as np
    import pandas as pd

    from release.data.schema import require_finite, resolve_columns
    from release.model.persist import save_model
    from release.model.pipeline import build_pipeline
    from release.model.portable import FORMAT, FORMAT_VERSION, read_form
    from release.model.predict import normalize_frame

    root = Path(root)
    frame = read_split(root / paths.TRAIN)
    columns = resolve_columns(settings, frame)
    x = normalize_frame(frame, columns.numeric, columns.categorical)
    require_finite(x, columns.numeric, paths.TRAIN)
    if settings.data.task == "regression":
        target = pd.to_numeric(frame[settings.data.target], errors="coerce").to_frame()
        require_finite(target, [settings.data.target], paths.TRAIN)
    y = frame[settings.data.target].to_numpy()
    pipeline = build_pipeline(settings, columns.numeric, columns.categorical)
    started = time.perf_counter()
    pipeline.fit(x, y)
    seconds = time.perf_counter() - started
    sha256 = save_model(pipeline, root / paths.MODEL, check_frame=x)
    form = read_form((root / paths.MODEL).read_bytes(), paths.MODEL)
    features: list[dict[str, Any]] = []
    for col in columns.numeric:
        features.append({"name": col, "kind": "numeric", "dtype": "float64"})
    for col in columns.categorical:
        cats = sorted({str(v) for v in x[col].dropna().unique()})
        features.append({"name": col, "kind": "categorical", "dtype": "string", "categories": cats})
    classes = None
    if settings.data.task != "regression":
        classes = [v.item() if isinstance(v, np.generic) else v for v in pipeline.classes_]
    estimator = pipeline.named_steps["model"]
    meta = {
        "name": settings.release.artifact,
        "task": settings.data.task,
        "target": settings.data.target,
        "features": features,
        "classes": classes,
        "estimator": settings.train.estimator,
        "estimator_class": type(estimator).__name__,
        "hyperparameters": {
            k: v
            for k, v in estimator.get_params().items()
            if v is None or isinstance(v, bool | int | float | str)
        },
        "model_file": paths.MODEL,
        "format": "skops",
        "sha256": sha256,
        # how `release serve` runs it without scikit-learn (None: through scikit-learn)
        "serving_form": None
        if form is None
        else {"format": f"{FORMAT}/{FORMAT_VERSION}", **form.checked},
        "trained_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "training_seconds": round(seconds, 3),
        "train_rows": len(frame),
        "packages": package_versions(),
    }
    write_json(root / paths.MODEL_META, meta)
    return meta
