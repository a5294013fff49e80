// shiftrope/detail/attention_run.hpp - the attention kernel's work items
// and driver: tile loop, the two score paths, partial-result merge, plan and
// scratch layout, and the one parallel region.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "attention_item.hpp"
#include "parallel.hpp"

namespace shiftrope::detail::attn {

template <class T>
constexpr T round_up(T x, T m) noexcept {
  return (x + m - 1) / m * m;
}

/// Byte offsets of one thread's buffers, the partial results and the total.
struct scratch_layout {
  std::size_t q = 0, o = 0, m = 0, l = 0, alpha = 0, lo = 0, hi = 0, s = 0, kt = 0, vt = 0, rot = 0,
              seg = 0;
  std::size_t thread_bytes = 0;    // one thread's share
  std::size_t partial_stride = 0;  // Acc values per (item, chunk): o [rows_pad × dp], m, l
  std::size_t partial_offset = 0;  // after every thread's share
  std::size_t total = 0;           // bytes from an aligned base
};

template <class Acc>
scratch_layout make_layout(const plan& pl, int dp) noexcept {
  using B = blocking<Acc>;
  scratch_layout ly;
  std::size_t at = 0;
  const auto take = [&at](std::size_t bytes) {
    const std::size_t here = at;
    at += round_up<std::size_t>(bytes, simd::max_align);
    return here;
  };
  const std::size_t rp = static_cast<std::size_t>(pl.rows_pad), d = static_cast<std::size_t>(dp);
  const std::size_t a = sizeof(Acc), tk = B::tile_keys;
  ly.q = take(2 * rp * d * a);
  ly.o = take(rp * d * a);
  ly.m = take(rp * a);
  ly.l = take(rp * a);
  ly.alpha = take(rp * a);
  ly.lo = take(2 * rp * a);
  ly.hi = take(2 * rp * a);
  ly.s = take(tk * B::block_rows * a);
  ly.kt = take(tk * d * a);
  ly.vt = take(tk * d * a);
  ly.rot = take(static_cast<std::size_t>(B::width) * d * a);
  ly.seg = take(rp * 6 * sizeof(std::int64_t));
  ly.thread_bytes = at;
  ly.partial_stride = rp * d + 2 * rp;
  ly.partial_offset = at * static_cast<std::size_t>(pl.n_threads);
  const std::size_t partial_bytes =
      pl.n_chunks > 1 ? static_cast<std::size_t>(pl.n_items()) * ly.partial_stride * a : 0;
  ly.total = ly.partial_offset + partial_bytes;
  return ly;
}

template <class Acc>
buffers<Acc> carve(std::byte* base, const scratch_layout& ly) noexcept {
  const auto at = [base](std::size_t off) { return reinterpret_cast<Acc*>(base + off); };
  buffers<Acc> b;
  b.q = at(ly.q);
  b.o = at(ly.o);
  b.m = at(ly.m);
  b.l = at(ly.l);
  b.alpha = at(ly.alpha);
  b.lo = at(ly.lo);
  b.hi = at(ly.hi);
  b.s = at(ly.s);
  b.kt = at(ly.kt);
  b.vt = at(ly.vt);
  b.rot = at(ly.rot);
  b.seg = reinterpret_cast<std::int64_t*>(base + ly.seg);
  return b;
}

/// Keys per dot-product call for r rows (dot_keys<R> at run time).
inline int dot_keys_for(int r) noexcept {
  return r == 1 ? 16 : r == 2 ? 8 : r <= 4 ? 4 : 2;
}

/// The slots a mixed micro-tile needs, in order; returns how many (1 or 2).
inline int used_slots(const tile_class& c, int* slots) noexcept {
  int n = 0;
  for (int j = 0; j < 2; ++j)
    if (!c.none[j]) slots[n++] = j;
  return n;
}

/// qk_rows_in_lanes for a run-time register count 1 <= ni <= qk_vectors.
template <class Acc>
void qk_in_lanes_n(int ni, const Acc* const* qt, std::size_t ldq, const Acc* k, std::size_t ldk,
                   int head_dim, Acc* s, std::size_t lds) noexcept {
  using B = blocking<Acc>;
  static_assert(B::qk_vectors <= 4, "the dispatch below covers 1..4");
  constexpr int nk = B::qk_keys;
  switch (ni) {
    case 4:
      qk_rows_in_lanes<Acc, B::qk_vectors >= 4 ? 4 : 1, nk>(qt, ldq, k, ldk, head_dim, s, lds);
      break;
    case 3:
      qk_rows_in_lanes<Acc, B::qk_vectors >= 3 ? 3 : 1, nk>(qt, ldq, k, ldk, head_dim, s, lds);
      break;
    case 2:
      qk_rows_in_lanes<Acc, 2, nk>(qt, ldq, k, ldk, head_dim, s, lds);
      break;
    default:
      qk_rows_in_lanes<Acc, 1, nk>(qt, ldq, k, ldk, head_dim, s, lds);
      break;
  }
}

/// Scores S^T of keys [0, kn_r) of the tile for the registers [v0, v0 + nv)
/// of a micro-block, rows in lanes (s: key kk at s + kk·lds, register i at
/// + i·width). Per key block, one call scores every register with its
/// primary copy (the slot its rows use; slot 1 where they use both); only
/// registers cut by a segment boundary need a second call for slot 0, and
/// only registers cut by a boundary or the diagonal are masked.
template <class Acc>
void scores_in_lanes(const item_rows<Acc>& ir, const buffers<Acc>& b, const range_stats<Acc>& st,
                     int head_dim, int dp, bool overlapping, int v0, int nv, int kn_r, const Acc* k,
                     std::size_t ldk, Acc* s, std::size_t lds) noexcept {
  using B = blocking<Acc>;
  constexpr int nk = B::qk_keys, w = B::width;
  const std::size_t slot_size = static_cast<std::size_t>(ir.rows_pad) * dp;
  const std::size_t ldq = static_cast<std::size_t>(ir.rows_pad);
  const auto qptr = [&](int slot, int v) { return b.q + slot * slot_size + v * w; };
  const Acc neg_inf = -std::numeric_limits<Acc>::infinity();
  nv = std::min(nv, B::qk_vectors);
  for (int kb = 0; kb < kn_r; kb += nk) {
    const Acc* kp = k + static_cast<std::size_t>(kb) * ldk;
    Acc* sp = s + static_cast<std::size_t>(kb) * lds;
    tile_class cls[B::qk_vectors];
    const Acc* primary[B::qk_vectors];
    bool all_whole = true;
    for (int i = 0; i < nv; ++i) {
      cls[i] = classify(st, v0 + i, kb, nk);
      primary[i] = qptr(cls[i].none[1] && !cls[i].none[0] ? 0 : 1, v0 + i);
      all_whole = all_whole && (cls[i].kind == tile_kind::slot0 || cls[i].kind == tile_kind::slot1);
    }
    qk_in_lanes_n(nv, primary, ldq, kp, ldk, head_dim, sp, lds);
    if (all_whole) continue;  // the common case: every register wholly inside one segment
    for (int i = 0; i < nv; ++i) {
      Acc* si = sp + i * w;
      if (cls[i].kind == tile_kind::empty) {
        for (int kk = 0; kk < nk; ++kk)
          simd::store(si + static_cast<std::size_t>(kk) * lds, simd::splat(neg_inf));
        continue;
      }
      if (cls[i].kind != tile_kind::mixed) continue;
      // Cut by the diagonal or a segment boundary: mask the primary scores
      // in place, or combine them with slot 0's scored into tmp.
      int slots[2] = {0, 1};
      const int n_slots = used_slots(cls[i], slots);
      alignas(simd::max_align) Acc tmp[nk * w];
      const Acc* src[2] = {si, si};
      std::size_t ld_src[2] = {lds, lds};
      if (n_slots == 2) {  // slot 0 ends inside the block: score only the keys before its end
        const Acc* ptr[1] = {qptr(0, v0 + i)};
        if (st.hi_max[0][v0 + i] <= Acc(kb + nk / 2)) {
          qk_rows_in_lanes<Acc, 1, nk / 2>(ptr, ldq, kp, ldk, head_dim, tmp, w);
          std::fill(tmp + nk / 2 * w, tmp + nk * w, neg_inf);  // masked anyway; keep it defined
        } else {
          qk_rows_in_lanes<Acc, 1, nk>(ptr, ldq, kp, ldk, head_dim, tmp, w);
        }
        src[0] = tmp;
        ld_src[0] = w;
      }
      merge_slots(src, ld_src, slots, n_slots, kb, nk, b, st, v0 + i, ir.rows_pad, overlapping, si,
                  lds);
    }
  }
}

/// Scores S^T of keys [0, kn_r) of the tile for the few rows of a decoding
/// item (dot products along head_dim; s: key kk at s + kk·lds, row r at + r).
template <class Acc, class KT>
void scores_dot(const item_rows<Acc>& ir, const buffers<Acc>& b, const range_stats<Acc>& st, int dp,
                bool overlapping, int kn_r, const KT* k, std::size_t ldk, Acc* s,
                std::size_t lds) noexcept {
  constexpr int w = blocking<Acc>::width;
  const std::size_t slot_size = static_cast<std::size_t>(ir.rows_pad) * dp;
  const Acc neg_inf = -std::numeric_limits<Acc>::infinity();
  dispatch_rows(ir.rows, [&](auto rows_c) {
    constexpr int R = decltype(rows_c)::value;
    constexpr int nk = dot_keys<R>;
    const auto rows_of = [&](int slot, const Acc** p) {
      for (int r = 0; r < R; ++r) p[r] = b.q + slot * slot_size + static_cast<std::size_t>(r) * dp;
    };
    for (int kb = 0; kb < kn_r; kb += nk) {
      const KT* kp = k + static_cast<std::size_t>(kb) * ldk;
      Acc* sp = s + static_cast<std::size_t>(kb) * lds;
      const tile_class cls = classify(st, 0, kb, nk);
      const tile_kind kind = cls.kind;
      const Acc* q[R];
      if (kind == tile_kind::empty) {
        for (int kk = 0; kk < nk; ++kk)
          simd::store(sp + static_cast<std::size_t>(kk) * lds, simd::splat(neg_inf));
      } else if (kind != tile_kind::mixed) {
        rows_of(kind == tile_kind::slot0 ? 0 : 1, q);
        qk_rows_dot<Acc, R, nk>(q, kp, ldk, dp, sp, lds);
      } else {
        int slots[2] = {0, 1};
        const int n_slots = used_slots(cls, slots);
        alignas(simd::max_align) Acc tmp[nk * 2 * w] = {};
        for (int i = 0; i < n_slots; ++i) {
          rows_of(slots[i], q);
          qk_rows_dot<Acc, R, nk>(q, kp, ldk, dp, tmp + i * w, 2 * w);
        }
        const Acc* src[2] = {tmp, tmp + w};
        const std::size_t ld_src[2] = {2 * w, 2 * w};
        merge_slots(src, ld_src, slots, n_slots, kb, nk, b, st, 0, ir.rows_pad, overlapping, sp,
                    lds);
      }
    }
  });
}

/// Converts rows [t0, t0 + cnt) of one KV head into dst [cnt_r × dp]
/// (zero-padded columns and rows).
template <class Acc, class KV>
void pack_rows(const KV* src, std::size_t pos_stride, std::int64_t t0, int cnt, int cnt_r,
               int head_dim, int dp, Acc* dst) noexcept {
  for (int i = 0; i < cnt; ++i) {
    Acc* row = dst + static_cast<std::size_t>(i) * dp;
    simd::convert_row<Acc>(src + static_cast<std::size_t>(t0 + i) * pos_stride, row,
                           static_cast<std::size_t>(head_dim));
    std::fill(row + head_dim, row + dp, Acc(0));
  }
  std::fill(dst + static_cast<std::size_t>(cnt) * dp, dst + static_cast<std::size_t>(cnt_r) * dp,
            Acc(0));
}

/// The rows and keys of item `index`; returns the key range [k_lo, k_hi).
template <class Acc, class KV>
item_rows<Acc> locate(const context<Acc, KV>& cx, const plan& pl, std::int64_t index,
                      std::int64_t& base, int& chunk, int& kv_head) noexcept {
  constexpr int w = blocking<Acc>::width;
  chunk = static_cast<int>(index % pl.n_chunks);
  base = index / pl.n_chunks;
  std::int64_t i = base;
  const int hb = static_cast<int>(i % pl.n_head_blocks);
  i /= pl.n_head_blocks;
  kv_head = static_cast<int>(i % cx.n_kv_heads);
  const std::int64_t tb = pl.n_token_blocks - 1 - i / cx.n_kv_heads;  // longest rows first
  item_rows<Acc> ir;
  ir.t_begin = tb * pl.tokens_per_item;
  const std::int64_t t_end = std::min(cx.n_tokens, ir.t_begin + pl.tokens_per_item);
  ir.h_begin = static_cast<std::int64_t>(kv_head) * cx.group +
               static_cast<std::int64_t>(hb) * pl.heads_per_item;
  ir.n_h = std::min(pl.heads_per_item, cx.group - hb * pl.heads_per_item);
  ir.rows = static_cast<int>(t_end - ir.t_begin) * ir.n_h;
  ir.dot = ir.rows <= blocking<Acc>::dot_rows;
  ir.rows_pad = ir.dot ? w : round_up(ir.rows, w);
  return ir;
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

/// Where one tile's keys and values are read: the cache in place, or
/// converted (and zero-padded) copies in the thread's scratch. Decoding
/// reads half-precision caches in place too (k_raw, v_raw), converting in
/// registers: its few rows use each converted register at once, so a copy
/// through memory would only add traffic.
template <class Acc, class KV>
struct tile_source {
  const Acc* k = nullptr;     // key kk at k + kk·ldk
  const Acc* v = nullptr;     // value kk at v + kk·ldv (dp readable values)
  const KV* k_raw = nullptr;  // when set, keys are read here instead (same ldk)
  const KV* v_raw = nullptr;  // when set, values are read here instead (same ldv)
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
    if (k_direct) src.k_raw = k_at, src.ldk = cx.pos_stride;
    if (v_direct) src.v_raw = v_at, src.ldv = cx.pos_stride;
  }
  const bool k_packed = src.k == b.kt && !src.k_raw, v_packed = src.v == b.vt && !src.v_raw;
  if (k_packed) pack_rows(kh, cx.pos_stride, t0, cnt, cnt_r, cx.head_dim, cx.dp, b.kt);
  if (v_packed) pack_rows(vh, cx.pos_stride, t0, cnt, cnt, cx.head_dim, cx.dp, b.vt);
  return src;
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
    if (ir.dot && src.k_raw)
      scores_dot(ir, b, st, cx.dp, cx.overlapping, kn_r, src.k_raw, src.ldk, b.s, lds);
    else if (ir.dot)
      scores_dot(ir, b, st, cx.dp, cx.overlapping, kn_r, src.k, src.ldk, b.s, lds);
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
  for (std::int64_t t0 = k_lo; t0 < k_hi; t0 += B::tile_keys) {
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

/// The cut of the work for a call (see plan).
template <class Acc>
plan make_plan(int n_heads, int n_kv_heads, std::int64_t start_pos, std::int64_t n_tokens,
               int n_threads) noexcept {
  using B = blocking<Acc>;
  constexpr std::int64_t min_chunk_keys = 512;  // below this a split costs more than it gains
  plan p;
  p.n_threads = resolve_threads(n_threads);
  const int group = n_heads / n_kv_heads;
  p.heads_per_item = std::min(group, B::item_rows);
  p.n_head_blocks = (group + p.heads_per_item - 1) / p.heads_per_item;
  const std::int64_t tokens_max = std::max(1, B::item_rows / p.heads_per_item);
  p.n_token_blocks = (n_tokens + tokens_max - 1) / tokens_max;
  if (p.n_token_blocks == 0) return p;
  p.tokens_per_item = (n_tokens + p.n_token_blocks - 1) / p.n_token_blocks;  // balanced blocks
  p.n_base = p.n_token_blocks * n_kv_heads * p.n_head_blocks;
  const std::int64_t n_keys = start_pos + n_tokens;
  std::int64_t chunks = 1;
  if (p.n_threads > 1 && p.n_base < 4 * p.n_threads) {
    const std::int64_t want = (4 * p.n_threads + p.n_base - 1) / p.n_base;
    chunks = std::max<std::int64_t>(1, std::min(want, n_keys / min_chunk_keys));
  }
  p.chunk_keys = round_up<std::int64_t>((n_keys + chunks - 1) / chunks, B::tile_keys);
  p.n_chunks = static_cast<int>((n_keys + p.chunk_keys - 1) / p.chunk_keys);
  const int rows_max = static_cast<int>(p.tokens_per_item) * p.heads_per_item;
  p.rows_pad = round_up(rows_max, B::width);
  p.n_threads = static_cast<int>(std::min<std::int64_t>(p.n_threads, p.n_items()));
  return p;
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
