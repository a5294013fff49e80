// shiftrope/kv_q8.hpp - the q8_0 format of the KV cache: blocks of 32
// consecutive values of one head vector (along head_dim), each stored as 32
// int8 quants and one f16 scale d, value = d · q. Scalar code, std only.
//
// Layout. The quants sit exactly where a float cache would keep its
// elements (element e of the cache at quants[e]); the scales are a separate
// array, one per 32 elements: element e's scale is scales[e / 32]. A view
// therefore keeps the float cache's strides, and every stride and head_dim
// must be a multiple of 32 (a block never straddles two head vectors).
// Memory: 32 bytes of quants + 2 of scale per 32 values = 34/64 of f16.
//
// Quantization (the GGUF Q8_0 rule, with the stored scale):
//   amax = max_i |x_i|,  d = f16(amax / 127),  q_i = clamp(round(x_i / d), ±127)
// The levels use the rounded d that is stored, so a value reads back within
// half a step (d/2) of its input, plus the clamp at ±127·d when rounding d to
// f16 made it smaller than amax/127 (at most 2^-11 relative).
//
// Non-finite input: a block holding a NaN or an infinity stores quants 0
// and a NaN scale, so every value of that block reads back as NaN (like a
// float cache propagates a NaN into the scores that read it). A finite block
// whose amax / 127 exceeds f16's range (|x| > 127 · 65504) saturates: the
// scale is 65504 and the quants clamp to ±127.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/numeric.hpp>

namespace shiftrope {

/// Values per q8_0 block (and the granule of every q8_0 stride).
inline constexpr int kv_q8_block = 32;

/// Quantizes one block: x [32] -> q [32], *d (see the top of this file).
inline void quantize_kv_q8_block(const float* x, std::int8_t* q, f16* d) noexcept {
  float amax = 0.0f;
  bool finite = true;
  for (int i = 0; i < kv_q8_block; ++i) {
    finite = finite && std::isfinite(x[i]);
    amax = std::max(amax, std::fabs(x[i]));
  }
  if (!finite) {
    std::fill(q, q + kv_q8_block, std::int8_t{0});
    *d = to_f16(std::numeric_limits<float>::quiet_NaN());
    return;
  }
  constexpr float f16_max = 65504.0f;
  *d = to_f16(std::min(amax / 127.0f, f16_max));
  const float ds = to_float(*d);
  const float inv = ds > 0.0f ? 1.0f / ds : 0.0f;  // amax tiny: every quant 0
  for (int i = 0; i < kv_q8_block; ++i) {
    const float r = std::nearbyint(x[i] * inv);
    q[i] = static_cast<std::int8_t>(std::clamp(r, -127.0f, 127.0f));
  }
}

/// Quantizes n values (n a multiple of 32): x [n] -> q [n], d [n / 32].
inline void quantize_kv_q8(const float* x, std::int8_t* q, f16* d, std::size_t n) noexcept {
  for (std::size_t b = 0; b < n / kv_q8_block; ++b)
    quantize_kv_q8_block(x + b * kv_q8_block, q + b * kv_q8_block, d + b);
}

/// y[i] = d[i / 32] · q[i] for n values (n a multiple of 32), in float or
/// double. Written as plain loops over whole blocks: compilers vectorise
/// them (widen, convert, multiply by the block's broadcast scale).
template <class To>
inline void dequantize_kv_q8(const std::int8_t* q, const f16* d, To* y, std::size_t n) noexcept {
  static_assert(is_compute_type_v<To>, "dequantize into float or double");
  for (std::size_t b = 0; b < n / kv_q8_block; ++b) {
    const To s = static_cast<To>(to_float(d[b]));
    const std::int8_t* qb = q + b * kv_q8_block;
    To* yb = y + b * kv_q8_block;
    for (int i = 0; i < kv_q8_block; ++i) yb[i] = s * static_cast<To>(qb[i]);
  }
}

}  // namespace shiftrope
