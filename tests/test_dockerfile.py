"""The serving image's Dockerfile: pinned bases, hash-locked installs, a non-root user,
the entry point the Kubernetes manifests run; ``hadolint`` when it is installed.

The image is not built here (no Docker on these machines); these are the rules a review
would check, read from the file itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from release import __version__
from release.config import KubernetesSettings
from release.deploy.kubernetes_context import PORT
from release.scaffold.image import image_files

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, rest = pending.partition(" ")
        found.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "a line continuation runs off the end of the Dockerfile"
    return found


def stages(steps: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (global ARGs before the first FROM dropped)."""
    out: list[list[tuple[str, str]]] = []
    for keyword, rest in steps:
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, rest))
    return out


def base_image(from_args: str, args: dict[str, str]) -> str:
    image = from_args.split()[0]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], image)


def _user_files() -> dict[str, str]:
    return dict(image_files(tool_source=False))


@pytest.fixture(scope="module", params=["repository", "user project"])
def steps(request) -> list[tuple[str, str]]:
    """The repository's Dockerfile, and the one `release init` writes into a project."""
    if request.param == "repository":
        return instructions(DOCKERFILE.read_text())
    return instructions(_user_files()["Dockerfile"])


def test_the_scaffold_ships_this_repositorys_files():
    shipped = dict(image_files(tool_source=True))
    assert shipped["Dockerfile"] == DOCKERFILE.read_text()
    assert shipped[".dockerignore"] == (ROOT / ".dockerignore").read_text()
    user = _user_files()
    assert f"release=={__version__}" in user["Dockerfile"]
    assert "COPY release" not in user["Dockerfile"] and "!release/" not in user[".dockerignore"]


def test_bases_are_pinned_and_nothing_is_fetched_by_url(steps):
    args = {}
    for keyword, rest in steps:
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name] = value
    built = {rest.split()[-1] for k, rest in steps if k == "FROM" and " AS " in rest.upper()}
    for keyword, rest in steps:
        if keyword == "FROM":
            image = base_image(rest, args)
            if image in built:
                continue
            name, _, tag = image.partition(":")
            assert "@sha256:" in image or (tag and re.search(r"\d+\.\d+", tag)), image
            assert tag != "latest" and not image.endswith(":latest"), image
        assert keyword != "ADD", "use COPY (ADD fetches URLs and unpacks archives)"
        if keyword == "RUN":
            assert "curl " not in rest and "wget " not in rest, rest
            if "pip install" in rest and "-r " in rest:
                assert "--require-hashes" in rest, rest
    assert len(stages(steps)) >= 2, "build the wheel in its own stage"


def test_runtime_stage_runs_release_as_the_manifests_user(steps):
    final = stages(steps)[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "a numeric non-root USER (runAsNonRoot checks it)"
    assert int(uid) == KubernetesSettings().run_as_user
    entry = [json.loads(rest) for keyword, rest in final if keyword == "ENTRYPOINT"]
    assert entry == [["release"]], "exec-form ENTRYPOINT the pod's command matches"
    cmd = json.loads(next(rest for keyword, rest in final if keyword == "CMD"))
    assert cmd[0] == "serve" and cmd[cmd.index("--port") + 1] == str(PORT)
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "HOME=/tmp" in env and "PYTHONDONTWRITEBYTECODE=1" in env  # read-only root


def test_copied_files_exist_and_reach_the_build_context():
    steps = instructions(DOCKERFILE.read_text())
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    assert "*" in ignore, ".dockerignore should exclude everything not named"
    for keyword, rest in steps:
        if keyword != "COPY" or "--from=" in rest:
            continue
        sources = rest.split()[:-1]
        for source in sources:
            assert (ROOT / source).exists(), source
            assert any(source == a or source.startswith(a + "/") for a in allowed), source


def test_hadolint_when_installed(tmp_path):
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (it is optional, not a CI requirement)")
    user = tmp_path / "Dockerfile"
    user.write_text(_user_files()["Dockerfile"])
    for path in (DOCKERFILE, user):
        proc = subprocess.run(
            [hadolint, str(path)], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
