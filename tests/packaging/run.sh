#!/usr/bin/env bash
# Builds two tiny consumer projects: one against the installed package
# (find_package), one through add_subdirectory. Each has two translation
# units including the whole library (catches ODR / non-inline definitions).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "-- install"
cmake -S "$root" -B "$work/lib" -DCMAKE_BUILD_TYPE=Release -DSHIFTROPE_BUILD_TESTS=OFF \
  -DSHIFTROPE_BUILD_EXAMPLES=OFF -DSHIFTROPE_BUILD_BENCH=OFF -DSHIFTROPE_BUILD_TOOLS=OFF >/dev/null
cmake --install "$work/lib" --prefix "$work/prefix" >/dev/null

echo "-- find_package consumer"
cmake -S "$root/tests/packaging/find_package" -B "$work/fp" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/fp" -j 2 >/dev/null
"$work/fp/consumer"

echo "-- add_subdirectory consumer"
cmake -S "$root/tests/packaging/add_subdirectory" -B "$work/as" -DCMAKE_BUILD_TYPE=Release \
  -DSHIFTROPE_ROOT="$root" >/dev/null
cmake --build "$work/as" -j 2 >/dev/null
"$work/as/consumer"
echo "packaging consumers: 2 passed, 0 failed"
