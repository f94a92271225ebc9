"""The serving image's files for a project: ``Dockerfile`` and ``.dockerignore``.

This repository's own files are the shipped ones (a test keeps them equal). In a user's
project the image installs ``release`` from the package index at this version, over the
same hash-locked dependencies its ``.github/requirements-ci.txt`` pins, instead of
building a wheel from sources the project does not have.
"""

from __future__ import annotations

from importlib import resources

from release import __version__

_WHEEL = """# release itself: a wheel built from these sources.
COPY pyproject.toml README.md /src/
COPY release /src/release
RUN /opt/release/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /src/dist /src \\
    && /opt/release/bin/pip install --no-deps /src/dist/release-*.whl \\
    && /opt/release/bin/pip check
"""
_SOURCES = ("!pyproject.toml\n", "!README.md\n", "!release/\n")


def image_files(*, tool_source: bool) -> list[tuple[str, str]]:
    """(path, text) of ``Dockerfile`` and ``.dockerignore`` for a project."""
    root = resources.files("release") / "scaffold" / "files"
    dockerfile = (root / "Dockerfile").read_text(encoding="utf-8")
    ignore = (root / "dockerignore").read_text(encoding="utf-8")
    if not tool_source:
        if _WHEEL not in dockerfile:  # the shipped file changed: this must follow it
            raise RuntimeError("scaffold Dockerfile: the wheel stage is not as expected")
        index = (
            "# release itself from the package index, at the version that wrote this file.\n"
            f"RUN /opt/release/bin/pip install --no-deps release=={__version__} \\\n"
            "    && /opt/release/bin/pip check\n"
        )
        dockerfile = dockerfile.replace(_WHEEL, index)
        for line in _SOURCES:
            ignore = ignore.replace(line, "")
    return [("Dockerfile", dockerfile), (".dockerignore", ignore)]
