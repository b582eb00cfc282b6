#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz/ and runs each for a short time.
#   .ci/fuzz.sh [SECONDS_PER_TARGET]     default 60 (CI); the recorded local run used 600
# Seeds come from schemas/**/examples and tests/fixtures (tests/fuzz/make_seeds.py); the corpus grows
# in build-fuzz/corpus/. A crash leaves build-fuzz/artifacts/<target>/crash-* and fails the script.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
seconds=${1:-60}
build=${PRESTAGE_FUZZ_BUILD_DIR:-$repo/build-fuzz}
jobs=${PRESTAGE_JOBS:-2}

if [ ! -f "$build/build.ninja" ]; then
  cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null || exit 1
fi
cmake --build "$build" -j"$jobs" || { echo "fuzz: build failed"; exit 1; }
/usr/bin/python3 tests/fuzz/make_seeds.py "$build/seeds" >/dev/null || exit 1

status=0
declare -A seeds=([fuzz_rpc_dispatch]=rpc_dispatch [fuzz_http_rpc]=http_rpc [fuzz_detect]=detect)
for target in fuzz_rpc_dispatch fuzz_http_rpc fuzz_detect; do
  corpus=$build/corpus/$target artifacts=$build/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  echo "=== fuzz: $target for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1 "$build/$target" "$corpus" "$build/seeds/${seeds[$target]}" \
    -max_total_time="$seconds" -max_len=65536 -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$build/$target.log" 2>&1
  rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$build/$target.log" | tr '\n' ' '
  echo
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz: $target FAILED (exit $rc); see $build/$target.log and $artifacts/"
    grep -E 'ERROR|SUMMARY|runtime error' "$build/$target.log" | head -n 10
  fi
done
echo "fuzz: $([ $status = 0 ] && echo "no crash in ${seconds}s per target" || echo FAILED)"
exit $status
