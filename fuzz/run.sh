#!/usr/bin/env bash
# fuzz/run.sh [SECONDS_PER_HARNESS]: builds the `fuzz` preset (clang++-14,
# libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer), writes the seed
# corpus, then runs every harness for SECONDS_PER_HARNESS seconds (default 45)
# and prints, per harness, the executions and the coverage reached.
#
# Exit status: 0 when no harness found anything; 1 when one did (a crash, a
# sanitizer report, an escaped exception or broken property, a timeout of
# more than 10 s on one input, more than 2048 MB resident or a single
# allocation above 1024 MB). The reproducer is then under
# build/fuzz/artifacts/<harness>/ and the log under build/fuzz/logs/.
# Turn a reproducer into tests/data/fuzz-regressions/<harness>/<name> once
# the library is fixed (tests/test_fuzz_regressions.cpp replays them).
#
# Environment:
#   FUZZ_JOBS     harnesses run at the same time (default: 1 below 4 cores,
#                 else cores / 2); each is one single-threaded process.
#   FUZZ_ONLY     space-separated subset of harnesses to run.
#   FUZZ_NO_BUILD set to 1 to reuse build/fuzz as it is.
#   FUZZ_RUNS     stop a harness after this many executions (when it comes
#                 before SECONDS_PER_HARNESS), e.g. FUZZ_RUNS=1000000 with a
#                 generous time for a long run outside CI.
# The growing corpus of each harness is kept in build/fuzz/corpus/<harness>.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-45}
case "$seconds" in
  '' | *[!0-9]*)
    echo "fuzz/run.sh: SECONDS_PER_HARNESS must be a positive integer, got '$seconds'" >&2
    exit 2
    ;;
esac
case "${FUZZ_RUNS:-1}" in
  '' | *[!0-9]*)
    echo "fuzz/run.sh: FUZZ_RUNS must be a positive integer, got '${FUZZ_RUNS}'" >&2
    exit 2
    ;;
esac
if [ "$seconds" -lt 1 ]; then
  echo "fuzz/run.sh: SECONDS_PER_HARNESS must be at least 1" >&2
  exit 2
fi

harnesses=${FUZZ_ONLY:-"gguf model_config llama2c tokenizer_spm tokenizer_bpe cli"}

build=build/fuzz
start=$(date +%s)
if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  echo "== fuzz: configure and build (preset fuzz)"
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j "$(nproc 2>/dev/null || echo 2)"
fi
built=$(date +%s)

shared=$(cd .. && pwd)/shared
rm -rf "$build/seeds"
"$build/bin/shiftrope-fuzz-seeds" "$build/seeds" "$shared"

# Largest input each harness generates (bytes).
max_len() {
  case "$1" in
    gguf | model_config) echo 65536 ;;
    llama2c) echo 16384 ;;
    tokenizer_*) echo 4096 ;;
    *) echo 1024 ;;
  esac
}

dict_of() {
  case "$1" in
    gguf | model_config) echo fuzz/dict/gguf.dict ;;
    tokenizer_*) echo fuzz/dict/tokenizer.dict ;;
    cli) echo fuzz/dict/cli.dict ;;
  esac
}

run_one() {
  local h=$1
  local corpus=$build/corpus/$h artifacts=$build/artifacts/$h log=$build/logs/$h.log
  mkdir -p "$corpus" "$artifacts" "$build/logs"
  local dirs=("$corpus")
  local d
  for d in "$build/seeds/$h" "fuzz/corpus/$h" "tests/data/fuzz-regressions/$h"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  local dict
  dict=$(dict_of "$h")
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024
    -max_len="$(max_len "$h")" -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -n "$dict" ] && args+=(-dict="$dict")
  [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
  "$build/bin/fuzz_$h" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
}

summary() {
  local h=$1 rc=$2 log=$build/logs/$1.log
  local execs cov ft
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-14s executions %-9s cov %-6s ft %-6s %s\n' "$h" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "$([ "$rc" -eq 0 ] && echo ok || echo "FINDING (exit $rc): see $log")"
}

jobs=${FUZZ_JOBS:-}
if [ -z "$jobs" ]; then
  cores=$(nproc 2>/dev/null || echo 2)
  jobs=$((cores >= 4 ? cores / 2 : 1))
fi
echo "== fuzz: ${seconds}s per harness, $jobs at a time: $harnesses"

declare -A rcs
pending=($harnesses)
while [ ${#pending[@]} -gt 0 ]; do
  batch=("${pending[@]:0:$jobs}")
  pending=("${pending[@]:$jobs}")
  declare -A pids=()
  for h in "${batch[@]}"; do
    run_one "$h" &
    pids[$h]=$!
  done
  for h in "${batch[@]}"; do
    if wait "${pids[$h]}"; then rcs[$h]=0; else rcs[$h]=$?; fi
  done
  unset pids
done

echo "== fuzz: results"
failed=0
for h in $harnesses; do
  summary "$h" "${rcs[$h]}"
  if [ "${rcs[$h]}" -ne 0 ]; then
    failed=1
    grep -E 'ERROR|SUMMARY|violated|what\(\)|deadly signal|Test unit written' "$build/logs/$h.log" |
      head -20 | sed 's/^/    /'
  fi
done
end=$(date +%s)
echo "== fuzz: build $((built - start)) s, fuzzing $((end - built)) s, total $((end - start)) s"
exit $failed
