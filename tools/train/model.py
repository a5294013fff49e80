"""Llama-architecture model in PyTorch, written to match the shiftrope C++ forward pass.

Per layer: RMSNorm -> attention (RoPE base 10000, interleaved planes
(x[2i], x[2i+1]), GQA with query head h reading KV head h // (n_heads /
n_kv_heads), causal, softmax scale 1/sqrt(head_dim), no biases) -> residual;
RMSNorm -> SwiGLU FFN w2(silu(w1 x) * w3 x) -> residual. Final RMSNorm, output
classifier tied to the token embedding.
"""

import math
import struct
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    dim: int = 128  # model width
    hidden_dim: int = 384  # SwiGLU inner width
    n_layers: int = 6
    n_heads: int = 4
    n_kv_heads: int = 2
    vocab_size: int = 258  # 256 bytes + BOS + EOS
    seq_len: int = 512  # training length L
    norm_eps: float = 1e-5
    rope_base: float = 10000.0

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    def to_dict(self):
        d = asdict(self)
        d["head_dim"] = self.head_dim
        return d


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_angles(head_dim, positions, base):
    """cos, sin of pos * theta_i, theta_i = base^(-2i/head_dim): [n_pos, head_dim/2] (computed in double)."""
    i = torch.arange(0, head_dim // 2, dtype=torch.float64)
    theta = base ** (-2.0 * i / head_dim)
    ang = positions.to(torch.float64)[:, None] * theta[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """Interleaved rotation. x [B, H, T, hd]; cos, sin [T, hd/2]; plane i = (x[2i], x[2i+1])."""
    x0 = x[..., 0::2]
    x1 = x[..., 1::2]
    r0 = x0 * cos - x1 * sin
    r1 = x0 * sin + x1 * cos
    return torch.stack((r0, r1), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * hd, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * hd, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * hd, bias=False)
        self.wo = nn.Linear(cfg.n_heads * hd, cfg.dim, bias=False)

    def forward(self, x, rope, mask, string=None):
        """x [B, T, dim]. rope = (cos, sin) for positions 0..T-1; mask [T, T] additive causal mask.

        string = None (plain RoPE) or (cos_far, sin_far, far_mask): queries of
        keys with far_mask[m, n] (m - n >= S) are rotated at m - S + W instead of
        m, i.e. STRING's f(d) = d - S + W for d >= S (used only for evaluation).
        """
        cfg = self.cfg
        B, T, _ = x.shape
        hd = cfg.head_dim
        kv = cfg.n_kv_heads
        rep = cfg.n_heads // kv
        # Query head h = g * rep + j reads KV head g: group the rep query heads of a KV head
        # into one [rep * T, hd] matrix so that K and V are never copied per query head.
        q = self.wq(x).view(B, T, kv, rep, hd).permute(0, 2, 3, 1, 4)  # [B, kv, rep, T, hd]
        k = self.wk(x).view(B, T, kv, hd).transpose(1, 2)  # [B, kv, T, hd]
        v = self.wv(x).view(B, T, kv, hd).transpose(1, 2)
        cos, sin = rope
        scale = 1.0 / math.sqrt(hd)
        kt = apply_rope(k, cos, sin).transpose(-1, -2).unsqueeze(2)  # [B, kv, 1, hd, T]
        scores = (apply_rope(q, cos, sin) * scale) @ kt  # [B, kv, rep, T, T]
        if string is not None:
            cos_far, sin_far, far_mask = string
            far = (apply_rope(q, cos_far, sin_far) * scale) @ kt
            scores = torch.where(far_mask, far, scores)
        probs = F.softmax(scores + mask, dim=-1)
        out = probs @ v.unsqueeze(2)  # [B, kv, rep, T, hd]
        return self.wo(out.permute(0, 3, 1, 2, 4).reshape(B, T, cfg.n_heads * hd))


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.w2 = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x, rope, mask, string=None):
        x = x + self.attention(self.attention_norm(x), rope, mask, string)
        return x + self.feed_forward(self.ffn_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.output.weight = self.tok_embeddings.weight  # tied classifier
        # Plain normal(0, 0.02) everywhere. The GPT-2 habit of shrinking wo and w2 by
        # 1/sqrt(2 n_layers) made a 4-layer model of this size sit ~3x longer on the
        # plateau before it learned to copy (measured on a repeat-copy task).
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, tokens, string=None):
        """tokens [B, T] (positions 0..T-1) -> logits [B, T, vocab].

        string = None or (shift S, window W) for STRING evaluation.
        """
        T = tokens.shape[1]
        pos = torch.arange(T)
        rope = rope_angles(self.cfg.head_dim, pos, self.cfg.rope_base)
        str_args = None
        if string is not None:
            shift, window = string
            cos_far, sin_far = rope_angles(self.cfg.head_dim, pos - shift + window, self.cfg.rope_base)
            far_mask = (pos[:, None] - pos[None, :]) >= shift
            str_args = (cos_far, sin_far, far_mask)
        mask = torch.full((T, T), float("-inf")).triu(1)  # 0 on and below the diagonal
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, rope, mask, str_args)
        return self.output(self.norm(h))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def export_llama2c(model, path):
    """Write the llama2.c version-0 float32 checkpoint (little-endian).

    Header: 7 x int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
    vocab_size > 0 = shared classifier, seq_len); then token_embedding
    [vocab, dim], rms_att [layers, dim], wq [layers, heads*hd, dim],
    wk/wv [layers, kv*hd, dim], wo [layers, dim, heads*hd], rms_ffn
    [layers, dim], w1 [layers, hidden, dim], w2 [layers, dim, hidden],
    w3 [layers, hidden, dim], rms_final [dim], then the two legacy RoPE
    tables cos/sin [seq_len, hd/2] (written for completeness; readers ignore
    them). Matrices row-major [out, in].
    """
    cfg = model.cfg
    layers = model.layers

    def blob(t):
        return t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()

    def stacked(get):
        return b"".join(blob(get(layer)) for layer in layers)

    with open(path, "wb") as f:
        f.write(struct.pack("<7i", cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads,
                            cfg.vocab_size, cfg.seq_len))
        f.write(blob(model.tok_embeddings.weight))
        f.write(stacked(lambda l: l.attention_norm.weight))
        f.write(stacked(lambda l: l.attention.wq.weight))
        f.write(stacked(lambda l: l.attention.wk.weight))
        f.write(stacked(lambda l: l.attention.wv.weight))
        f.write(stacked(lambda l: l.attention.wo.weight))
        f.write(stacked(lambda l: l.ffn_norm.weight))
        f.write(stacked(lambda l: l.feed_forward.w1.weight))
        f.write(stacked(lambda l: l.feed_forward.w2.weight))
        f.write(stacked(lambda l: l.feed_forward.w3.weight))
        f.write(blob(model.norm.weight))
        cos, sin = rope_angles(cfg.head_dim, torch.arange(cfg.seq_len), cfg.rope_base)
        f.write(blob(cos))
        f.write(blob(sin))


def load_llama2c(path):
    """Read a checkpoint written by export_llama2c (shared classifier) back into a Transformer."""
    import numpy as np

    with open(path, "rb") as f:
        raw = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", raw[:28])
    if vocab <= 0:
        raise ValueError("%s: vocab_size %d: only a shared classifier is supported" % (path, vocab))
    cfg = Config(dim=dim, hidden_dim=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv,
                 vocab_size=vocab, seq_len=seq_len)
    model = Transformer(cfg)
    hd = cfg.head_dim
    off = 28

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        if off + 4 * n > len(raw):
            raise ValueError("%s: truncated at byte %d" % (path, off))
        t = torch.from_numpy(np.frombuffer(raw, dtype="<f4", count=n, offset=off).copy()).view(*shape)
        off += 4 * n
        return t

    L = n_layers
    with torch.no_grad():
        model.tok_embeddings.weight.copy_(take(vocab, dim))
        fields = [
            ("attention_norm.weight", (dim,)), ("attention.wq.weight", (n_heads * hd, dim)),
            ("attention.wk.weight", (n_kv * hd, dim)), ("attention.wv.weight", (n_kv * hd, dim)),
            ("attention.wo.weight", (dim, n_heads * hd)), ("ffn_norm.weight", (dim,)),
            ("feed_forward.w1.weight", (hidden, dim)), ("feed_forward.w2.weight", (dim, hidden)),
            ("feed_forward.w3.weight", (hidden, dim)),
        ]
        params = dict(model.named_parameters())
        for name, shape in fields:
            stacked = take(L, *shape)
            for i in range(L):
                params["layers.%d.%s" % (i, name)].copy_(stacked[i])
        model.norm.weight.copy_(take(dim))
        take(seq_len, hd // 2)  # legacy RoPE tables, recomputed at run time
        take(seq_len, hd // 2)
    if off != len(raw):
        raise ValueError("%s: %d trailing bytes" % (path, len(raw) - off))
    return model
