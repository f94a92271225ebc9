"""Atomic file writes: write to a temporary file beside the target, then rename.

No command leaves a half-written output behind: a reader sees the old file or the new
one, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from release.errors import ReleaseError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def dumps_json(obj: Any) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline, no NaN."""
    return json.dumps(_clean(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as stable JSON atomically (NaN and inf become null)."""
    write_text(target, dumps_json(obj))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def parse_json(
    blob: bytes | str,
    what: str,
    error: type[ReleaseError],
    fix: str,
    *,
    max_bytes: int,
    kind: str = "this file",
    require_object: bool = True,
) -> Any:
    """Parse a JSON document read from disk or git, within ``max_bytes`` and bounded nesting.

    Every failure is one ``error(message, fix)`` naming ``what``: too large, nested too
    deeply for the parser (a ``RecursionError`` otherwise), not JSON, or (with
    ``require_object``) not an object.
    """
    if len(blob) > max_bytes:
        raise error(f"{what} is {len(blob)} bytes, more than the {max_bytes} allowed", fix)
    try:
        data = json.loads(blob)
    except RecursionError:
        raise error(f"{what} nests too deeply to be {kind}", fix) from None
    except ValueError as exc:
        text = str(exc)
        raise error(f"{what} is not JSON: {text[:160]}", fix) from None
    if require_object and not isinstance(data, dict):
        raise error(f"{what} is not a JSON object", fix)
    return data


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _clean(obj: Any) -> Any:
    """Make numpy scalars and non-finite floats JSON-safe."""
    import math

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and not isinstance(obj, str | bytes):
        try:
            obj = obj.item()
        except (TypeError, ValueError):
            return obj
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
