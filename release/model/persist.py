"""Save and load models with skops, never pickle.

Loading trusts skops' defaults plus an explicit, short list of types our pipelines
need (:data:`TRUSTED_TYPES`); a file that asks for anything else, or that is not a skops
archive at all (a pickle payload, say), is refused with a clear error.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from release import paths
from release.errors import ModelError
from release.fsio import atomic_path, parse_json, sha256_file
from release.model.archive import check_file_size, inspect_archive
from release.model.metadata import MAX_METADATA_BYTES, check_metadata

# Types beyond skops' built-in trusted set that our estimators legitimately contain.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


def save_model(
    pipeline: Any, path: str | os.PathLike[str] = paths.MODEL, *, check_frame: Any = None
) -> str:
    """Write ``pipeline`` as a skops file atomically; return its sha256.

    With ``check_frame`` (training rows), the pipeline's numpy serving form is written
    into the archive too when it gives the pipeline's answers on those rows
    (:func:`release.model.export.serving_members`).
    """
    import skops.io as sio

    with atomic_path(path) as tmp:
        sio.dump(pipeline, tmp)
        _normalize_zip(tmp)
        if check_frame is not None:
            from release.model.export import serving_members

            with zipfile.ZipFile(tmp) as archive:
                schema = archive.read("schema.json")  # the form records its hash
            extra = serving_members(pipeline, check_frame, schema)
            if extra:
                with zipfile.ZipFile(tmp) as archive:
                    kept = {name: archive.read(name) for name in archive.namelist()}
                _write_canonical(tmp, {**kept, **extra})
        untrusted = sorted(set(sio.get_untrusted_types(file=tmp)) - set(TRUSTED_TYPES))
        if untrusted:
            raise ModelError(
                f"the model contains types outside the trusted list: {', '.join(untrusted)}",
                "use a supported estimator or add the types to release.model.persist."
                "TRUSTED_TYPES after review",
            )
    return sha256_file(path)


def _normalize_zip(path: Path) -> None:
    """Rewrite the archive canonically: the same model always gives the same bytes.

    skops stamps entries with the current time and names nodes and array files after
    Python object ids (memory addresses). Renumbering ids in order of first appearance
    and fixing timestamps keeps every reference intact while making retraining an
    identical model reproduce the file hash, which `release verify` relies on.
    """
    import json
    import re

    with zipfile.ZipFile(path) as src:
        blobs = {info.filename: (info, src.read(info.filename)) for info in src.infolist()}
    schema = json.loads(blobs["schema.json"][1])
    ids: dict[int, int] = {}
    files: dict[str, str] = {}
    npy = re.compile(r"^(\d+)\.npy$")

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = ids.setdefault(value, len(ids) + 1)
                elif key == "file" and isinstance(value, str) and npy.match(value):
                    out[key] = files.setdefault(value, f"{len(files) + 1:06d}.npy")
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    canonical = walk(schema)
    renamed = {"schema.json": json.dumps(canonical, sort_keys=True).encode()}
    for name, (_, data) in blobs.items():
        if name != "schema.json":
            renamed[files.get(name, name)] = data
    _write_canonical(path, renamed)


def _write_canonical(path: Path, members: dict[str, bytes]) -> None:
    """Write ``members`` as a zip in name order with fixed times and modes, stored."""
    with zipfile.ZipFile(path, "w") as dst:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED  # as skops writes it
            info.external_attr = 0o644 << 16
            dst.writestr(info, members[name])


def load_model(
    path: str | os.PathLike[str] = paths.MODEL, expected_sha256: str | None = None
) -> Any:
    """Load a skops model, refusing untrusted types, non-skops files and hash mismatches."""
    return load_model_bytes(read_model_bytes(path, expected_sha256), str(path))


def read_model_bytes(
    path: str | os.PathLike[str] = paths.MODEL, expected_sha256: str | None = None
) -> bytes:
    """A model file's bytes, refused when missing, too large or of another sha256."""
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} not found", "run `release train` or `dvc repro`")
    check_file_size(path.stat().st_size, str(path))
    data = path.read_bytes()
    check_file_size(len(data), str(path))  # it may have grown since
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise ModelError(
                f"model file {path} has sha256 {actual[:12]}..., expected "
                f"{expected_sha256[:12]}...",
                "the file was changed or corrupted; restore it with `dvc checkout` or `dvc pull`",
            )
    return data


def load_model_bytes(data: bytes, label: str = "model") -> Any:
    """Load a skops model from bytes (for models read from git objects or a DVC cache).

    The archive's sizes and array headers are checked first (release.model.archive), so
    a crafted file is refused before skops unpacks anything.
    """
    import io

    import skops.io as sio

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelError(
            f"{label} is not a skops file (it may be a pickle, which is never loaded)",
            "re-save the model with `release train`",
        )
    inspect_archive(data, label)
    try:
        untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    except Exception as exc:  # skops raises several types for corrupt archives
        raise ModelError(f"{label} is not a valid skops file: {exc}", "re-save it") from None
    if untrusted:
        raise ModelError(
            f"{label} asks to load untrusted types: {', '.join(untrusted)}",
            "only load models you trust; review them with skops.io.get_untrusted_types",
        )
    try:
        return sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:
        raise ModelError(f"{label} could not be loaded: {exc}", "re-save it") from None


def read_metadata(path: str | os.PathLike[str] = paths.MODEL_META) -> dict[str, Any]:
    """Read ``models/model.json`` (input schema, classes, hashes), checked against its schema."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path} not found", "run `release train` or `dvc repro`")
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise ModelError(f"{path} is {size} bytes, too large for model metadata", "re-train")
    return parse_metadata(path.read_bytes(), str(path))


def parse_metadata(raw: bytes, where: str) -> dict[str, Any]:
    """Parse and validate model.json bytes (from a file or a git object)."""
    meta = parse_json(
        raw,
        where,
        ModelError,
        "re-run `release train`",
        max_bytes=MAX_METADATA_BYTES,
        kind="model metadata",
        require_object=False,  # the schema names what the top level should be
    )
    return check_metadata(meta, where)
