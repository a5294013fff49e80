#!/usr/bin/env bash
# Builds the consumer projects: the full library (shiftrope::shiftrope)
# against the installed package (find_package) and through add_subdirectory,
# and the core alone (shiftrope::core) both ways where PCRE2 cannot be
# found. Each consumer has two translation units including the library
# (catches ODR / non-inline definitions).
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

# PCRE2 made invisible: the directories holding pcre2.h and libpcre2-8 are
# ignored by every find command, and pkg-config sees no .pc files.
pcre2_h=$(printf '#define PCRE2_CODE_UNIT_WIDTH 8\n#include <pcre2.h>\n' |
  g++ -x c++ -E -M - 2>/dev/null | tr ' \\' '\n\n' | grep '/pcre2\.h$' | head -n 1 || true)
[ -n "$pcre2_h" ] || { echo "error: pcre2.h not found (libpcre2-dev is needed here)"; exit 1; }
pcre2_lib=$(g++ -print-file-name=libpcre2-8.so)
hide="$(dirname "$pcre2_h");$(dirname "$(readlink -f "$pcre2_lib")");$(dirname "$pcre2_lib")"
export PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH=
echo "-- PCRE2 hidden ($hide)"

echo "-- the full package refuses to load without PCRE2"
cmake -S "$root/tests/packaging/find_package" -B "$work/fp-nopcre" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_IGNORE_PATH="$hide" >"$work/fp-nopcre.log" 2>&1 &&
  { echo "error: find_package(shiftrope) succeeded with PCRE2 hidden"; exit 1; }
grep -q "PCRE2" "$work/fp-nopcre.log" ||
  { echo "error: the refusal does not name PCRE2:"; cat "$work/fp-nopcre.log"; exit 1; }

echo "-- core find_package consumer (no PCRE2)"
cmake -S "$root/tests/packaging/core_find_package" -B "$work/cfp" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_IGNORE_PATH="$hide" >/dev/null
cmake --build "$work/cfp" -j 2 >/dev/null
"$work/cfp/consumer"

echo "-- core add_subdirectory consumer (no PCRE2)"
cmake -S "$root/tests/packaging/core_add_subdirectory" -B "$work/cas" -DCMAKE_BUILD_TYPE=Release \
  -DSHIFTROPE_ROOT="$root" -DCMAKE_IGNORE_PATH="$hide" >/dev/null
cmake --build "$work/cas" -j 2 >/dev/null
"$work/cas/consumer"

for exe in "$work/cfp/consumer" "$work/cas/consumer"; do
  if ldd "$exe" | grep -q pcre2; then
    echo "error: $exe links PCRE2"
    exit 1
  fi
done
echo "packaging consumers: 4 passed, 0 failed (and the full package refused without PCRE2)"
