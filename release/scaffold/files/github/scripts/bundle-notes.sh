#!/usr/bin/env bash
# Keep the rollout notes `release deploy` wrote (git notes under refs/notes/release, one
# per assignment tag it executed), so the publishing job, the only one allowed to push,
# can merge them into origin's notes.
#
# Usage: bundle-notes.sh OUT_DIR   (env: GITHUB_OUTPUT)
# Writes OUT_DIR/notes.bundle and sets the output notes=true when there are notes.
set -euo pipefail
out="$1"
: "${GITHUB_OUTPUT:?}"

mkdir -p "$out"
if git rev-parse --verify --quiet refs/notes/release > /dev/null; then
  git bundle create "$out/notes.bundle" refs/notes/release
  echo "notes=true" >> "$GITHUB_OUTPUT"
  echo "rollout notes kept: $(git notes --ref=release list | wc -l) tag(s)"
else
  echo "notes=false" >> "$GITHUB_OUTPUT"
  echo "the rollout left no notes"
fi
