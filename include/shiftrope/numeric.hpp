// shiftrope/numeric.hpp - storage types (f16, bf16, q8_0 blocks) and their
// scalar conversions. std only: no SIMD here (vector conversions live in
// detail/simd.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace shiftrope {

/// IEEE 754 binary16, stored as its bits. Arithmetic happens after
/// conversion to float; nothing here needs native half support.
struct f16 {
  std::uint16_t bits = 0;
};

/// bfloat16 (the upper half of a binary32), stored as its bits.
struct bf16 {
  std::uint16_t bits = 0;
};

namespace detail {

inline std::uint32_t float_bits(float x) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

inline float bits_float(std::uint32_t u) noexcept {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

}  // namespace detail

/// binary16 -> binary32, exact (subnormals, infinities and NaN included).
inline float to_float(f16 h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h.bits & 0x8000u) << 16;
  const std::uint32_t exp = (h.bits >> 10) & 0x1fu;
  std::uint32_t mant = h.bits & 0x3ffu;
  if (exp == 0x1f) return detail::bits_float(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return detail::bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return detail::bits_float(sign);
  // Subnormal half: value = mant * 2^-24, exact in float.
  const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
  return sign ? -v : v;
}

/// binary32 -> binary16, round to nearest even; overflow gives infinity,
/// NaN stays NaN.
inline f16 to_f16(float x) noexcept {
  const std::uint32_t u = detail::float_bits(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t abs = u & 0x7fffffffu;
  f16 h;
  if (abs >= 0x7f800000u) {  // inf or NaN
    h.bits = static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    return h;
  }
  if (abs >= 0x477ff000u) {  // rounds to >= 65520: overflow
    h.bits = static_cast<std::uint16_t>(sign | 0x7c00u);
    return h;
  }
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // Scale into the subnormal grid (units of 2^-24) and round to nearest even.
    const float a = detail::bits_float(abs) * 16777216.0f;  // exact: power of two
    const float r = std::nearbyint(a);                      // default mode: ties to even
    h.bits = static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(r));
    return h;
  }
  // Normal: rebias exponent, round mantissa to 10 bits (nearest even).
  std::uint32_t v = abs - (112u << 23);
  const std::uint32_t round = 0xfffu + ((v >> 13) & 1u);
  v = (v + round) >> 13;
  h.bits = static_cast<std::uint16_t>(sign | v);
  return h;
}

/// bfloat16 -> binary32, exact.
inline float to_float(bf16 b) noexcept {
  return detail::bits_float(static_cast<std::uint32_t>(b.bits) << 16);
}

/// binary32 -> bfloat16, round to nearest even; NaN stays NaN.
inline bf16 to_bf16(float x) noexcept {
  const std::uint32_t u = detail::float_bits(x);
  bf16 b;
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    b.bits = static_cast<std::uint16_t>((u >> 16) | 0x40u);
    return b;
  }
  b.bits = static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  return b;
}

inline float to_float(float x) noexcept {
  return x;
}
inline double to_float(double x) noexcept {
  return x;
}

/// A block of 32 weights quantized to int8 with one f16 scale (the GGUF
/// Q8_0 layout: 34 bytes, value = d * qs[i]).
struct q8_0_block {
  static constexpr int size = 32;
  f16 d;
  std::int8_t qs[size];
};
static_assert(sizeof(q8_0_block) == 34, "q8_0_block must match the GGUF layout");

/// Storage -> value of type To (float or double).
template <class To, class From>
inline To convert(From x) noexcept {
  if constexpr (std::is_same_v<From, f16> || std::is_same_v<From, bf16>) {
    return static_cast<To>(to_float(x));
  } else if constexpr (std::is_same_v<To, f16>) {
    return to_f16(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, bf16>) {
    return to_bf16(static_cast<float>(x));
  } else {
    return static_cast<To>(x);
  }
}

/// True for the element types a KV cache or a weight row may be stored in.
template <class T>
inline constexpr bool is_storage_type_v = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                          std::is_same_v<T, f16> || std::is_same_v<T, bf16>;

/// True for the types arithmetic happens in.
template <class T>
inline constexpr bool is_compute_type_v = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// Short name of a storage type, for messages and benchmark output.
template <class T>
constexpr const char* type_name() noexcept {
  if constexpr (std::is_same_v<T, float>)
    return "f32";
  else if constexpr (std::is_same_v<T, double>)
    return "f64";
  else if constexpr (std::is_same_v<T, f16>)
    return "f16";
  else if constexpr (std::is_same_v<T, bf16>)
    return "bf16";
  else
    return "?";
}

}  // namespace shiftrope
