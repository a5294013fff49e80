#!/bin/sh
# The main demo, run by `tools/quickstart.sh demo` after the build: passkey
# retrieval with plain RoPE and with STRING on the model shipped in models/
# (trained at L = 512 by tools/train), heatmaps written to build/demo/.
set -eu
cd "$(dirname "$0")/.."
bin=${SHIFTROPE_BIN:-build/release/bin}
out=build/demo
mkdir -p "$out"
echo "== STRING's relative positions, the paper's toy example (L = 9, S = 3, W = 0)"
"$bin/shiftrope-positions" --length 9 --shift 3 --window 0
echo
echo "== passkey retrieval on models/shiftrope-passkey-258.gguf: RoPE vs STRING (S = 256, W = 64)"
"$bin/shiftrope-passkey" -m models/shiftrope-passkey-258.gguf --bytes --fit train \
  --lengths 256,384,512 --depths 0,0.25,0.5,0.75,1 --trials 4 \
  --methods rope,string:S=256:W=64 --svg "$out/passkey" --json "$out/passkey.jsonl"
echo
echo "heatmaps: $out/passkey.*.svg, trials: $out/passkey.jsonl"
