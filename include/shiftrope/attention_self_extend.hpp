// shiftrope/attention_self_extend.hpp - causal attention under Self-Extend
// (Jin et al. 2024): the baseline the STRING paper compares with.
//
// For query token t at position m = start_pos + t and query head h:
//
//   out[t][h] = Σ_{n <= m} softmax_n(c · <R(p(m, n)) q[t][h], k̃_n>) · v_n,
//   p(m, n) = m - n                                      if m - n < W_n
//           = floor(m/G) - floor(n/G) + W_n - floor(W_n/G)   otherwise,
//
// with k̃_n the key before rotation and c = softmax_scale · logit_scale.
// Far keys need the position floor(n/G), so the caller keeps a second key
// cache, `grouped_k`, whose key n is rotated at floor(n/G) when it is stored
// (self_extend_remap::grouped_key_pos); near keys come from the ordinary
// cache (rotated at n). The query is rotated at m and at
// floor(m/G) + W_n - floor(W_n/G), and both parts go through one online
// softmax (detail/attention/self_extend.hpp). The fused RoPE/STRING kernel
// (attention.hpp) is untouched: this path exists only for Self-Extend.
//
// Layout: as attention.hpp. q and out are [n_tokens × n_heads × head_dim];
// grouped_k uses the cache view's strides.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <shiftrope/attention.hpp>
#include <shiftrope/detail/attention/self_extend.hpp>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/rope.hpp>
#include <vector>

namespace shiftrope {

/// Causal Self-Extend attention of n_tokens query rows at positions
/// start_pos .. start_pos + n_tokens - 1 (see the top of this file). Throws
/// shiftrope::error for bad parameters, positions beyond the table or the
/// cache, or null pointers; the kernel itself does not throw.
template <class Acc, class KV>
void attention_self_extend(const attention_params& p, const self_extend_remap& positions,
                           const rope_table<Acc>& table, const Acc* q, std::int64_t start_pos,
                           std::int64_t n_tokens, const kv_cache_view<KV>& cache,
                           const KV* grouped_k, Acc* out) {
  static_assert(is_compute_type_v<Acc>, "Acc must be float or double");
  static_assert(is_storage_type_v<KV>,
                "KV must be float, double, f16 or bf16 (Self-Extend does not read q8_0 caches)");
  positions.validate();
  if (p.sliding_window != 0)
    fail("attention_self_extend: attention_params.sliding_window (", p.sliding_window,
         ") is not supported with Self-Extend");
  if (!detail::check_attention_call("attention_self_extend", p, table, q, start_pos, n_tokens,
                                    cache, out))
    return;
  if (!grouped_k) fail("attention_self_extend: grouped_k must not be null");

  detail::self_extend::context<Acc, KV> cx;
  cx.n_heads = p.n_heads;
  cx.heads_per_kv = p.n_heads / p.n_kv_heads;
  cx.head_dim = p.head_dim;
  cx.scale = static_cast<Acc>(p.logit_factor());
  cx.remap = positions;
  cx.table = &table;
  cx.q = q;
  cx.start_pos = start_pos;
  cx.n_tokens = n_tokens;
  cx.k = cache.k;
  cx.kg = grouped_k;
  cx.v = cache.v;
  cx.pos_stride = cache.pos_stride;
  cx.head_stride = cache.head_stride;
  cx.out = out;
  const std::int64_t rows = n_tokens * p.n_heads;
  const int n_threads =
      static_cast<int>(std::min<std::int64_t>(detail::resolve_threads(p.n_threads), rows));
  // [n_threads × work_size]: a few KB per thread, whatever the sequence length.
  std::vector<Acc> work(static_cast<std::size_t>(n_threads) *
                        detail::self_extend::work_size(p.head_dim));
  detail::self_extend::run(cx, n_threads, work.data());
}

}  // namespace shiftrope
