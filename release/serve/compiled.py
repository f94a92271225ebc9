"""The fitted preprocessing of a served pipeline as plain numpy, for small batches.

This is the fast path of a model served through scikit-learn (``--form pipeline``, or a
file written before ``release.model.portable`` existed); a model whose file carries the
numpy serving form needs neither.

Profiled at concurrency 16, a 16-row ``predict_proba`` of the default pipeline spends
about three quarters of its time in scikit-learn's per-call machinery
(``ColumnTransformer`` dispatch, input validation, output wrapping) and a quarter in the
model itself. :func:`compile_pipeline` reads the fitted parameters of the shape
``release train`` builds (numeric: median/mean/constant imputation then optional
standard scaling; categorical: constant imputation then one-hot with unknowns ignored)
and applies them with the same numpy operations in the same order, so the model sees the
same matrix bit for bit; anything else (another transformer, infrequent categories,
feature names on the estimator) is not compiled and the pipeline is called as it is.
"""

from __future__ import annotations

from typing import Any

from release.model.export import preprocessing_blocks
from release.model.portable import Categorical, Numeric, transform

__all__ = ["Categorical", "CompiledPipeline", "Numeric", "compile_pipeline"]


class CompiledPipeline:
    """``predict``/``predict_proba`` of a fitted pipeline with its preprocessing in numpy."""

    def __init__(self, blocks: list[Numeric | Categorical], estimator: Any) -> None:
        self.blocks = blocks
        self.estimator = estimator
        self.classes_ = getattr(estimator, "classes_", None)

    def transform(self, frame: Any) -> Any:
        """The matrix the pipeline's ColumnTransformer would give for ``frame``."""
        return transform(self.blocks, frame)

    def predict(self, frame: Any) -> Any:
        """The estimator's predictions for ``frame``."""
        return self.estimator.predict(self.transform(frame))

    def predict_proba(self, frame: Any) -> Any:
        """The estimator's class probabilities for ``frame``."""
        return self.estimator.predict_proba(self.transform(frame))


def compile_pipeline(pipeline: Any) -> CompiledPipeline | None:
    """The compiled form of ``pipeline``, or None when its shape is not the known one."""
    try:
        blocks = preprocessing_blocks(pipeline)
    except (AttributeError, TypeError, ValueError):  # a shape we do not know: no fast path
        return None
    return None if blocks is None else CompiledPipeline(blocks, pipeline.steps[-1][1])
