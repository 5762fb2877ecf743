#!/usr/bin/env bash
# Rebuild app/static/vendor/ from the exact versions pinned in frontend/package-lock.json.
#
#   scripts/vendor-assets.sh           install into a temporary directory, replace app/static/vendor/
#   scripts/vendor-assets.sh --check   build the same way and exit 1 if the committed copy differs
#
# Only this script needs node and npm (build time); `make run` serves the committed files as they are.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vendor="$root/app/static/vendor"

usage() { sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "vendor-assets: $tool is needed (Node 20 or later)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/onemap-vendor.XXXXXX")
trap 'rm -rf "$work"' EXIT

# npm ci installs exactly what the lock file says and fails if package.json and the lock disagree.
cp "$root/frontend/package.json" "$root/frontend/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
node "$root/frontend/vendor.mjs" --modules "$work/node_modules" --out "$work/vendor" >/dev/null

if [ "$mode" = check ]; then
  if [ ! -d "$vendor" ]; then
    echo "vendor-assets: $vendor is missing; run scripts/vendor-assets.sh" >&2
    exit 1
  fi
  if ! diff -r -q "$vendor" "$work/vendor" >&2; then
    echo "vendor-assets: app/static/vendor/ differs from what frontend/package-lock.json produces;" \
         "run scripts/vendor-assets.sh and commit the result" >&2
    exit 1
  fi
  echo "vendor-assets: app/static/vendor/ matches frontend/package-lock.json"
  exit 0
fi

rm -rf "$vendor"
mkdir -p "$(dirname "$vendor")"
cp -R "$work/vendor" "$vendor"
echo "vendor-assets: wrote $(find "$vendor" -type f | wc -l) files," \
     "$(du -sh "$vendor" | cut -f1) into app/static/vendor/"
