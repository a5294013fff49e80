// shiftrope/detail/matmul/gemv.hpp - row kernels of the matrix product:
// dot products of weight rows (f32, f16, bf16 or Q8_0 blocks) with float
// activation rows, and the GEMV driver (one token: decode).
//
// Decode is memory bound: every weight byte is read once, so the kernels
// only have to keep up with memory (a few FMA chains per row, weights
// converted to float on load) and the driver has to keep every thread
// streaming (one parallel region, static chunks of rows).
#pragma once

#include <algorithm>
#include <cstddef>
#include <shiftrope/detail/matmul/quant_kernels.hpp>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/numeric.hpp>
#include <type_traits>

namespace shiftrope::detail::matmul_impl {

/// Rows per group in the GEMV, chosen by the size of x. One row at a time
/// reads a thread's chunk of W as a single sequential stream, which the
/// hardware prefetcher follows best: groups of 4 rows were 2-5x slower on
/// rows of 576 weights (4 interleaved streams of a few dozen cache lines,
/// re-learned for every group). But once x no longer fits in L1 beside the
/// weight stream (n_in = 5632: 22 KiB), one row at a time re-reads x from L2
/// for every row, and groups that read x once for several rows are faster:
/// on Zen 4, f16 2048×5632 ran at 21 GB/s in groups of 8, 16 in groups of
/// 4, 15 one row at a time (one core). 8 rows × 2 accumulators need 16 of
/// AVX-512's 32 registers; 16-register targets use groups of 4. The
/// benchmark keeps comparing the variants.
inline constexpr std::size_t gemv_group_rows = simd::lanes<float> >= 16 ? 8 : 4;
/// Activation bytes (n_in floats) above which the GEMV groups rows: half of
/// a 32 KiB L1.
inline constexpr std::size_t gemv_group_min_x_bytes = 16 * 1024;

/// Elements of a weight row: float, f16, bf16 or a block of quant.hpp.
template <class T>
inline constexpr bool is_weight_element_v = is_storage_type_v<T> ||
                                            (!std::is_same_v<T, double> && is_block_type_v<T>);

/// Storage units per row of n_in weights (blocks, or elements).
template <class T>
constexpr std::size_t row_units(std::size_t n_in) noexcept {
  return row_units_of<T>(n_in);
}

/// out[r] = sum_i rows[r][i] * x[i] for R rows of n float-convertible
/// weights. Each row has two accumulators (chunks alternate between them),
/// combined as (a0 + a1), then the scalar tail in order: the arithmetic of a
/// row is the same for every R, so grouping never changes a result.
template <std::size_t R, class T, std::enable_if_t<is_storage_type_v<T>, int> = 0>
inline void dot_rows(const float* x, const T* const* rows, std::size_t n, float* out) noexcept {
  using simd::vec;
  constexpr std::size_t w = simd::lanes<float>;
  vec<float> a0[R], a1[R];
  for (std::size_t r = 0; r < R; ++r) a0[r] = a1[r] = vec<float>(0.0f);
  std::size_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    const vec<float> x0 = simd::load_as<float>(x + i), x1 = simd::load_as<float>(x + i + w);
    for (std::size_t r = 0; r < R; ++r) {
      a0[r] = simd::fma(x0, simd::load_as<float>(rows[r] + i), a0[r]);
      a1[r] = simd::fma(x1, simd::load_as<float>(rows[r] + i + w), a1[r]);
    }
  }
  if (i + w <= n) {
    const vec<float> x0 = simd::load_as<float>(x + i);
    for (std::size_t r = 0; r < R; ++r)
      a0[r] = simd::fma(x0, simd::load_as<float>(rows[r] + i), a0[r]);
    i += w;
  }
  for (std::size_t r = 0; r < R; ++r) {
    float s = simd::hsum(a0[r] + a1[r]);
    for (std::size_t j = i; j < n; ++j) s += x[j] * convert<float>(rows[r][j]);
    out[r] = s;
  }
}

/// Sum over one Q8_0 block of q[i] * x[i] (lanes of the two halves, not yet
/// reduced and not yet scaled by the block's d).
inline simd::vec<float> q8_0_block_dot(const float* x, const q8_0_block& b) noexcept {
  constexpr std::size_t w = simd::lanes<float>;
  simd::vec<float> s = simd::load_i8_as<float>(b.qs) * simd::load_as<float>(x);
  for (std::size_t k = w; k < q8_0_block::size; k += w)
    s = simd::fma(simd::load_i8_as<float>(b.qs + k), simd::load_as<float>(x + k), s);
  return s;
}

/// out[r] = sum_blocks d * sum_i q[i] * x[i] for R rows of n_blocks Q8_0
/// blocks: the int8 products are summed per block in float, then scaled by
/// the block's d and accumulated (even and odd blocks in two accumulators).
template <std::size_t R>
inline void dot_rows(const float* x, const q8_0_block* const* rows, std::size_t n_blocks,
                     float* out) noexcept {
  using simd::vec;
  constexpr std::size_t bs = q8_0_block::size;
  vec<float> a0[R], a1[R];
  for (std::size_t r = 0; r < R; ++r) a0[r] = a1[r] = vec<float>(0.0f);
  std::size_t b = 0;
  for (; b + 2 <= n_blocks; b += 2) {
    for (std::size_t r = 0; r < R; ++r) {
      const q8_0_block& b0 = rows[r][b];
      const q8_0_block& b1 = rows[r][b + 1];
      a0[r] =
          simd::fma(vec<float>(simd::half_to_float(b0.d)), q8_0_block_dot(x + b * bs, b0), a0[r]);
      a1[r] = simd::fma(vec<float>(simd::half_to_float(b1.d)), q8_0_block_dot(x + (b + 1) * bs, b1),
                        a1[r]);
    }
  }
  if (b < n_blocks) {
    for (std::size_t r = 0; r < R; ++r) {
      const q8_0_block& b0 = rows[r][b];
      a0[r] =
          simd::fma(vec<float>(simd::half_to_float(b0.d)), q8_0_block_dot(x + b * bs, b0), a0[r]);
    }
  }
  for (std::size_t r = 0; r < R; ++r) out[r] = simd::hsum(a0[r] + a1[r]);
}

/// The other block types: decode each block, then dot in float.
template <std::size_t R, class T,
          std::enable_if_t<is_block_type_v<T> && !std::is_same_v<T, q8_0_block>, int> = 0>
inline void dot_rows(const float* x, const T* const* rows, std::size_t n_blocks,
                     float* out) noexcept {
  dot_rows_blocks<R>(x, rows, n_blocks, out);
}

/// y[o] = sum_i W[o, i] * x[i] for o in [o_begin, o_end), rows taken R at
/// a time. W: [n_out × row_units] units of T.
template <class T, std::size_t R = 1>
inline void gemv_rows_range(const T* w, std::size_t n_in, const float* x, float* y,
                            std::size_t o_begin, std::size_t o_end) noexcept {
  const std::size_t units = row_units<T>(n_in);
  const T* rows[R];
  float out[R];
  std::size_t o = o_begin;
  for (; o + R <= o_end; o += R) {
    for (std::size_t r = 0; r < R; ++r) rows[r] = w + (o + r) * units;
    dot_rows<R>(x, rows, units, out);
    for (std::size_t r = 0; r < R; ++r) y[o + r] = out[r];
  }
  for (; o < o_end; ++o) {
    rows[0] = w + o * units;
    dot_rows<1>(x, rows, units, out);
    y[o] = out[0];
  }
}

/// Splits [0, n) into n_parts nearly equal chunks whose boundaries are
/// multiples of `align` (except the end); returns chunk `part`'s begin.
constexpr std::size_t chunk_begin(std::size_t n, std::size_t align, std::size_t n_parts,
                                  std::size_t part) noexcept {
  const std::size_t units = (n + align - 1) / align;
  const std::size_t b = units * part / n_parts * align;
  return b < n ? b : n;
}

/// GEMV with groups of R rows, y[o] = sum_i W[o, i] * x[i]: one parallel
/// region, each thread a static chunk of whole groups (results independent
/// of the thread count: a row's arithmetic does not depend on its chunk).
template <class T, std::size_t R>
inline void gemv_grouped(const T* w, std::size_t n_out, std::size_t n_in, const float* x, float* y,
                         int n_threads) noexcept {
  static_assert(is_weight_element_v<T>, "weights are float, f16, bf16 or blocks");
  // Fewer than ~16 rows per thread costs more in wake-up than it saves.
  const std::size_t max_parts = (n_out + 15) / 16;
  const int threads = static_cast<int>(
      std::min<std::size_t>(static_cast<std::size_t>(resolve_threads(n_threads)), max_parts));
  parallel_region(threads, [&](int tid, int nt) {
    const std::size_t parts = static_cast<std::size_t>(nt), p = static_cast<std::size_t>(tid);
    gemv_rows_range<T, R>(w, n_in, x, y, chunk_begin(n_out, R, parts, p),
                          chunk_begin(n_out, R, parts, p + 1));
  });
}

/// GEMV: rows one at a time, or in groups when x outgrows L1 (see
/// gemv_group_min_x_bytes). Grouping never changes a result.
template <class T>
inline void gemv(const T* w, std::size_t n_out, std::size_t n_in, const float* x, float* y,
                 int n_threads) noexcept {
  if (n_in * sizeof(float) > gemv_group_min_x_bytes)
    gemv_grouped<T, gemv_group_rows>(w, n_out, n_in, x, y, n_threads);
  else
    gemv_grouped<T, 1>(w, n_out, n_in, x, y, n_threads);
}

/// Few tokens (below the packed GEMM's threshold): each thread streams its
/// rows once, and dots each row with every token while it is in L1.
/// X: [n_tokens × x_stride], Y: [n_tokens × y_stride].
template <class T>
inline void gemm_by_rows(const T* w, std::size_t n_out, std::size_t n_in, const float* x,
                         std::size_t x_stride, float* y, std::size_t y_stride, std::size_t n_tokens,
                         int n_threads) noexcept {
  static_assert(is_weight_element_v<T>, "weights are float, f16, bf16 or blocks");
  const std::size_t units = row_units<T>(n_in);
  const std::size_t max_parts = (n_out + 15) / 16;
  const int threads = static_cast<int>(
      std::min<std::size_t>(static_cast<std::size_t>(resolve_threads(n_threads)), max_parts));
  parallel_region(threads, [&](int tid, int nt) {
    const std::size_t parts = static_cast<std::size_t>(nt), p = static_cast<std::size_t>(tid);
    const std::size_t end = chunk_begin(n_out, 1, parts, p + 1);
    for (std::size_t o = chunk_begin(n_out, 1, parts, p); o < end; ++o) {
      const T* row = w + o * units;
      for (std::size_t t = 0; t < n_tokens; ++t)
        dot_rows<1>(x + t * x_stride, &row, units, y + t * y_stride + o);
    }
  });
}

}  // namespace shiftrope::detail::matmul_impl
