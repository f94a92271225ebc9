"""Run one local rollout in its own process, so tests can signal or kill the controller.

``python tests/deploy_child.py REPO PORT FLAGS_JSON``: deploys ``model`` to ``prod`` with
the fake servers of tests/test_deploy_rollout.py (long canary steps, so it is still
running when the test acts) and exits with the command's exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_deploy_rollout import FakeLauncher, settings_for

from release.config import CanaryStep
from release.deploy.controller import DeployOptions, deploy_local


def main() -> None:
    repo, port, flags = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    steps = [CanaryStep(50, min_requests=15, min_duration=30.0, max_duration=60.0)]
    options = DeployOptions(port=port, launcher=FakeLauncher(flags))
    result = deploy_local(repo, settings_for(steps), "model", "prod", options)
    print(json.dumps(result.to_dict()), flush=True)
    sys.exit(result.exit_code)


if __name__ == "__main__":
    main()
