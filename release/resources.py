"""Files that travel inside the package: the built-in Jinja templates and schemas.

They are package data (``release/templates/``), so a wheel install renders cards,
reports and manifests without a source checkout. A project overrides any of them from
its own folder; this module only says where the built-in ones are.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def builtin_templates(kind: str = "") -> Path:
    """The folder of built-in templates, or its ``kind`` subfolder (``card``, ``k8s``, ...).

    Installed packages are plain folders on disk (wheels are unpacked), so a ``Path`` is
    safe to hand to Jinja's ``FileSystemLoader``.
    """
    root = Path(str(resources.files("release") / "templates"))
    return root / kind if kind else root
