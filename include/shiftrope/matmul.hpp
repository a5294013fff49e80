// shiftrope/matmul.hpp - matrix products with stored weights: GEMV (one
// token, decode) and GEMM (many tokens, prefill), weights in any type of
// the table in quant.hpp (f32, f16, bf16, the legacy, K and IQ4 quants);
// Q8_0 quantization (the GGUF rule).
//
//   Y[t, o] = sum_i X[t, i] * W[o, i]      (Y = X · Wᵀ, no bias: the model adds it)
//
// W: [n_out × n_in], row-major, each output row contiguous over the input
// dimension (the GGUF and llama2.c layout). X: [n_tokens × x_stride] floats,
// Y: [n_tokens × y_stride] floats. Each Y element is computed by one thread
// in a fixed order, so results are bitwise identical for every thread count.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/detail/matmul/gemm.hpp>
#include <shiftrope/detail/matmul/gemv.hpp>
#include <shiftrope/detail/matmul/q8_kernels.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/quant.hpp>
#include <type_traits>
#include <vector>

namespace shiftrope {

/// Short name ("f32", "q4_k", ...), for messages and benchmarks.
constexpr const char* weight_type_name(weight_type t) noexcept {
  return weight_info(t).name;
}

/// Bytes of one row of n_in weights of type t (n_in / block_size blocks for
/// the block types; n_in must be a multiple of the block size there).
constexpr std::size_t weight_row_bytes(weight_type t, std::size_t n_in) noexcept {
  const weight_type_info& r = weight_info(t);
  return n_in / r.block_size * r.unit_bytes;
}

/// A non-owning view of a weight matrix W [n_out × n_in] (rows contiguous,
/// row o at data + o * row_bytes()).
struct weight_view {
  const void* data = nullptr;  // [n_out × row_bytes()] bytes; aligned for its element type
  weight_type type = weight_type::f32;  // storage of the elements
  std::size_t n_out = 0;                // rows: output features
  std::size_t n_in = 0;                 // columns: input features

  /// Bytes per row.
  constexpr std::size_t row_bytes() const noexcept { return weight_row_bytes(type, n_in); }
  /// Bytes of the whole matrix (valid after validate(): no overflow).
  constexpr std::size_t size_bytes() const noexcept { return n_out * row_bytes(); }

  /// Throws shiftrope::error naming the field: null data, zero sizes, a
  /// block type with n_in not a multiple of its block size (the type and
  /// the length named), misaligned data, a size that overflows.
  void validate() const {
    if (data == nullptr) fail("weight_view: data is null");
    if (n_out == 0) fail("weight_view: n_out = 0 (need at least one row)");
    if (n_in == 0) fail("weight_view: n_in = 0 (need at least one column)");
    const std::size_t block = weight_info(type).block_size;
    if (n_in % block != 0)
      fail("weight_view: n_in = ", n_in, " is not a multiple of ", block, " (type ",
           weight_type_name(type), ")");
    const std::size_t align = type == weight_type::f32 ? alignof(float) : alignof(f16);
    if (reinterpret_cast<std::uintptr_t>(data) % align != 0)
      fail("weight_view: data is not aligned to ", align, " bytes (type ", weight_type_name(type),
           ")");
    constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
    if (n_in > max / sizeof(float) || n_out > max / row_bytes())
      fail("weight_view: n_out × n_in = ", n_out, " × ", n_in, " overflows the address space");
  }

  /// Rows [first, first + n) as a view of their own (one part of a fused
  /// tensor such as phi3's attn_qkv). Requires first + n <= n_out.
  [[nodiscard]] weight_view rows(std::size_t first, std::size_t n) const noexcept {
    SHIFTROPE_ASSERT(first <= n_out && n <= n_out - first);
    return {static_cast<const std::byte*>(data) + first * row_bytes(), type, n, n_in};
  }
};

/// How a one-token product (GEMV, decode) reads its activations.
enum class gemv_activations {
  /// Float x: the result is within float rounding of the exact product.
  f32,
  /// x quantized to int8 blocks of 32 (quantize_activations) and integer dot
  /// products, for the weight types with an int8 kernel (has_q8_kernel); the
  /// other types use float x. About twice as fast out of cache for the
  /// 4-bit types; costs the rounding of x to 8 bits (as llama.cpp's decode).
  q8,
};

/// Whether weights of type t have an int8-activation GEMV kernel: q8_0,
/// q4_0, q4_1, q4_k, q5_k, q6_k, iq4_nl, iq4_xs.
constexpr bool has_q8_kernel(weight_type t) noexcept {
  return t == weight_type::q8_0 || t == weight_type::q4_0 || t == weight_type::q4_1 ||
         t == weight_type::q4_k || t == weight_type::q5_k || t == weight_type::q6_k ||
         t == weight_type::iq4_nl || t == weight_type::iq4_xs;
}

/// y[o] = sum_i W[o, i] * x[i] with x given quantized (xa: w.n_in / 32 blocks
/// from quantize_activations): the int8 GEMV. Requires has_q8_kernel(w.type).
/// y: w.n_out floats. Results do not depend on the thread count.
inline void matvec_q8(const weight_view& w, const q8_activation_block* xa, float* y,
                      int n_threads = 0) noexcept {
  SHIFTROPE_ASSERT(has_q8_kernel(w.type));
  using namespace detail::matmul_impl;
  visit_weight_type(w.type, [&](auto tag) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    if constexpr (has_q8_kernel_v<T>)
      gemv_q8(static_cast<const T*>(w.data), w.n_out, w.n_in, xa, y, n_threads);
  });
}

namespace detail::matmul_impl {

/// The int8 GEMV of matmul(): x quantized into a per-thread buffer that
/// grows to the largest n_in seen and is then reused (no allocation per call).
inline void matvec_quantized(const weight_view& w, const float* x, float* y,
                             int n_threads) noexcept {
  thread_local std::vector<q8_activation_block> xa;
  const std::size_t n_blocks = w.n_in / q8_activation_block::size;
  if (xa.size() < n_blocks) xa.resize(n_blocks);
  quantize_activations(x, w.n_in, xa.data());
  matvec_q8(w, xa.data(), y, n_threads);
}

template <class T>
inline void dispatch(const weight_view& w, const float* x, std::size_t x_stride, float* y,
                     std::size_t y_stride, std::size_t n_tokens, int n_threads) noexcept {
  const T* wt = static_cast<const T*>(w.data);
  if (n_tokens == 1) return gemv(wt, w.n_out, w.n_in, x, y, n_threads);
  if (n_tokens < gemm_min_tokens)
    return gemm_by_rows(wt, w.n_out, w.n_in, x, x_stride, y, y_stride, n_tokens, n_threads);
  gemm(gemm_args<T>{wt, w.n_out, w.n_in, x, x_stride, y, y_stride, n_tokens}, n_threads);
}

}  // namespace detail::matmul_impl

/// Y[t, o] = sum_i X[t, i] * W[o, i] for t < n_tokens, o < w.n_out.
/// x: [n_tokens × x_stride] floats (x_stride >= w.n_in), y: [n_tokens ×
/// y_stride] floats (y_stride >= w.n_out; only the first n_out of each row
/// are written). One token runs the GEMV (rows streamed once, SIMD, parallel
/// over rows); 2-3 tokens stream the rows once and dot each with every
/// token; 4 or more run the packed, register-blocked GEMM (the crossover
/// measured on AVX-512). n_threads <= 0: OpenMP's default.
/// act = gemv_activations::q8 quantizes x of a one-token product to int8
/// for the weight types with an int8 kernel (see gemv_activations); the
/// default keeps float activations everywhere.
/// Preconditions (w.validate() passed, strides large enough, buffers valid)
/// are the caller's: this is a kernel and does not throw.
inline void matmul(const weight_view& w, const float* x, std::size_t x_stride, float* y,
                   std::size_t y_stride, std::size_t n_tokens, int n_threads = 0,
                   gemv_activations act = gemv_activations::f32) noexcept {
  SHIFTROPE_ASSERT(w.data != nullptr && x_stride >= w.n_in &&
                   (n_tokens <= 1 || y_stride >= w.n_out));
  if (n_tokens == 0 || w.n_out == 0) return;
  using namespace detail::matmul_impl;
  if (n_tokens == 1 && act == gemv_activations::q8 && has_q8_kernel(w.type))
    return matvec_quantized(w, x, y, n_threads);
  visit_weight_type(w.type, [&](auto tag) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    dispatch<T>(w, x, x_stride, y, y_stride, n_tokens, n_threads);
  });
}

/// y[o] = sum_i W[o, i] * x[i]: one token (x: n_in floats, y: n_out floats).
inline void matvec(const weight_view& w, const float* x, float* y, int n_threads = 0,
                   gemv_activations act = gemv_activations::f32) noexcept {
  matmul(w, x, w.n_in, y, w.n_out, 1, n_threads, act);
}

/// Quantizes n floats (n a multiple of 32) to n / 32 Q8_0 blocks, the rule
/// of GGUF's reference quantizer (ggml's quantize_row_q8_0_ref), so files we
/// write match llama.cpp's bit for bit:
///   amax = max |x|,  d = amax / 127 (float),  id = d != 0 ? 1 / d : 0 (float),
///   q[i] = round(x[i] * id), halfway cases away from zero (roundf),
///   stored scale = f16(d).
/// q is computed with the float d, not the f16-rounded one, so the error of
/// a dequantized value f16(d) * q is at most d / 2 + 127 * |f16(d) - d|
/// (about 0.53 d), not d / 2. Throws shiftrope::error for n not a multiple of
/// 32, a non-finite input, or a block whose scale overflows f16 (max |x| >
/// 65504 * 127).
inline void quantize_q8_0(const float* src, q8_0_block* dst, std::size_t n) {
  if (n % q8_0_block::size != 0)
    fail("quantize_q8_0: n = ", n, " is not a multiple of ", q8_0_block::size);
  for (std::size_t b = 0; b < n / q8_0_block::size; ++b) {
    const float* x = src + b * q8_0_block::size;
    float amax = 0.0f;
    for (int i = 0; i < q8_0_block::size; ++i) {
      if (!std::isfinite(x[i]))
        fail("quantize_q8_0: src[", b * q8_0_block::size + i, "] = ", x[i], " is not finite");
      amax = std::max(amax, std::fabs(x[i]));
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    dst[b].d = to_f16(d);
    if (std::isinf(to_float(dst[b].d)))
      fail("quantize_q8_0: block ", b, " has max |x| = ", amax,
           ", whose scale max/127 overflows f16");
    for (int i = 0; i < q8_0_block::size; ++i) {
      const float q = std::round(x[i] * id);  // |x * id| <= 127 (+ rounding): fits int8
      dst[b].qs[i] = static_cast<std::int8_t>(std::max(-127.0f, std::min(127.0f, q)));
    }
  }
}

/// Dequantizes n_blocks Q8_0 blocks into n_blocks * 32 floats: d * q[i]
/// (exact in float: an 11-bit scale times an 8-bit integer).
inline void dequantize_q8_0(const q8_0_block* src, float* dst, std::size_t n_blocks) noexcept {
  detail::matmul_impl::decode_row(src, dst, n_blocks * q8_0_block::size);
}

}  // namespace shiftrope
