#!/usr/bin/env bash
# Keep the rollback tag `release deploy` wrote when the rollout failed, so the rollback
# job (the only one allowed to push) can publish exactly that annotated tag.
#
# Usage: bundle-rollback.sh TAGS_BEFORE_FILE OUT_DIR   (env: ARTIFACT, STAGE, GITHUB_OUTPUT)
# Writes OUT_DIR/rollback.bundle and OUT_DIR/tags.txt and sets the output rollback=true
# when the failed rollout left a new assignment tag for this artifact and stage.
set -euo pipefail
before="$1"
out="$2"
: "${ARTIFACT:?}" "${STAGE:?}" "${GITHUB_OUTPUT:?}" "${GTO_TAG_RE:?}"

mkdir -p "$out"
# New tags only, and only this artifact's assignments of this stage (GTO: name#stage#N).
git tag --list | sort > "$out/after.txt"
sort "$before" > "$out/before.txt"
comm -13 "$out/before.txt" "$out/after.txt" > "$out/new.txt"
: > "$out/tags.txt"
while IFS= read -r tag; do
  case "$tag" in
    "${ARTIFACT//:/=}#${STAGE}#"*)
      if [[ "$tag" =~ $GTO_TAG_RE && "$(git cat-file -t "refs/tags/$tag")" == tag ]]; then
        printf '%s\n' "$tag" >> "$out/tags.txt"
      fi
      ;;
  esac
done < "$out/new.txt"
rm -f "$out/after.txt" "$out/before.txt" "$out/new.txt"

if [[ -s "$out/tags.txt" ]]; then
  mapfile -t tags < "$out/tags.txt"
  refs=()
  for tag in "${tags[@]}"; do refs+=("refs/tags/$tag"); done
  git bundle create "$out/rollback.bundle" "${refs[@]}"
  echo "rollback=true" >> "$GITHUB_OUTPUT"
  echo "rollback tag(s) kept: ${tags[*]}"
else
  echo "rollback=false" >> "$GITHUB_OUTPUT"
  echo "the failed rollout left no rollback tag"
fi
