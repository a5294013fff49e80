#!/bin/sh
# The main demo, run by `tools/quickstart.sh demo` after the build: passkey
# retrieval with plain RoPE and with STRING on the model shipped in models/
# (trained at L = 512 by tools/train), with 95% intervals, then the paper's
# position-frequency picture for the same model's training data. Pictures
# and raw trials go to build/demo/.
#
# 20 prompts per (length, depth): 220 per method and length, so that a
# difference of ~10 points at L is outside the noise. One thread: the model
# has 820k parameters, and a 512-token forward pass is too little work to
# share between threads (two threads are slower on 2 cores, and much slower
# when the cores are busy). ~20 s on an idle 2-core machine.
set -eu
cd "$(dirname "$0")/.."
bin=${SHIFTROPE_BIN:-build/release/bin}
out=build/demo
mkdir -p "$out"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
echo "== STRING's relative positions, the paper's toy example (L = 9, S = 3, W = 0)"
"$bin/shiftrope-positions" --length 9 --shift 3 --window 0
echo
echo "== passkey retrieval on models/shiftrope-passkey-258.gguf (L = 512): RoPE vs STRING"
echo "   (S = 256, W = 64, and the paper's default S = 0.33 L, W = 128), 20 prompts per cell"
"$bin/shiftrope-passkey" -m models/shiftrope-passkey-258.gguf --bytes --fit train --seed 777 \
  --lengths 256,320,384,448,512 --depths 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1 --trials 20 \
  --methods rope,string:S=256:W=64,string --threshold 0.8 -t "${SHIFTROPE_THREADS:-1}" \
  --svg "$out/passkey" --json "$out/passkey.jsonl"
echo
echo "== why: how often training saw each distance (tools/train's own stream), and the"
echo "   distances RoPE and STRING (S = 256, W = 64) use on a 512-token prompt"
"$bin/shiftrope-positions" --frequency --length 512 --docs train --shift 256 --window 64
"$bin/shiftrope-positions" --frequency --length 512 --docs train --shift 256 --window 64 \
  --format svg --output "$out/frequency.svg"
echo
echo "pictures: $out/passkey.compare.svg (RoPE | STRING | difference), $out/frequency.svg"
echo "trials: $out/passkey.jsonl (shiftrope-passkey --summary $out/passkey.jsonl recomputes the tables)"
