#!/bin/sh
# The main demo, run by `tools/quickstart.sh demo` after the build.
set -eu
cd "$(dirname "$0")/.."
bin=build/release/bin
echo "== STRING on the paper's toy example: L = 9, S = 3, W = 0 (Figure 5b)"
"$bin/shiftrope-positions" --length 9 --shift 3 --window 0
echo
echo "== with a local window W = 2 (Figure 5c)"
"$bin/shiftrope-positions" --length 9 --shift 3 --window 2
