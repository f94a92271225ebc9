"""Versions of the packages that shape a result, recorded in provenance and metadata."""

from __future__ import annotations

import platform
from importlib import metadata

TRACKED = ("release", "scikit-learn", "numpy", "pandas", "pyarrow", "scipy", "skops", "dvc", "gto")


def package_versions() -> dict[str, str]:
    """Installed versions of the tracked packages (and Python)."""
    versions = {"python": platform.python_version()}
    for name in TRACKED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
