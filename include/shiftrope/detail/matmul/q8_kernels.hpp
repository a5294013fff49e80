// shiftrope/detail/matmul/q8_kernels.hpp - the GEMV with int8 activations
// (decode): the activation vector is quantized once into blocks of 32 int8
// values with a float scale, then each weight block is dotted with it in
// integers (vpdpbusd, or maddubs + madd, through simd.hpp), converted to
// float and scaled once per block of 32 weights.
//
//   y[o] = sum_b scale_w(o, b) * d_x(b) * sum_{i in b} q_w[i] * q_x[i]   (- offsets)
//
// Per 32 weights this is a few integer instructions plus one conversion and
// one FMA, where the float path (quant_kernels.hpp) needs a conversion and
// an FMA per 16 weights besides the unpacking: the float path is compute
// bound out of cache, this one keeps up with memory. The price is the
// rounding of x to 8 bits (relative error about 1/254 of the block's
// largest |x| per element), the same trade llama.cpp makes for its decode.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/detail/matmul/quant_kernels.hpp>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/quant.hpp>
#include <type_traits>

namespace shiftrope {

/// 32 activations quantized to int8 (the activation side of the int8 GEMV):
/// x[i] ≈ d * qs[i].
struct q8_activation_block {
  static constexpr int size = 32;
  std::int8_t qs[32];        ///< round(x[i] / d), in [-127, 127]
  std::int32_t neg_sums[8];  ///< -(qs[4k] + qs[4k+1] + qs[4k+2] + qs[4k+3]): weight offsets
  float d = 0.0f;            ///< max |x| / 127 (0 for an all-zero block; NaN: see below)
  float s = 0.0f;            ///< d * sum qs (for weight types with a minimum)
};

/// Quantizes n floats (n a multiple of 32) into n / 32 blocks:
///   amax = max |x|,  d = amax / 127,  q[i] = round-to-nearest(x[i] / d)
/// (x[i] * (1 / d) rounded, halfway cases to even; an all-zero block has d
/// = 0 and q = 0). A block holding a NaN or an infinity gets d = NaN and q =
/// 0, so every product with it is NaN, as with float activations.
inline void quantize_activations(const float* x, std::size_t n, q8_activation_block* out) noexcept {
  for (std::size_t b = 0; b < n / 32; ++b) {
    const float* xb = x + 32 * b;
    q8_activation_block& a = out[b];
    float amax = 0.0f, probe = 0.0f;  // probe: 0 unless some x is NaN or infinite
    for (int i = 0; i < 32; ++i) {
      amax = std::max(amax, std::fabs(xb[i]));
      probe += xb[i] * 0.0f;
    }
    if (probe != 0.0f) {
      std::fill(a.qs, a.qs + 32, std::int8_t{0});
      std::fill(a.neg_sums, a.neg_sums + 8, 0);
      a.d = a.s = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    std::int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      const float q = std::nearbyint(xb[i] * id);  // |x * id| <= 127 (+ rounding)
      a.qs[i] = static_cast<std::int8_t>(std::max(-127.0f, std::min(127.0f, q)));
    }
    for (int k = 0; k < 8; ++k) {
      const std::int32_t s4 = a.qs[4 * k] + a.qs[4 * k + 1] + a.qs[4 * k + 2] + a.qs[4 * k + 3];
      a.neg_sums[k] = -s4;
      sum += s4;
    }
    a.d = d;
    a.s = d * static_cast<float>(sum);
  }
}

namespace detail::matmul_impl {

/// Weight types with an int8-activation kernel (the others keep float x).
template <class T>
inline constexpr bool has_q8_kernel_v =
    std::is_same_v<T, q8_0_block> || std::is_same_v<T, q4_0_block> ||
    std::is_same_v<T, q4_1_block> || std::is_same_v<T, q4_k_block> ||
    std::is_same_v<T, q5_k_block> || std::is_same_v<T, q6_k_block> ||
    std::is_same_v<T, iq4_nl_block> || std::is_same_v<T, iq4_xs_block>;

using simd::bytes32;
using simd::floats8;
using simd::ints8;

/// Activations of block a as a register.
SHIFTROPE_FORCE_INLINE bytes32 act_q(const q8_activation_block& a) noexcept {
  return simd::load_bytes32(a.qs);
}

/// One 32-weight block against its activation block: the integer dot (in
/// 8 lanes) and the float factor of the block (weight scale × x scale);
/// *off accumulates what types with a minimum subtract.
template <class T>
SHIFTROPE_FORCE_INLINE ints8 block_dot_q8(const T& w, const q8_activation_block& a, float& factor,
                                          float& off) noexcept {
  const float d = simd::half_to_float(w.d);
  factor = d * a.d;
  if constexpr (std::is_same_v<T, q8_0_block>) {
    return simd::dot_i8_i8(simd::zero_ints8(), simd::load_bytes32(w.qs), act_q(a));
  } else if constexpr (std::is_same_v<T, q4_0_block>) {
    // sum (q - 8) x = sum q x - 8 sum x: the -8 sum x starts the accumulator.
    const ints8 bias = simd::shift_left(simd::load_ints8(a.neg_sums), 3);
    return simd::dot_u8_i8(bias, simd::load_nibbles16(w.qs), act_q(a));
  } else if constexpr (std::is_same_v<T, q4_1_block>) {
    off -= simd::half_to_float(w.m) * a.s;  // value = d q + m
    return simd::dot_u8_i8(simd::zero_ints8(), simd::load_nibbles16(w.qs), act_q(a));
  } else {  // iq4_nl
    const bytes32 v = simd::lookup16(simd::load_nibbles16(w.qs), iq4_values);
    return simd::dot_i8_i8(simd::zero_ints8(), v, act_q(a));
  }
}

/// Sum over one row of 32-weight blocks: even blocks into acc0, odd into
/// acc1 (two FMA chains, kept in registers), minus the offsets.
template <class T>
inline float dot_row_q8(const T* row, const q8_activation_block* xa,
                        std::size_t n_blocks) noexcept {
  floats8 acc0 = simd::zero_floats8(), acc1 = simd::zero_floats8();
  float off = 0.0f, f0 = 0.0f, f1 = 0.0f;
  std::size_t b = 0;
  for (; b + 2 <= n_blocks; b += 2) {
    const ints8 d0 = block_dot_q8(row[b], xa[b], f0, off);
    const ints8 d1 = block_dot_q8(row[b + 1], xa[b + 1], f1, off);
    acc0 = simd::fma_ints(d0, f0, acc0);
    acc1 = simd::fma_ints(d1, f1, acc1);
  }
  if (b < n_blocks) {
    const ints8 d0 = block_dot_q8(row[b], xa[b], f0, off);  // sets f0 first
    acc0 = simd::fma_ints(d0, f0, acc0);
  }
  return simd::hsum(simd::add(acc0, acc1)) - off;
}

/// Q4_K / Q5_K / IQ4_XS: 8 sub-blocks of 32, one activation block each.
template <class T>
SHIFTROPE_FORCE_INLINE bytes32 k32_quants(const T& w, std::size_t j) noexcept {
  const std::size_t c = j / 2;
  if constexpr (std::is_same_v<T, iq4_xs_block>) {
    return simd::lookup16(simd::load_nibbles16(w.qs + 16 * j), iq4_values);
  } else {
    const bytes32 lo =
        simd::bits_of(simd::load_bytes32(w.qs + 32 * c), static_cast<int>(4 * (j % 2)), 15);
    if constexpr (std::is_same_v<T, q5_k_block>)
      return simd::or_shifted(lo, simd::bits_of(simd::load_bytes32(w.qh), static_cast<int>(j), 1),
                              4);
    else
      return lo;
  }
}

template <class T>
inline float dot_row_q8_k32(const T* row, const q8_activation_block* xa,
                            std::size_t n_blocks) noexcept {
  using U = unpacked<T>;
  floats8 acc[2] = {simd::zero_floats8(), simd::zero_floats8()};
  float off = 0.0f;
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const T& w = row[b];
    const q8_activation_block* a = xa + 8 * b;
    U u;
    unpack(w, u);
    static_for<8>([&](auto ji) SHIFTROPE_LAMBDA_INLINE {
      constexpr std::size_t j = decltype(ji)::value;
      const bytes32 q = k32_quants(w, j);
      ints8 dot;
      if constexpr (std::is_same_v<T, iq4_xs_block>)
        dot = simd::dot_i8_i8(simd::zero_ints8(), q, act_q(a[j]));
      else
        dot = simd::dot_u8_i8(simd::zero_ints8(), q, act_q(a[j]));
      acc[j % 2] = simd::fma_ints(dot, u.scale[j] * a[j].d, acc[j % 2]);
      if constexpr (U::has_offset) off += u.offset[j] * a[j].s;
    });
  }
  return simd::hsum(simd::add(acc[0], acc[1])) - off;
}

/// Q6_K: 16 sub-blocks of 16; q - 32 via the activation sums (-32 sum x
/// starts each accumulator), the two halves of a 32 block scaled apart.
inline float dot_row_q8_q6k(const q6_k_block* row, const q8_activation_block* xa,
                            std::size_t n_blocks) noexcept {
  floats8 acc[2] = {simd::zero_floats8(), simd::zero_floats8()};
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const q6_k_block& w = row[b];
    const q8_activation_block* a = xa + 8 * b;
    unpacked<q6_k_block> u;
    unpack(w, u);
    static_for<8>([&](auto ji) SHIFTROPE_LAMBDA_INLINE {
      constexpr std::size_t j = decltype(ji)::value, h = j / 4, kk = j % 4;
      const bytes32 lo = simd::bits_of(simd::load_bytes32(w.ql + 64 * h + 32 * (kk % 2)),
                                       static_cast<int>(4 * (kk / 2)), 15);
      const bytes32 hi =
          simd::bits_of(simd::load_bytes32(w.qh + 32 * h), static_cast<int>(2 * kk), 3);
      const ints8 bias = simd::shift_left(simd::load_ints8(a[j].neg_sums), 5);
      const ints8 dot = simd::dot_u8_i8(bias, simd::or_shifted(lo, hi, 4), act_q(a[j]));
      acc[j % 2] = simd::fma_ints_halves(dot, u.scale[2 * j] * a[j].d, u.scale[2 * j + 1] * a[j].d,
                                         acc[j % 2]);
    });
  }
  return simd::hsum(simd::add(acc[0], acc[1]));
}

/// One row of n_units blocks of T against the quantized activations.
template <class T>
SHIFTROPE_FORCE_INLINE float dot_q8(const T* row, const q8_activation_block* xa,
                                    std::size_t n_units) noexcept {
  if constexpr (std::is_same_v<T, q6_k_block>)
    return dot_row_q8_q6k(row, xa, n_units);
  else if constexpr (element_traits<T>::block_size == 256)
    return dot_row_q8_k32(row, xa, n_units);
  else
    return dot_row_q8(row, xa, n_units);
}

/// y[o] = sum_i W[o, i] * x[i] with x given as int8 blocks (n_in / 32 of
/// them): one parallel region, static chunks of rows, one row at a time (the
/// quantized x, 72 bytes per 32 values, stays in L1 beside the weight stream).
template <class T>
inline void gemv_q8(const T* w, std::size_t n_out, std::size_t n_in, const q8_activation_block* xa,
                    float* y, int n_threads) noexcept {
  static_assert(has_q8_kernel_v<T>, "no int8 kernel for this weight type");
  const std::size_t units = row_units_of<T>(n_in);
  const std::size_t max_parts = (n_out + 15) / 16;
  const int threads = static_cast<int>(
      std::min<std::size_t>(static_cast<std::size_t>(resolve_threads(n_threads)), max_parts));
  parallel_region(threads, [&](int tid, int nt) {
    const std::size_t parts = static_cast<std::size_t>(nt), p = static_cast<std::size_t>(tid);
    const std::size_t begin = n_out * p / parts, end = n_out * (p + 1) / parts;
    for (std::size_t o = begin; o < end; ++o) y[o] = dot_q8(w + o * units, xa, units);
  });
}

}  // namespace detail::matmul_impl
}  // namespace shiftrope
