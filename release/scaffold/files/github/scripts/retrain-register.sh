#!/usr/bin/env bash
# Commit a retrained pipeline on a new branch, register it and push both.
#
# Usage: retrain-register.sh BRANCH   (env: GITHUB_OUTPUT; GH_TOKEN on GitHub)
# Outputs: branch, tag. The model bytes go to the DVC remote first, so the registered
# version can be served and deployed from any checkout.
set -euo pipefail
branch="$1"
[[ "$branch" =~ ^retrain/[A-Za-z0-9._-]{1,80}$ ]] || { echo "::error::bad branch name"; exit 1; }
artifact=$(python -c 'from release.config import load_settings; print(load_settings().release.artifact)')

git switch --create "$branch"
git add -A dvc.lock reports models data/provenance.json 2>/dev/null || git add -A dvc.lock
if git diff --cached --quiet; then
  echo "::error::retraining changed nothing; not registering a new version"
  exit 1
fi
git commit --quiet -m "Retrain $artifact after confirmed drift"
dvc push
tag=$(release register "$artifact" | grep -Eo "${artifact}@v[0-9]+\.[0-9]+\.[0-9]+" | head -n 1)
[[ -n "$tag" ]] || tag=$(git tag --points-at HEAD | grep -E "^${artifact}@v" | head -n 1)
[[ -n "$tag" ]] || { echo "::error::release register made no tag"; exit 1; }

push() {
  if [[ -n "${GH_TOKEN:-}" ]]; then
    git -c credential.helper= -c 'credential.helper=!gh auth git-credential' push "$@"
  else
    git push "$@"
  fi
}
push origin "refs/heads/$branch" "refs/tags/$tag"
echo "branch=$branch" >> "$GITHUB_OUTPUT"
echo "tag=$tag" >> "$GITHUB_OUTPUT"
echo "registered $tag on $branch"
