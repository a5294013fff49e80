// shiftrope/detail/attention/decode.hpp - the one-token (decoding) path:
// one query position m, every query head, the whole cache. Memory bound:
// each K/V row is read once for the query heads of its GQA group.
//
// Work items are (KV head, key chunk); both threads take items from an
// atomic counter and each item keeps its own (max, sum, unnormalised
// output) per query head, merged at the end as flash-decoding does:
//   out = Σ_c e^(m_c - M) o_c / Σ_c e^(m_c - M) l_c,   M = max_c m_c.
// The remap's segments (clipped to the sliding window) split the keys
// [first, m] into at most two runs, each scored by the query rotated at its
// own position; an item walks the parts of its chunk that each run holds,
// so no key needs a per-lane choice of query copy.
//
// Inside a run, blocks of up to 256 keys in three phases. Scores: 16 keys
// at a time, one dot-product register per query head (the key's registers
// loaded and converted once — f16 and q8_0 in registers, q8_0 scaled once
// per register — and used by every head of the pass), folded pairwise as
// they are produced (simd::tree_fold*) into one register holding 16 scores,
// stored to the thread's scratch. Softmax: one online step per block and
// head (max, rescale of O, exponentials, sum) on whole registers. P·V: 32
// keys at a time, each broadcast probability against value registers held
// for up to 4 heads. Keeping the per-block work (horizontal max and sum,
// rescale) to one step per 256 keys leaves the loads, conversions and FMAs.
// The rows are asked for prefetch_bytes ahead in the order they are read
// (a block's keys, its values, the next block's keys), so the switch
// between keys and values does not stall on memory.
//
// When it applies (decode_supported): one query token, float compute with
// AVX-512 (the fold tree), head_dim a multiple of 16, and no key scored in
// two segments (string_remap::duplicate_boundary_key off). Every other call
// takes the general tiled path of driver.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/detail/attention/driver.hpp>
#include <shiftrope/detail/attention/plan.hpp>
#include <shiftrope/detail/dispatch.hpp>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/position_map.hpp>

namespace shiftrope::detail::attn {

/// Sizes of the decoding path.
struct decode_blocking {
  static constexpr int block_keys = 256;  ///< keys per softmax step (their scores kept in scratch)
  static constexpr int step_keys = 32;    ///< keys per prefetch request and per P·V group
  static constexpr int pass_heads = 4;    ///< query heads that share one pass over a block
  static constexpr std::int64_t prefetch_bytes = 8192;  ///< how far ahead rows are asked for
  static constexpr std::int64_t min_chunk_keys = 512;   ///< smaller chunks cost more than they gain
  static constexpr int items_per_thread = 8;  ///< enough items that dynamic hand-out balances
};

/// The cut of one decoding call.
struct decode_plan {
  int n_threads = 1;
  int group = 1;           // query heads per KV head
  std::int64_t first = 0;  // keys [first, end) are scored
  std::int64_t end = 0;
  std::int64_t chunk_keys = 0;  // keys per item (a multiple of block_keys)
  std::int64_t n_chunks = 1;
  std::int64_t n_items = 0;            // n_kv_heads × n_chunks
  int n_runs = 0;                      // key runs of the query row (<= 2)
  key_segment runs[max_key_segments];  // [begin, end) and the query position of each run
};

/// Chunks for `n_keys` keys (monotone in n_keys, so a bound on the keys
/// bounds the scratch).
inline std::int64_t decode_chunks(std::int64_t n_keys, int n_kv_heads, int n_threads) noexcept {
  using D = decode_blocking;
  if (n_threads <= 1) return 1;
  const std::int64_t want =
      (static_cast<std::int64_t>(D::items_per_thread) * n_threads + n_kv_heads - 1) / n_kv_heads;
  return std::max<std::int64_t>(1, std::min(want, n_keys / D::min_chunk_keys));
}

/// Floats of one item's partial result: o [group × head_dim], m [group], l [group].
inline std::size_t decode_partial_floats(int group, int head_dim) noexcept {
  return static_cast<std::size_t>(group) * (static_cast<std::size_t>(head_dim) + 2);
}

/// Floats of one thread's buffers: query copies [2 × group × head_dim],
/// probabilities [pass_heads × block_keys].
inline std::size_t decode_thread_floats(int group, int head_dim) noexcept {
  return 2 * static_cast<std::size_t>(group) * static_cast<std::size_t>(head_dim) +
         static_cast<std::size_t>(decode_blocking::pass_heads) * decode_blocking::block_keys;
}

/// Scratch bytes for a decoding call with up to n_keys keys (from an
/// aligned base).
inline std::size_t decode_scratch_bytes(int n_heads, int n_kv_heads, int head_dim,
                                        std::int64_t n_keys, int n_threads) noexcept {
  const int t = resolve_threads(n_threads);
  const int group = n_heads / n_kv_heads;
  const std::int64_t items = n_kv_heads * decode_chunks(n_keys, n_kv_heads, t);
  const std::size_t th =
      round_up(decode_thread_floats(group, head_dim) * sizeof(float), simd::max_align);
  return th * static_cast<std::size_t>(t) +
         static_cast<std::size_t>(items) * decode_partial_floats(group, head_dim) * sizeof(float);
}

/// Whether the decoding path takes this call (see the top of this file).
template <class Acc, class KV>
bool decode_supported(const context<Acc, KV>& cx) noexcept {
  return simd::has_lane_tree<Acc> && cx.n_tokens == 1 && cx.head_dim % 16 == 0 && !cx.overlapping;
}

/// The key runs of the query row and the chunks.
template <class Acc, class KV>
decode_plan make_decode_plan(const context<Acc, KV>& cx, int n_threads) noexcept {
  using D = decode_blocking;
  decode_plan pl;
  pl.group = cx.heads_per_kv;
  const std::int64_t m = cx.start_pos;
  key_segment segs[max_key_segments];
  const int n = key_segments(*cx.positions, m, segs);
  const std::int64_t lo = cx.window > 0 ? std::max<std::int64_t>(0, m - cx.window + 1) : 0;
  pl.first = m + 1;
  pl.end = m + 1;
  for (int i = 0; i < n; ++i) {  // clipped to the sliding window: keys n > m - window
    key_segment s = segs[i];
    s.begin = std::max(s.begin, lo);
    if (s.end <= s.begin) continue;
    pl.runs[pl.n_runs++] = s;
    pl.first = std::min(pl.first, s.begin);
  }
  const int t = resolve_threads(n_threads);
  const std::int64_t keys = pl.end - pl.first;
  pl.n_chunks = decode_chunks(keys, cx.n_kv_heads, t);
  pl.chunk_keys = round_up<std::int64_t>((keys + pl.n_chunks - 1) / pl.n_chunks, D::block_keys);
  pl.n_chunks = (keys + pl.chunk_keys - 1) / pl.chunk_keys;
  pl.n_items = cx.n_kv_heads * pl.n_chunks;
  pl.n_threads = static_cast<int>(std::min<std::int64_t>(t, pl.n_items));
  return pl;
}

#if defined(__AVX512F__)

using fvec = simd::vec<float>;

/// a[g], b[g] = the unreduced dot products of query copy q[g] with key rows
/// k0 and k1 (dp values): one register per head and key. Two keys at once:
/// each query register loaded serves both, each key register every head.
template <int G, class KP>
SHIFTROPE_FORCE_INLINE void key_dots2(const float* const* q, KP k0, KP k1, bool two, int dp,
                                      fvec* a, fvec* b) noexcept {
  for (int g = 0; g < G; ++g) a[g] = b[g] = fvec(0.0f);
  if (two) {
    for (int c = 0; c < dp; c += 16) {
      fvec x0 = simd::load_as<float>(k0 + static_cast<std::size_t>(c));
      fvec x1 = simd::load_as<float>(k1 + static_cast<std::size_t>(c));
      simd::pin(x0);
      simd::pin(x1);
      for (int g = 0; g < G; ++g) {
        fvec qv = simd::load(q[g] + c);
        simd::pin(qv);
        a[g] = simd::fma(qv, x0, a[g]);
        b[g] = simd::fma(qv, x1, b[g]);
      }
    }
  } else {  // the last key of a ragged block
    for (int c = 0; c < dp; c += 16) {
      fvec x0 = simd::load_as<float>(k0 + static_cast<std::size_t>(c));
      simd::pin(x0);
      for (int g = 0; g < G; ++g) a[g] = simd::fma(simd::load(q[g] + c), x0, a[g]);
    }
  }
}

/// Keys i and i + 1 of a block (rows k + i·ld, only those < cnt read),
/// folded into y[g] (tree level 1).
template <int G, class KP>
SHIFTROPE_FORCE_INLINE void key_pair(const float* const* q, KP k, std::size_t ld, int i, int cnt,
                                     int dp, fvec* y) noexcept {
  fvec a[G], b[G];
  if (i < cnt)
    key_dots2<G>(q, k + static_cast<std::size_t>(i) * ld, k + static_cast<std::size_t>(i + 1) * ld,
                 i + 1 < cnt, dp, a, b);
  else
    for (int g = 0; g < G; ++g) a[g] = b[g] = fvec(0.0f);
  for (int g = 0; g < G; ++g) y[g] = simd::tree_fold1(a[g], b[g]);
}

template <int G, class KP>
SHIFTROPE_FORCE_INLINE void key_quad(const float* const* q, KP k, std::size_t ld, int i, int cnt,
                                     int dp, fvec* z) noexcept {
  fvec a[G], b[G];
  key_pair<G>(q, k, ld, i, cnt, dp, a);
  key_pair<G>(q, k, ld, i + 2, cnt, dp, b);
  for (int g = 0; g < G; ++g) z[g] = simd::tree_fold2(a[g], b[g]);
}

template <int G, class KP>
SHIFTROPE_FORCE_INLINE void key_oct(const float* const* q, KP k, std::size_t ld, int i, int cnt,
                                    int dp, fvec* w) noexcept {
  fvec a[G], b[G];
  key_quad<G>(q, k, ld, i, cnt, dp, a);
  key_quad<G>(q, k, ld, i + 4, cnt, dp, b);
  for (int g = 0; g < G; ++g) w[g] = simd::tree_fold3(a[g], b[g]);
}

/// s[g] lane i = <q[g], k_i> for keys i < 16 of the block (-inf for i >= cnt).
template <int G, class KP>
SHIFTROPE_FORCE_INLINE void key_scores16(const float* const* q, KP k, std::size_t ld, int cnt,
                                         int dp, fvec* s) noexcept {
  fvec a[G], b[G];
  key_oct<G>(q, k, ld, 0, cnt, dp, a);
  if (cnt > 8)
    key_oct<G>(q, k, ld, 8, cnt, dp, b);
  else
    for (int g = 0; g < G; ++g) b[g] = fvec(0.0f);
  for (int g = 0; g < G; ++g) s[g] = simd::tree_fold4(a[g], b[g]);
  if (cnt < 16)
    for (int g = 0; g < G; ++g)
      s[g] = simd::keep_first_lanes(s[g], cnt, -std::numeric_limits<float>::infinity());
}

/// o[g][c] += Σ_{kk < cnt} p[g·block_keys + kk] · v_kk[c] for G heads (o
/// rows ldo apart) and CV registers of columns from c0.
template <int G, int CV, class VP>
SHIFTROPE_FORCE_INLINE void pv_heads(const float* p, VP v, std::size_t ld, int cnt, float* o,
                                     std::size_t ldo) noexcept {
  constexpr int bk = decode_blocking::block_keys;
  fvec acc[G][CV];
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < CV; ++c) acc[g][c] = simd::load(o + g * ldo + c * 16);
  for (int kk = 0; kk < cnt; ++kk) {
    const VP vr = v + static_cast<std::size_t>(kk) * ld;
    for (int c = 0; c < CV; ++c) {
      fvec vv = simd::load_as<float>(vr + static_cast<std::size_t>(c) * 16);
      simd::pin(vv);
      for (int g = 0; g < G; ++g) acc[g][c] = simd::fma(fvec(p[g * bk + kk]), vv, acc[g][c]);
    }
  }
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < CV; ++c) simd::store(o + g * ldo + c * 16, acc[g][c]);
}

/// The rows of one item in the order they are read: a block's keys, then
/// its values, then the next block's keys, and so on. prefetch(u, n) asks
/// for the n rows that come u rows after the start of the current phase
/// (keys or values of the block at t0), so the stream is requested a fixed
/// distance ahead across the switches between keys and values.
template <class KV>
struct decode_stream {
  const KV* kh;        // key row 0 of the KV head
  const KV* vh;        // value row 0
  const f16* k_scale;  // q8_0: scales of key row 0 (one per 32 elements)
  const f16* v_scale;
  std::size_t ld;         // elements between rows
  std::size_t row_bytes;  // bytes of one row's elements
  std::int64_t stop;      // rows at or beyond stop are not asked for
  int head_dim;

  void rows(const KV* base, const f16* scales, std::int64_t i, std::int64_t n) const noexcept {
    n = std::min(n, stop - i);
    if (n <= 0) return;
    const std::size_t at = static_cast<std::size_t>(i) * ld;
    const std::size_t elems_per_row = static_cast<std::size_t>(head_dim);
    if (ld == elems_per_row) {  // contiguous rows: one range
      simd::prefetch(base + at, static_cast<std::size_t>(n) * row_bytes);
      if constexpr (is_q8<KV>)
        simd::prefetch(scales + at / kv_q8_block,
                       static_cast<std::size_t>(n) * (elems_per_row / kv_q8_block) * sizeof(f16));
    } else {
      for (std::int64_t r = 0; r < n; ++r) {
        simd::prefetch(base + at + static_cast<std::size_t>(r) * ld, row_bytes);
        if constexpr (is_q8<KV>)
          simd::prefetch(scales + (at + static_cast<std::size_t>(r) * ld) / kv_q8_block,
                         (elems_per_row / kv_q8_block) * sizeof(f16));
      }
    }
  }
  /// n rows from u rows after the start of the keys (values: value_phase)
  /// of the block [t0, t0 + cnt).
  void ahead(bool value_phase, std::int64_t t0, int cnt, std::int64_t u,
             std::int64_t n) const noexcept {
    if (!value_phase && u < cnt) {  // this block's keys
      const std::int64_t m = std::min<std::int64_t>(n, cnt - u);
      rows(kh, k_scale, t0 + u, m);
      u += m;
      n -= m;
    }
    if (!value_phase) u -= cnt;  // now counted from the start of the values
    if (n > 0 && u < cnt) {      // this block's values
      const std::int64_t m = std::min<std::int64_t>(n, cnt - u);
      rows(vh, v_scale, t0 + std::max<std::int64_t>(u, 0), m);
      u += m;
      n -= m;
    }
    if (n > 0) rows(kh, k_scale, t0 + cnt + (u - cnt), n);  // the next block's keys
  }
};

/// One block of cnt <= block_keys keys for G heads: the scores of every key
/// (into p, 16 at a time), one online-softmax step per head (m, l), then
/// O = diag(alpha)·O + P·V. o holds G rows of dp values.
template <int G, class KV, class KP>
SHIFTROPE_FORCE_INLINE void decode_block(const float* const* q, KP k, KP v, std::size_t ld, int cnt,
                                         int dp, float* o, float* m, float* l, float* p,
                                         const decode_stream<KV>& st, std::int64_t t0) noexcept {
  constexpr int bk = decode_blocking::block_keys;
  constexpr int step = decode_blocking::step_keys;
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  const std::int64_t pf = decode_blocking::prefetch_bytes / static_cast<std::int64_t>(st.row_bytes);
  for (int t = 0; t < cnt; t += 16) {
    if (t % step == 0) st.ahead(false, t0, cnt, pf + t, step);
    fvec s[G];
    key_scores16<G>(q, k + static_cast<std::size_t>(t) * ld, ld, std::min(cnt - t, 16), dp, s);
    for (int g = 0; g < G; ++g) simd::store(p + g * bk + t, s[g]);
  }
  const int n_regs = (cnt + 15) / 16;
  for (int g = 0; g < G; ++g) {
    float* pg = p + g * bk;
    fvec mx = simd::load(pg);
    for (int r = 1; r < n_regs; ++r) mx = simd::max(mx, simd::load(pg + 16 * r));
    const float m_new = std::max(m[g], simd::hmax_reg(mx));
    const float m_safe = m_new == neg_inf ? 0.0f : m_new;  // nothing seen yet: every e^(.) is 0
    const float alpha = std::exp(m[g] - m_safe);
    fvec sum(0.0f);
    for (int r = 0; r < n_regs; ++r) {
      const fvec e = simd::exp(simd::load(pg + 16 * r) - fvec(m_safe));
      simd::store(pg + 16 * r, e);
      sum = sum + e;
    }
    l[g] = alpha * l[g] + simd::hsum_reg(sum);
    m[g] = m_new;
    if (alpha != 1.0f) {
      float* og = o + static_cast<std::size_t>(g) * dp;
      for (int c = 0; c < dp; c += 16) simd::store(og + c, simd::load(og + c) * fvec(alpha));
    }
  }
  // P·V a group of keys at a time (its value rows stay in L1 across the
  // column blocks), each in column blocks of up to 16 accumulators (G × CV
  // registers): each broadcast probability serves CV value registers.
  constexpr int cv_max = G <= 2 ? 8 : 4;
  const std::size_t ldo = static_cast<std::size_t>(dp);
  for (int t = 0; t < cnt; t += step) {
    st.ahead(true, t0, cnt, pf + t, step);
    const int n_keys = std::min(step, cnt - t);
    for (int c0 = 0; c0 < dp;) {
      const int n = std::min(cv_max, (dp - c0) / 16);
      dispatch<cv_max>(n, [&](auto cv) {
        pv_heads<G, decltype(cv)::value>(
            p + t, v + (static_cast<std::size_t>(t) * ld + static_cast<std::size_t>(c0)), ld,
            n_keys, o + c0, ldo);
      });
      c0 += n * 16;
    }
  }
}

/// Keys [a, b) of one run for the G heads whose query copies are q[g],
/// block by block; rows are asked for prefetch_bytes ahead (up to `stop`).
template <int G, class KV>
void decode_run(const context<float, KV>& cx, const float* const* q, const KV* kh, const KV* vh,
                std::int64_t a, std::int64_t b, std::int64_t stop, float* o, float* m, float* l,
                float* p) noexcept {
  using D = decode_blocking;
  const std::size_t ld = cx.pos_stride;
  decode_stream<KV> st{kh,      vh,         nullptr,
                       nullptr, ld,         static_cast<std::size_t>(cx.head_dim) * sizeof(KV),
                       stop,    cx.head_dim};
  if constexpr (is_q8<KV>) {
    st.k_scale = cx.k_scale + static_cast<std::size_t>(kh - cx.k) / kv_q8_block;
    st.v_scale = cx.v_scale + static_cast<std::size_t>(vh - cx.v) / kv_q8_block;
  }
  {  // the first rows, before the stream runs ahead of them
    const std::int64_t pf =
        decode_blocking::prefetch_bytes / static_cast<std::int64_t>(st.row_bytes);
    const int cnt = static_cast<int>(std::min<std::int64_t>(D::block_keys, b - a));
    st.ahead(false, a, cnt, 0, pf);
  }
  for (std::int64_t t0 = a; t0 < b; t0 += D::block_keys) {
    const int cnt = static_cast<int>(std::min<std::int64_t>(D::block_keys, b - t0));
    const KV* k_at = kh + static_cast<std::size_t>(t0) * ld;
    const KV* v_at = vh + static_cast<std::size_t>(t0) * ld;
    decode_block<G>(q, raw_at(cx.k, cx.k_scale, k_at), raw_at(cx.v, cx.v_scale, v_at), ld, cnt,
                    cx.head_dim, o, m, l, p, st, t0);
  }
}

/// One item: KV head kv, keys [lo, hi) of its chunk, every query head of
/// the group; writes (o, m, l) per head into its partial slot.
template <class KV>
void decode_item(const context<float, KV>& cx, const decode_plan& pl, int kv, std::int64_t lo,
                 std::int64_t hi, float* qbuf, float* p, float* part) noexcept {
  using D = decode_blocking;
  const int G = pl.group, dp = cx.head_dim;
  const std::size_t gd = static_cast<std::size_t>(G) * dp;
  float* o = part;
  float* m = part + gd;
  float* l = m + G;
  std::fill(o, o + gd, 0.0f);
  std::fill(m, m + G, -std::numeric_limits<float>::infinity());
  std::fill(l, l + G, 0.0f);
  const KV* kh = cx.k + static_cast<std::size_t>(kv) * cx.head_stride;
  const KV* vh = cx.v + static_cast<std::size_t>(kv) * cx.head_stride;
  for (int j = 0; j < pl.n_runs; ++j) {
    const std::int64_t a = std::max(lo, pl.runs[j].begin), b = std::min(hi, pl.runs[j].end);
    if (a >= b) continue;
    float* qj = qbuf + static_cast<std::size_t>(j) * gd;  // scaled, rotated at the run's position
    for (int g = 0; g < G; ++g) {
      const float* qr = cx.q + (static_cast<std::size_t>(kv) * G + g) * dp;
      float* x = qj + static_cast<std::size_t>(g) * dp;
      for (int d = 0; d < dp; ++d) x[d] = qr[d] * cx.scale;
      cx.table->rotate(x, pl.runs[j].query_pos);
    }
    for (int g0 = 0; g0 < G; g0 += D::pass_heads) {
      const int gp = std::min(D::pass_heads, G - g0);
      const float* q[D::pass_heads];
      for (int g = 0; g < gp; ++g) q[g] = qj + static_cast<std::size_t>(g0 + g) * dp;
      float* og = o + static_cast<std::size_t>(g0) * dp;
      dispatch<D::pass_heads>(gp, [&](auto gc) {
        decode_run<decltype(gc)::value>(cx, q, kh, vh, a, b, hi, og, m + g0, l + g0, p);
      });
    }
  }
}

/// out[h] for every query head from the items' partial results.
template <class KV>
void decode_merge(const context<float, KV>& cx, const decode_plan& pl,
                  const float* partial) noexcept {
  const int G = pl.group, dp = cx.head_dim;
  const std::size_t gd = static_cast<std::size_t>(G) * dp;
  const std::size_t stride = decode_partial_floats(G, dp);
  for (int kv = 0; kv < cx.n_kv_heads; ++kv) {
    const float* first = partial + static_cast<std::size_t>(kv * pl.n_chunks) * stride;
    for (int g = 0; g < G; ++g) {
      float mx = -std::numeric_limits<float>::infinity();
      for (std::int64_t c = 0; c < pl.n_chunks; ++c) mx = std::max(mx, first[c * stride + gd + g]);
      float* dst = cx.out + (static_cast<std::size_t>(kv) * G + g) * dp;
      std::fill(dst, dst + dp, 0.0f);
      float sum = 0.0f;
      for (std::int64_t c = 0; c < pl.n_chunks; ++c) {
        const float* pc = first + c * stride;
        const float mc = pc[gd + g];
        if (mc == -std::numeric_limits<float>::infinity()) continue;  // saw no key
        const float wgt = std::exp(mc - mx);
        sum += wgt * pc[gd + G + g];
        const float* oc = pc + static_cast<std::size_t>(g) * dp;
        for (int d = 0; d < dp; ++d) dst[d] += wgt * oc[d];
      }
      const float inv = 1.0f / sum;
      for (int d = 0; d < dp; ++d) dst[d] *= inv;
    }
  }
}

/// Runs a decoding call (decode_supported(cx)) with scratch of at least
/// decode_scratch_bytes, aligned to simd::max_align.
template <class KV>
void run_decode(const context<float, KV>& cx, int n_threads, std::byte* scratch) noexcept {
  const decode_plan pl = make_decode_plan(cx, n_threads);
  if (pl.n_items == 0) return;
  const int G = pl.group, dp = cx.head_dim;
  const std::size_t th = round_up(decode_thread_floats(G, dp) * sizeof(float), simd::max_align);
  float* partial =
      reinterpret_cast<float*>(scratch + th * static_cast<std::size_t>(resolve_threads(n_threads)));
  const std::size_t stride = decode_partial_floats(G, dp);
  std::atomic<std::int64_t> next{0};
  parallel_region(pl.n_threads, [&](int tid, int) {
    float* qbuf = reinterpret_cast<float*>(scratch + static_cast<std::size_t>(tid) * th);
    float* p = qbuf + 2 * static_cast<std::size_t>(G) * dp;
    for (;;) {
      const std::int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= pl.n_items) break;
      const int kv = static_cast<int>(i / pl.n_chunks);
      const std::int64_t c = i % pl.n_chunks;
      const std::int64_t lo = pl.first + c * pl.chunk_keys;
      const std::int64_t hi = std::min(pl.end, lo + pl.chunk_keys);
      decode_item(cx, pl, kv, lo, hi, qbuf, p, partial + static_cast<std::size_t>(i) * stride);
    }
  });
  decode_merge(cx, pl, partial);
}

#endif  // __AVX512F__

/// Runs the decoding path when it applies; false leaves the call to the
/// general path.
template <class Acc, class KV>
bool try_decode([[maybe_unused]] const context<Acc, KV>& cx, [[maybe_unused]] int n_threads,
                [[maybe_unused]] std::byte* scratch) noexcept {
#if defined(__AVX512F__)
  if constexpr (simd::has_lane_tree<Acc>) {
    if (!decode_supported(cx)) return false;
    run_decode(cx, n_threads, scratch);
    return true;
  }
#endif
  return false;
}

}  // namespace shiftrope::detail::attn
