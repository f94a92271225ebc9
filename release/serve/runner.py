"""Predict a micro-batch of decoded requests with one call, and split the answers back.

The requests' columns are concatenated, turned into one typed frame and predicted once.
If the merged call fails (one request sent a value of the wrong type), each request
is predicted on its own so only the bad one gets its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from release.errors import ModelError, UsageError
from release.model.portable import Numeric, PortableModel
from release.serve.compiled import compile_pipeline
from release.serve.protocol import InferRequest, ProtocolError, Schema


@dataclass
class Prediction:
    """One request's share of a batch: labels (or values) and class probabilities."""

    labels: Any
    proba: Any | None


class ModelRunner:
    """A loaded pipeline with its metadata, predicting batches on a worker thread."""

    def __init__(
        self, pipeline: Any, meta: dict[str, Any], schema: Schema, *, compiled: bool = True
    ) -> None:
        self.pipeline = pipeline
        self.meta = meta
        self.schema = schema
        # A numpy serving form (release.model.portable) needs neither pandas nor
        # scikit-learn. A scikit-learn pipeline gets the numpy form of its preprocessing
        # (release.serve.compiled); warm_up checks it gives the pipeline's own answers
        # before it is used, else the pipeline serves.
        self.portable = isinstance(pipeline, PortableModel)
        self.fast = compile_pipeline(pipeline) if compiled and not self.portable else None

    @property
    def form(self) -> str:
        """How predictions are made, for the start-up line and /v2 metadata."""
        if self.portable:
            return "numpy serving form"
        return "scikit-learn, numpy preprocessing" if self.fast is not None else "scikit-learn"

    def predict_columns(self, columns: dict[str, list[Any]]) -> tuple[Any, Any | None]:
        """Predict one table given as column lists (raises UsageError on bad values).

        ``frame_from_records`` already yields the normalized frame (float64 numeric
        columns, str-or-NaN categorical ones, model order), so this calls the pipeline
        directly instead of ``release.model.predict.predict``, whose re-normalization
        costs more than the rest of a small batch; the tests check both agree.
        """
        from release.model.predict import arrays_from_records, frame_from_records

        if self.portable:
            frame = arrays_from_records(self.meta, columns)
        else:
            frame = frame_from_records(self.meta, columns)
        model = self.pipeline if self.fast is None else self.fast
        if not self.schema.is_classifier:
            return model.predict(frame), None
        proba = model.predict_proba(frame)
        return self.pipeline.classes_[proba.argmax(axis=1)], proba

    def warm_up(self) -> None:
        """Run one prediction so the first client does not pay for lazy initialisation."""
        row: dict[str, list[Any]] = {}
        for feature in self.schema.features:
            if feature.kind == "numeric":
                row[feature.name] = [0.0]
            else:
                row[feature.name] = [feature.categories[0] if feature.categories else "x"]
        try:
            if self.fast is not None:
                self._check_fast()
            self.predict_columns(row)
        except Exception as exc:  # a corrupt or crafted model fails here, not on a client
            text = " ".join(str(exc).split())[:200]
            raise ModelError(
                f"the model fails on a sample row: {type(exc).__name__}: {text}",
                "the file does not match its model.json; re-train it",
            ) from None

    def _check_fast(self) -> None:
        """Keep the compiled path only if it answers exactly as the pipeline does."""
        import numpy as np

        from release.model.predict import frame_from_records

        assert self.fast is not None
        # numbers around each column's training median, so the rows reach real leaves
        medians = {
            name: float(value)
            for block in self.fast.blocks
            if isinstance(block, Numeric)
            for name, value in zip(block.columns, block.fill, strict=True)
        }
        rows = 12
        columns: dict[str, list[Any]] = {}
        for k, feature in enumerate(self.schema.features):
            if feature.kind == "numeric":
                centre = medians.get(feature.name, 1.0) or 1.0
                values: list[Any] = [centre * (0.4 + 0.11 * ((i + k) % 11)) for i in range(rows)]
            else:
                known = list(feature.categories or ("x",))
                values = [known[(i + k) % len(known)] for i in range(rows)]
                values[-2] = "__unseen__"  # an unknown category (ignored by the encoder)
            values[-1] = None  # a missing value in every column
            columns[feature.name] = values
        frame = frame_from_records(self.meta, columns)
        fast, slow = self.fast, self.pipeline
        assert fast is not None
        method = "predict_proba" if self.schema.is_classifier else "predict"
        expected = getattr(slow, method)(frame)  # the pipeline's own failure is the model's
        try:
            same = np.array_equal(getattr(fast, method)(frame), expected)
        except Exception:  # the compiled form does not fit this model: serve the pipeline
            same = False
        if not same:
            self.fast = None

    def predict_batch(self, requests: list[InferRequest]) -> list[Prediction | BaseException]:
        """Predict all requests with one call; each gets its own rows or its own error."""
        if len(requests) == 1:
            return [self._predict_one(requests[0])]
        merged: dict[str, list[Any]] = {name: [] for name in self.schema.feature_names}
        for request in requests:
            for name, values in request.columns.items():
                merged[name].extend(values)
        try:
            labels, proba = self.predict_columns(merged)
        except Exception:  # one request's bad value: predict each alone to find it
            return [self._predict_one(r) for r in requests]
        results: list[Prediction | BaseException] = []
        start = 0
        for request in requests:
            stop = start + request.rows
            results.append(
                Prediction(labels[start:stop], None if proba is None else proba[start:stop])
            )
            start = stop
        return results

    def _predict_one(self, request: InferRequest) -> Prediction | BaseException:
        try:
            labels, proba = self.predict_columns(request.columns)
        except UsageError as exc:
            return ProtocolError(400, exc.one_line())
        except Exception as exc:  # a model failure is the server's fault: 500, logged
            return exc
        return Prediction(labels, proba)
