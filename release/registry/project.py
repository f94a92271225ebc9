"""What a repository declares about its registry: stages and artifacts.

- Stage order: ``release.stages`` in ``params.yaml`` when the file exists, else the
  ``stages`` of gto's ``.gto`` config, else dev < staging < prod. When ``.gto`` lists
  stages, gto refuses others, so do we.
- Declared artifacts: ``artifacts.yaml`` (gto's index; its name can be changed by
  ``INDEX`` in ``.gto``) and the ``artifacts:`` section of ``dvc.yaml`` (DVC 3), both
  read at HEAD from git objects as gto reads its index. ``.gto`` is read from the work
  tree, as gto does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.errors import ConfigError
from release.grammar import FULLNAME_RE, NAME_RE
from release.registry import git

DEFAULT_STAGES = ["dev", "staging", "prod"]
GTO_CONFIG = ".gto"
GTO_INDEX = "artifacts.yaml"
DVC_YAML = "dvc.yaml"


@dataclass
class GtoConfig:
    """The parts of ``.gto`` that change what the registry reads."""

    stages: list[str] | None = None
    types: list[str] | None = None
    index: str = GTO_INDEX


@dataclass
class Declarations:
    """Artifacts declared at HEAD: gto's index (in order) and dvc.yaml's artifacts."""

    head: str | None = None
    head_time: int | None = None
    head_raw: bytes | None = None
    index: dict[str, dict[str, Any]] = field(default_factory=dict)
    dvc: dict[str, dict[str, Any]] = field(default_factory=dict)


def _yaml(text: str | bytes, source: str) -> Any:
    import yaml  # lazily: `release --help` must not pay for it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"{source} is not valid YAML", "fix its syntax") from None


def read_gto_config(root: str | os.PathLike[str]) -> GtoConfig:
    """Read ``.gto`` from the work tree root (missing file: gto's defaults)."""
    path = Path(root) / GTO_CONFIG
    if not path.is_file():
        return GtoConfig()
    raw = _yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping", "see gto's config documentation")
    lower = {str(k).lower(): v for k, v in raw.items()}
    config = GtoConfig()
    for key in ("stages", "types"):
        value = lower.get(key)
        if value is not None:
            if not isinstance(value, list) or not all(
                isinstance(s, str) and NAME_RE.search(s) for s in value
            ):
                raise ConfigError(f"{path}: {key} = {value!r} is invalid", "a list of names")
            setattr(config, key, list(value))
    index = lower.get("index")
    if isinstance(index, str) and index:
        config.index = index
    return config


def stage_order(
    root: str | os.PathLike[str], params: str | os.PathLike[str] | None = None
) -> list[str]:
    """Stages in promotion order (params.yaml, else .gto, else dev, staging, prod)."""
    path = Path(params) if params is not None else Path(root) / "params.yaml"
    if params is not None and not path.is_file():
        raise ConfigError(f"{params} not found", "pass an existing --params file")
    if path.is_file():
        from release.config import load_settings

        return list(load_settings(path).release.stages)
    gto = read_gto_config(root)
    return list(gto.stages) if gto.stages else list(DEFAULT_STAGES)


def read_declarations(root: str | os.PathLike[str], index: str = GTO_INDEX) -> Declarations:
    """Artifacts declared at HEAD in ``artifacts.yaml`` and ``dvc.yaml`` (git objects)."""
    decl = Declarations()
    for spec in (index, DVC_YAML):
        if spec.startswith("-") or "\n" in spec:
            raise ConfigError(f"invalid index file name {spec!r}", "fix INDEX in .gto")
    # HEAD first, then the files by its object name: were they read as ``HEAD:path``,
    # a commit landing in between would pair one HEAD with another's files (and the
    # read cache would store that under the wrong key).
    (head,) = git.read_objects(root, ["HEAD"])
    if head is None or head[1] != "commit":
        return decl  # no commits yet
    idx_obj, dvc_obj = git.read_objects(root, [f"{head[0]}:{index}", f"{head[0]}:{DVC_YAML}"])
    idx = idx_obj[2] if idx_obj and idx_obj[1] == "blob" else None
    dvc = dvc_obj[2] if dvc_obj and dvc_obj[1] == "blob" else None
    decl.head = head[0]
    decl.head_raw = head[2]
    for line in head[2].decode("utf-8", "replace").splitlines():
        if line.startswith("committer "):
            decl.head_time = int(line.rsplit(" ", 2)[1])
            break
    if idx is not None:
        raw = _yaml(idx, index)
        if isinstance(raw, dict):
            for k in raw:
                # gto refuses such an index too (gto.index.Index.read_state): one line here.
                if not isinstance(k, str) or not NAME_RE.search(k):
                    raise ConfigError(
                        f"{index}: artifact name {str(k)[:80]!r} is invalid",
                        f"rename it in {index}: letters, digits, '-', '_', '/', starting"
                        " and ending with a letter or digit",
                    )
            decl.index = {str(k): (v if isinstance(v, dict) else {}) for k, v in raw.items()}
    if dvc is not None:
        raw = _yaml(dvc, DVC_YAML)
        arts = raw.get("artifacts") if isinstance(raw, dict) else None
        if isinstance(arts, dict):
            decl.dvc = {
                str(k): (v if isinstance(v, dict) else {})
                for k, v in arts.items()
                if isinstance(k, str) and FULLNAME_RE.search(k)
            }
    return decl
