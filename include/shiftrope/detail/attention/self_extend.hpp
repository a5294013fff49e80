// shiftrope/detail/attention/self_extend.hpp - the attention kernel of
// Self-Extend (position_map.hpp's self_extend_remap): one query row against
// two key sources, one online softmax.
//
// For query token t at position m and query head h (KV head g = h / heads_per_kv):
//
//   out[t][h] = Σ_n softmax_n(s_n) · v_n,
//   s_n = c · <R(f) q, kg_n>   for far keys  n in [0, far_end)   (kg_n rotated at floor(n/G),
//                                                                 f = floor(m/G) + W_n -
//                                                                 floor(W_n/G))
//   s_n = c · <R(m) q, k_n>    for near keys n in [far_end, m]   (k_n rotated at n),
//
// so every score sees Self-Extend's p(m, n). The keys are rotated once, on
// store (the grouped cache holds a second copy of each key); the query is
// rotated twice per row. Deliberately plain — a dot product per key, scores
// in blocks of block_keys so the exponentials run in SIMD registers, a SIMD
// axpy per value row, rows spread over threads — because it serves a
// baseline and must not complicate the fused RoPE/STRING kernel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/rope.hpp>

namespace shiftrope::detail::self_extend {

/// Keys scored per block (the scores of one block live in the work area).
inline constexpr int block_keys = 64;

/// Everything the kernel reads, validated by the public entry.
template <class Acc, class KV>
struct context {
  int n_heads = 0;       // query heads
  int heads_per_kv = 1;  // query heads per KV head (GQA ratio n_heads / n_kv_heads)
  int head_dim = 0;      // values per head vector
  Acc scale = 1;         // softmax_scale · logit_scale, folded into the query copies
  self_extend_remap remap;
  const rope_table<Acc>* table = nullptr;
  const Acc* q = nullptr;  // [n_tokens × n_heads × head_dim], un-rotated
  std::int64_t start_pos = 0;
  std::int64_t n_tokens = 0;
  const KV* k = nullptr;   // key n of KV head g (rotated at n): k + g·head_stride + n·pos_stride
  const KV* kg = nullptr;  // the same key rotated at floor(n/G), same layout
  const KV* v = nullptr;   // values, same layout
  std::size_t pos_stride = 0;
  std::size_t head_stride = 0;
  Acc* out = nullptr;  // [n_tokens × n_heads × head_dim]
};

/// Acc values of one thread's work area: the query copy in use and the
/// accumulator [2 × head_dim], the scores of a block [block_keys].
inline std::size_t work_size(int head_dim) noexcept {
  return 2 * static_cast<std::size_t>(head_dim) + block_keys;
}

/// s[i] = e^(s[i] - shift) for i < n, in registers (xsimd's exp is within
/// one ulp); returns Σ s[i].
template <class Acc>
inline Acc exp_shifted(Acc* s, int n, Acc shift) noexcept {
  using V = simd::vec<Acc>;
  constexpr int w = static_cast<int>(simd::lanes<Acc>);
  const V vs(shift);
  V acc(Acc(0));
  int i = 0;
  for (; i + w <= n; i += w) {
    const V e = simd::exp(V::load_unaligned(s + i) - vs);
    e.store_unaligned(s + i);
    acc = acc + e;
  }
  Acc sum = simd::hsum(acc);
  for (; i < n; ++i) {
    s[i] = std::exp(s[i] - shift);
    sum += s[i];
  }
  return sum;
}

/// One online-softmax pass of the (scaled, rotated) query qc over keys
/// [n0, n1) of one source: running max mx, running sum l, unnormalised
/// output o[head_dim] (rescaled whenever the max grows).
template <class Acc, class KV>
void attend_run(const Acc* qc, const KV* keys, const KV* values, std::size_t pos_stride,
                std::int64_t n0, std::int64_t n1, int head_dim, Acc* s, Acc& mx, Acc& l,
                Acc* o) noexcept {
  const auto hd = static_cast<std::size_t>(head_dim);
  for (std::int64_t b = n0; b < n1; b += block_keys) {
    const int cnt = static_cast<int>(std::min<std::int64_t>(block_keys, n1 - b));
    Acc block_max = -std::numeric_limits<Acc>::infinity();
    for (int j = 0; j < cnt; ++j) {
      s[j] = simd::dot<Acc>(qc, keys + static_cast<std::size_t>(b + j) * pos_stride, hd);
      block_max = std::max(block_max, s[j]);
    }
    if (block_max > mx) {
      if (l > Acc(0)) {
        const Acc alpha = std::exp(mx - block_max);
        simd::scale(o, alpha, hd);
        l *= alpha;
      }
      mx = block_max;
    }
    l += exp_shifted(s, cnt, mx);
    for (int j = 0; j < cnt; ++j)
      simd::axpy<Acc>(s[j], values + static_cast<std::size_t>(b + j) * pos_stride, o, hd);
  }
}

/// Query row (t, h): far keys from the grouped cache, near keys from the
/// ordinary one, then out = o / l. work: work_size(head_dim) values.
template <class Acc, class KV>
void attend_row(const context<Acc, KV>& cx, std::int64_t t, int h, Acc* work) noexcept {
  const std::int64_t m = cx.start_pos + t;
  const auto hd = static_cast<std::size_t>(cx.head_dim);
  Acc* qc = work;          // [head_dim] the query copy in use
  Acc* o = work + hd;      // [head_dim] unnormalised output
  Acc* s = work + 2 * hd;  // [block_keys] scores, then weights
  const Acc* q = cx.q + (static_cast<std::size_t>(t) * cx.n_heads + h) * hd;
  const std::size_t head_off = static_cast<std::size_t>(h / cx.heads_per_kv) * cx.head_stride;
  const self_extend_remap::split sp = cx.remap.split_at(m);
  std::fill(o, o + hd, Acc(0));
  Acc mx = -std::numeric_limits<Acc>::infinity(), l = 0;
  const auto rotated_query = [&](std::int64_t pos) {
    for (std::size_t i = 0; i < hd; ++i) qc[i] = q[i] * cx.scale;
    cx.table->rotate(qc, pos);
  };
  if (sp.far_end > 0) {
    rotated_query(sp.far_query_pos);
    attend_run(qc, cx.kg + head_off, cx.v + head_off, cx.pos_stride, 0, sp.far_end, cx.head_dim, s,
               mx, l, o);
  }
  rotated_query(m);
  attend_run(qc, cx.k + head_off, cx.v + head_off, cx.pos_stride, sp.far_end, m + 1, cx.head_dim, s,
             mx, l, o);
  Acc* dst = cx.out + (static_cast<std::size_t>(t) * cx.n_heads + h) * hd;
  const Acc inv = Acc(1) / l;  // l >= 1: the row's largest score contributes e^0
  for (std::size_t i = 0; i < hd; ++i) dst[i] = o[i] * inv;
}

/// Every (token, head) row, interleaved over the threads (later tokens see
/// more keys, so interleaving balances a causal prefill). work: n_threads ×
/// work_size(head_dim) values.
template <class Acc, class KV>
void run(const context<Acc, KV>& cx, int n_threads, Acc* work) noexcept {
  const std::int64_t n_rows = cx.n_tokens * cx.n_heads;
  const std::size_t stride = work_size(cx.head_dim);
  parallel_region(n_threads, [&](int tid, int nt) {
    Acc* w = work + static_cast<std::size_t>(tid) * stride;
    for (std::int64_t r = tid; r < n_rows; r += nt)
      attend_row(cx, r / cx.n_heads, static_cast<int>(r % cx.n_heads), w);
  });
}

}  // namespace shiftrope::detail::self_extend
