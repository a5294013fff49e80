// shiftrope/detail/attention_item.hpp - one work item of the attention
// kernel: a block of query rows (tokens × query heads of one KV group)
// against one run of keys, with the position remap fused in.
//
// Each row owns up to two rotated copies of its query (the remap's segments,
// DESIGN §1): slot 1 scores the last segment (the near keys, ending at the
// row's own position m), slot 0 the segment before it (STRING's far keys,
// query rotated at m - S + W). A (row register × key block) micro-tile that
// lies wholly inside one slot's segment uses that copy alone; only
// micro-tiles cut by the causal diagonal or by the line d = S compute both
// copies and mask per lane. One online softmax runs over the whole row.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../position_map.hpp"
#include "../rope.hpp"
#include "attention_kernels.hpp"

namespace shiftrope::detail::attn {

/// Everything a work item reads, validated by the public entry.
template <class Acc, class KV>
struct context {
  int n_heads = 0;           // query heads
  int n_kv_heads = 0;        // KV heads
  int group = 0;             // n_heads / n_kv_heads
  int head_dim = 0;          // values per head vector
  int dp = 0;                // head_dim rounded up to whole registers
  Acc scale = 1;             // softmax_scale · logit_scale, folded into the query copies
  bool overlapping = false;  // a key may lie in both segments of a row (duplicate_boundary_key)
  const remap* positions = nullptr;
  const rope_table<Acc>* table = nullptr;
  const Acc* q = nullptr;  // [n_tokens × n_heads × head_dim], un-rotated
  std::int64_t start_pos = 0;
  std::int64_t n_tokens = 0;
  const KV* k = nullptr;  // key of KV head h at position n: k + h·head_stride + n·pos_stride
  const KV* v = nullptr;  // value, same layout
  std::size_t pos_stride = 0;
  std::size_t head_stride = 0;
  Acc* out = nullptr;  // [n_tokens × n_heads × head_dim]
};

/// How the work is cut: items are (token block, KV head, head block, key
/// chunk); key chunks > 1 only when the other axes give too few items for
/// the threads (decoding), and their partial results are merged at the end.
struct plan {
  int n_threads = 1;
  int heads_per_item = 1;            // query heads of one group per item
  int n_head_blocks = 1;             // ceil(group / heads_per_item)
  std::int64_t tokens_per_item = 1;  // query tokens per item
  std::int64_t n_token_blocks = 0;   // ceil(n_tokens / tokens_per_item)
  int n_chunks = 1;                  // key chunks per (token block, head)
  std::int64_t chunk_keys = 0;       // keys per chunk (a multiple of the tile)
  int rows_pad = 0;                  // largest item's rows, rounded up to whole registers
  std::int64_t n_base = 0;           // items without the chunk axis
  [[nodiscard]] std::int64_t n_items() const noexcept { return n_base * n_chunks; }
};

/// One thread's scratch (all Acc unless said), carved from one buffer.
template <class Acc>
struct buffers {
  Acc* q = nullptr;      // [2 × rows_pad × dp]: slot j's copies, Q^T [head_dim × rows_pad]
                         // (rows in lanes) or rows [rows_pad × dp] (dot-product path)
  Acc* o = nullptr;      // [rows_pad × dp] unnormalised output rows
  Acc* m = nullptr;      // [rows_pad] running max
  Acc* l = nullptr;      // [rows_pad] running sum
  Acc* alpha = nullptr;  // [rows_pad] rescale factor of the last softmax step
  Acc* lo = nullptr;     // [2 × rows_pad] slot j's first key, relative to the tile
  Acc* hi = nullptr;     // [2 × rows_pad] slot j's end key, relative to the tile
  Acc* s = nullptr;      // [tile_keys × block_rows] S^T (then P^T) of one micro-block
  Acc* kt = nullptr;     // [tile_keys × dp] converted K tile
  Acc* vt = nullptr;     // [tile_keys × dp] converted V tile
  Acc* rot = nullptr;    // [width × dp] one register of rows being rotated
  std::int64_t* seg = nullptr;  // [rows_pad × 6] per row: b0, e0, b1, e1, qpos0, qpos1
};

/// Per-register summary of the slot ranges [lo, hi) for the current tile,
/// used to classify micro-tiles without looking at every lane.
template <class Acc>
struct range_stats {
  static constexpr int max_vec = blocking<Acc>::item_rows / blocking<Acc>::width;
  Acc lo_min[2][max_vec], lo_max[2][max_vec], hi_min[2][max_vec], hi_max[2][max_vec];
};

enum class tile_kind { empty, slot0, slot1, mixed };

/// How keys [kb, kb + nk) of the tile meet register v's rows: kind, and
/// which slots no lane uses there (`none`).
struct tile_class {
  tile_kind kind = tile_kind::empty;
  bool none[2] = {true, true};
};

/// Classifies keys [kb, kb + nk) of the tile for register v (conservative:
/// a micro-tile it calls mixed may still turn out to use one slot only).
template <class Acc>
inline tile_class classify(const range_stats<Acc>& st, int v, int kb, int nk) noexcept {
  tile_class c;
  bool full[2];
  for (int j = 0; j < 2; ++j) {
    c.none[j] = st.hi_max[j][v] <= Acc(kb) || st.lo_min[j][v] >= Acc(kb + nk);
    full[j] = st.lo_max[j][v] <= Acc(kb) && Acc(kb + nk) <= st.hi_min[j][v];
  }
  if (c.none[0] && c.none[1])
    c.kind = tile_kind::empty;
  else if (full[0] && c.none[1])
    c.kind = tile_kind::slot0;
  else if (full[1] && c.none[0])
    c.kind = tile_kind::slot1;
  else
    c.kind = tile_kind::mixed;
  return c;
}

/// s[kk·lds] = the masked combination of the slots' scores src[i][kk·ld_src[i]]
/// (slot slots[i]; src may be s itself) for keys kb + kk, kk < nk: a slot's score counts
/// where the key lies in that slot's range for the lane's row; a key in both
/// (duplicate_boundary_key) enters as log(e^a + e^b). `st`/`v` tell which
/// bounds can cut the block, so the common cuts cost one compare per key:
/// the diagonal alone (keys < hi), or the adjacent near/far boundary alone
/// (slot 0 below hi0, slot 1 from there on).
template <class Acc>
inline void merge_slots(const Acc* const* src, const std::size_t* ld_src, const int* slots,
                        int n_slots, int kb, int nk, const buffers<Acc>& b,
                        const range_stats<Acc>& st, int v, int rows_pad, bool overlapping, Acc* s,
                        std::size_t lds) noexcept {
  using V = simd::vec<Acc>;
  constexpr int w = blocking<Acc>::width;
  const Acc neg_inf = -std::numeric_limits<Acc>::infinity();
  const V ninf = simd::splat(neg_inf);
  const Acc* lo = b.lo + v * w;
  const Acc* hi = b.hi + v * w;
  const int j0 = slots[0];
  const V lo0 = simd::load(lo + j0 * rows_pad), hi0 = simd::load(hi + j0 * rows_pad);
  const auto row = [&](int kk, int i) {
    return simd::load(src[i] + static_cast<std::size_t>(kk) * ld_src[i]);
  };
  Acc* out = s;
  if (n_slots == 1) {
    const bool upper_only = st.lo_max[j0][v] <= Acc(kb);
    for (int kk = 0; kk < nk; ++kk, out += lds)
      simd::store(out, upper_only
                           ? simd::pick_below(Acc(kb + kk), hi0, row(kk, 0), ninf)
                           : simd::keep_in_range(row(kk, 0), Acc(kb + kk), lo0, hi0, neg_inf));
    return;
  }
  // Two slots: slot 0 = [lo0, hi0), slot 1 = [lo1, hi1), slot 0 first.
  if (!overlapping && st.lo_max[0][v] <= Acc(kb) && st.hi_min[1][v] >= Acc(kb + nk)) {
    for (int kk = 0; kk < nk; ++kk, out += lds)  // adjacent ranges, no other bound in the block
      simd::store(out, simd::pick_below(Acc(kb + kk), hi0, row(kk, 0), row(kk, 1)));
    return;
  }
  const V lo1 = simd::load(lo + rows_pad), hi1 = simd::load(hi + rows_pad);
  for (int kk = 0; kk < nk; ++kk, out += lds) {
    const Acc key = Acc(kb + kk);
    const V x0 = simd::keep_in_range(row(kk, 0), key, lo0, hi0, neg_inf);
    const V x1 = simd::keep_in_range(row(kk, 1), key, lo1, hi1, neg_inf);
    // Disjoint ranges: at most one is finite. Overlapping: the key counts twice.
    simd::store(out, overlapping ? simd::log_add_exp(x0, x1) : simd::max(x0, x1));
  }
}

/// Calls f(std::integral_constant<int, R>{}) for a run-time 1 <= r <= 8.
template <class F>
inline void dispatch_rows(int r, F&& f) {
  switch (r) {
    case 1:
      f(std::integral_constant<int, 1>{});
      break;
    case 2:
      f(std::integral_constant<int, 2>{});
      break;
    case 3:
      f(std::integral_constant<int, 3>{});
      break;
    case 4:
      f(std::integral_constant<int, 4>{});
      break;
    case 5:
      f(std::integral_constant<int, 5>{});
      break;
    case 6:
      f(std::integral_constant<int, 6>{});
      break;
    case 7:
      f(std::integral_constant<int, 7>{});
      break;
    default:
      f(std::integral_constant<int, 8>{});
      break;
  }
}

/// The rows of one item and where its keys come from.
template <class Acc>
struct item_rows {
  std::int64_t t_begin = 0, h_begin = 0;  // first token, first query head
  int n_h = 0;                            // query heads per token in the item
  int rows = 0, rows_pad = 0;             // rows = tokens × n_h; rows_pad a register multiple
  bool dot = false;                       // dot-product score path (few rows)
  bool has_far = false;                   // some row has a slot-0 segment
};

/// Per-row segments in slots (seg: b0, e0, b1, e1, qpos0, qpos1); sets
/// ir.has_far and returns the offset qpos1 - qpos0 shared by every row with
/// a slot-0 segment (STRING: S - W), or -1 when rows differ.
template <class Acc, class KV>
inline std::int64_t segment_rows(const context<Acc, KV>& cx, item_rows<Acc>& ir,
                                 const buffers<Acc>& b) noexcept {
  ir.has_far = false;
  std::int64_t delta = 0;
  for (int r = 0; r < ir.rows_pad; ++r) {  // padding rows repeat the last row
    const int src = std::min(r, ir.rows - 1);
    const std::int64_t m = cx.start_pos + ir.t_begin + src / ir.n_h;
    if (r == src)  // the query rows are scattered: start all their misses now
      simd::prefetch(cx.q + (static_cast<std::size_t>(m - cx.start_pos) * cx.n_heads +
                             static_cast<std::size_t>(ir.h_begin + src % ir.n_h)) *
                                cx.head_dim,
                     static_cast<std::size_t>(cx.head_dim) * sizeof(Acc));
    key_segment segs[max_key_segments];
    const int n = key_segments(*cx.positions, m, segs);
    std::int64_t* sg = b.seg + static_cast<std::size_t>(r) * 6;
    for (int j = 0; j < 2; ++j) sg[2 * j] = sg[2 * j + 1] = sg[4 + j] = 0;
    for (int i = 0; i < n; ++i) {  // the last segment goes to slot 1
      const int j = 2 - n + i;
      sg[2 * j] = segs[i].begin;
      sg[2 * j + 1] = segs[i].end;
      sg[4 + j] = segs[i].query_pos;
    }
    if (sg[1] > sg[0]) {
      const std::int64_t d = sg[5] - sg[4];
      if (!ir.has_far) delta = d;
      if (d != delta || d < 0) delta = -1;
      ir.has_far = true;
    }
  }
  return ir.has_far ? delta : -1;
}

/// Slot j's copies of rows [r0, r0 + width): scaled, rotated at the slot's
/// query position, as rows [rows_pad × dp] (dot path) or Q^T [dp × rows_pad].
template <class Acc, class KV>
inline void rotate_rows(const context<Acc, KV>& cx, const item_rows<Acc>& ir, const buffers<Acc>& b,
                        int j, int r0) noexcept {
  constexpr int w = blocking<Acc>::width;
  const std::size_t dp = static_cast<std::size_t>(cx.dp);
  Acc* dst = b.q + j * static_cast<std::size_t>(ir.rows_pad) * dp;
  // The dot path reads only the item's rows; rows in lanes read the padding too.
  const int r_end = ir.dot ? std::min(r0 + w, ir.rows) : r0 + w;
  for (int r = r0; r < r_end; ++r) {
    const int src = std::min(r, ir.rows - 1);
    const std::int64_t t = ir.t_begin + src / ir.n_h;
    const std::int64_t h = ir.h_begin + src % ir.n_h;
    const Acc* qr = cx.q + (static_cast<std::size_t>(t) * cx.n_heads + h) * cx.head_dim;
    const std::int64_t* sg = b.seg + static_cast<std::size_t>(r) * 6;
    // Row-major copy (the dot path's layout, or a staging row to transpose).
    Acc* x = ir.dot ? dst + static_cast<std::size_t>(r) * dp : b.rot + (r - r0) * dp;
    // Padding rows (r >= rows) are never output: zeros keep their lanes finite.
    if (r < ir.rows && sg[2 * j + 1] > sg[2 * j]) {  // in use: scale, rotate at its position
      for (int d = 0; d < cx.head_dim; ++d) x[d] = qr[d] * cx.scale;
      cx.table->rotate(x, sg[4 + j]);
    } else {
      std::fill(x, x + cx.head_dim, Acc(0));
    }
    std::fill(x + cx.head_dim, x + dp, Acc(0));
  }
  if (!ir.dot)  // Q^T [head_dim × rows_pad], a register of rows at a time
    simd::transpose_rows(b.rot, dp, dst + r0, static_cast<std::size_t>(ir.rows_pad),
                         static_cast<std::size_t>(cx.head_dim));
}

/// Slot 0 from slot 1 for the Q^T registers at rows [r0, r0 + width) when
/// every row's two query positions differ by the same delta (STRING:
/// S - W): far = R(-delta)·near, one broadcast cos/sin per plane for all the
/// rows instead of a rotation per row and a transpose.
template <class Acc, class KV>
inline void rotate_back_columns(const context<Acc, KV>& cx, const item_rows<Acc>& ir,
                                const buffers<Acc>& b, std::int64_t delta, int r0) noexcept {
  using V = simd::vec<Acc>;
  const std::size_t ld = static_cast<std::size_t>(ir.rows_pad);
  const Acc* near = b.q + ld * static_cast<std::size_t>(cx.dp) + r0;
  Acc* far = b.q + r0;
  const int planes = cx.table->n_planes();
  const bool interleaved = cx.table->config().pairing == rope_pairing::interleaved;
  const Acc* cs = cx.table->cos(delta);
  const Acc* sn = cx.table->sin(delta);
  for (int i = 0; i < planes; ++i) {  // (a, b) -> (a cos + b sin, b cos - a sin)
    const std::size_t ia = static_cast<std::size_t>(interleaved ? 2 * i : i) * ld;
    const std::size_t ib = static_cast<std::size_t>(interleaved ? 2 * i + 1 : i + planes) * ld;
    const V xa = simd::load(near + ia), xb = simd::load(near + ib);
    const V c = simd::splat(cs[i]), s = simd::splat(sn[i]);
    simd::store(far + ia, simd::fma(xa, c, xb * s));
    simd::store(far + ib, simd::fma(xb, c, simd::splat(Acc(0)) - xa * s));
  }
  for (int d = 2 * planes; d < cx.head_dim; ++d)  // past rotary_dim: unrotated
    simd::store(far + static_cast<std::size_t>(d) * ld,
                simd::load(near + static_cast<std::size_t>(d) * ld));
}

/// Fills the per-row segments (slots) and the rotated, scaled query copies.
template <class Acc, class KV>
inline void setup_rows(const context<Acc, KV>& cx, item_rows<Acc>& ir,
                       const buffers<Acc>& b) noexcept {
  constexpr int w = blocking<Acc>::width;
  const std::int64_t delta = segment_rows(cx, ir, b);
  for (int r0 = 0; r0 < ir.rows_pad; r0 += w) {  // one register of rows at a time
    rotate_rows(cx, ir, b, 1, r0);               // every row has a last segment
    bool far = false;
    for (int r = r0; r < r0 + w; ++r) {
      const std::int64_t* sg = b.seg + static_cast<std::size_t>(r) * 6;
      far = far || sg[1] > sg[0];
    }
    if (!far) continue;  // never read: no micro-tile of this register uses slot 0
    if (!ir.dot && delta >= 0)
      rotate_back_columns(cx, ir, b, delta, r0);
    else
      rotate_rows(cx, ir, b, 0, r0);
  }
}

/// Slot ranges relative to the tile [t0, t0 + cnt), clamped to [-1, cnt]
/// (exact in Acc), and their per-register summary.
template <class Acc>
inline void tile_ranges(const item_rows<Acc>& ir, const buffers<Acc>& b, std::int64_t t0, int cnt,
                        range_stats<Acc>& st) noexcept {
  constexpr int w = blocking<Acc>::width;
  const auto rel = [&](std::int64_t x) {
    return static_cast<Acc>(std::clamp<std::int64_t>(x - t0, -1, cnt));
  };
  for (int v = 0; v * w < ir.rows_pad; ++v) {
    for (int j = 0; j < 2; ++j) {
      Acc lmin = std::numeric_limits<Acc>::max(), lmax = -lmin, hmin = lmin, hmax = -lmin;
      for (int r = v * w; r < (v + 1) * w; ++r) {
        const std::int64_t* sg = b.seg + static_cast<std::size_t>(r) * 6;
        const Acc lo = rel(sg[2 * j]), hi = rel(sg[2 * j + 1]);
        b.lo[j * ir.rows_pad + r] = lo;
        b.hi[j * ir.rows_pad + r] = hi;
        lmin = std::min(lmin, lo);
        lmax = std::max(lmax, lo);
        hmin = std::min(hmin, hi);
        hmax = std::max(hmax, hi);
      }
      st.lo_min[j][v] = lmin;
      st.lo_max[j][v] = lmax;
      st.hi_min[j][v] = hmin;
      st.hi_max[j][v] = hmax;
    }
  }
}

}  // namespace shiftrope::detail::attn
