#!/usr/bin/env bash
# Bring up the version this assignment replaces, so the rollout has a baseline to be
# judged against (a fresh runner serves nothing yet).
#
# Usage: start-baseline.sh   (env: ARTIFACT, STAGE, TAG, GTO_TAG_RE)
# The pushed assignment tag is hidden for a moment, so the registry answers with the
# stage's previous version; that version is deployed directly, then the tag is restored
# from its own object (no network). The first deployment of a stage has no baseline.
set -euo pipefail
: "${ARTIFACT:?}" "${STAGE:?}" "${TAG:?}" "${GTO_TAG_RE:?}"
[[ "$TAG" =~ $GTO_TAG_RE ]] || { echo "::error::not a GTO tag"; exit 1; }

object=$(git rev-parse --verify --quiet "refs/tags/$TAG") || {
  echo "::error::the pushed tag is not in this checkout"
  exit 1
}
restore() { git update-ref "refs/tags/$TAG" "$object"; }
trap restore EXIT
git update-ref -d "refs/tags/$TAG"

previous=$(python - "$ARTIFACT" "$STAGE" <<'PY'
import sys

from release.registry.api import read_state

print(read_state(".").active_version(sys.argv[1], sys.argv[2]) or "")
PY
)
if [[ -z "$previous" ]]; then
  echo "first deployment of $STAGE: no baseline"
  exit 0
fi
echo "baseline: $ARTIFACT $previous in $STAGE"
release deploy "$ARTIFACT" "$STAGE" --target local --strategy direct --no-golden
