// shiftrope/detail/matmul/gemm.hpp - the packed matrix product for many
// tokens (prefill): Y[n_tokens × n_out] = X[n_tokens × n_in] · Wᵀ.
//
// Outer-product form. A panel of weight rows is converted to float once and
// packed transposed, [nc/nr][kc][nr]: for each k, nr consecutive outputs
// side by side. The micro tile then holds gemm_mr tokens × nr outputs of Y
// in registers (with AVX-512: 6 × 64 floats = 24 registers) and, for each k,
// loads gemm_nv weight registers and broadcasts one activation per token:
// 24 FMAs per 4 + 6 loads, so the loop is bound by the FMA units, not by
// loads. Conversion of f16 / bf16 / Q8_0 costs once per panel, shared by all
// the tokens of a thread.
//
// Loop nest (per thread, on its token range × output range):
//   jc: output panels of gemm_nc rows        (packed panel: gemm_nc × gemm_kc floats, in L2)
//   pc: blocks of gemm_kc along n_in          (pack the panel here)
//   ir: gemm_mr tokens                        (their kc activations stay in L1)
//   jr: nr outputs of the panel               (micro tile, kc FMA steps)
// Each Y element is computed by one thread, over the kc blocks in order
// (Y = block 0, then Y += block p): the same bits for every thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <shiftrope/detail/dispatch.hpp>
#include <shiftrope/detail/matmul/gemv.hpp>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/numeric.hpp>
#include <type_traits>

namespace shiftrope::detail::matmul_impl {

/// Registers of outputs per micro tile row, and the outputs they hold.
inline constexpr std::size_t gemm_nv = 4;
inline constexpr std::size_t gemm_nr = gemm_nv * simd::lanes<float>;
/// Tokens per micro tile (gemm_mr × gemm_nv accumulators; 24 of AVX-512's 32
/// registers, leaving room for the weight registers and a broadcast).
inline constexpr std::size_t gemm_mr = 6;
/// Depth of a packed block: a multiple of the Q8_0 block size, so a packed
/// block never splits a quantization block.
inline constexpr std::size_t gemm_kc = 256;
/// Output rows per packed panel (a multiple of gemm_nr): with gemm_kc, a
/// 256 KiB panel that stays in L2 while every token of the thread uses it.
inline constexpr std::size_t gemm_nc = 4 * gemm_nr;
/// Fewer tokens than this use the row-streaming path (gemm_by_rows): below
/// it, packing the weights costs more than it saves.
inline constexpr std::size_t gemm_min_tokens = 4;

static_assert(gemm_kc % 256 == 0, "a packed block must hold whole blocks (32 or 256 weights)");
static_assert(gemm_nc % gemm_nr == 0, "a panel holds whole micro tiles");

/// dst[0..n) = the n weights of a row segment starting at unit `src` as
/// floats; n is a multiple of the block size for block types (Q8_0: dst[i]
/// = d * q[i], exact in float; others: the reference dequantizer's floats).
template <class T>
inline void decode_row(const T* src, float* dst, std::size_t n) noexcept {
  if constexpr (std::is_same_v<T, q8_0_block>) {
    constexpr std::size_t w = simd::lanes<float>;
    for (std::size_t b = 0; b < n / q8_0_block::size; ++b) {
      const simd::vec<float> d(simd::half_to_float(src[b].d));
      for (std::size_t k = 0; k < q8_0_block::size; k += w)
        simd::store_as<float>(dst + b * q8_0_block::size + k,
                              simd::load_i8_as<float>(src[b].qs + k) * d);
    }
  } else if constexpr (is_block_type_v<T>) {
    constexpr std::size_t bs = element_traits<T>::block_size;
    for (std::size_t b = 0; b < n / bs; ++b) decode_block(src[b], dst + b * bs);
  } else {
    simd::convert_row<float>(src, dst, n);
  }
}

/// Packs W rows [o0, o0 + nc) × columns [k0, k0 + kc) as floats into
/// packed[nc_pad/nr][kc][nr] (nc_pad = nc rounded up to nr; the padding rows
/// are zero). Rows go lanes<float> at a time: decoded into rows_tmp
/// [lanes × kc] (f32 rows are read in place), then transposed in register
/// blocks, so every store fills whole cache lines (element-wise transposed
/// stores measured ~3.6 cycles per weight: one cache line per element).
template <class T>
inline void pack_panel(const T* w, std::size_t n_in, std::size_t o0, std::size_t nc, std::size_t k0,
                       std::size_t kc, float* packed, float* rows_tmp) noexcept {
  constexpr std::size_t nr = gemm_nr, L = simd::lanes<float>;
  static_assert(nr % L == 0, "a micro panel holds whole transposed blocks");
  const std::size_t units = row_units<T>(n_in);
  const std::size_t unit0 = k0 / element_traits<T>::block_size;
  const std::size_t nc_pad = (nc + nr - 1) / nr * nr;
  for (std::size_t j = 0; j < nc_pad; j += L) {
    float* dst = packed + (j / nr) * kc * nr + j % nr;
    if constexpr (std::is_same_v<T, float>) {
      if (j + L <= nc) {
        simd::transpose_rows<float>(w + (o0 + j) * n_in + k0, n_in, dst, nr, kc);
        continue;
      }
    }
    for (std::size_t i = 0; i < L; ++i) {
      if (j + i < nc)
        decode_row(w + (o0 + j + i) * units + unit0, rows_tmp + i * kc, kc);
      else
        std::fill(rows_tmp + i * kc, rows_tmp + (i + 1) * kc, 0.0f);
    }
    simd::transpose_rows<float>(rows_tmp, kc, dst, nr, kc);
  }
}

/// Y[m, j] (=|+=) sum_k X[m, k] * P[k, j] for m < MR tokens, j < n_valid
/// outputs: X rows at x (stride x_stride, kc floats used), P one packed
/// micro panel [kc × nr]. first: store (the first kc block) or add.
template <std::size_t MR>
inline void micro_tile(std::size_t kc, const float* x, std::size_t x_stride, const float* p,
                       float* y, std::size_t y_stride, std::size_t n_valid, bool first) noexcept {
  using simd::vec;
  constexpr std::size_t L = simd::lanes<float>, NV = gemm_nv;
  vec<float> acc[MR][NV];
  for (std::size_t m = 0; m < MR; ++m)
    for (std::size_t v = 0; v < NV; ++v) acc[m][v] = vec<float>(0.0f);
  const float* xr[MR];
  for (std::size_t m = 0; m < MR; ++m) xr[m] = x + m * x_stride;
  for (std::size_t k = 0; k < kc; ++k, p += NV * L) {
    vec<float> b[NV];
    for (std::size_t v = 0; v < NV; ++v) b[v] = simd::load_as<float>(p + v * L);
    for (std::size_t m = 0; m < MR; ++m) {
      const vec<float> a(xr[m][k]);
      for (std::size_t v = 0; v < NV; ++v) acc[m][v] = simd::fma(a, b[v], acc[m][v]);
    }
  }
  for (std::size_t m = 0; m < MR; ++m) {
    float* yr = y + m * y_stride;
    for (std::size_t v = 0; v < NV && v * L < n_valid; ++v) {
      const std::size_t cnt = std::min(L, n_valid - v * L);
      if (cnt == L) {
        const vec<float> r = first ? acc[m][v] : acc[m][v] + simd::load_as<float>(yr + v * L);
        simd::store_as<float>(yr + v * L, r);
      } else {
        const vec<float> r =
            first ? acc[m][v] : acc[m][v] + simd::load_partial_as<float>(yr + v * L, cnt);
        simd::store_partial_as<float>(yr + v * L, r, cnt);
      }
    }
  }
}

/// micro_tile with a run-time token count m in [1, gemm_mr].
inline void micro_tile_n(std::size_t m, std::size_t kc, const float* x, std::size_t x_stride,
                         const float* p, float* y, std::size_t y_stride, std::size_t n_valid,
                         bool first) noexcept {
  dispatch<static_cast<int>(gemm_mr)>(static_cast<int>(m), [&](auto m_c) {
    micro_tile<decltype(m_c)::value>(kc, x, x_stride, p, y, y_stride, n_valid, first);
  });
}

/// The operands of one product, as the drivers see them.
template <class T>
struct gemm_args {
  const T* w;            // [n_out × row_units(n_in)] weight units
  std::size_t n_out;     // output features (rows of W)
  std::size_t n_in;      // input features
  const float* x;        // [n_tokens × x_stride] activations
  std::size_t x_stride;  // floats between token rows of X, >= n_in
  float* y;              // [n_tokens × y_stride] outputs
  std::size_t y_stride;  // floats between token rows of Y, >= n_out
  std::size_t n_tokens;  // rows of X and Y
};

/// One thread's block: tokens [t0, t1) × outputs [o0, o1), with a packed
/// panel scratch of gemm_nc × gemm_kc floats and rows_tmp of lanes × gemm_kc.
template <class T>
inline void gemm_block(const gemm_args<T>& a, std::size_t t0, std::size_t t1, std::size_t o0,
                       std::size_t o1, float* panel, float* rows_tmp) noexcept {
  for (std::size_t jc = o0; jc < o1; jc += gemm_nc) {
    const std::size_t nc = std::min(gemm_nc, o1 - jc);
    for (std::size_t pc = 0; pc < a.n_in; pc += gemm_kc) {
      const std::size_t kc = std::min(gemm_kc, a.n_in - pc);
      pack_panel(a.w, a.n_in, jc, nc, pc, kc, panel, rows_tmp);
      for (std::size_t ir = t0; ir < t1; ir += gemm_mr) {
        const std::size_t m = std::min(gemm_mr, t1 - ir);
        const float* x = a.x + ir * a.x_stride + pc;
        for (std::size_t jr = 0; jr < nc; jr += gemm_nr) {
          micro_tile_n(m, kc, x, a.x_stride, panel + jr * kc, a.y + ir * a.y_stride + jc + jr,
                       a.y_stride, std::min(gemm_nr, nc - jr), pc == 0);
        }
      }
    }
  }
}

/// The same block without scratch (when it cannot be allocated): row by row.
template <class T>
inline void gemm_block_unpacked(const gemm_args<T>& a, std::size_t t0, std::size_t t1,
                                std::size_t o0, std::size_t o1) noexcept {
  for (std::size_t t = t0; t < t1; ++t)
    gemv_rows_range(a.w, a.n_in, a.x + t * a.x_stride, a.y + t * a.y_stride, o0, o1);
}

/// Per-thread scratch of at least n floats, 64-byte aligned, kept for the
/// thread's lifetime (no allocation per call); nullptr if it cannot be had.
inline float* thread_scratch(std::size_t n) noexcept {
  struct aligned_delete {
    void operator()(float* p) const noexcept { ::operator delete (p, std::align_val_t{64}); }
  };
  thread_local std::unique_ptr<float, aligned_delete> buf;
  thread_local std::size_t capacity = 0;
  if (capacity < n) {
    buf.reset(static_cast<float*>(
        ::operator new (n * sizeof(float), std::align_val_t{64}, std::nothrow)));
    capacity = buf ? n : 0;
  }
  return buf.get();
}

/// How the threads split the product: token_parts × out_parts blocks.
struct gemm_grid {
  std::size_t token_parts = 1;  // blocks along the tokens
  std::size_t out_parts = 1;    // blocks along the outputs
};

/// Chooses the split of `threads` threads that minimises the largest block
/// (in micro tiles, plus a packing charge per output tile: each token part
/// packs its own copy of its weight panels). Ties favour splitting outputs.
inline gemm_grid choose_grid(std::size_t n_tokens, std::size_t n_out,
                             std::size_t threads) noexcept {
  constexpr std::size_t pack_charge = 2;  // packing one tile ~ two micro tiles of tokens
  const std::size_t mt = (n_tokens + gemm_mr - 1) / gemm_mr, nt = (n_out + gemm_nr - 1) / gemm_nr;
  gemm_grid best;
  std::size_t best_cost = static_cast<std::size_t>(-1);
  for (std::size_t tp = 1; tp <= threads; ++tp) {
    if (threads % tp != 0) continue;
    const std::size_t op = threads / tp;
    if (tp > mt || op > nt) continue;
    const std::size_t rows = (mt + tp - 1) / tp, cols = (nt + op - 1) / op;
    const std::size_t cost = cols * (rows + pack_charge);
    if (cost < best_cost || (cost == best_cost && op > best.out_parts)) {
      best_cost = cost;
      best = gemm_grid{tp, op};
    }
  }
  return best;
}

/// GEMM driver: one parallel region, thread tid takes block
/// (tid / out_parts, tid % out_parts) of the grid.
template <class T>
inline void gemm(const gemm_args<T>& a, int n_threads) noexcept {
  static_assert(is_weight_element_v<T>, "weights are float, f16, bf16 or blocks");
  std::size_t threads = static_cast<std::size_t>(resolve_threads(n_threads));
  const std::size_t tiles =
      ((a.n_tokens + gemm_mr - 1) / gemm_mr) * ((a.n_out + gemm_nr - 1) / gemm_nr);
  threads = std::max<std::size_t>(1, std::min(threads, tiles));
  gemm_grid g = choose_grid(a.n_tokens, a.n_out, threads);
  while (g.token_parts * g.out_parts < threads) g = choose_grid(a.n_tokens, a.n_out, --threads);
  // A region may deliver fewer threads than asked (nested inside a user's
  // region it runs on one): each thread then takes every nt-th block.
  parallel_region(static_cast<int>(threads), [&](int tid, int nt) {
    for (std::size_t b = static_cast<std::size_t>(tid); b < threads;
         b += static_cast<std::size_t>(nt)) {
      const std::size_t ti = b / g.out_parts, oi = b % g.out_parts;
      const std::size_t t0 = chunk_begin(a.n_tokens, gemm_mr, g.token_parts, ti);
      const std::size_t t1 = chunk_begin(a.n_tokens, gemm_mr, g.token_parts, ti + 1);
      const std::size_t o0 = chunk_begin(a.n_out, gemm_nr, g.out_parts, oi);
      const std::size_t o1 = chunk_begin(a.n_out, gemm_nr, g.out_parts, oi + 1);
      if (t0 >= t1 || o0 >= o1) continue;
      float* scratch = thread_scratch(gemm_nc * gemm_kc + simd::lanes<float> * gemm_kc);
      if (scratch == nullptr)
        gemm_block_unpacked(a, t0, t1, o0, o1);
      else
        gemm_block(a, t0, t1, o0, o1, scratch, scratch + gemm_nc * gemm_kc);
    }
  });
}

}  // namespace shiftrope::detail::matmul_impl
