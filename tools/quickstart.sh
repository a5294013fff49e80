#!/bin/sh
# One-command set-up on a fresh Debian 12 machine (root, or a user with sudo):
# installs the packages that are missing, then
#   demo  - builds the demo's two programs (release preset) and runs the demo
#   test  - builds everything in build/ (plain CMake) and runs the test suite
set -eu
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in
  demo | test) ;;
  *)
    echo "usage: tools/quickstart.sh demo|test" >&2
    exit 2
    ;;
esac

packages="cmake g++ make libxsimd-dev doctest-dev libpcre2-dev"
missing=""
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing:$missing" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)

if [ "$mode" = test ]; then
  # The plain CMake sequence, no presets: what a user types by hand.
  # Warnings are errors here as in the presets.
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSHIFTROPE_WERROR=ON >/dev/null
  cmake --build build -j "$jobs"
  ctest --test-dir build -j "$jobs" --output-on-failure --no-tests=error
else
  # only the two programs tools/demo.sh runs; `test` builds the rest
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$jobs" --target shiftrope-passkey shiftrope-positions
  sh tools/demo.sh
fi
