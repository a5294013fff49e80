// shiftrope/detail/matmul/quant_kernels.hpp - row kernels for the block
// types of quant.hpp (except Q8_0, whose kernels are in gemv.hpp): a block
// is decoded to floats in L1 (the scalar reference written so that the
// compiler vectorizes it, or a SIMD decoder for the hot types), then dotted
// with x in float. Every weight is exactly the reference's float, and the
// products are summed in float as for f32 weights: results are within float
// rounding of the exact dot product.
#pragma once

#include <cstddef>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/quant.hpp>

namespace shiftrope::detail::matmul_impl {

/// y[0..block_size) = the weights of block b as floats.
template <class T>
inline void decode_block(const T& b, float* y) noexcept {
  dequantize_block(b, y);
}

/// out[r] = sum_i rows[r][i] * x[i] for R rows of n_blocks blocks of T:
/// each block decoded into a small buffer, then multiplied with x in two
/// accumulators (alternating registers), reduced at the end of the row.
template <std::size_t R, class T>
inline void dot_rows_blocks(const float* x, const T* const* rows, std::size_t n_blocks,
                            float* out) noexcept {
  using simd::vec;
  constexpr std::size_t bs = element_traits<T>::block_size, w = simd::lanes<float>;
  static_assert(bs % (2 * w) == 0, "a block holds an even number of registers");
  alignas(simd::max_align) float tmp[bs];
  vec<float> a0[R], a1[R];
  for (std::size_t r = 0; r < R; ++r) a0[r] = a1[r] = vec<float>(0.0f);
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const float* xb = x + b * bs;
    for (std::size_t r = 0; r < R; ++r) {
      decode_block(rows[r][b], tmp);
      for (std::size_t k = 0; k < bs; k += 2 * w) {
        a0[r] = simd::fma(simd::load_as<float>(xb + k), simd::load_as<float>(tmp + k), a0[r]);
        a1[r] =
            simd::fma(simd::load_as<float>(xb + k + w), simd::load_as<float>(tmp + k + w), a1[r]);
      }
    }
  }
  for (std::size_t r = 0; r < R; ++r) out[r] = simd::hsum(a0[r] + a1[r]);
}

}  // namespace shiftrope::detail::matmul_impl
