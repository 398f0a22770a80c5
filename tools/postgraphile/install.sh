#!/usr/bin/env bash
# Installs PostGraphile 5, as pinned in package-lock.json (with a Node.js 24 binary from the npm
# registry: PostGraphile 5 needs Node >= 22), and graphile.config.mjs into DIR, a scratch folder
# outside the source tree. A second run with the same lock file only refreshes the config.
#
#   tools/postgraphile/install.sh [DIR]
#   DIR defaults to ${CARNET_POSTGRAPHILE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/carnet/postgraphile}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(realpath "$here/../..")"
dir="${1:-${CARNET_POSTGRAPHILE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/carnet/postgraphile}}"

command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 1; }
dir="$(realpath -m "$dir")"
case "$dir/" in
    "$repo/"*) echo "install.sh: $dir is inside the source tree; choose a folder outside $repo" >&2; exit 1 ;;
esac

mkdir -p "$dir"
cp "$here/graphile.config.mjs" "$dir/graphile.config.mjs"
if cmp -s "$here/package-lock.json" "$dir/.installed-package-lock.json" \
    && [ -f "$dir/node_modules/postgraphile/package.json" ]; then
    echo "install.sh: PostGraphile already installed in $dir (config refreshed)"
    exit 0
fi

echo "install.sh: installing PostGraphile into $dir (npm ci from tools/postgraphile/package-lock.json)"
rm -f "$dir/.installed-package-lock.json"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund)
cp "$here/package-lock.json" "$dir/.installed-package-lock.json"
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$dir/node_modules/postgraphile/package.json")"
echo "install.sh: PostGraphile $version installed in $dir; start it with tools/postgraphile/run.sh $dir"
