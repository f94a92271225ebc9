#!/usr/bin/env bash
# Re-fetch every tag from origin as the annotated tag it is.
#
# Why: GTO (and `release`, which reads tags exactly as GTO does) ignores lightweight tags,
# and actions/checkout can leave the pushed tag as a lightweight ref to the commit. A
# forced fetch replaces those refs with the annotated tag objects.
#
# It also fetches the remote's default branch (its HEAD) into refs/release/policy: the
# protected ref `release deploy` reads the policy from (RELEASE_POLICY_REF), never the
# tagged commit, whose files the tag's author controls.
#
# Usage: fetch-annotated-tags.sh   (env: GH_TOKEN, optional, for private repositories)
set -euo pipefail
if [[ -n "${GH_TOKEN:-}" ]]; then
  # The token reaches git for this fetch only (checkout ran with persist-credentials: false).
  git -c credential.helper= -c 'credential.helper=!gh auth git-credential' \
    fetch --force --tags origin "+HEAD:refs/release/policy"
else
  git fetch --force --tags origin "+HEAD:refs/release/policy"
fi
echo "policy ref: refs/release/policy at $(git rev-parse --short refs/release/policy)"
echo "$(git tag --list | wc -l) tags; annotated: $(git for-each-ref --format='%(objecttype)' refs/tags | grep -c '^tag$' || true)"
