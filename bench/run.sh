#!/usr/bin/env bash
# prestage benchmarks: bench/run.sh [--quick]. Writes docs/benchmarks.md; the last line is the summary.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
exec /usr/bin/python3 "$here/bench.py" "$@"
