#!/usr/bin/env bash
# Publish the rollback tag(s) the failed deploy job bundled (see bundle-rollback.sh).
#
# Usage: push-rollback.sh DIR   (env: ARTIFACT, STAGE, GTO_TAG_RE; GH_TOKEN on GitHub)
# Each tag name is checked against the GTO grammar and must be an assignment of this
# artifact and stage; the annotated tag object is fetched from the bundle unchanged.
set -euo pipefail
dir="$1"
: "${ARTIFACT:?}" "${STAGE:?}" "${GTO_TAG_RE:?}"

[[ -s "$dir/tags.txt" && -f "$dir/rollback.bundle" ]] || {
  echo "::error::no rollback bundle in the artifact"
  exit 1
}
git bundle verify "$dir/rollback.bundle" > /dev/null
prefix="${ARTIFACT//:/=}#${STAGE}#"  # GTO writes dir:name as dir=name in tags
while IFS= read -r tag; do
  if (( ${#tag} > 200 )) || [[ ! "$tag" =~ $GTO_TAG_RE ]] || [[ "$tag" != "$prefix"* ]]; then
    echo "::error::the bundle holds a tag that is not an assignment of this stage"
    exit 1
  fi
  git fetch --no-tags "$dir/rollback.bundle" "refs/tags/$tag:refs/tags/$tag"
  [[ "$(git cat-file -t "refs/tags/$tag")" == tag ]] || {
    echo "::error::rollback tags must be annotated (GTO ignores lightweight tags)"
    exit 1
  }
  # The token is handed to git for this push only (checkout ran with persist-credentials: false).
  git -c credential.helper= -c 'credential.helper=!gh auth git-credential' \
    push origin "refs/tags/$tag"
  echo "pushed rollback tag $tag"
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
    echo "Rolled back: pushed \`$tag\`" >> "$GITHUB_STEP_SUMMARY"
  fi
done < "$dir/tags.txt"
