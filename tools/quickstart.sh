#!/bin/sh
# One-command set-up on a fresh Debian 12 machine (root, or a user with sudo):
# installs the packages that are missing, configures the release preset, then
#   demo  - builds the two programs of the main demo and runs it
#   test  - builds everything and runs the whole test suite
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
cmake --preset release >/dev/null

if [ "$mode" = test ]; then
  cmake --build --preset release -j "$jobs"
  ctest --preset release -j "$jobs"
else
  # only the two programs tools/demo.sh runs; `test` builds the rest
  cmake --build --preset release -j "$jobs" --target shiftrope-passkey shiftrope-positions
  sh tools/demo.sh
fi
