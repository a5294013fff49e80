// shiftrope/detail/attention/segments.hpp - the position remap's key
// segments per query row, the rotated query copies, and the per-tile ranges
// the score step classifies micro-tiles with.
//
// Segments into slots. A remap's segments() splits the keys [0, m] of a
// query row at m into at most two runs, each scored by a query rotated at
// its own position (position_map.hpp). Every row owns two query copies,
// "slots": slot 1 holds the last segment (the near keys, ending at m, query
// rotated at m), slot 0 the segment before it (STRING's far keys [0, m - S],
// query rotated at m - S + W); plain RoPE leaves slot 0 empty. Each row's
// segment bounds (b0, e0, b1, e1) and query positions (qpos0, qpos1) are
// kept in the thread's scratch; per tile they become ranges relative to the
// tile, summarised per register of rows (range_stats) so that a
// micro-tile wholly inside one slot's range is recognised without looking
// at its lanes.
//
// A sliding window w clips every row's segments to keys n > m - w; a slot
// left empty becomes (0, 0). Slot 1 always keeps key m. Where slot 0 is
// empty and slot 1 clipped, the two ranges are no longer adjacent
// (ir.adjacent = false), which the score step's shortcut relies on.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/detail/attention/plan.hpp>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/rope.hpp>

namespace shiftrope::detail::attn {

/// Per-register summary of the slot ranges [lo, hi) for the current tile,
/// used to classify micro-tiles without looking at every lane.
template <class Acc>
struct range_stats {
  static constexpr int max_vec = blocking<Acc>::item_rows / blocking<Acc>::width;
  Acc lo_min[2][max_vec], lo_max[2][max_vec], hi_min[2][max_vec], hi_max[2][max_vec];
};

/// Per-row segments in slots (seg: b0, e0, b1, e1, qpos0, qpos1), clipped
/// to the sliding window; sets ir.has_far, ir.adjacent and ir.first_key,
/// and returns the offset qpos1 - qpos0 shared by every row with
/// a slot-0 segment (STRING: S - W), or -1 when rows differ.
template <class Acc, class KV>
inline std::int64_t segment_rows(const context<Acc, KV>& cx, item_rows<Acc>& ir,
                                 const buffers<Acc>& b) noexcept {
  ir.has_far = false;
  ir.adjacent = true;
  ir.first_key = std::numeric_limits<std::int64_t>::max();
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
    if (cx.window > 0) {  // keys n <= m - window are out of the window
      for (int j = 0; j < 2; ++j) {
        sg[2 * j] = std::max(sg[2 * j], m - cx.window + 1);
        if (sg[2 * j + 1] <= sg[2 * j]) sg[2 * j] = sg[2 * j + 1] = sg[4 + j] = 0;
      }
      if (sg[1] == sg[0] && sg[2] > 0) ir.adjacent = false;
    }
    ir.first_key = std::min(ir.first_key, sg[1] > sg[0] ? sg[0] : sg[2]);
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
