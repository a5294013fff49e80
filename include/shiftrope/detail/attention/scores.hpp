// shiftrope/detail/attention/scores.hpp - the score step of a tile: which
// query copy (slot) scores each micro-tile, and the masked merge of the two
// copies where a micro-tile is cut by the causal diagonal or by the line
// d = S between STRING's far and near keys.
//
// A (row register × key block) micro-tile that lies wholly inside one slot's
// range uses that copy alone (the common case); only cut micro-tiles score
// both copies and pick, per lane, the score of the slot whose range holds
// the key. Two score layouts: rows in lanes (prefill: Q^T registers times
// broadcast key elements) and dot products along head_dim (decoding: a few
// rows per item).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/detail/attention/kernels.hpp>
#include <shiftrope/detail/attention/plan.hpp>
#include <shiftrope/detail/attention/segments.hpp>
#include <shiftrope/detail/dispatch.hpp>
#include <shiftrope/detail/simd.hpp>

namespace shiftrope::detail::attn {

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
/// (slot 0 below hi0, slot 1 from there on; only when `adjacent`: a
/// sliding window may leave a row's slot 0 empty and its slot 1 clipped).
template <class Acc>
inline void merge_slots(const Acc* const* src, const std::size_t* ld_src, const int* slots,
                        int n_slots, int kb, int nk, const buffers<Acc>& b,
                        const range_stats<Acc>& st, int v, int rows_pad, bool overlapping,
                        bool adjacent, Acc* s, std::size_t lds) noexcept {
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
  if (!overlapping && adjacent && st.lo_max[0][v] <= Acc(kb) && st.hi_min[1][v] >= Acc(kb + nk)) {
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
  dispatch<B::qk_vectors>(ni, [&](auto ni_c) {
    qk_rows_in_lanes<Acc, decltype(ni_c)::value, B::qk_keys>(qt, ldq, k, ldk, head_dim, s, lds);
  });
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
      merge_slots(src, ld_src, slots, n_slots, kb, nk, b, st, v0 + i, ir.rows_pad, overlapping,
                  ir.adjacent, si, lds);
    }
  }
}

/// Scores S^T of keys [0, kn_r) of the tile for the few rows of a decoding
/// item (dot products along head_dim; s: key kk at s + kk·lds, row r at + r).
template <class Acc, class KP>
void scores_dot(const item_rows<Acc>& ir, const buffers<Acc>& b, const range_stats<Acc>& st, int dp,
                bool overlapping, int kn_r, KP k, std::size_t ldk, Acc* s,
                std::size_t lds) noexcept {
  constexpr int w = blocking<Acc>::width;
  const std::size_t slot_size = static_cast<std::size_t>(ir.rows_pad) * dp;
  const Acc neg_inf = -std::numeric_limits<Acc>::infinity();
  dispatch<blocking<Acc>::dot_rows>(ir.rows, [&](auto rows_c) {
    constexpr int R = decltype(rows_c)::value;
    constexpr int nk = dot_keys<R>;
    const auto rows_of = [&](int slot, const Acc** p) {
      for (int r = 0; r < R; ++r) p[r] = b.q + slot * slot_size + static_cast<std::size_t>(r) * dp;
    };
    for (int kb = 0; kb < kn_r; kb += nk) {
      const KP kp = k + static_cast<std::size_t>(kb) * ldk;
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
        merge_slots(src, ld_src, slots, n_slots, kb, nk, b, st, 0, ir.rows_pad, overlapping,
                    ir.adjacent, sp, lds);
      }
    }
  });
}

}  // namespace shiftrope::detail::attn
