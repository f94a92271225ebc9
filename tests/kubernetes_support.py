"""Shared helpers of the Kubernetes rendering tests: settings, a render, kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from release.config import Settings, settings_from_dict
from release.deploy import kubernetes as k8s

SHA = "3f" * 32
IMAGE = "registry.example.com/team/release:1.4.0"
ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "release" / "templates" / "k8s"


def settings(extra: dict[str, Any] | None = None, **cluster: Any) -> Settings:
    """Settings with an image (rendering refuses without one) and ``cluster`` overrides."""
    raw: dict[str, Any] = {"release": {"deploy": {"kubernetes": {"image": IMAGE, **cluster}}}}
    for key, value in (extra or {}).items():
        if key == "deploy":
            raw["release"]["deploy"].update(value)
        else:
            raw[key] = value
    return settings_from_dict(raw)


def render(
    tmp_path: Path, strategy: str, conf: Settings | None = None, **kw: Any
) -> list[dict[str, Any]]:
    """Render ``strategy`` into a fresh folder and load every YAML object."""
    args: dict[str, Any] = dict(
        name="model",
        stage="prod",
        version="v1.2.3",
        tag="model#prod#3",
        model_sha256=SHA,
        strategy=strategy,
        out_dir=tmp_path / f"{strategy}-{kw.get('target', 'argo')}",
    )
    args.update(kw)
    k8s.render_manifests(conf or settings(), **args)
    return k8s.load_manifests(args["out_dir"])


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The objects of one kind."""
    return [d for d in docs if d["kind"] == kind]
