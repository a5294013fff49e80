// shiftrope/detail/model/ops.hpp - the small row operations of the forward
// pass (RMSNorm, SwiGLU, residual add, bias add, embedding row lookup),
// single-threaded kernels on pointers and sizes, SIMD through simd.hpp.
// Their cost is O(tokens × width), next to O(tokens × width²) for the
// matmuls, so they run on the calling thread.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/numeric.hpp>
#include <type_traits>

namespace shiftrope::detail::model_ops {

/// out[i] = x[i] / sqrt(mean(x²) + eps) * gain[i] for one row of n values.
/// The sum of squares is accumulated in float with four SIMD partial sums
/// (simd::dot), as precise as a double loop for the widths models use.
inline void rmsnorm(const float* x, const float* gain, float* out, std::size_t n,
                    float eps) noexcept {
  const float ss = simd::dot<float>(x, x, n);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * inv * gain[i];
}

/// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g): SwiGLU's
/// elementwise step. For g below about -88, e^-g overflows to infinity and
/// g / inf = -0, the right limit.
inline void swiglu(float* gate, const float* up, std::size_t n) noexcept {
  using simd::vec;
  constexpr std::size_t w = simd::lanes<float>;
  const vec<float> one(1.0f);
  std::size_t i = 0;
  for (; i + w <= n; i += w) {
    const vec<float> g = vec<float>::load_unaligned(gate + i);
    const vec<float> u = vec<float>::load_unaligned(up + i);
    (g / (one + simd::exp(-g)) * u).store_unaligned(gate + i);
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

/// y[i] += x[i].
inline void add(float* y, const float* x, std::size_t n) noexcept {
  simd::axpy<float>(1.0f, x, y, n);
}

/// Row `row` of a weight matrix as floats: out[n_in] (the embedding lookup;
/// exact for every storage type: f16, bf16 and the dequantized weights of
/// the block types are the reference dequantizer's floats).
inline void weight_row(const weight_view& w, std::size_t row, float* out) noexcept {
  const auto* base = static_cast<const unsigned char*>(w.data) + row * w.row_bytes();
  visit_weight_type(w.type, [&](auto tag) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    if constexpr (std::is_same_v<T, float>)
      std::memcpy(out, base, w.n_in * sizeof(float));
    else if constexpr (is_storage_type_v<T>)
      simd::convert_row<float>(reinterpret_cast<const T*>(base), out, w.n_in);
    else
      weight_info(w.type).dequantize_row(base, out, w.n_in);
  });
}

}  // namespace shiftrope::detail::model_ops
