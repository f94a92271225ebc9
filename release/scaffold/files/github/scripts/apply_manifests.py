"""Apply rendered manifests with kubectl (release.deploy.kubernetes.apply_manifests).

Usage: python .github/scripts/apply_manifests.py DIR   (KUBECONFIG must name a config)
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Apply DIR; print one line and return 1 on a DeployError."""
    from release.deploy.kubernetes import apply_manifests
    from release.errors import ReleaseError

    if len(argv) != 1:
        print("usage: apply_manifests.py DIR", file=sys.stderr)
        return 2
    try:
        apply_manifests(argv[0])
    except ReleaseError as exc:
        print(f"::error::{exc.one_line()}", file=sys.stderr)
        return 1
    print(f"applied {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
