#!/usr/bin/env bash
# Publish the rollout notes the deploy job bundled (see bundle-notes.sh): merge them into
# origin's refs/notes/release and push. Notes are JSON Lines, one rollout per line, so
# git's cat_sort_uniq strategy merges two runners' notes on the same tag without loss.
#
# Usage: push-notes.sh DIR   (env: GH_TOKEN on GitHub; a git identity for the merge)
set -euo pipefail
dir="$1"
ref=refs/notes/release

[[ -f "$dir/notes.bundle" ]] || {
  echo "::error::no notes bundle in the artifact"
  exit 1
}
git bundle verify "$dir/notes.bundle" > /dev/null
git fetch --no-tags "$dir/notes.bundle" "+$ref:refs/notes/release-incoming"

remote() {
  # The token reaches git for this call only (checkout ran with persist-credentials: false).
  if [[ -n "${GH_TOKEN:-}" ]]; then
    git -c credential.helper= -c 'credential.helper=!gh auth git-credential' "$@"
  else
    git "$@"
  fi
}

for attempt in 1 2 3; do
  # Start from origin's notes (another runner may have pushed since), then add ours.
  git update-ref -d "$ref" 2> /dev/null || true
  remote fetch --no-tags origin "+$ref:$ref" 2> /dev/null || true
  if git rev-parse --verify --quiet "$ref" > /dev/null; then
    git notes --ref=release merge --quiet --strategy=cat_sort_uniq refs/notes/release-incoming
  else
    git update-ref "$ref" refs/notes/release-incoming
  fi
  if remote push origin "$ref"; then
    echo "pushed rollout notes ($(git notes --ref=release list | wc -l) tag(s))"
    exit 0
  fi
  sleep $((attempt * 2))
done
echo "::error::could not push $ref after 3 attempts"
exit 1
