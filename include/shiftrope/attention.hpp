// shiftrope/attention.hpp - causal flash attention with a fused position
// remap (plain RoPE or STRING), GQA/MQA, prefill and decode in one kernel.
//
// For query token t at position m = start_pos + t, query head h and its KV
// head g(h) = h / (n_heads / n_kv_heads):
//
//   out[t][h] = Σ_{n <= m} softmax_n(c · <R(p(m, n)) q[t][h], k_n>) · v_n,
//   c = softmax_scale · logit_scale,
//
// where k_n was rotated at its own position n when it entered the cache and
// the remap's segments give the query position p: plain RoPE p = m; STRING
// p = m - S + W for keys n <= m - S and p = m for the rest, so each score
// sees f(m - n) (position_map.hpp). Each query row is rotated once per
// segment (two copies for STRING) and all its keys go through ONE online
// softmax: no L×L buffer, no second pass, no log-sum-exp merge of passes.
//
// With attention_params::sliding_window = w > 0, keys at true distance
// m - n >= w are masked out (they contribute nothing, exactly): each row's
// segments are clipped to keys n > m - w, and a remap such as STRING then
// rotates the keys that remain as it would without the window.
//
// Keys at distance exactly S: by default each key is scored once, as the
// formula says (and the reference decode path does). With
// string_remap::duplicate_boundary_key the key at distance S is scored in
// both segments (at S and at W) and enters the softmax twice, as the
// reference implementation's prefill does.
//
// Layout. q and out are [n_tokens × n_heads × head_dim]. The cache view
// addresses key/value n of KV head g at base + g·head_stride + n·pos_stride;
// the fast layout is [n_kv_heads × n_ctx × head_dim] (kv_cache_view::
// head_major): one head's keys are contiguous, as the tiles read them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <shiftrope/detail/attention/decode.hpp>
#include <shiftrope/detail/attention/driver.hpp>
#include <shiftrope/detail/attention/plan.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/kv_q8.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/rope.hpp>
#include <type_traits>
#include <variant>

namespace shiftrope {

/// Shape and scales of one attention call.
struct attention_params {
  /// Largest head_dim accepted (bounds the per-thread scratch).
  static constexpr int max_head_dim = 4096;
  /// Largest head count accepted.
  static constexpr int max_heads = 65536;

  int n_heads = 0;             ///< query heads
  int n_kv_heads = 0;          ///< key/value heads; n_heads % n_kv_heads == 0 (GQA, MQA)
  int head_dim = 0;            ///< values per head vector (the rope table's head_dim)
  double softmax_scale = 0.0;  ///< multiplies every logit; 0 = 1/sqrt(head_dim)
  double logit_scale = 1.0;    ///< extra logit factor (STRING's attention factor a^2); 1 = off
  int n_threads = 0;           ///< threads; <= 0: the OpenMP default
  /// Sliding window: a key at distance m - n >= sliding_window is masked
  /// out (the true distance, whatever the remap); 0 = none.
  std::int64_t sliding_window = 0;

  /// softmax_scale with its default applied, times logit_scale.
  [[nodiscard]] double logit_factor() const noexcept {
    const double s =
        softmax_scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(head_dim)) : softmax_scale;
    return s * logit_scale;
  }

  /// Throws shiftrope::error naming the field and value.
  void validate() const {
    if (n_heads < 1 || n_heads > max_heads)
      fail("attention_params: n_heads must be in [1, ", max_heads, "], got ", n_heads);
    if (n_kv_heads < 1 || n_kv_heads > n_heads)
      fail("attention_params: n_kv_heads must be in [1, n_heads = ", n_heads, "], got ",
           n_kv_heads);
    if (n_heads % n_kv_heads != 0)
      fail("attention_params: n_heads (", n_heads, ") must be a multiple of n_kv_heads (",
           n_kv_heads, ")");
    if (head_dim < 1 || head_dim > max_head_dim)
      fail("attention_params: head_dim must be in [1, ", max_head_dim, "], got ", head_dim);
    if (!(softmax_scale >= 0.0) || !std::isfinite(softmax_scale))
      fail("attention_params: softmax_scale must be >= 0 and finite (0 = 1/sqrt(head_dim)), got ",
           softmax_scale);
    if (!(logit_scale > 0.0) || !std::isfinite(logit_scale))
      fail("attention_params: logit_scale must be > 0 and finite, got ", logit_scale);
    if (sliding_window < 0)
      fail("attention_params: sliding_window must be >= 0 (0 = none), got ", sliding_window);
  }
};

/// Non-owning view of a KV cache: key/value n of KV head g start at
/// k/v + g·head_stride + n·pos_stride (head_dim contiguous values; keys
/// rotated at their own position n).
///
/// KV = std::int8_t is the q8_0 cache (kv_q8.hpp): k and v hold the quants,
/// k_scale and v_scale one f16 scale per 32 elements (element e of k has
/// the scale k_scale[e / 32]); head_dim and both strides must then be
/// multiples of 32. The other types leave the scales null.
template <class KV>
struct kv_cache_view {
  const KV* k = nullptr;         ///< keys
  const KV* v = nullptr;         ///< values, same layout as k
  std::size_t pos_stride = 0;    ///< elements between consecutive positions
  std::size_t head_stride = 0;   ///< elements between consecutive KV heads
  std::int64_t n_pos = 0;        ///< positions [0, n_pos) hold valid keys and values
  const f16* k_scale = nullptr;  ///< q8_0 only: scales of k, [elements / 32]
  const f16* v_scale = nullptr;  ///< q8_0 only: scales of v, [elements / 32]

  /// [n_kv_heads × n_ctx × head_dim] (the layout the kernel reads fastest).
  static kv_cache_view head_major(const KV* k, const KV* v, std::int64_t n_ctx, int head_dim,
                                  std::int64_t n_pos) noexcept {
    return {k,
            v,
            static_cast<std::size_t>(head_dim),
            static_cast<std::size_t>(n_ctx) * static_cast<std::size_t>(head_dim),
            n_pos,
            nullptr,
            nullptr};
  }
  /// [n_ctx × n_kv_heads × head_dim].
  static kv_cache_view position_major(const KV* k, const KV* v, int n_kv_heads, int head_dim,
                                      std::int64_t n_pos) noexcept {
    return {k,
            v,
            static_cast<std::size_t>(n_kv_heads) * static_cast<std::size_t>(head_dim),
            static_cast<std::size_t>(head_dim),
            n_pos,
            nullptr,
            nullptr};
  }
  /// The same layouts with scales (q8_0, KV = std::int8_t).
  kv_cache_view with_scales(const f16* ks, const f16* vs) const noexcept {
    kv_cache_view c = *this;
    c.k_scale = ks;
    c.v_scale = vs;
    return c;
  }
};

namespace detail {

template <class Acc>
struct attention_setup {
  attn::plan plan;
  attn::scratch_layout layout;
  std::size_t bytes = 0;  // scratch from an aligned base: the layout's, or the decoding path's
};

template <class Acc>
attention_setup<Acc> attention_prepare(const attention_params& p, std::int64_t start_pos,
                                       std::int64_t n_tokens) {
  p.validate();
  if (start_pos < 0 || start_pos > max_positions)
    fail("attention: start_pos must be in [0, 2^40], got ", start_pos);
  if (n_tokens < 0 || n_tokens > max_positions)
    fail("attention: n_tokens must be in [0, 2^40], got ", n_tokens);
  attention_setup<Acc> s;
  s.plan = attn::make_plan<Acc>(p.n_heads, p.n_kv_heads, start_pos, n_tokens, p.n_threads);
  const int dp = attn::round_up(p.head_dim, attn::blocking<Acc>::width);
  s.layout = attn::make_layout<Acc>(s.plan, dp);
  s.bytes = s.layout.total;
  if (n_tokens == 1 && attn::round_up(p.head_dim, 16) == p.head_dim)  // the decoding path's share
    s.bytes = std::max(s.bytes, attn::decode_scratch_bytes(p.n_heads, p.n_kv_heads, p.head_dim,
                                                           start_pos + 1, p.n_threads));
  return s;
}

/// The checks every attention entry point makes on its arguments (`who`
/// names the entry point in messages): parameters, positions in [0, 2^40],
/// a table of the same head_dim covering the queries, a cache covering them
/// with sane strides, non-null pointers. Returns false when there is
/// nothing to do (n_tokens = 0).
template <class Acc, class KV>
bool check_attention_call(const char* who, const attention_params& p, const rope_table<Acc>& table,
                          const Acc* q, std::int64_t start_pos, std::int64_t n_tokens,
                          const kv_cache_view<KV>& cache, const Acc* out) {
  p.validate();
  if (start_pos < 0 || start_pos > max_positions)
    fail(who, ": start_pos must be in [0, 2^40], got ", start_pos);
  if (n_tokens < 0 || n_tokens > max_positions)
    fail(who, ": n_tokens must be in [0, 2^40], got ", n_tokens);
  if (table.config().head_dim != p.head_dim)
    fail(who, ": rope table head_dim (", table.config().head_dim,
         ") must equal attention_params.head_dim (", p.head_dim, ")");
  if (n_tokens == 0) return false;
  const std::int64_t end = start_pos + n_tokens;
  if (table.n_pos() < end)
    fail(who, ": rope table covers ", table.n_pos(), " positions, the queries reach position ",
         end - 1);
  if (cache.n_pos < end)
    fail(who, ": kv_cache_view.n_pos (", cache.n_pos, ") must cover the query positions (", end,
         ")");
  if (!cache.k || !cache.v) fail(who, ": kv_cache_view.k and .v must not be null");
  if (cache.pos_stride < static_cast<std::size_t>(p.head_dim) ||
      (p.n_kv_heads > 1 && cache.head_stride < static_cast<std::size_t>(p.head_dim)))
    fail(who, ": kv_cache_view strides must be >= head_dim (", p.head_dim,
         "), got pos_stride = ", cache.pos_stride, ", head_stride = ", cache.head_stride);
  if (!q || !out) fail(who, ": q and out must not be null");
  if constexpr (std::is_same_v<KV, std::int8_t>) {
    constexpr std::size_t b = kv_q8_block;
    if (p.head_dim % kv_q8_block != 0)
      fail(who, ": head_dim = ", p.head_dim, " is not a multiple of ", kv_q8_block,
           ", which a q8_0 KV cache needs (one scale per 32 values of a head)");
    if (cache.pos_stride % b != 0 || cache.head_stride % b != 0)
      fail(who, ": a q8_0 kv_cache_view needs strides that are multiples of ", kv_q8_block,
           ", got pos_stride = ", cache.pos_stride, ", head_stride = ", cache.head_stride);
    if (!cache.k_scale || !cache.v_scale)
      fail(who, ": a q8_0 kv_cache_view needs k_scale and v_scale (not null)");
  }
  return true;
}

}  // namespace detail

/// Bytes of scratch an attention call with these arguments needs (the
/// overload that takes a scratch buffer accepts any alignment: the size
/// includes the slack to align it). Grows with the thread count and the
/// tile sizes, never with the square of the sequence length.
template <class Acc>
[[nodiscard]] std::size_t attention_scratch_bytes(const attention_params& p, std::int64_t start_pos,
                                                  std::int64_t n_tokens) {
  static_assert(is_compute_type_v<Acc>, "Acc must be float or double");
  if (n_tokens == 0) return 0;
  return detail::attention_prepare<Acc>(p, start_pos, n_tokens).bytes + detail::simd::max_align;
}

/// Causal attention of n_tokens query rows at positions start_pos ..
/// start_pos + n_tokens - 1 against the cache (see the top of this file),
/// using the caller's scratch of scratch_bytes (>= attention_scratch_bytes).
/// out may be q (each row's query is read before its output is written);
/// no other overlap is allowed.
/// Throws shiftrope::error for bad parameters, positions beyond the table or
/// the cache, or too small a scratch; the kernel itself does not throw.
template <class Acc, class KV>
void attention(const attention_params& p, const remap& positions, const rope_table<Acc>& table,
               const Acc* q, std::int64_t start_pos, std::int64_t n_tokens,
               const kv_cache_view<KV>& cache, Acc* out, void* scratch, std::size_t scratch_bytes) {
  static_assert(is_compute_type_v<Acc>, "Acc must be float or double");
  static_assert(is_storage_type_v<KV> || std::is_same_v<KV, std::int8_t>,
                "KV must be float, double, f16, bf16 or std::int8_t (q8_0 quants)");
  validate(positions);
  if (!detail::check_attention_call("attention", p, table, q, start_pos, n_tokens, cache, out))
    return;
  const detail::attention_setup<Acc> s = detail::attention_prepare<Acc>(p, start_pos, n_tokens);
  if (scratch_bytes < s.bytes + detail::simd::max_align || !scratch)
    fail("attention: scratch_bytes must be >= ", s.bytes + detail::simd::max_align,
         " (attention_scratch_bytes), got ", scratch_bytes);
  detail::attn::context<Acc, KV> cx;
  cx.n_heads = p.n_heads;
  cx.n_kv_heads = p.n_kv_heads;
  cx.heads_per_kv = p.n_heads / p.n_kv_heads;
  cx.head_dim = p.head_dim;
  cx.dp = detail::attn::round_up(p.head_dim, detail::attn::blocking<Acc>::width);
  cx.scale = static_cast<Acc>(p.logit_factor());
  const auto* str = std::get_if<string_remap>(&positions);
  cx.overlapping = str && str->duplicate_boundary_key;
  cx.window = p.sliding_window;
  cx.positions = &positions;
  cx.table = &table;
  cx.q = q;
  cx.start_pos = start_pos;
  cx.n_tokens = n_tokens;
  cx.k = cache.k;
  cx.v = cache.v;
  cx.pos_stride = cache.pos_stride;
  cx.head_stride = cache.head_stride;
  cx.k_scale = cache.k_scale;
  cx.v_scale = cache.v_scale;
  cx.out = out;
  void* base = scratch;
  std::size_t space = scratch_bytes;
  std::align(detail::simd::max_align, s.bytes, base, space);
  // One query token: the dedicated decoding path where it applies
  // (decode.hpp says when), else the general tiled path.
  if (n_tokens == 1 && detail::attn::try_decode(cx, p.n_threads, static_cast<std::byte*>(base)))
    return;
  detail::attn::run(cx, s.plan, s.layout, static_cast<std::byte*>(base));
}

/// The same, with scratch allocated for the call.
template <class Acc, class KV>
void attention(const attention_params& p, const remap& positions, const rope_table<Acc>& table,
               const Acc* q, std::int64_t start_pos, std::int64_t n_tokens,
               const kv_cache_view<KV>& cache, Acc* out) {
  const std::size_t bytes = attention_scratch_bytes<Acc>(p, start_pos, n_tokens);
  const std::unique_ptr<std::byte[]> scratch(bytes ? new std::byte[bytes] : nullptr);
  attention(p, positions, table, q, start_pos, n_tokens, cache, out, scratch.get(), bytes);
}

}  // namespace shiftrope
