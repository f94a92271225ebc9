"""A fitted pipeline as plain numpy: what ``release serve`` runs without scikit-learn.

Importing scikit-learn costs well over a second of CPU before any model is read
(``import sklearn`` pulls in scipy.stats and pandas; skops' trusted-type list imports
every estimator), which is most of a server's cold start. ``release train`` therefore
also writes the fitted parameters of the pipelines it builds (imputation, scaling,
one-hot encoding, then a linear model, a histogram gradient boosting model or a random
forest) into the same skops archive, as two extra members skops ignores:
``release/serving.json`` (the structure) and ``release/serving.bin`` (the arrays, raw
little-endian). They are covered by the model file's sha256 like everything else in it,
and were checked against the pipeline's own answers on the training rows before they
were written (``release.model.export``). This module reads them and predicts with
numpy alone, with the pipeline's operations in the pipeline's order: the matrix the
estimator sees is the same bit for bit, tree decisions are the same comparisons, and
boosted scores are summed tree by tree in the same order.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from release.errors import ModelError

HEADER = "release/serving.json"
ARRAYS = "release/serving.bin"
FORMAT = "release-numpy"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 4096  # tree levels walked; a real tree is far shallower than its node count
_DTYPES = {"<f8", "<i8", "|u1"}


@dataclass(frozen=True)
class Numeric:
    """Numeric columns: imputation, then optional standard scaling."""

    columns: tuple[str, ...]
    fill: Any  # imputation statistics, one per column
    mean: Any | None
    scale: Any | None


@dataclass(frozen=True)
class Categorical:
    """Categorical columns: constant imputation, then one-hot (unknowns all zero)."""

    columns: tuple[str, ...]
    fill: Any  # the constant for missing values
    categories: tuple[Any, ...]  # one array of known categories per column


def transform(blocks: list[Numeric | Categorical], frame: Any) -> Any:
    """The matrix the pipeline's ColumnTransformer gives for ``frame``.

    ``frame`` maps column names to values: a DataFrame, or a dict of numpy arrays
    (numeric float64, categorical object with NaN for missing).
    """
    rows = len(np.asarray(frame[blocks[0].columns[0]]))
    parts = [
        _numeric(b, frame) if isinstance(b, Numeric) else _categorical(b, frame, rows)
        for b in blocks
    ]
    return np.hstack(parts) if len(parts) > 1 else parts[0]


def _numeric(block: Numeric, frame: Any) -> Any:
    x = np.column_stack([np.asarray(frame[c], dtype="float64") for c in block.columns])
    missing = np.isnan(x)
    if missing.any():
        x[missing] = np.broadcast_to(block.fill, x.shape)[missing]
    if block.mean is not None:
        x -= block.mean
    if block.scale is not None:
        x /= block.scale
    return x


def _categorical(block: Categorical, frame: Any, rows: int) -> Any:
    width = sum(len(c) for c in block.categories)
    out = np.zeros((rows, width), dtype="float64")
    start = 0
    for column, known in zip(block.columns, block.categories, strict=True):
        values = np.asarray(frame[column], dtype=object)
        filled = np.array([block.fill if v != v else v for v in values], dtype=object)
        for j, category in enumerate(known):
            out[:, start + j] = filled == category
        start += len(known)
    return out


@dataclass(frozen=True)
class Linear:
    """``X @ coef.T + intercept`` (coef kept in the estimator's own shape), then a link."""

    coef: Any
    intercept: Any
    link: str  # identity | logistic | softmax

    def raw(self, x: Any) -> Any:
        """The decision function, shaped as scikit-learn shapes it."""
        scores = x @ self.coef.T + self.intercept
        return scores.reshape(-1) if scores.ndim == 2 and scores.shape[1] == 1 else scores


@dataclass(frozen=True)
class Trees:
    """Decision trees stacked into flat node arrays (a leaf's children are itself).

    ``boost``: the raw score is the baseline plus every tree's leaf value, added tree by
    tree, ``per_round`` trees per boosting round (one per class in multiclass). ``mean``:
    the trees' leaf vectors are added tree by tree and divided by their number.
    """

    feature: Any  # int64 per node
    threshold: Any  # float64 per node: go left when x <= threshold
    missing_left: Any  # uint8 per node: where NaN goes
    left: Any  # int64 per node
    right: Any  # int64 per node
    value: Any  # float64 (nodes, outputs)
    roots: Any  # int64 per tree
    depths: Any  # int64 per tree: levels below its root
    combine: str  # boost | mean
    baseline: Any  # float64 (per_round,) for boost
    per_round: int
    float32: bool  # compare features rounded to float32, as scikit-learn's trees do
    link: str  # identity | logistic | softmax | none

    @property
    def depth(self) -> int:
        """The deepest tree's depth: the most levels a row walks."""
        return int(self.depths.max()) if self.depths.size else 0

    @cached_property
    def _walk(self) -> tuple[Any, Any, Any, Any, list[int]]:
        """(children, missing_right, order, inverse, active): the tables ``leaves`` walks.

        Trees are walked deepest first, so level ``k`` touches only the ``active[k]``
        trees still deeper than ``k`` (a contiguous block of columns).
        """
        children = np.stack([self.left, self.right], axis=1).reshape(-1)
        order = np.argsort(-self.depths, kind="stable")
        active = [int((self.depths > level).sum()) for level in range(self.depth)]
        return children, self.missing_left == 0, order, np.argsort(order), active

    def leaves(self, x: Any) -> Any:
        """The leaf each row reaches in each tree, shape (trees, rows)."""
        if self.float32:
            x = x.astype(np.float32).astype(np.float64)
        x = np.ascontiguousarray(x)
        children, missing_right, order, inverse, active = self._walk
        flat = x.reshape(-1)
        offsets = np.arange(x.shape[0]) * x.shape[1]  # where each row starts in ``flat``
        node = np.repeat(self.roots[order][:, None], x.shape[0], axis=1)
        has_nan = bool(np.isnan(flat).any())
        for count in active:
            part = node[:count]  # the trees still deeper than this level: leading rows
            seen = flat.take(self.feature.take(part) + offsets)
            right = seen > self.threshold.take(part)
            if has_nan:  # NaN compares false: its side is the node's missing_go_to_left
                right = np.where(np.isnan(seen), missing_right.take(part), right)
            node[:count] = children.take(2 * part + right)
        return node[inverse]

    def raw(self, x: Any) -> Any:
        """Boosted raw scores (rows, per_round) or averaged leaf vectors (rows, outputs).

        ``cumsum`` along the tree axis adds exactly as scikit-learn's loop does: the
        baseline (or zero) first, then each tree's value in turn.
        """
        leaves = self.leaves(x)
        rows = x.shape[0]
        if self.combine == "boost":
            rounds = self.value[:, 0].take(leaves).reshape(-1, self.per_round, rows)
            start = np.broadcast_to(self.baseline[None, :, None], (1, self.per_round, rows))
            return np.cumsum(np.concatenate([start, rounds]), axis=0)[-1].T
        values = self.value[leaves]  # (trees, rows, outputs)
        start = np.zeros((1, rows, values.shape[2]))
        return np.cumsum(np.concatenate([start, values]), axis=0)[-1] / self.roots.size


@dataclass
class PortableModel:
    """``predict``/``predict_proba`` of a fitted pipeline, in numpy alone."""

    blocks: list[Numeric | Categorical]
    estimator: Linear | Trees
    classes_: Any | None  # None for a regressor
    checked: dict[str, Any]  # how it was checked against the pipeline at training

    @property
    def is_classifier(self) -> bool:
        """Whether the model answers with classes."""
        return self.classes_ is not None

    def predict_proba(self, frame: Any) -> Any:
        """Class probabilities, columns in ``classes_`` order."""
        raw = self.estimator.raw(transform(self.blocks, frame))
        link = self.estimator.link
        if link == "none":
            return raw
        if link == "softmax":
            shifted = raw - raw.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            return exp / exp.sum(axis=1, keepdims=True)
        positive = 1.0 / (1.0 + np.exp(-raw.reshape(-1)))
        return np.stack([1.0 - positive, positive], axis=1)

    def predict(self, frame: Any) -> Any:
        """Labels for a classifier (the most probable class), values for a regressor."""
        if self.classes_ is not None:
            return self.classes_[self.predict_proba(frame).argmax(axis=1)]
        return self.estimator.raw(transform(self.blocks, frame)).reshape(-1)


def read_form(data: bytes, label: str) -> PortableModel | None:
    """The numpy form in a skops archive's bytes, None when it has none.

    Call after the bytes' sha256 and the archive's sizes were checked; the structure is
    still validated (every index in range, every array its declared size) so a damaged
    member is one clear error, never an out-of-range read.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None
    with archive:
        names = set(archive.namelist())
        if HEADER not in names or ARRAYS not in names:
            return None
        if archive.getinfo(HEADER).file_size > MAX_HEADER_BYTES:
            raise _bad(label, "its header is too large")
        header_bytes = archive.read(HEADER)
        blob = archive.read(ARRAYS)
        schema = archive.read("schema.json") if "schema.json" in names else b""
    try:
        header = json.loads(header_bytes)
        _same_schema(header, schema, label)
        arrays = _arrays(header["arrays"], blob)
        return _model(header, arrays)
    except (KeyError, TypeError, ValueError, IndexError, RecursionError) as exc:
        raise _bad(label, f"{type(exc).__name__}: {str(exc)[:120]}") from None


def skops_types(schema: bytes) -> set[str]:
    """Every ``module.class`` a skops ``schema.json`` names (what loading it would import)."""
    found: set[str] = set()
    stack: list[Any] = [json.loads(schema)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, name = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                found.add(f"{module}.{name}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _same_schema(header: dict[str, Any], schema: bytes, label: str) -> None:
    """The skops part must be the one the form was written with.

    The form itself is only numbers, but serving it must not accept a file that loading
    it through skops would refuse: a changed ``schema.json`` (say, one naming
    ``os.system``) is refused here as it would be there, without importing skops.
    """
    import hashlib

    if hashlib.sha256(schema).hexdigest() == header["skops_schema_sha256"]:
        return
    added = sorted(skops_types(schema) - set(header["skops_types"])) if schema else []
    if added:
        raise ModelError(
            f"{label} asks to load untrusted types: {', '.join(added)}",
            "only load models you trust; review them with skops.io.get_untrusted_types",
        )
    raise _bad(label, "its skops part changed after the form was written")


def _bad(label: str, why: str) -> ModelError:
    return ModelError(
        f"{label} carries a damaged numpy serving form ({why})",
        "re-train the model with `release train`, or serve it with --form pipeline",
    )


def _arrays(index: dict[str, Any], blob: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in index.items():
        dtype, shape, offset = spec["dtype"], tuple(int(s) for s in spec["shape"]), spec["offset"]
        if dtype not in _DTYPES or any(s < 0 for s in shape) or len(shape) > 3:
            raise ValueError(f"array {name} has dtype {dtype} and shape {shape}")
        size = math.prod(shape) * np.dtype(dtype).itemsize
        if not 0 <= offset <= offset + size <= len(blob):
            raise ValueError(f"array {name} lies outside the data")
        out[name] = np.frombuffer(blob, dtype=dtype, count=math.prod(shape), offset=offset)
        out[name] = out[name].reshape(shape)
    return out


def _model(header: dict[str, Any], arrays: dict[str, Any]) -> PortableModel:
    if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
        raise ValueError(f"format {header.get('format')} {header.get('version')} is unknown")
    blocks: list[Numeric | Categorical] = []
    width = 0
    for spec in header["blocks"]:
        columns = tuple(str(c) for c in spec["columns"])
        if spec["kind"] == "numeric":
            block: Numeric | Categorical = Numeric(
                columns,
                arrays[spec["fill"]],
                *(arrays.get(spec[k] or "") for k in ("mean", "scale")),
            )
            width += len(columns)
        else:
            cats = tuple(np.array(c, dtype=object) for c in spec["categories"])
            block = Categorical(columns, spec["fill"], cats)
            width += sum(len(c) for c in cats)
        blocks.append(block)
    if not blocks:
        raise ValueError("no input blocks")
    for block in blocks:
        for part in (block.fill, block.mean, block.scale) if isinstance(block, Numeric) else ():
            if part is not None and part.shape != (len(block.columns),):
                raise ValueError("numeric statistics do not match the columns")
    classes = header.get("classes")
    estimator = _estimator(header["estimator"], arrays, width)
    return PortableModel(
        blocks, estimator, None if classes is None else np.array(classes), header.get("checked", {})
    )


def _estimator(spec: dict[str, Any], arrays: dict[str, Any], width: int) -> Linear | Trees:
    link = spec["link"]
    if link not in ("identity", "logistic", "softmax", "none"):
        raise ValueError(f"link {link} is unknown")
    if spec["kind"] == "linear":
        coef, intercept = arrays[spec["coef"]], arrays[spec["intercept"]]
        if coef.shape[-1] != width:
            raise ValueError("coefficients do not match the inputs")
        return Linear(coef, intercept, link)
    trees = Trees(
        **{k: arrays[spec[k]] for k in ("feature", "threshold", "missing_left", "left", "right")},
        value=arrays[spec["value"]],
        roots=arrays[spec["roots"]],
        depths=arrays[spec["depths"]],
        combine=spec["combine"],
        baseline=arrays[spec["baseline"]],
        per_round=int(spec["per_round"]),
        float32=bool(spec["float32"]),
        link=link,
    )
    nodes = trees.feature.shape[0]
    for name in ("threshold", "missing_left", "left", "right"):
        if getattr(trees, name).shape != (nodes,):
            raise ValueError(f"{name} has another length than the nodes")
    if trees.value.ndim != 2 or trees.value.shape[0] != nodes:
        raise ValueError("leaf values are malformed")
    depths = trees.depths
    if depths.shape != trees.roots.shape or depths.min() < 0 or depths.max() > MAX_DEPTH:
        raise ValueError("tree depths are malformed")
    for name in ("left", "right", "roots"):
        index = getattr(trees, name)
        if index.size and (index.min() < 0 or index.max() >= nodes):
            raise ValueError(f"{name} points outside the nodes")
    if nodes and (trees.feature.min() < 0 or trees.feature.max() >= width):
        raise ValueError("a node reads a feature that does not exist")
    if trees.combine not in ("boost", "mean") or trees.roots.size == 0:
        raise ValueError("the trees are combined in an unknown way")
    if trees.combine == "boost" and (
        trees.per_round < 1
        or trees.roots.size % trees.per_round
        or trees.baseline.shape != (trees.per_round,)
    ):
        raise ValueError("the boosting rounds do not match the trees")
    return trees
