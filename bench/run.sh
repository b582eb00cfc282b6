#!/usr/bin/env bash
# prestage benchmarks: bench/run.sh [--quick]. Writes docs/benchmarks.md; the last line is the summary.
# Sets itself up as ./test.sh does: .ci/setup.sh installs what is missing and builds, then the
# bench's own tool (wrk, the HTTP load generator) is installed from Debian when absent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/../.ci/setup.sh" >&2 || { echo "bench: set-up failed" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk" >&2
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
exec /usr/bin/python3 "$here/bench.py" "$@"
