// shiftrope/detail/attention/kernels.hpp - the register-blocked inner loops
// of the attention kernel (single-threaded, noexcept, on raw pointers).
//
// Scores are kept transposed, S^T [keys × rows], with the query rows along
// the SIMD lanes. That choice makes every step vertical:
//   - Q·K^T: a packed query tile Q^T [head_dim × rows] times one broadcast
//     key element is an FMA on a full register of rows (no transposed K
//     tile: keys are read as stored, one element at a time);
//   - the online softmax (row max, exp, row sum) runs down the key axis,
//     lane by lane, with no horizontal reduction;
//   - P·V broadcasts one p of S^T and multiplies a V row chunk into a
//     head_dim-wide accumulator.
// With few rows (decoding) the lanes would be mostly empty, so a second
// score kernel takes dot products along head_dim instead (qk_rows_dot).
//
// The textbook flash-attention tile packs K^T and broadcasts a query
// element against a row of keys; this is its transpose. The FMA count and
// the register budget are the same (a Q·K^T micro-tile of 8 keys × 2
// registers of rows = 16 accumulators, a P·V micro-tile of 4 rows × 4
// registers of head_dim = 16 accumulators, of AVX-512's 32 registers), but
// the query tile is transposed once per work item instead of every K tile
// once per item, and the softmax needs no horizontal max or sum.
//
// g++ folds a loaded operand into every FMA that uses it, re-reading it
// from memory once per use; the tiles pin such registers (simd::pin), or
// the P·V and dot-product tiles would be load-bound.
#pragma once

#include <cstddef>
#include <limits>
#include <shiftrope/detail/dispatch.hpp>
#include <shiftrope/detail/simd.hpp>
#include <type_traits>

namespace shiftrope::detail::attn {

/// Block sizes. AVX-512 has 32 registers: the Q·K^T tile holds
/// qk_keys × qk_vectors = 16 accumulators, the P·V tile pv_rows × pv_vectors
/// = 16, leaving room for the loaded operands.
template <class Acc>
struct blocking {
  static constexpr int width = static_cast<int>(simd::lanes<Acc>);  ///< lanes per register
  static constexpr int qk_vectors = 2;  ///< row registers per Q·K^T micro-tile
  static constexpr int qk_keys = 8;     ///< keys per Q·K^T micro-tile
  static constexpr int pv_rows = 4;     ///< query rows per P·V micro-tile
  static constexpr int pv_vectors = 4;  ///< head_dim registers per P·V micro-tile
  static constexpr int tile_keys = 64;  ///< keys per K/V tile (packed once, shared by all rows)
  static constexpr int decode_prefetch_tiles = 2;  ///< decoding asks for the tile this far ahead
  /// Query rows per work item: enough rows that converting a K/V tile once
  /// is cheap next to the FMAs every row spends on it.
  static constexpr int item_rows = 8 * width;
  /// At most this many rows take the dot-product score kernel (decoding).
  static constexpr int dot_rows = width / 2;
  /// Rows of the micro-block (the rows a Q·K^T micro-tile covers).
  static constexpr int block_rows = qk_vectors * width;
};

/// S^T[kk][i] (register i of row kk at s + kk·lds + i·width)
///   = Σ_d qt_i[d·ldq + lane] · k[kk·ldk + d],   kk < NK, i < NI.
/// NI row registers, each read from its own packed Q^T copy qt[i], times NK
/// keys stored as rows of head_dim values (stride ldk).
template <class Acc, int NI, int NK>
inline void qk_rows_in_lanes(const Acc* const* qt, std::size_t ldq, const Acc* k, std::size_t ldk,
                             int head_dim, Acc* s, std::size_t lds) noexcept {
  using V = simd::vec<Acc>;
  constexpr std::size_t w = simd::lanes<Acc>;
  V acc[NK][NI];
  for (int kk = 0; kk < NK; ++kk)
    for (int i = 0; i < NI; ++i) acc[kk][i] = simd::splat(Acc(0));
  const Acc* q[NI];
  for (int i = 0; i < NI; ++i) q[i] = qt[i];
  for (int d = 0; d < head_dim; ++d) {
    V qv[NI];
    for (int i = 0; i < NI; ++i) qv[i] = simd::load(q[i] + static_cast<std::size_t>(d) * ldq);
    for (int kk = 0; kk < NK; ++kk) {
      const V kb = simd::splat(k[static_cast<std::size_t>(kk) * ldk + static_cast<std::size_t>(d)]);
      for (int i = 0; i < NI; ++i) acc[kk][i] = simd::fma(kb, qv[i], acc[kk][i]);
    }
  }
  for (int kk = 0; kk < NK; ++kk)
    for (int i = 0; i < NI; ++i)
      simd::store(s + static_cast<std::size_t>(kk) * lds + static_cast<std::size_t>(i) * w,
                  acc[kk][i]);
}

/// s[kk·lds + r] = Σ_d q[r][d] · k[kk·ldk + d],   r < R, kk < NK:
/// dot products along head_dim for a handful of rows (decoding). q[r] and
/// the key rows hold dp values, dp a multiple of the register width
/// (zero-padded past head_dim). Keys in any storage type, read through KP
/// (a pointer, or simd::q8_ptr) and converted as loaded: each key register
/// serves all R rows.
template <class Acc, int R, int NK, class KP>
inline void qk_rows_dot(const Acc* const* q, KP k, std::size_t ldk, int dp, Acc* s,
                        std::size_t lds) noexcept {
  using V = simd::vec<Acc>;
  constexpr int w = static_cast<int>(simd::lanes<Acc>);
  V acc[R][NK];
  for (int r = 0; r < R; ++r)
    for (int kk = 0; kk < NK; ++kk) acc[r][kk] = simd::splat(Acc(0));
  for (int d = 0; d < dp; d += w) {
    V kv[NK];  // each key register is used by all R rows: keep it in a register
    for (int kk = 0; kk < NK; ++kk) {
      kv[kk] =
          simd::load_as<Acc>(k + static_cast<std::size_t>(kk) * ldk + static_cast<std::size_t>(d));
      simd::pin(kv[kk]);
    }
    for (int r = 0; r < R; ++r) {
      V qv = simd::load(q[r] + d);
      simd::pin(qv);
      for (int kk = 0; kk < NK; ++kk) acc[r][kk] = simd::fma(qv, kv[kk], acc[r][kk]);
    }
  }
  Acc sums[R * NK];  // all the horizontal sums at once: [r][kk]
  simd::hsum_many(&acc[0][0], R * NK, sums);
  for (int r = 0; r < R; ++r)
    for (int kk = 0; kk < NK; ++kk)
      s[static_cast<std::size_t>(kk) * lds + static_cast<std::size_t>(r)] = sums[r * NK + kk];
}

/// Keys per qk_rows_dot call for R rows: R × NK <= 16 accumulators, NK a
/// power of two (so it divides the tile).
template <int R>
inline constexpr int dot_keys = R == 1   ? 16
                                : R == 2 ? 8
                                : R <= 4 ? 4
                                         : 2;

/// One online-softmax step for one register of rows over nk scores of a
/// tile (s[kk·lds], kk < nk, overwritten by p = e^(s - m_new)):
///   m_new = max(m, max_kk s),  alpha = e^(m - m_new),
///   l = alpha·l + Σ_kk p,      m = m_new.
/// alpha is returned through `alpha` for the P·V step. Rows whose scores
/// are all -inf so far keep m = -inf, l = 0, alpha = 0 (no NaN).
template <class Acc>
inline void softmax_step(Acc* s, std::size_t lds, int nk, Acc* m, Acc* l, Acc* alpha) noexcept {
  using V = simd::vec<Acc>;
  const V neg_inf = simd::splat(-std::numeric_limits<Acc>::infinity());
  V mx0 = neg_inf, mx1 = neg_inf, mx2 = neg_inf, mx3 = neg_inf;
  int kk = 0;
  for (; kk + 4 <= nk; kk += 4) {  // four chains: max has a latency
    mx0 = simd::max(mx0, simd::load(s + static_cast<std::size_t>(kk) * lds));
    mx1 = simd::max(mx1, simd::load(s + static_cast<std::size_t>(kk + 1) * lds));
    mx2 = simd::max(mx2, simd::load(s + static_cast<std::size_t>(kk + 2) * lds));
    mx3 = simd::max(mx3, simd::load(s + static_cast<std::size_t>(kk + 3) * lds));
  }
  for (; kk < nk; ++kk) mx0 = simd::max(mx0, simd::load(s + static_cast<std::size_t>(kk) * lds));
  const V m_old = simd::load(m);
  const V m_new = simd::max(m_old, simd::max(simd::max(mx0, mx1), simd::max(mx2, mx3)));
  const V m_safe = simd::replace_neg_inf(m_new, Acc(0));  // all -inf: every e^(.) is 0
  const V a = simd::exp(m_old - m_safe);
  V sum0 = simd::splat(Acc(0)), sum1 = sum0;
  kk = 0;
  for (; kk + 2 <= nk; kk += 2) {
    Acc* p0 = s + static_cast<std::size_t>(kk) * lds;
    Acc* p1 = p0 + lds;
    const V e0 = simd::exp(simd::load(p0) - m_safe);
    const V e1 = simd::exp(simd::load(p1) - m_safe);
    simd::store(p0, e0);
    simd::store(p1, e1);
    sum0 = sum0 + e0;
    sum1 = sum1 + e1;
  }
  if (kk < nk) {
    Acc* p0 = s + static_cast<std::size_t>(kk) * lds;
    const V e0 = simd::exp(simd::load(p0) - m_safe);
    simd::store(p0, e0);
    sum0 = sum0 + e0;
  }
  simd::store(l, a * simd::load(l) + (sum0 + sum1));
  simd::store(m, m_new);
  simd::store(alpha, a);
}

/// o[r][c] = alpha[r]·o[r][c] + Σ_{kk < end[r]} p[kk·ldp + r] · v[kk·ldv + c]
/// for r < RR rows and c in CV registers of columns: O = diag(alpha)·O + P·V
/// over the keys each row sees. Every row sees keys [0, nk_all): the plain
/// FMA loop. Keys [nk_all, nk) (a tile cut by the diagonal) are skipped by
/// the rows past whose end they lie rather than weighted by their p = 0:
/// 0 · NaN and 0 · Inf are NaN, and a later position's value must not reach
/// an earlier row. Values in any storage type, read through VP (a pointer,
/// or simd::q8_ptr) and converted as loaded.
template <class Acc, int RR, int CV, class VP>
inline void pv_rows(const Acc* p, std::size_t ldp, int nk_all, int nk, const int* end, VP v,
                    std::size_t ldv, Acc* o, std::size_t ldo, const Acc* alpha) noexcept {
  using V = simd::vec<Acc>;
  constexpr std::size_t w = simd::lanes<Acc>;
  V acc[RR][CV];
  for (int r = 0; r < RR; ++r) {
    const V a = simd::splat(alpha[r]);
    for (int c = 0; c < CV; ++c)
      acc[r][c] = a * simd::load(o + static_cast<std::size_t>(r) * ldo + c * w);
  }
  for (int kk = 0; kk < nk_all; ++kk) {
    // Broadcast the RR probabilities first, then load each V register once
    // and use it RR times (loaded per row, the tile would be load-bound).
    const Acc* pr = p + static_cast<std::size_t>(kk) * ldp;
    V pb[RR];
    for (int r = 0; r < RR; ++r) pb[r] = simd::splat(pr[r]);
    const VP vr = v + static_cast<std::size_t>(kk) * ldv;
    for (int c = 0; c < CV; ++c) {
      V vv = simd::load_as<Acc>(vr + c * w);
      simd::pin(vv);
      for (int r = 0; r < RR; ++r) acc[r][c] = simd::fma(pb[r], vv, acc[r][c]);
    }
  }
  for (int kk = nk_all; kk < nk; ++kk) {  // some rows end before kk: they skip it
    const Acc* pr = p + static_cast<std::size_t>(kk) * ldp;
    V pb[RR];
    bool seen[RR];
    for (int r = 0; r < RR; ++r) pb[r] = simd::splat(pr[r]), seen[r] = kk < end[r];
    const VP vr = v + static_cast<std::size_t>(kk) * ldv;
    for (int c = 0; c < CV; ++c) {
      V vv = simd::load_as<Acc>(vr + c * w);
      simd::pin(vv);
      for (int r = 0; r < RR; ++r)
        if (seen[r]) acc[r][c] = simd::fma(pb[r], vv, acc[r][c]);
    }
  }
  for (int r = 0; r < RR; ++r)
    for (int c = 0; c < CV; ++c)
      simd::store(o + static_cast<std::size_t>(r) * ldo + c * w, acc[r][c]);
}

/// O = diag(alpha)·O + P·V for `rows` rows (o rows of dp values, dp a
/// multiple of the register width), split into pv_rows × pv_vectors tiles;
/// row r sums keys [0, end[r]) of the tile (end[r] >= 0). Each tile stops at
/// the last key one of its rows sees; only keys some of its rows see and
/// others do not take the masked loop of pv_rows.
template <class Acc, class VP>
inline void pv_block(const Acc* p, std::size_t ldp, const int* end, VP v, std::size_t ldv, Acc* o,
                     std::size_t ldo, const Acc* alpha, int rows, int dp) noexcept {
  using B = blocking<Acc>;
  constexpr int w = B::width;
  const int n_vec = dp / w;
  for (int c0 = 0; c0 < n_vec; c0 += B::pv_vectors) {
    const int cv = n_vec - c0 < B::pv_vectors ? n_vec - c0 : B::pv_vectors;
    for (int r0 = 0; r0 < rows; r0 += B::pv_rows) {
      const int rr = rows - r0 < B::pv_rows ? rows - r0 : B::pv_rows;
      int nk_all = end[r0], nk = end[r0];  // keys every row sees, keys some row sees
      for (int r = r0 + 1; r < r0 + rr; ++r) {
        nk_all = end[r] < nk_all ? end[r] : nk_all;
        nk = end[r] > nk ? end[r] : nk;
      }
      const Acc* pp = p + r0;
      const VP vp = v + static_cast<std::size_t>(c0) * w;
      Acc* op = o + static_cast<std::size_t>(r0) * ldo + static_cast<std::size_t>(c0) * w;
      const Acc* ap = alpha + r0;
      // Dispatch to a fully unrolled tile (the compile-time sizes keep the
      // accumulators in registers).
      dispatch<B::pv_rows>(rr, [&](auto rr_c) {
        dispatch<B::pv_vectors>(cv, [&](auto cv_c) {
          pv_rows<Acc, decltype(rr_c)::value, decltype(cv_c)::value, VP>(
              pp, ldp, nk_all, nk, end + r0, vp, ldv, op, ldo, ap);
        });
      });
    }
  }
}

}  // namespace shiftrope::detail::attn
