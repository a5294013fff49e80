// shiftrope/detail/matmul/quant_kernels.hpp - row kernels for the block
// types of quant.hpp (except Q8_0, whose kernels are in gemv.hpp): a block
// is decoded to floats in L1 (the scalar reference written so that the
// compiler vectorizes it, or a SIMD decoder for the hot types), then dotted
// with x in float. Every weight is exactly the reference's float, and the
// products are summed in float as for f32 weights: results are within float
// rounding of the exact dot product.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/quant.hpp>
#include <type_traits>
#include <utility>

namespace shiftrope::detail::matmul_impl {

// Every block type is unpacked the same way: its quants as int8 q[block]
// and, per group of G consecutive weights, a float scale and offset with
//   weight = scale[g] * q - offset[g]
// (the reference's arithmetic: one product and one difference per weight;
// offset is 0 for types without minimums). The bit fields are unpacked in
// plain loops over fixed lengths, which the compiler vectorizes; the rest
// is SIMD through simd.hpp. The GEMM decodes a block to floats from this
// form; the GEMV dots it with x without writing floats.

/// Unpacked form of one block.
template <class T>
struct unpacked {
  static constexpr std::size_t size = element_traits<T>::block_size;
  static constexpr std::size_t group = std::is_same_v<T, q2_k_block> ||
                                               std::is_same_v<T, q3_k_block> ||
                                               std::is_same_v<T, q6_k_block>
                                           ? 16
                                       : size == 32 ? 32
                                                    : 32;
  static constexpr std::size_t groups = size / group;
  /// Types whose offsets are not all zero.
  static constexpr bool has_offset = std::is_same_v<T, q4_1_block> ||
                                     std::is_same_v<T, q5_1_block> ||
                                     std::is_same_v<T, q2_k_block> ||
                                     std::is_same_v<T, q4_k_block> || std::is_same_v<T, q5_k_block>;
  alignas(simd::max_align) std::int8_t q[size];
  float scale[groups];
  float offset[groups];
};

SHIFTROPE_FORCE_INLINE void unpack(const q8_0_block& b, unpacked<q8_0_block>& u) noexcept {
  std::memcpy(u.q, b.qs, 32);
  u.scale[0] = simd::half_to_float(b.d);
}

SHIFTROPE_FORCE_INLINE void unpack(const q5_0_block& b, unpacked<q5_0_block>& u) noexcept {
  u.scale[0] = simd::half_to_float(b.d);
}

SHIFTROPE_FORCE_INLINE void unpack(const q5_1_block& b, unpacked<q5_1_block>& u) noexcept {
  u.scale[0] = simd::half_to_float(b.d);
  u.offset[0] = -simd::half_to_float(b.m);
}

SHIFTROPE_FORCE_INLINE void unpack(const iq4_nl_block& b, unpacked<iq4_nl_block>& u) noexcept {
  u.scale[0] = simd::half_to_float(b.d);
}

SHIFTROPE_FORCE_INLINE void unpack(const iq4_xs_block& b, unpacked<iq4_xs_block>& u) noexcept {
  const float d = simd::half_to_float(b.d);
  for (int s = 0; s < 8; ++s) {
    const int ls = ((b.scales_l[s / 2] >> (4 * (s % 2))) & 15) | ((b.scales_h >> (2 * s)) & 3) << 4;
    u.scale[s] = d * static_cast<float>(ls - 32);
  }
}

// The fast types: the quants are read straight from the block bytes as
// floats a register at a time (load_u8_field_as_float: shift, mask,
// convert), with no int8 buffer; unpack() gives their scales only.

template <class T>
struct fast_lanes : std::false_type {};
template <>
struct fast_lanes<q4_0_block> : std::true_type {};
template <>
struct fast_lanes<q4_1_block> : std::true_type {};
template <>
struct fast_lanes<q2_k_block> : std::true_type {};
template <>
struct fast_lanes<q3_k_block> : std::true_type {};
template <>
struct fast_lanes<q4_k_block> : std::true_type {};
template <>
struct fast_lanes<q5_k_block> : std::true_type {};
template <>
struct fast_lanes<q6_k_block> : std::true_type {};
template <>
struct fast_lanes<q5_0_block> : std::true_type {};
template <>
struct fast_lanes<q5_1_block> : std::true_type {};
template <>
struct fast_lanes<iq4_nl_block> : std::true_type {};
template <>
struct fast_lanes<iq4_xs_block> : std::true_type {};

/// The IQ4 code values as floats (the lookup table of the lanes).
alignas(simd::max_align) inline constexpr float iq4_values_float[16] = {
    -127.0f, -104.0f, -83.0f, -65.0f, -49.0f, -35.0f, -22.0f, -10.0f,
    1.0f,    13.0f,   25.0f,  38.0f,  53.0f,  69.0f,  89.0f,  113.0f};

using simd::load_u8_field_as_float;  // (float registers)

/// Quants of elements [k, k + lanes) as floats (k a multiple of the lanes).
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q4_0_block& b, std::size_t k) noexcept {
  return load_u8_field_as_float(b.qs + k % 16, k < 16 ? 0 : 4, 15) - simd::vec<float>(8.0f);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q4_1_block& b, std::size_t k) noexcept {
  return load_u8_field_as_float(b.qs + k % 16, k < 16 ? 0 : 4, 15);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q2_k_block& b, std::size_t k) noexcept {
  const std::size_t h = k / 128, j = (k % 128) / 32, l = k % 32;
  return load_u8_field_as_float(b.qs + 32 * h + l, static_cast<int>(2 * j), 3);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q3_k_block& b, std::size_t k) noexcept {
  const std::size_t h = k / 128, j = (k % 128) / 32, l = k % 32;
  const simd::vec<float> lo = load_u8_field_as_float(b.qs + 32 * h + l, static_cast<int>(2 * j), 3);
  const simd::vec<float> hi = load_u8_field_as_float(b.hmask + l, static_cast<int>(4 * h + j), 1);
  return simd::fma(simd::vec<float>(4.0f), hi, lo - simd::vec<float>(4.0f));
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q4_k_block& b, std::size_t k) noexcept {
  const std::size_t c = k / 64, hi = (k % 64) / 32, l = k % 32;
  return load_u8_field_as_float(b.qs + 32 * c + l, static_cast<int>(4 * hi), 15);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q5_k_block& b, std::size_t k) noexcept {
  const std::size_t c = k / 64, hi = (k % 64) / 32, l = k % 32;
  const simd::vec<float> lo =
      load_u8_field_as_float(b.qs + 32 * c + l, static_cast<int>(4 * hi), 15);
  const simd::vec<float> h = load_u8_field_as_float(b.qh + l, static_cast<int>(k / 32), 1);
  return simd::fma(simd::vec<float>(16.0f), h, lo);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q6_k_block& b, std::size_t k) noexcept {
  const std::size_t h = k / 128, kk = (k % 128) / 32, l = k % 32;
  const simd::vec<float> lo =
      load_u8_field_as_float(b.ql + 64 * h + 32 * (kk % 2) + l, static_cast<int>(4 * (kk / 2)), 15);
  const simd::vec<float> hi =
      load_u8_field_as_float(b.qh + 32 * h + l, static_cast<int>(2 * kk), 3);
  return simd::fma(simd::vec<float>(16.0f), hi, lo - simd::vec<float>(32.0f));
}

/// Q5_0 / Q5_1: nibble | bit k of qh << 4 (Q5_0 minus 16).
SHIFTROPE_FORCE_INLINE simd::vec<float> q5_lane(const std::uint8_t* qs, const std::uint8_t* qh,
                                                std::size_t k) noexcept {
  const simd::vec<float> lo = load_u8_field_as_float(qs + k % 16, k < 16 ? 0 : 4, 15);
  const simd::vec<float> hi =
      simd::bits_as_float(::shiftrope::detail::load_u32_le(qh), static_cast<int>(k));
  return simd::fma(simd::vec<float>(16.0f), hi, lo);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q5_0_block& b, std::size_t k) noexcept {
  return q5_lane(b.qs, b.qh, k) - simd::vec<float>(16.0f);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const q5_1_block& b, std::size_t k) noexcept {
  return q5_lane(b.qs, b.qh, k);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const iq4_nl_block& b, std::size_t k) noexcept {
  return simd::lookup16_u8_field(b.qs + k % 16, k < 16 ? 0 : 4, iq4_values_float);
}
SHIFTROPE_FORCE_INLINE simd::vec<float> lane_q(const iq4_xs_block& b, std::size_t k) noexcept {
  const std::size_t s = k / 32, l = k % 32;
  return simd::lookup16_u8_field(b.qs + 16 * s + l % 16, l < 16 ? 0 : 4, iq4_values_float);
}

SHIFTROPE_FORCE_INLINE void unpack(const q4_0_block& b, unpacked<q4_0_block>& u) noexcept {
  u.scale[0] = simd::half_to_float(b.d);
}
SHIFTROPE_FORCE_INLINE void unpack(const q4_1_block& b, unpacked<q4_1_block>& u) noexcept {
  u.scale[0] = simd::half_to_float(b.d);
  u.offset[0] = -simd::half_to_float(b.m);
}
SHIFTROPE_FORCE_INLINE void unpack(const q2_k_block& b, unpacked<q2_k_block>& u) noexcept {
  const float d = simd::half_to_float(b.d), dmin = simd::half_to_float(b.dmin);
  for (int s = 0; s < 16; ++s) {
    u.scale[s] = d * static_cast<float>(b.scales[s] & 15);
    u.offset[s] = dmin * static_cast<float>(b.scales[s] >> 4);
  }
}
SHIFTROPE_FORCE_INLINE void unpack(const q3_k_block& b, unpacked<q3_k_block>& u) noexcept {
  const float d = simd::half_to_float(b.d);
  for (int s = 0; s < 16; ++s)
    u.scale[s] = d * static_cast<float>(::shiftrope::detail::q3_k_scale(b.scales, s) - 32);
}
/// Scales and offsets of Q4_K / Q5_K: the 12 bytes of 6-bit scales and
/// minimums rearranged with whole-word masks into 8 scale bytes and 8
/// minimum bytes (the values of k4_scale_min, sub-block s in byte s), then
/// converted in one vectorizable loop.
template <class T>
SHIFTROPE_FORCE_INLINE void unpack_k45(const T& b, unpacked<T>& u) noexcept {
  using ::shiftrope::detail::load_u32_le;
  const std::uint32_t w0 = load_u32_le(b.scales), w1 = load_u32_le(b.scales + 4),
                      w2 = load_u32_le(b.scales + 8);
  constexpr std::uint32_t low6 = 0x3f3f3f3fu, low4 = 0x0f0f0f0fu, low2 = 0x03030303u;
  // Sub-blocks 0-3: the low 6 bits of bytes 0-3 (scales) and 4-7 (minimums).
  // Sub-blocks 4-7: a nibble of bytes 8-11 below the top 2 bits of 0-3 / 4-7.
  const std::uint32_t words[4] = {w0 & low6, (w2 & low4) | ((w0 >> 6) & low2) << 4, w1 & low6,
                                  ((w2 >> 4) & low4) | ((w1 >> 6) & low2) << 4};
  const float d = simd::half_to_float(b.d), dmin = simd::half_to_float(b.dmin);
  for (int s = 0; s < 8; ++s) {
    u.scale[s] = d * static_cast<float>((words[s / 4] >> (8 * (s % 4))) & 255u);
    u.offset[s] = dmin * static_cast<float>((words[2 + s / 4] >> (8 * (s % 4))) & 255u);
  }
}
SHIFTROPE_FORCE_INLINE void unpack(const q4_k_block& b, unpacked<q4_k_block>& u) noexcept {
  unpack_k45(b, u);
}
SHIFTROPE_FORCE_INLINE void unpack(const q5_k_block& b, unpacked<q5_k_block>& u) noexcept {
  unpack_k45(b, u);
}
SHIFTROPE_FORCE_INLINE void unpack(const q6_k_block& b, unpacked<q6_k_block>& u) noexcept {
  const float d = simd::half_to_float(b.d);
  for (int s = 0; s < 16; ++s) u.scale[s] = d * static_cast<float>(b.scales[s]);
}

/// Quants of elements [k, k + lanes) of block b (unpacked into u) as floats.
template <class T>
SHIFTROPE_FORCE_INLINE simd::vec<float> quants(const T& b, const unpacked<T>& u,
                                               std::size_t k) noexcept {
  if constexpr (fast_lanes<T>::value)
    return lane_q(b, k);
  else
    return simd::load_i8_as<float>(u.q + k);
}

/// Calls f(std::integral_constant<std::size_t, i>{}) for i < N: loops over
/// the groups and registers of a block unrolled at compile time, so that
/// every bit position and offset of a lane load is a constant.
template <class F, std::size_t... I>
SHIFTROPE_FORCE_INLINE void static_for_impl(F&& f, std::index_sequence<I...>) noexcept {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}
template <std::size_t N, class F>
SHIFTROPE_FORCE_INLINE void static_for(F&& f) noexcept {
  static_for_impl(f, std::make_index_sequence<N>{});
}

/// y[0..block_size) = the weights of block b as floats (scale * q - offset).
template <class T>
SHIFTROPE_FORCE_INLINE void decode_block(const T& b, float* y) noexcept {
  using U = unpacked<T>;
  constexpr std::size_t w = simd::lanes<float>;
  static_assert(U::group % w == 0, "a group holds whole registers");
  U u;
  unpack(b, u);
  static_for<U::size / w>([&](auto i) SHIFTROPE_LAMBDA_INLINE {
    constexpr std::size_t k = decltype(i)::value * w, g = k / U::group;
    const simd::vec<float> v = quants(b, u, k) * simd::vec<float>(u.scale[g]);
    if constexpr (U::has_offset)
      simd::store_as<float>(y + k, v - simd::vec<float>(u.offset[g]));
    else
      simd::store_as<float>(y + k, v);
  });
}

/// Adds block blk (activations xb) of one row to its accumulators: per
/// group g, s = sum q * x in a register, then acc[c] += scale * s (and
/// off[c] += offset * sum x for types with offsets), c = (C0 + g) % 2.
template <std::size_t C0, class T>
SHIFTROPE_FORCE_INLINE void add_block(const T& blk, const float* xb, simd::vec<float>* acc,
                                      simd::vec<float>* off) noexcept {
  using simd::vec;
  using U = unpacked<T>;
  constexpr std::size_t w = simd::lanes<float>, per_group = U::group / w;
  U u;
  unpack(blk, u);
  static_for<U::groups>([&](auto gi) SHIFTROPE_LAMBDA_INLINE {
    constexpr std::size_t g = decltype(gi)::value, k0 = g * U::group, c = (C0 + g) % 2;
    vec<float> s = quants(blk, u, k0) * simd::load_as<float>(xb + k0);
    static_for<per_group - 1>([&](auto vi) SHIFTROPE_LAMBDA_INLINE {
      constexpr std::size_t k = k0 + (decltype(vi)::value + 1) * w;
      s = simd::fma(quants(blk, u, k), simd::load_as<float>(xb + k), s);
    });
    acc[c] = simd::fma(vec<float>(u.scale[g]), s, acc[c]);
    if constexpr (U::has_offset) {
      vec<float> sx = simd::load_as<float>(xb + k0);
      static_for<per_group - 1>([&](auto vi) SHIFTROPE_LAMBDA_INLINE {
        sx = sx + simd::load_as<float>(xb + k0 + (decltype(vi)::value + 1) * w);
      });
      off[c] = simd::fma(vec<float>(u.offset[g]), sx, off[c]);
    }
  });
}

/// out[r] = sum_i rows[r][i] * x[i] for R rows of n_blocks blocks of T
/// (add_block per block); row result = hsum(acc - off). Float products and
/// sums throughout, as for float weights. Consecutive groups alternate
/// between two accumulator chains (blocks of a single group go two at a
/// time), so that one FMA's latency does not bound the loop; the chains are
/// combined at the end in a fixed order, the same for every R (grouping rows
/// never changes a result).
template <std::size_t R, class T>
inline void dot_rows_blocks(const float* x, const T* const* rows, std::size_t n_blocks,
                            float* out) noexcept {
  using simd::vec;
  using U = unpacked<T>;
  // Blocks per step: two for single-group blocks, so both chains are used.
  constexpr std::size_t step = U::groups == 1 ? 2 : 1;
  vec<float> acc[R][2], off[R][2];
  for (std::size_t r = 0; r < R; ++r)
    acc[r][0] = acc[r][1] = off[r][0] = off[r][1] = vec<float>(0.0f);
  std::size_t b = 0;
  for (; b + step <= n_blocks; b += step) {
    for (std::size_t r = 0; r < R; ++r) {
      add_block<0>(rows[r][b], x + b * U::size, acc[r], off[r]);
      if constexpr (step == 2) add_block<1>(rows[r][b + 1], x + (b + 1) * U::size, acc[r], off[r]);
    }
  }
  for (; b < n_blocks; ++b)
    for (std::size_t r = 0; r < R; ++r) add_block<0>(rows[r][b], x + b * U::size, acc[r], off[r]);
  for (std::size_t r = 0; r < R; ++r)
    out[r] = simd::hsum((acc[r][0] - off[r][0]) + (acc[r][1] - off[r][1]));
}

}  // namespace shiftrope::detail::matmul_impl
