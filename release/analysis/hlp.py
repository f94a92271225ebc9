"""Human-level performance (HLP) measured from annotator labels.

Two measures per set of rows, both averaged over rows (a random row, then random
annotators on it; missing labels are skipped):

* ``annotator_accuracy``: how often a single annotator gives the reference label;
* ``agreement``: how often two different random annotators give the same label,
  ``sum_c n_c (n_c - 1) / (m (m - 1))`` for ``m`` labels of which ``n_c`` say ``c``.
  This is the unbiased estimate of ``sum_c p_c^2``: annotators who choose 80%/20% agree
  0.8^2 + 0.2^2 = 68% of the time, while one of them matches the majority label 80%.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from release.errors import ConfigError, DataError

KINDS = ("annotator_accuracy", "agreement")


@dataclass(frozen=True)
class RowHLP:
    """Per-row HLP ingredients (NaN where a row lacks the labels needed)."""

    accuracy: np.ndarray
    agreement: np.ndarray

    def on(self, mask: np.ndarray | None = None) -> tuple[float | None, float | None]:
        """(annotator accuracy, pairwise agreement) averaged over the rows in ``mask``."""
        acc = self.accuracy if mask is None else self.accuracy[mask]
        agr = self.agreement if mask is None else self.agreement[mask]
        return _nanmean(acc), _nanmean(agr)


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def _encode(columns: list[Any], reference: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for annotator labels ``(n, m)`` and the reference ``(n,)``; -1 = missing.

    Numbers compare as numbers (``1 == 1.0``), anything else as text.
    """
    import pandas as pd

    ref = pd.Series(np.asarray(reference))
    frames = [pd.Series(np.asarray(c)) for c in columns]
    numeric = all(pd.api.types.is_numeric_dtype(s.dtype) for s in [ref, *frames])

    def canon(s: Any) -> Any:
        if numeric:
            return s.astype(np.float64)
        return s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))

    stacked = pd.concat([canon(ref), *(canon(s) for s in frames)], ignore_index=True)
    codes, _ = pd.factorize(stacked)
    n = len(ref)
    return codes[n:].reshape(len(frames), n).T, codes[:n]


def row_hlp(annotations: list[Any], reference: Any) -> RowHLP:
    """Per-row annotator accuracy and pairwise agreement from annotator label columns."""
    labels, ref = _encode(annotations, reference)
    present = labels >= 0
    m = present.sum(axis=1).astype(np.float64)
    matches = ((labels == ref[:, None]) & present & (ref[:, None] >= 0)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where((m > 0) & (ref >= 0), matches / m, np.nan)
        same = np.zeros(labels.shape[0], dtype=np.float64)
        top = int(labels.max(initial=-1))
        for code in range(top + 1):
            count = (labels == code).sum(axis=1).astype(np.float64)
            same += count * (count - 1)
        agreement = np.where(m >= 2, same / (m * (m - 1)), np.nan)
    return RowHLP(accuracy, agreement)


def row_hlp_from_frame(df: Any, annotators: list[str], reference: Any) -> RowHLP:
    """:func:`row_hlp` on the annotator columns of ``df`` (ConfigError if one is missing)."""
    missing = [c for c in annotators if c not in df.columns]
    if missing:
        raise ConfigError(
            f"data.annotators names column(s) not in the test data: {', '.join(missing)}",
            "list the annotator label columns the data has, or set evaluate.hlp.source: none",
        )
    if len(reference) != len(df):
        raise DataError("reference labels and test rows differ in length", "pass aligned arrays")
    return row_hlp([df[c] for c in annotators], reference)
