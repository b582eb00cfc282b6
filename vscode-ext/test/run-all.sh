#!/usr/bin/env bash
# Builds and packages the extension, runs the unit/integration tests (node --test, real daemon),
# then the end-to-end test in code-server. Exits non-zero on any failure.
# Daemon: $PRESTAGE_SERVER, else <repo>/build/server/app/prestaged.
set -uo pipefail
extension_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo_root="$(cd "$extension_dir/.." && pwd)"
export PRESTAGE_SERVER="${PRESTAGE_SERVER:-$repo_root/build/server/app/prestaged}"
cd "$extension_dir"

if [[ ! -x "$PRESTAGE_SERVER" ]]; then
  echo "run-all: prestaged not found at $PRESTAGE_SERVER (build the repo or set PRESTAGE_SERVER)" >&2
  exit 2
fi

set -e
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run compile
npx vsce package --out prestage-vscode.vsix >/dev/null
set +e

status=0
echo "== node --test (unit + integration against $PRESTAGE_SERVER)"
node --test --test-concurrency=1 out/test/ || status=1

echo "== e2e (code-server + chromium)"
node test/e2e/run.mjs || status=1
exit $status
