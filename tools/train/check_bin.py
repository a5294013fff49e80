"""Independent check of an exported llama2.c checkpoint.

Reads the .bin with numpy (no PyTorch, no model.py), runs the forward pass in
float64 with the relative rotation applied explicitly for every (query, key)
pair -- score(m, n) = <R(f(m - n)) q_m, k_n> / sqrt(head_dim), with f(d) = d
for plain RoPE and f(d) = d - S + W for d >= S under STRING -- and compares
with the logits the training script dumped from PyTorch.

    /usr/bin/python3 tools/train/check_bin.py models/shiftrope-passkey-258.bin \
        models/shiftrope-passkey-258.tokens models/shiftrope-passkey-258.logits.f32 \
        [--string S:W models/shiftrope-passkey-258.string-S64-W16.logits.f32]
"""

import argparse
import os
import struct
import sys

import numpy as np

TOLERANCE = 1e-3  # absolute, float32 PyTorch vs float64 reference


def read_llama2c(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    shapes = [
        ("tok", (vocab, dim)), ("rms_att", (n_layers, dim)), ("wq", (n_layers, n_heads * hd, dim)),
        ("wk", (n_layers, n_kv * hd, dim)), ("wv", (n_layers, n_kv * hd, dim)),
        ("wo", (n_layers, dim, n_heads * hd)), ("rms_ffn", (n_layers, dim)), ("w1", (n_layers, hidden, dim)),
        ("w2", (n_layers, dim, hidden)), ("w3", (n_layers, hidden, dim)), ("rms_final", (dim,)),
        ("rope_cos", (seq_len, hd // 2)), ("rope_sin", (seq_len, hd // 2)),
    ]
    if not shared:
        shapes.append(("cls", (vocab, dim)))
    expected = 28 + 4 * sum(int(np.prod(s)) for _, s in shapes)
    if expected != size:
        raise SystemExit("%s: size %d, header implies %d" % (path, size, expected))
    w = {}
    off = 28
    for name, shape in shapes:
        n = int(np.prod(shape))
        w[name] = np.frombuffer(raw, dtype="<f4", count=n, offset=off).reshape(shape).astype(np.float64)
        off += 4 * n
    if shared:
        w["cls"] = w["tok"]
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, vocab=vocab,
               seq_len=seq_len, hd=hd, shared=shared)
    return cfg, w


def rmsnorm(x, g):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5) * g


def rotate(v, angle):
    """v [..., hd]; angle [..., hd/2]: interleaved planes (v[2i], v[2i+1]) turned by angle."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.empty_like(v)
    out[..., 0::2] = v[..., 0::2] * c - v[..., 1::2] * s
    out[..., 1::2] = v[..., 0::2] * s + v[..., 1::2] * c
    return out


def forward(cfg, w, tokens, string=None):
    T = len(tokens)
    hd, H, KV = cfg["hd"], cfg["n_heads"], cfg["n_kv"]
    theta = 10000.0 ** (-2.0 * np.arange(hd // 2) / hd)
    d = np.arange(T)[:, None] - np.arange(T)[None, :]  # d[m, n] = m - n
    f = d.astype(np.float64)
    if string is not None:
        shift, window = string
        f = np.where(d >= shift, d - shift + window, d).astype(np.float64)
    angle = f[:, :, None] * theta[None, None, :]  # [T, T, hd/2]
    causal = d >= 0
    x = w["tok"][tokens]
    for l in range(cfg["n_layers"]):
        h = rmsnorm(x, w["rms_att"][l])
        q = (h @ w["wq"][l].T).reshape(T, H, hd)
        k = (h @ w["wk"][l].T).reshape(T, KV, hd)
        v = (h @ w["wv"][l].T).reshape(T, KV, hd)
        out = np.zeros((T, H, hd))
        for head in range(H):
            kvh = head // (H // KV)
            # qr[m, n] = R(f(m - n)) q_m
            qr = rotate(np.broadcast_to(q[:, head, None, :], (T, T, hd)), angle)
            s = np.einsum("mnd,nd->mn", qr, k[:, kvh]) / np.sqrt(hd)
            s = np.where(causal, s, -np.inf)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, head] = s @ v[:, kvh]
        x = x + out.reshape(T, H * hd) @ w["wo"][l].T
        h = rmsnorm(x, w["rms_ffn"][l])
        a = h @ w["w1"][l].T
        x = x + ((a / (1.0 + np.exp(-a))) * (h @ w["w3"][l].T)) @ w["w2"][l].T
    return rmsnorm(x, w["rms_final"]) @ w["cls"].T


def compare(name, ref, got):
    err = np.abs(ref - got)
    same_argmax = np.mean(ref.argmax(-1) == got.argmax(-1))
    ok = err.max() <= TOLERANCE and same_argmax == 1.0
    print("%s: max abs diff %.3g, mean %.3g, argmax agreement %.4f -> %s" %
          (name, err.max(), err.mean(), same_argmax, "OK" if ok else "MISMATCH"))
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bin")
    p.add_argument("tokens")
    p.add_argument("logits")
    p.add_argument("--string", nargs=2, metavar=("S:W", "LOGITS"))
    a = p.parse_args()
    cfg, w = read_llama2c(a.bin)
    print("config", cfg)
    with open(a.tokens) as f:
        tokens = [int(t) for t in f.read().strip().split(",")]
    ok = True
    ref = np.fromfile(a.logits, dtype="<f4").reshape(len(tokens), cfg["vocab"])
    ok &= compare("rope", ref, forward(cfg, w, tokens))
    if a.string:
        shift, window = (int(v) for v in a.string[0].split(":"))
        ref = np.fromfile(a.string[1], dtype="<f4").reshape(len(tokens), cfg["vocab"])
        ok &= compare("string S=%d W=%d" % (shift, window), ref, forward(cfg, w, tokens, (shift, window)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
