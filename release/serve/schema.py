"""What a served model accepts and answers, from ``model.json``: its V2 schema.

The features (name, kind, categories), the task and classes, the outputs a client may
ask for and the V2 model metadata built from them. Pure data: no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

OUTPUT_PREDICT = "predict"
OUTPUT_PROBABILITIES = "probabilities"


@dataclass(frozen=True)
class Feature:
    """One input column of the model."""

    name: str
    kind: str  # numeric | categorical
    dtype: str
    categories: tuple[str, ...] | None = None

    @property
    def known(self) -> frozenset[str]:
        """The categories as a set, for membership tests on every request."""
        return _known(self.categories or ())

    @property
    def datatype(self) -> str:
        """The V2 datatype a client should send for this column."""
        return "FP64" if self.kind == "numeric" else "BYTES"


@functools.lru_cache(maxsize=256)
def _known(categories: tuple[str, ...]) -> frozenset[str]:
    return frozenset(categories)


@dataclass(frozen=True)
class Schema:
    """What a served model accepts and answers, from ``model.json``."""

    name: str
    version: str
    task: str
    features: tuple[Feature, ...]
    classes: tuple[Any, ...] | None
    platform: str = "sklearn"

    @classmethod
    def from_meta(cls, meta: dict[str, Any], name: str, version: str) -> Schema:
        """Build the schema from model metadata (``models/model.json``)."""
        features = tuple(
            Feature(
                name=str(f["name"]),
                kind=str(f.get("kind", "numeric")),
                dtype=str(f.get("dtype", "")),
                categories=tuple(f["categories"]) if f.get("categories") is not None else None,
            )
            for f in meta["features"]
        )
        classes = meta.get("classes")
        task = str(meta.get("task", "binary"))
        return cls(
            name=name,
            version=version,
            task=task,
            features=features,
            classes=tuple(classes) if classes is not None and task != "regression" else None,
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The input columns in model order."""
        return tuple(f.name for f in self.features)

    @property
    def is_classifier(self) -> bool:
        """True when the model answers class probabilities."""
        return self.task != "regression"

    @property
    def label_datatype(self) -> str:
        """The V2 datatype of the ``predict`` output."""
        if not self.is_classifier:
            return "FP64"
        classes = self.classes or ()
        if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            return "INT64"
        if classes and all(isinstance(c, bool) for c in classes):
            return "BOOL"
        return "BYTES"

    @property
    def output_names(self) -> tuple[str, ...]:
        """The outputs this model can answer."""
        if self.is_classifier:
            return (OUTPUT_PREDICT, OUTPUT_PROBABILITIES)
        return (OUTPUT_PREDICT,)

    def metadata(self) -> dict[str, Any]:
        """V2 model metadata: name, versions, platform, inputs and outputs."""
        inputs = [{"name": f.name, "datatype": f.datatype, "shape": [-1]} for f in self.features]
        outputs: list[dict[str, Any]] = [
            {"name": OUTPUT_PREDICT, "datatype": self.label_datatype, "shape": [-1]}
        ]
        if self.is_classifier:
            outputs.append(
                {
                    "name": OUTPUT_PROBABILITIES,
                    "datatype": "FP64",
                    "shape": [-1, len(self.classes or ())],
                }
            )
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.platform,
            "inputs": inputs,
            "outputs": outputs,
            "parameters": {
                "task": self.task,
                "classes": list(self.classes) if self.classes is not None else None,
                "features": [
                    {
                        "name": f.name,
                        "kind": f.kind,
                        "dtype": f.dtype,
                        **({"categories": list(f.categories)} if f.categories else {}),
                    }
                    for f in self.features
                ],
                "tensor_input": {
                    "shape": [-1, len(self.features)],
                    "datatype": "BYTES" if self.has_categorical else "FP64",
                    "columns": list(self.feature_names),
                },
            },
        }

    @property
    def has_categorical(self) -> bool:
        """True when any input column is categorical."""
        return any(f.kind != "numeric" for f in self.features)
