"""Find the model to serve: a path on disk, or a registered version ``NAME@vX.Y.Z``.

A version is resolved through the registry (the commit its GTO tag points at). At that
commit ``models/model.json`` is read from git and the model bytes from the DVC cache by
the md5 that ``dvc.lock`` (or a ``.dvc`` file) recorded, fetching from the DVC remote when
the cache lacks them (the remote may have them). The bytes must have the sha256 that
``model.json`` recorded at that commit: a mismatch refuses to serve.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from release import dvcstore, gitcmd, paths
from release.errors import ModelError, RegistryError, UsageError
from release.model.archive import check_file_size
from release.registry.api import read_state

# GTO's artifact name and semver grammar (gto/constants.py), without the dirname prefix.
_NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?"
_SEMVER = (
    r"v(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    r"(?:-[0-9a-zA-Z\-]+(?:\.[0-9a-zA-Z\-]+)*)?(?:\+[0-9a-zA-Z\-]+(?:\.[0-9a-zA-Z\-]+)*)?"
)
NAME_RE = re.compile(f"^{_NAME}$")
VERSION_REF_RE = re.compile(f"^(?P<name>{_NAME})@(?P<version>{_SEMVER})$")
STAGE_REF_RE = re.compile(f"^(?P<name>{_NAME})#(?P<stage>{_NAME})$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
PIN_VARIABLE = "RELEASE_MODEL_SHA256"
Form = Literal["auto", "pipeline"]


@dataclass
class LoadedModel:
    """A verified pipeline ready to serve, and where it came from."""

    pipeline: Any
    meta: dict[str, Any]
    name: str
    version: str
    sha256: str
    source: str
    commit: str | None = None


def parse_version_ref(spec: str) -> tuple[str, str] | None:
    """``NAME@vX.Y.Z`` -> (name, version); None when ``spec`` is not a version ref."""
    match = VERSION_REF_RE.match(spec)
    return (match["name"], match["version"]) if match else None


def load(
    spec: str,
    *,
    repo: str | os.PathLike[str] = ".",
    pinned: str | None = None,
    form: Form = "pipeline",
) -> LoadedModel:
    """Load ``spec``: a models/ directory, a ``.skops`` file, ``NAME@vX.Y.Z`` or ``NAME#stage``.

    ``pinned`` (the deployment's ``RELEASE_MODEL_SHA256``) must equal the model's sha256.
    ``form="auto"`` gives the numpy serving form when the file carries one (see
    :func:`open_model`); ``"pipeline"`` always the scikit-learn pipeline.
    """
    if Path(spec).exists():
        return load_path(spec, pinned=pinned, form=form)
    ref = parse_version_ref(spec)
    if ref is not None:
        return load_version(repo, *ref, pinned=pinned, form=form)
    stage = STAGE_REF_RE.match(spec)
    if stage is not None:
        version = _active_version(repo, stage["name"], stage["stage"])
        return load_version(repo, stage["name"], version, pinned=pinned, form=form)
    raise UsageError(
        f"--model {spec!r} is neither an existing path nor a version",
        "pass a models/ directory, a .skops file, NAME@vX.Y.Z or NAME#STAGE",
    )


def open_model(data: bytes, label: str, form: Form) -> Any:
    """What predicts: the numpy serving form (``form="auto"`` and the file has one, so
    scikit-learn is never imported), else the pipeline loaded by skops. ``data`` is
    already checked against its recorded sha256."""
    if form == "auto" and zipfile.is_zipfile(io.BytesIO(data)):  # else the skops path says why
        from release.model.archive import inspect_archive
        from release.model.portable import read_form

        inspect_archive(data, label)
        portable = read_form(data, label)
        if portable is not None:
            return portable
    from release.model.persist import load_model_bytes

    return load_model_bytes(data, label)


def load_path(
    path: str | os.PathLike[str], *, pinned: str | None = None, form: Form = "pipeline"
) -> LoadedModel:
    """Load a model from a directory holding model.skops + model.json, or a .skops file."""
    from release.model.persist import read_metadata, read_model_bytes

    target = Path(path)
    if target.is_dir():
        model_file = target / Path(paths.MODEL).name
    elif target.suffix == ".skops":
        model_file = target
    else:
        raise UsageError(
            f"{target} is not a models directory or a .skops file",
            "pass the folder with model.skops and model.json, or the .skops file",
        )
    meta_file = model_file.with_name(Path(paths.MODEL_META).name)
    meta = read_metadata(meta_file)
    expected = _expected_sha(meta, str(meta_file))
    check_pinned(expected, pinned, str(model_file))
    pipeline = open_model(read_model_bytes(model_file, expected), str(model_file), form)
    name = str(meta.get("name") or "model")
    return LoadedModel(
        pipeline=pipeline,
        meta=meta,
        name=name,
        version=f"sha-{expected[:12]}",
        sha256=expected,
        source=str(model_file),
    )


def load_version(
    repo: str | os.PathLike[str],
    name: str,
    version: str,
    *,
    pinned: str | None = None,
    form: Form = "pipeline",
) -> LoadedModel:
    """Load the model registered as ``name@version`` from git and the DVC cache."""
    found = read_version(repo, name, version, pinned=pinned)
    pipeline = open_model(found.data, f"{name}@{version}", form)
    return LoadedModel(
        pipeline=pipeline,
        meta=found.meta,
        name=name,
        version=version,
        sha256=found.sha256,
        source=f"{name}@{version} ({found.commit[:8]})",
        commit=found.commit,
    )


@dataclass(frozen=True)
class VersionFile:
    """A registered version's model bytes, checked against what its commit recorded."""

    name: str
    version: str
    commit: str
    model_path: str
    meta: dict[str, Any]
    raw_meta: bytes
    data: bytes
    sha256: str
    md5: str


def read_version(
    repo: str | os.PathLike[str],
    name: str,
    version: str,
    *,
    pinned: str | None = None,
    action: str = "serve",
) -> VersionFile:
    """The bytes of ``name@version``'s model file, verified against the sha256 its
    ``model.json`` records and the md5 DVC recorded (and ``pinned``, when given), without
    unpickling anything. ``action`` names what a mismatch refuses (serve, fetch)."""
    from release.model.persist import parse_metadata

    if not NAME_RE.match(name) or parse_version_ref(f"{name}@{version}") is None:
        raise UsageError(f"{name}@{version} is not a valid version", "use NAME@vX.Y.Z")
    repo = Path(repo)
    commit = version_commit(repo, name, version)
    model_path, meta_path = _artifact_paths(repo, commit, name)
    raw_meta = git_show(repo, commit, meta_path)
    if raw_meta is None:
        raise ModelError(
            f"{name}@{version} (commit {commit[:8]}) has no {meta_path}",
            "register a commit where `release train` wrote the model metadata",
        )
    meta = parse_metadata(raw_meta, f"{meta_path} at {commit[:8]}")
    expected = _expected_sha(meta, f"{meta_path} at {commit[:8]}")
    check_pinned(expected, pinned, f"{name}@{version}")
    data = model_bytes(repo, commit, model_path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelError(
            f"{name}@{version}: {model_path} has sha256 {actual[:12]}..., but {meta_path} "
            f"at {commit[:8]} records {expected[:12]}...; refusing to {action}",
            "the cached file was changed or corrupted; restore it with `dvc fetch` "
            "or re-run the pipeline at that commit",
        )
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    recorded = dvcstore.tracked_md5(repo, commit, model_path)
    if recorded is not None and recorded != md5:
        raise ModelError(
            f"{name}@{version}: {model_path} has md5 {md5}, but DVC recorded {recorded} at "
            f"{commit[:8]}; refusing to {action}",
            "the DVC object was changed or corrupted; push it again from where it was made",
        )
    return VersionFile(name, version, commit, model_path, meta, raw_meta, data, actual, md5)


def pinned_sha256(environ: dict[str, str] | None = None) -> str | None:
    """``RELEASE_MODEL_SHA256`` from the environment: None when unset or empty, else the
    64 lowercase hex digits (UsageError for anything else)."""
    value = (os.environ if environ is None else environ).get(PIN_VARIABLE, "").strip()
    if not value:
        return None
    if not _SHA256.fullmatch(value):
        raise UsageError(
            f"{PIN_VARIABLE}={value[:80]!r} is not a sha256",
            "set it to the 64 lowercase hex digits of model.skops, or unset it",
        )
    return value


def check_pinned(recorded: str, pinned: str | None, what: str) -> None:
    """Refuse a model whose recorded sha256 is not the one the deployment pinned
    (``RELEASE_MODEL_SHA256``), before its bytes are read or unpickled."""
    if pinned is not None and recorded != pinned:
        raise ModelError(
            f"{what} has sha256 {recorded[:12]}..., but RELEASE_MODEL_SHA256 is "
            f"{pinned[:12]}...; refusing to serve",
            "deploy the version the manifest names, or fix RELEASE_MODEL_SHA256",
        )


def version_commit(repo: Path, name: str, version: str) -> str:
    """The commit a version's tag points at, as the registry resolves it."""
    commit = str(read_state(str(repo)).version_commit(name, version))
    if not _HEX40.match(commit):
        raise RegistryError(f"{name}@{version} resolved to {commit!r}, not a commit", "check tags")
    return commit


def _active_version(repo: str | os.PathLike[str], name: str, stage: str) -> str:
    state = read_state(str(repo))
    version = state.active_version(name, stage)
    if version is None:
        raise RegistryError(
            f"no version of {name} is in stage {stage}", "promote one with `release promote`"
        )
    return str(version)


def git_show(repo: Path, commit: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``commit``, or None when it is not in that commit."""
    return gitcmd.show(repo, commit, path)


def model_bytes(repo: Path, commit: str, model_path: str) -> bytes:
    """The model file's bytes at ``commit``: DVC cache, workspace, DVC remote, or git."""
    label = f"{model_path} at {commit[:8]}"
    try:
        # The size is checked before the bytes are read: a huge file is refused unread.
        data = dvcstore.read_at(
            repo, commit, model_path, check_size=lambda size: check_file_size(size, label)
        )
    except dvcstore.DvcError as exc:
        raise ModelError(
            exc.what, "run `dvc push` where the model was trained, or `dvc pull` here"
        ) from None
    if data is None:
        raise ModelError(
            f"{model_path} is tracked neither by DVC (dvc.lock, .dvc file) nor by git at "
            f"commit {commit[:8]}",
            "register a commit whose dvc.lock records the model",
        )
    return data


# ----------------------------------------------------------------------- internals
def _expected_sha(meta: dict[str, Any], where: str) -> str:
    expected = meta.get("sha256")
    if not isinstance(expected, str) or not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ModelError(
            f"{where} records no valid sha256 of the model file; refusing to serve",
            "re-run `release train`, which records it",
        )
    return expected


def _safe_relpath(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ModelError(f"{what} is not a path", "fix artifacts.yaml")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or value.startswith("-"):
        raise ModelError(f"{what} = {value!r} leaves the repository", "use a relative path")
    return str(path)


def _artifact_paths(repo: Path, commit: str, name: str) -> tuple[str, str]:
    """Model and metadata paths: from artifacts.yaml when it names a path, else models/."""
    model_path, meta_path = paths.MODEL, paths.MODEL_META
    raw = git_show(repo, commit, "artifacts.yaml")
    if raw is None:
        return model_path, meta_path
    import yaml

    try:
        doc = yaml.safe_load(raw) or {}
    except yaml.YAMLError:
        return model_path, meta_path
    entry = doc.get(name) if isinstance(doc, dict) else None
    declared = entry.get("path") if isinstance(entry, dict) else None
    if not declared:
        return model_path, meta_path
    declared = _safe_relpath(declared, f"artifacts.yaml {name}.path")
    if declared.endswith(".skops"):
        model_path = declared
    else:
        model_path = f"{declared.rstrip('/')}/{Path(paths.MODEL).name}"
    meta_path = str(PurePosixPath(model_path).with_name(Path(paths.MODEL_META).name))
    return model_path, meta_path
