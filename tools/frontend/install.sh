#!/usr/bin/env bash
# Installs what the front-end tests (tests/server/frontend.rs) need, from this
# folder's own files:
# - the npm packages of package.json / package-lock.json (the graphql-http audit,
#   puppeteer-core, graphql), with `npm ci` into a folder outside the source tree
#   (default: <workspace>/target/frontend-tools; first argument to choose another);
# - Debian's `chromium`, with apt-get, unless `--npm-only` is given (the tests pass it: they
#   never run apt-get themselves; .ci/run runs the whole script, as root).
# Idempotent and quick when everything is there already.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
npm_only=false
dest=""
for arg in "$@"; do
    case "$arg" in
        --npm-only) npm_only=true ;;
        *) dest="$arg" ;;
    esac
done
dest="${dest:-$here/../../target/frontend-tools}"

if ! $npm_only && ! command -v chromium >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "chromium is missing: run 'sudo apt-get install -y chromium' (Debian's package)" >&2
        exit 1
    fi
    echo "installing Debian's chromium"
    if ! apt-get install -y --no-install-recommends chromium >/dev/null; then
        apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null
    fi
fi

mkdir -p "$dest"
# one installer at a time (tests run in parallel); `.installed`, a copy of the lock file
# written once `npm ci` succeeded, marks a finished install
exec 9>"$dest/.install.lock"
flock 9
if ! cmp -s "$here/package-lock.json" "$dest/.installed"; then
    echo "installing the front-end test packages into $dest" >&2
    rm -f "$dest/.installed"
    cp "$here/package.json" "$here/package-lock.json" "$dest/"
    (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$here/package-lock.json" "$dest/.installed"
fi
