// shiftrope/detail/attention/driver.hpp - runs an attention call: one
// parallel region over the plan's work items, each item tile by tile
// (load K/V, scores, online softmax, P·V), then the merge of key chunks.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/detail/attention/kernels.hpp>
#include <shiftrope/detail/attention/plan.hpp>
#include <shiftrope/detail/attention/scores.hpp>
#include <shiftrope/detail/attention/segments.hpp>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/kv_q8.hpp>
#include <type_traits>

namespace shiftrope::detail::attn {

/// True for the q8_0 cache (int8 quants plus a scale per 32 elements).
template <class KV>
inline constexpr bool is_q8 = std::is_same_v<KV, std::int8_t>;

/// Converts rows [t0, t0 + cnt) of one KV head into dst [cnt_r × dp]
/// (zero-padded columns and rows). For q8_0, scale points at the scale of
/// the head's first element (src[e] has the scale scale[e / 32]).
template <class Acc, class KV>
void pack_rows(const KV* src, const f16* scale, std::size_t pos_stride, std::int64_t t0, int cnt,
               int cnt_r, int head_dim, int dp, Acc* dst) noexcept {
  for (int i = 0; i < cnt; ++i) {
    Acc* row = dst + static_cast<std::size_t>(i) * dp;
    const std::size_t at = static_cast<std::size_t>(t0 + i) * pos_stride;
    if constexpr (is_q8<KV>)
      dequantize_kv_q8(src + at, scale + at / kv_q8_block, row, static_cast<std::size_t>(head_dim));
    else
      simd::convert_row<Acc>(src + at, row, static_cast<std::size_t>(head_dim));
    std::fill(row + head_dim, row + dp, Acc(0));
  }
  std::fill(dst + static_cast<std::size_t>(cnt) * dp, dst + static_cast<std::size_t>(cnt_r) * dp,
            Acc(0));
}

/// Starts the write misses of an item's output rows (scattered over out).
template <class Acc, class KV>
void prefetch_output(const context<Acc, KV>& cx, const item_rows<Acc>& ir) noexcept {
  for (int r = 0; r < ir.rows; ++r) {
    const std::int64_t t = ir.t_begin + r / ir.n_h, h = ir.h_begin + r % ir.n_h;
    simd::prefetch_for_write(cx.out + (static_cast<std::size_t>(t) * cx.n_heads + h) * cx.head_dim,
                             static_cast<std::size_t>(cx.head_dim) * sizeof(Acc));
  }
}

/// How the kernels read KV rows in place: a pointer, or for q8_0 a
/// simd::q8_ptr (quants and their scales).
template <class KV>
struct raw_rows {
  using type = const KV*;
};
template <>
struct raw_rows<std::int8_t> {
  using type = simd::q8_ptr;
};
template <class KV>
using raw_ptr = typename raw_rows<KV>::type;

/// Row `at` of the cache whose first element is base (scales: q8_0 only).
template <class KV>
raw_ptr<KV> raw_at([[maybe_unused]] const KV* base, [[maybe_unused]] const f16* scales,
                   const KV* at) noexcept {
  if constexpr (is_q8<KV>)
    return simd::q8_ptr{base, scales, static_cast<std::size_t>(at - base)};
  else
    return at;
}

/// Where one tile's keys and values are read: the cache in place, or
/// converted (and zero-padded) copies in the thread's scratch. Decoding
/// reads half-precision and q8_0 caches in place too (k_raw, v_raw),
/// converting in registers: its few rows use each converted register at
/// once, so a copy through memory would only add traffic. Prefill converts
/// a tile of 64 rows into the scratch once for all its rows (the cache is
/// read in place either way, never copied whole).
template <class Acc, class KV>
struct tile_source {
  const Acc* k = nullptr;  // key kk at k + kk·ldk
  const Acc* v = nullptr;  // value kk at v + kk·ldv (dp readable values)
  raw_ptr<KV> k_raw{};     // when set, keys are read here instead (same ldk)
  raw_ptr<KV> v_raw{};     // when set, values are read here instead (same ldv)
  std::size_t ldk = 0, ldv = 0;
};

/// Keys/values [t0, t0 + cnt) of one KV head (kh, vh), rows rounded up to
/// cnt_r for the score kernels.
template <class Acc, class KV>
tile_source<Acc, KV> load_tile(const context<Acc, KV>& cx, const item_rows<Acc>& ir,
                               const buffers<Acc>& b, const KV* kh, const KV* vh, std::int64_t t0,
                               int cnt, int cnt_r) noexcept {
  const std::size_t dp = static_cast<std::size_t>(cx.dp);
  tile_source<Acc, KV> src;
  src.k = b.kt;
  src.v = b.vt;
  src.ldk = src.ldv = dp;
  const KV* k_at = kh + static_cast<std::size_t>(t0) * cx.pos_stride;
  const KV* v_at = vh + static_cast<std::size_t>(t0) * cx.pos_stride;
  // In place when every load stays inside a row (whole registers) and a tile.
  const bool k_direct = cnt_r == cnt && (!ir.dot || cx.head_dim == cx.dp);
  const bool v_direct = cx.head_dim == cx.dp;
  if constexpr (std::is_same_v<KV, Acc>) {
    if (k_direct) src.k = k_at, src.ldk = cx.pos_stride;
    if (v_direct) src.v = v_at, src.ldv = cx.pos_stride;
  } else if (ir.dot) {
    if (k_direct) src.k_raw = raw_at(cx.k, cx.k_scale, k_at), src.ldk = cx.pos_stride;
    if (v_direct) src.v_raw = raw_at(cx.v, cx.v_scale, v_at), src.ldv = cx.pos_stride;
  }
  // q8_0: the scales of the head's first element (element offsets from the
  // cache's base, divided by the block).
  const f16* ks = nullptr;
  const f16* vs = nullptr;
  if constexpr (is_q8<KV>) {
    ks = cx.k_scale + static_cast<std::size_t>(kh - cx.k) / kv_q8_block;
    vs = cx.v_scale + static_cast<std::size_t>(vh - cx.v) / kv_q8_block;
  }
  const bool k_packed = src.k == b.kt && !src.k_raw, v_packed = src.v == b.vt && !src.v_raw;
  if (k_packed) pack_rows(kh, ks, cx.pos_stride, t0, cnt, cnt_r, cx.head_dim, cx.dp, b.kt);
  if (v_packed) pack_rows(vh, vs, cx.pos_stride, t0, cnt, cnt, cx.head_dim, cx.dp, b.vt);
  return src;
}

/// The dot-product scores of a decoding micro-block, from the cache in
/// place (k_raw) or from the converted tile.
template <class Acc, class KV>
void scores_dot_from(const context<Acc, KV>& cx, const item_rows<Acc>& ir, const buffers<Acc>& b,
                     const range_stats<Acc>& st, int kn_r, const tile_source<Acc, KV>& src,
                     std::size_t lds) noexcept {
  if (src.k_raw)
    scores_dot(ir, b, st, cx.dp, cx.overlapping, kn_r, src.k_raw, src.ldk, b.s, lds);
  else
    scores_dot(ir, b, st, cx.dp, cx.overlapping, kn_r, src.k, src.ldk, b.s, lds);
}

/// One tile for every micro-block of the item: scores, online softmax step,
/// O = diag(alpha)·O + P·V. Micro-blocks whose rows see none of the tile's
/// keys are skipped; the others stop at the last key any of their rows sees.
template <class Acc, class KV>
void attend_tile(const context<Acc, KV>& cx, const item_rows<Acc>& ir, const buffers<Acc>& b,
                 const range_stats<Acc>& st, const tile_source<Acc, KV>& src, int cnt,
                 int nkb) noexcept {
  using B = blocking<Acc>;
  constexpr int w = B::width;
  const std::size_t dp = static_cast<std::size_t>(cx.dp);
  const int n_vec = ir.rows_pad / w;
  const int step = ir.dot ? 1 : B::qk_vectors;
  const std::size_t lds = ir.dot ? w : B::block_rows;
  for (int v0 = 0; v0 < n_vec; v0 += step) {
    const int nv = std::min(step, n_vec - v0);
    Acc reach = 0;  // keys of the tile any row of the micro-block sees
    for (int i = 0; i < nv; ++i)
      reach = std::max({reach, st.hi_max[0][v0 + i], st.hi_max[1][v0 + i]});
    const int kn = std::min(cnt, static_cast<int>(reach));
    if (kn <= 0) continue;
    const int kn_r = round_up(kn, nkb);
    const int row0 = v0 * w;
    if (ir.dot)
      scores_dot_from(cx, ir, b, st, kn_r, src, lds);
    else
      scores_in_lanes(ir, b, st, cx.head_dim, cx.dp, cx.overlapping, v0, nv, kn_r, src.k, src.ldk,
                      b.s, lds);
    for (int i = 0; i < nv; ++i)
      softmax_step(b.s + i * w, lds, kn_r, b.m + row0 + i * w, b.l + row0 + i * w,
                   b.alpha + row0 + i * w);
    const int rows_mb = std::min(nv * w, ir.rows - row0);
    // Keys [0, end[r]) of the tile are causal for row row0 + r (the remaps'
    // segments cover keys [0, m]); P·V skips the others, whatever their values.
    int end[B::block_rows];
    for (int r = 0; r < rows_mb; ++r) {
      const Acc hi = std::max(b.hi[row0 + r], b.hi[ir.rows_pad + row0 + r]);
      end[r] = std::clamp(static_cast<int>(hi), 0, kn);
    }
    if (src.v_raw)
      pv_block(b.s, lds, end, src.v_raw, src.ldv, b.o + row0 * dp, dp, b.alpha + row0, rows_mb,
               cx.dp);
    else
      pv_block(b.s, lds, end, src.v, src.ldv, b.o + row0 * dp, dp, b.alpha + row0, rows_mb, cx.dp);
  }
}

/// Writes the item's rows: normalised into out, or raw (o, m, l) into its
/// partial slot [rows_pad × dp | rows_pad | rows_pad] when keys are split.
template <class Acc, class KV>
void finish_item(const context<Acc, KV>& cx, const item_rows<Acc>& ir, const buffers<Acc>& b,
                 Acc* part, std::size_t rows_pad) noexcept {
  const std::size_t dp = static_cast<std::size_t>(cx.dp);
  if (part) {
    std::copy(b.o, b.o + static_cast<std::size_t>(ir.rows) * dp, part);
    std::copy(b.m, b.m + ir.rows, part + rows_pad * dp);
    std::copy(b.l, b.l + ir.rows, part + rows_pad * dp + rows_pad);
    return;
  }
  for (int r = 0; r < ir.rows; ++r) {
    const std::int64_t t = ir.t_begin + r / ir.n_h, h = ir.h_begin + r % ir.n_h;
    Acc* dst = cx.out + (static_cast<std::size_t>(t) * cx.n_heads + h) * cx.head_dim;
    const Acc inv = Acc(1) / b.l[r];
    const Acc* o = b.o + static_cast<std::size_t>(r) * dp;
    for (int d = 0; d < cx.head_dim; ++d) dst[d] = o[d] * inv;
  }
}

/// Asks for the key and value rows of the tile at t (when t < k_hi) ahead
/// of use. A decoding item does little arithmetic per byte it streams, so
/// its loads would otherwise wait on memory tile after tile; two tiles ahead
/// measured 10-15% faster at 32768 keys than no prefetch (one was close).
template <class Acc, class KV>
void prefetch_tile(const context<Acc, KV>& cx, const KV* kh, const KV* vh, std::int64_t t,
                   std::int64_t k_hi) noexcept {
  if (t >= k_hi) return;
  const std::int64_t n = std::min<std::int64_t>(blocking<Acc>::tile_keys, k_hi - t);
  const std::size_t bytes = static_cast<std::size_t>(cx.head_dim) * sizeof(KV);
  for (std::int64_t i = t; i < t + n; ++i) {
    simd::prefetch(kh + static_cast<std::size_t>(i) * cx.pos_stride, bytes);
    simd::prefetch(vh + static_cast<std::size_t>(i) * cx.pos_stride, bytes);
  }
}

/// Runs one work item: its rows against keys [k_lo, k_hi) of its chunk,
/// tile by tile, then finish_item.
template <class Acc, class KV>
void run_item(const context<Acc, KV>& cx, const plan& pl, const scratch_layout& ly,
              std::int64_t index, const buffers<Acc>& b, Acc* partial) noexcept {
  using B = blocking<Acc>;
  std::int64_t base = 0;
  int chunk = 0, kv_head = 0;
  item_rows<Acc> ir = locate(cx, pl, index, base, chunk, kv_head);
  const std::int64_t t_end = ir.t_begin + ir.rows / ir.n_h;
  const std::int64_t k_lo = chunk * pl.chunk_keys;
  const std::int64_t k_hi = std::min(k_lo + pl.chunk_keys, cx.start_pos + t_end);
  const Acc neg_inf = -std::numeric_limits<Acc>::infinity();
  Acc* part = partial ? partial + static_cast<std::size_t>(index) * ly.partial_stride : nullptr;
  const std::size_t rp = static_cast<std::size_t>(pl.rows_pad);
  const std::size_t dp = static_cast<std::size_t>(cx.dp);
  if (k_lo >= k_hi) {  // no key of this chunk is causal for these rows
    std::fill(part + rp * dp, part + rp * dp + rp, neg_inf);
    return;
  }
  setup_rows(cx, ir, b);
  std::fill(b.o, b.o + static_cast<std::size_t>(ir.rows_pad) * dp, Acc(0));
  std::fill(b.m, b.m + ir.rows_pad, neg_inf);
  std::fill(b.l, b.l + ir.rows_pad, Acc(0));
  if (ir.dot) std::fill(b.s, b.s + static_cast<std::size_t>(B::tile_keys) * B::width, Acc(0));
  const KV* kh = cx.k + static_cast<std::size_t>(kv_head) * cx.head_stride;
  const KV* vh = cx.v + static_cast<std::size_t>(kv_head) * cx.head_stride;
  const int nkb = ir.dot ? dot_keys_for(ir.rows) : B::qk_keys;  // keys per score call
  range_stats<Acc> st;
  // Keys before every row's window are never scored (the rows' own keys
  // keep t_first < k_hi when the item holds the chunk of its diagonal).
  const std::int64_t t_first = std::max(k_lo, ir.first_key);
  for (std::int64_t t0 = t_first; t0 < k_hi; t0 += B::tile_keys) {
    const int cnt = static_cast<int>(std::min<std::int64_t>(B::tile_keys, k_hi - t0));
    if (!part && t0 + B::tile_keys >= k_hi) prefetch_output(cx, ir);  // last tile
    if (ir.dot) prefetch_tile(cx, kh, vh, t0 + B::decode_prefetch_tiles * B::tile_keys, k_hi);
    const tile_source<Acc, KV> src = load_tile(cx, ir, b, kh, vh, t0, cnt, round_up(cnt, nkb));
    tile_ranges(ir, b, t0, cnt, st);
    attend_tile(cx, ir, b, st, src, cnt, nkb);
  }
  finish_item(cx, ir, b, part, rp);
}

/// Combines the key chunks of every item: with M = max_c m_c,
/// out = Σ_c e^(m_c - M) o_c / Σ_c e^(m_c - M) l_c.
template <class Acc, class KV>
void merge_chunks(const context<Acc, KV>& cx, const plan& pl, const scratch_layout& ly,
                  const Acc* partial) noexcept {
  const std::size_t rp = static_cast<std::size_t>(pl.rows_pad),
                    dp = static_cast<std::size_t>(cx.dp);
  for (std::int64_t base = 0; base < pl.n_base; ++base) {
    std::int64_t b2 = 0;
    int chunk = 0, kv_head = 0;
    const item_rows<Acc> ir = locate(cx, pl, base * pl.n_chunks, b2, chunk, kv_head);
    const Acc* first = partial + static_cast<std::size_t>(base * pl.n_chunks) * ly.partial_stride;
    for (int r = 0; r < ir.rows; ++r) {
      Acc mx = -std::numeric_limits<Acc>::infinity();
      for (int c = 0; c < pl.n_chunks; ++c)
        mx = std::max(mx, first[c * ly.partial_stride + rp * dp + r]);
      const std::int64_t t = ir.t_begin + r / ir.n_h, h = ir.h_begin + r % ir.n_h;
      Acc* dst = cx.out + (static_cast<std::size_t>(t) * cx.n_heads + h) * cx.head_dim;
      std::fill(dst, dst + cx.head_dim, Acc(0));
      Acc sum = 0;
      for (int c = 0; c < pl.n_chunks; ++c) {
        const Acc* pc = first + c * ly.partial_stride;
        const Acc mc = pc[rp * dp + r];
        if (mc == -std::numeric_limits<Acc>::infinity()) continue;  // saw no key
        const Acc wgt = std::exp(mc - mx);
        sum += wgt * pc[rp * dp + rp + r];
        const Acc* oc = pc + static_cast<std::size_t>(r) * dp;
        for (int d = 0; d < cx.head_dim; ++d) dst[d] += wgt * oc[d];
      }
      const Acc inv = Acc(1) / sum;
      for (int d = 0; d < cx.head_dim; ++d) dst[d] *= inv;
    }
  }
}

/// Runs every item of the plan on its threads (one parallel region; items
/// handed out longest first through an atomic counter, so a causal
/// prefill's uneven rows balance), then merges key chunks.
template <class Acc, class KV>
void run(const context<Acc, KV>& cx, const plan& pl, const scratch_layout& ly,
         std::byte* scratch) noexcept {
  if (pl.n_items() == 0) return;
  std::atomic<std::int64_t> next{0};
  Acc* partial = pl.n_chunks > 1 ? reinterpret_cast<Acc*>(scratch + ly.partial_offset) : nullptr;
  const std::int64_t n_items = pl.n_items();
  parallel_region(pl.n_threads, [&](int tid, int) {
    const buffers<Acc> b =
        carve<Acc>(scratch + static_cast<std::size_t>(tid) * ly.thread_bytes, ly);
    for (;;) {
      const std::int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_items) break;
      run_item(cx, pl, ly, i, b, partial);
    }
  });
  if (partial) merge_chunks(cx, pl, ly, partial);
}

}  // namespace shiftrope::detail::attn
