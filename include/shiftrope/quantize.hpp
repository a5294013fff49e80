// shiftrope/quantize.hpp - float rows to GGUF's quantized block formats:
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS
// (and F32, F16, BF16 as plain conversions), written byte for byte in the
// layouts GGUF files use, so that any GGUF reader decodes them.
//
// The quantizers round each value to the nearest point of its block's grid;
// they do not search for the scales that minimize the error, as llama.cpp's
// quantizer does for the K-quants and IQ4 types. That makes them fast and
// simple, and good enough for what they are for here: random-weight models
// for benchmarks and tests, where the format, not the rounding search, sets
// the speed. Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 follow GGUF's reference rule
// (the same bytes as llama.cpp's quantizer).
//
// Error of one dequantized value (step = the block's or sub-block's scale
// unit, i.e. the distance between neighbouring grid points):
//   Q4_1, Q5_1, Q2_K, Q4_K, Q5_K: at most step / 2 (the grid spans the
//     block's values: the minimum is rounded down, the scales up);
//   Q8_0: at most 0.53 step (see quantize_q8_0);
//   Q4_0, Q5_0, Q3_K, Q6_K: at most step / 2, except at the end of the grid
//     opposite the block's largest magnitude, which holds one level fewer
//     (there the error reaches one step);
//   IQ4_NL, IQ4_XS: half the gap between neighbouring table values (at most
//     12 units) and 14 units at the top end (the table spans -127 .. 113).
// plus the rounding of stored f16 scales where the rule computes the levels
// with the unrounded scale (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <shiftrope/error.hpp>
#include <shiftrope/ggml_type.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/quant.hpp>

namespace shiftrope {

namespace detail::quantize_impl {

/// Where a quantizer is (for messages): the type and the block.
struct where {
  const char* type;
  std::size_t block;
};

inline void put_f16(std::uint8_t* p, f16 h) noexcept {
  std::memcpy(p, &h.bits, 2);
}

/// f16 of a scale, failing when it overflows.
inline f16 scale_f16(float v, where w, const char* what) {
  const f16 h = to_f16(v);
  if (std::isinf(to_float(h)))
    fail("quantize_row(", w.type, "): block ", w.block, ": ", what, " = ", v,
         " overflows f16 (max 65504)");
  return h;
}

/// The smallest f16 >= v (v >= 0): a scale rounded up, so that the grid it
/// sets still reaches the block's extreme values.
inline f16 scale_f16_up(float v, where w, const char* what) {
  f16 h = scale_f16(v, w, what);
  if (to_float(h) < v) ++h.bits;  // positive f16 bits are ordered as their values
  if (std::isinf(to_float(h)))
    fail("quantize_row(", w.type, "): block ", w.block, ": ", what, " = ", v,
         " overflows f16 (max 65504)");
  return h;
}

/// Fails for a non-finite value among x[0 .. n).
inline void check_finite(const float* x, std::size_t n, std::size_t first, const char* type) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      fail("quantize_row(", type, "): src[", first + i, "] = ", x[i], " is not finite");
}

/// The value of largest magnitude (the first one on ties), with its sign.
inline float signed_max(const float* x, int n) noexcept {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
  return max;
}

inline int clamp_int(float v, int lo, int hi) noexcept {
  return static_cast<int>(std::max(static_cast<float>(lo), std::min(static_cast<float>(hi), v)));
}

// ---- 32-element blocks (GGUF's reference rule) ----

/// Q4_0 (18 bytes: f16 d, 16 bytes of nibbles; value = d * (q - 8)): d =
/// max / -8 for the value of largest magnitude. Byte j holds element j in
/// its low nibble and element j + 16 in its high nibble.
inline void q4_0(const float* x, std::uint8_t* out, where w) {
  const float d = signed_max(x, 32) / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(out, scale_f16(d, w, "scale"));
  for (int j = 0; j < 16; ++j) {
    const int lo = std::min(15, static_cast<int>(static_cast<std::int8_t>(x[j] * id + 8.5f)));
    const int hi = std::min(15, static_cast<int>(static_cast<std::int8_t>(x[j + 16] * id + 8.5f)));
    out[2 + j] = static_cast<std::uint8_t>(lo | (hi << 4));
  }
}

/// Q4_1 (20 bytes: f16 d, f16 m, 16 bytes of nibbles; value = d * q + m):
/// m = min, d = (max - min) / 15.
inline void q4_1(const float* x, std::uint8_t* out, where w) {
  const float min = *std::min_element(x, x + 32), max = *std::max_element(x, x + 32);
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(out, scale_f16(d, w, "scale"));
  put_f16(out + 2, scale_f16(min, w, "minimum"));
  for (int j = 0; j < 16; ++j) {
    const int lo =
        std::min(15, static_cast<int>(static_cast<std::int8_t>((x[j] - min) * id + 0.5f)));
    const int hi =
        std::min(15, static_cast<int>(static_cast<std::int8_t>((x[j + 16] - min) * id + 0.5f)));
    out[4 + j] = static_cast<std::uint8_t>(lo | (hi << 4));
  }
}

/// The fifth bits of 32 five-bit levels as Q5_0/Q5_1 store them: bit i of
/// a little-endian uint32 is element i's.
inline void put_q5_levels(const int* q, std::uint8_t* qh, std::uint8_t* qs) noexcept {
  std::uint32_t high = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<std::uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    high |= static_cast<std::uint32_t>((q[j] >> 4) & 1) << j;
    high |= static_cast<std::uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  for (int b = 0; b < 4; ++b) qh[b] = static_cast<std::uint8_t>(high >> (8 * b));
}

/// Q5_0 (22 bytes: f16 d, 4 bytes of fifth bits, 16 bytes of nibbles;
/// value = d * (q - 16)): d = max / -16.
inline void q5_0(const float* x, std::uint8_t* out, where w) {
  const float d = signed_max(x, 32) / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(out, scale_f16(d, w, "scale"));
  int q[32];
  for (int j = 0; j < 32; ++j)
    q[j] = std::min(31, static_cast<int>(static_cast<std::int8_t>(x[j] * id + 16.5f)));
  put_q5_levels(q, out + 2, out + 6);
}

/// Q5_1 (24 bytes: f16 d, f16 m, 4 bytes of fifth bits, 16 bytes of
/// nibbles; value = d * q + m): m = min, d = (max - min) / 31.
inline void q5_1(const float* x, std::uint8_t* out, where w) {
  const float min = *std::min_element(x, x + 32), max = *std::max_element(x, x + 32);
  const float d = (max - min) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(out, scale_f16(d, w, "scale"));
  put_f16(out + 2, scale_f16(min, w, "minimum"));
  int q[32];
  for (int j = 0; j < 32; ++j)
    q[j] = std::min(31, static_cast<int>(static_cast<std::int8_t>((x[j] - min) * id + 0.5f)));
  put_q5_levels(q, out + 4, out + 8);
}

/// Index of the code book value nearest to v (the first one on ties).
inline int nearest_iq4(float v) noexcept {
  int best = 0;
  for (int k = 1; k < 16; ++k)
    if (std::fabs(v - iq4_values[k]) < std::fabs(v - iq4_values[best])) best = k;
  return best;
}

/// IQ4_NL (18 bytes: f16 d, 16 bytes of nibbles as Q4_0; value = d *
/// iq4_values[q]): d = max / -127 (the largest magnitude lands on -127),
/// its magnitude rounded up to f16 so that every value stays within the
/// table's span.
inline void iq4_nl(const float* x, std::uint8_t* out, where w) {
  const float max = signed_max(x, 32);
  f16 h = scale_f16_up(std::fabs(max) / 127.0f, w, "scale");
  if (max > 0.0f) h.bits |= 0x8000u;  // d < 0: the positive maximum lands on -127
  put_f16(out, h);
  const float d = to_float(h);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 16; ++j)
    out[2 + j] =
        static_cast<std::uint8_t>(nearest_iq4(x[j] * id) | (nearest_iq4(x[j + 16] * id) << 4));
}

// ---- 256-element super-blocks ----

/// Sub-block grids value = d * sc[j] * q - dmin * m[j], q in [0, q_max],
/// sc and m in [0, s_max] (Q2_K, Q4_K, Q5_K). The sub-block minimum (or 0,
/// when all values are positive) is rounded down to a multiple of dmin and
/// the step up to a multiple of d, so each grid covers its sub-block and
/// rounding to the nearest level errs by at most half a step.
struct affine_k {
  f16 d, dmin;
  int sc[16] = {}, m[16] = {};
  int q[256] = {};
};

inline affine_k quantize_affine(const float* x, int sub, int q_max, int s_max, where w) {
  const int n_sub = 256 / sub;
  affine_k r;
  float neg[16], hi[16];
  float max_neg = 0.0f;
  for (int j = 0; j < n_sub; ++j) {
    const float* s = x + j * sub;
    neg[j] = -std::min(0.0f, *std::min_element(s, s + sub));
    hi[j] = *std::max_element(s, s + sub);
    max_neg = std::max(max_neg, neg[j]);
  }
  r.dmin = scale_f16_up(max_neg / static_cast<float>(s_max), w, "minimum scale");
  const float dmin = to_float(r.dmin);
  float need[16], max_need = 0.0f;
  for (int j = 0; j < n_sub; ++j) {
    r.m[j] = dmin > 0.0f ? clamp_int(std::ceil(neg[j] / dmin), 0, s_max) : 0;
    need[j] = (hi[j] + dmin * static_cast<float>(r.m[j])) / static_cast<float>(q_max);
    max_need = std::max(max_need, need[j]);
  }
  r.d = scale_f16_up(max_need / static_cast<float>(s_max), w, "scale");
  const float d = to_float(r.d);
  for (int j = 0; j < n_sub; ++j) {
    r.sc[j] = d > 0.0f ? clamp_int(std::ceil(need[j] / d), 0, s_max) : 0;
    const float step = d * static_cast<float>(r.sc[j]);
    const float offset = dmin * static_cast<float>(r.m[j]);
    for (int i = 0; i < sub; ++i)
      r.q[j * sub + i] =
          step > 0.0f ? clamp_int(std::round((x[j * sub + i] + offset) / step), 0, q_max) : 0;
  }
  return r;
}

/// Sub-block grids value = d * sc[j] * level, sc in [-s_max, s_max] (Q3_K,
/// Q6_K: level = q in [q_lo, q_hi]; IQ4_XS: level = iq4_values[q]). Each
/// sub-block's value of largest magnitude maps to the level -top (the end
/// with one more level, as Q4_0 does); the step is rounded up to a multiple
/// of d so that it still fits.
struct signed_k {
  f16 d;
  int sc[16] = {};
  int q[256] = {};
};

inline signed_k quantize_signed(const float* x, int sub, int top, int q_lo, int q_hi, int s_max,
                                bool iq4, where w) {
  const int n_sub = 256 / sub;
  signed_k r;
  float s[16], max_s = 0.0f;
  for (int j = 0; j < n_sub; ++j) {
    s[j] = signed_max(x + j * sub, sub) / static_cast<float>(-top);
    max_s = std::max(max_s, std::fabs(s[j]));
  }
  r.d = scale_f16_up(max_s / static_cast<float>(s_max), w, "scale");
  const float d = to_float(r.d);
  for (int j = 0; j < n_sub; ++j) {
    const int mag = d > 0.0f ? clamp_int(std::ceil(std::fabs(s[j]) / d), 0, s_max) : 0;
    r.sc[j] = s[j] < 0.0f ? -mag : mag;
    const float step = d * static_cast<float>(r.sc[j]);
    for (int i = 0; i < sub; ++i) {
      const float v = step != 0.0f ? x[j * sub + i] / step : 0.0f;
      r.q[j * sub + i] = iq4 ? (step != 0.0f ? nearest_iq4(v) : 8)  // iq4_values[8] = 1: times 0
                             : clamp_int(std::round(v), q_lo, q_hi);
    }
  }
  return r;
}

/// Q2_K (84 bytes: 16 scale bytes, 64 bytes of 2-bit levels, f16 d, f16
/// dmin): 16 sub-blocks of 16; scale byte j = sc | m << 4 (4 bits each).
/// Level of element 128 h + 32 k + l (l < 32) at bits 2k of byte 32 h + l.
inline void q2_k(const float* x, std::uint8_t* out, where w) {
  const affine_k r = quantize_affine(x, 16, 3, 15, w);
  for (int j = 0; j < 16; ++j) out[j] = static_cast<std::uint8_t>(r.sc[j] | (r.m[j] << 4));
  std::uint8_t* qs = out + 16;
  std::memset(qs, 0, 64);
  for (int e = 0; e < 256; ++e)
    qs[32 * (e / 128) + e % 32] |= static_cast<std::uint8_t>(r.q[e] << (2 * ((e % 128) / 32)));
  put_f16(out + 80, r.d);
  put_f16(out + 82, r.dmin);
}

/// Q3_K (110 bytes: 32 bytes of high bits, 64 bytes of 2-bit levels, 12
/// scale bytes, f16 d): 16 sub-blocks of 16, value = d * (S - 32) * (L - 4)
/// with 6-bit S and 3-bit L. Element e = 128 h + 32 k + l: low two bits of L
/// at bits 2k of byte 32 h + l, the third at bit 4 h + k of high byte l.
/// Scale j: low four bits in byte j (j < 8) or the high nibble of byte j - 8,
/// high two bits at bits 2 (j / 4) of byte 8 + j % 4.
inline void q3_k(const float* x, std::uint8_t* out, where w) {
  const signed_k r = quantize_signed(x, 16, 4, -4, 3, 31, false, w);
  std::uint8_t* hmask = out;
  std::uint8_t* qs = out + 32;
  std::uint8_t* scales = out + 96;
  std::memset(out, 0, 108);
  for (int e = 0; e < 256; ++e) {
    const int level = r.q[e] + 4;  // 0 .. 7
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    qs[32 * h + l] |= static_cast<std::uint8_t>((level & 3) << (2 * k));
    hmask[l] |= static_cast<std::uint8_t>((level >> 2) << (4 * h + k));
  }
  for (int j = 0; j < 16; ++j) {
    const int s = r.sc[j] + 32;  // 0 .. 63
    scales[j % 8] |= static_cast<std::uint8_t>((s & 0xF) << (j < 8 ? 0 : 4));
    scales[8 + j % 4] |= static_cast<std::uint8_t>((s >> 4) << (2 * (j / 4)));
  }
  put_f16(out + 108, r.d);
}

/// The 12 scale bytes of Q4_K and Q5_K: 8 six-bit scales and mins. j < 4:
/// sc in byte j, m in byte j + 4 (low six bits); j >= 4: low four bits of sc
/// and m in the nibbles of byte j + 4, their top two bits in the top bits of
/// bytes j - 4 (sc) and j (m).
inline void put_k4_scales(const affine_k& r, std::uint8_t* scales) noexcept {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] |= static_cast<std::uint8_t>(r.sc[j]);
      scales[j + 4] |= static_cast<std::uint8_t>(r.m[j]);
    } else {
      scales[j + 4] = static_cast<std::uint8_t>((r.sc[j] & 0xF) | ((r.m[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<std::uint8_t>((r.sc[j] >> 4) << 6);
      scales[j] |= static_cast<std::uint8_t>((r.m[j] >> 4) << 6);
    }
  }
}

/// Q4_K (144 bytes: f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles):
/// 8 sub-blocks of 32, value = d * sc * q - dmin * m. Elements 64 c + l
/// (l < 32) in the low nibble of byte 32 c + l, 64 c + 32 + l in its high
/// nibble.
inline void q4_k(const float* x, std::uint8_t* out, where w) {
  const affine_k r = quantize_affine(x, 32, 15, 63, w);
  put_f16(out, r.d);
  put_f16(out + 2, r.dmin);
  put_k4_scales(r, out + 4);
  std::uint8_t* qs = out + 16;
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      qs[32 * c + l] = static_cast<std::uint8_t>(r.q[64 * c + l] | (r.q[64 * c + 32 + l] << 4));
}

/// Q5_K (176 bytes: f16 d, f16 dmin, 12 scale bytes, 32 bytes of fifth
/// bits, 128 bytes of nibbles): as Q4_K with 5-bit levels; the fifth bit of
/// element 32 s + l at bit s of high byte l.
inline void q5_k(const float* x, std::uint8_t* out, where w) {
  const affine_k r = quantize_affine(x, 32, 31, 63, w);
  put_f16(out, r.d);
  put_f16(out + 2, r.dmin);
  put_k4_scales(r, out + 4);
  std::uint8_t* qh = out + 16;
  std::uint8_t* qs = out + 48;
  std::memset(qh, 0, 32);
  for (int e = 0; e < 256; ++e) qh[e % 32] |= static_cast<std::uint8_t>((r.q[e] >> 4) << (e / 32));
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      qs[32 * c + l] =
          static_cast<std::uint8_t>((r.q[64 * c + l] & 0xF) | ((r.q[64 * c + 32 + l] & 0xF) << 4));
}

/// Q6_K (210 bytes: 128 bytes of low nibbles, 64 bytes of high bit pairs,
/// 16 int8 scales, f16 d): 16 sub-blocks of 16, value = d * sc * (L - 32)
/// with 6-bit L. Element 128 h + 32 k + l: low nibble in byte 64 h + 32 (k %
/// 2) + l (low half for k < 2, high for k >= 2), top two bits at bits 2k of
/// byte 32 h + l of the high part.
inline void q6_k(const float* x, std::uint8_t* out, where w) {
  const signed_k r = quantize_signed(x, 16, 32, -32, 31, 127, false, w);
  std::uint8_t* ql = out;
  std::uint8_t* qh = out + 128;
  std::memset(out, 0, 192);
  for (int e = 0; e < 256; ++e) {
    const int level = r.q[e] + 32;  // 0 .. 63
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    ql[64 * h + 32 * (k % 2) + l] |= static_cast<std::uint8_t>((level & 0xF) << (k < 2 ? 0 : 4));
    qh[32 * h + l] |= static_cast<std::uint8_t>((level >> 4) << (2 * k));
  }
  for (int j = 0; j < 16; ++j)
    out[192 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(r.sc[j]));
  put_f16(out + 208, r.d);
}

/// IQ4_XS (136 bytes: f16 d, uint16 high scale bits, 4 bytes of low scale
/// nibbles, 128 bytes of nibbles): 8 sub-blocks of 32, value = d * (S - 32) *
/// iq4_values[q] with 6-bit S (low nibble of sub-block j in nibble j % 2 of
/// byte j / 2, top two bits at bits 2j of the uint16). Element 32 j + l in
/// the low nibble of byte 16 j + l (l < 16), 32 j + 16 + l in its high nibble.
inline void iq4_xs(const float* x, std::uint8_t* out, where w) {
  const signed_k r = quantize_signed(x, 32, 127, 0, 0, 31, true, w);
  put_f16(out, r.d);
  std::uint16_t high = 0;
  std::uint8_t* low = out + 4;
  std::memset(low, 0, 4);
  for (int j = 0; j < 8; ++j) {
    const int s = r.sc[j] + 32;  // 0 .. 63
    low[j / 2] |= static_cast<std::uint8_t>((s & 0xF) << (4 * (j % 2)));
    high = static_cast<std::uint16_t>(high | ((s >> 4) << (2 * j)));
  }
  std::memcpy(out + 2, &high, 2);
  std::uint8_t* qs = out + 8;
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 16; ++l)
      qs[16 * j + l] = static_cast<std::uint8_t>(r.q[32 * j + l] | (r.q[32 * j + 16 + l] << 4));
}

}  // namespace detail::quantize_impl

/// True for the types quantize_row writes.
inline bool quantize_supported(ggml_type t) noexcept {
  switch (t) {
    case ggml_type::f32:
    case ggml_type::f16:
    case ggml_type::bf16:
    case ggml_type::q4_0:
    case ggml_type::q4_1:
    case ggml_type::q5_0:
    case ggml_type::q5_1:
    case ggml_type::q8_0:
    case ggml_type::q2_k:
    case ggml_type::q3_k:
    case ggml_type::q4_k:
    case ggml_type::q5_k:
    case ggml_type::q6_k:
    case ggml_type::iq4_nl:
    case ggml_type::iq4_xs:
      return true;
    default:
      return false;
  }
}

/// Writes n floats as type t into dst: ggml_row_bytes(t, n) bytes, any
/// alignment (the blocks are written byte by byte). n must be a multiple of
/// the type's block (32, or 256 for the K-quants and IQ4_XS). F32, F16 and
/// BF16 are plain conversions (round to nearest even). Throws
/// shiftrope::error naming the type for another type, n not a whole number
/// of blocks, a non-finite input value, or a block whose scale (or minimum)
/// overflows f16.
inline void quantize_row(ggml_type t, const float* src, void* dst, std::size_t n) {
  namespace q = detail::quantize_impl;
  const ggml_type_traits info = ggml_type_info(t);
  if (!quantize_supported(t))
    fail("quantize_row: cannot write ", ggml_type_name(t),
         " (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, "
         "IQ4_XS)");
  if (n % info.block_size != 0)
    fail("quantize_row(", info.name, "): n = ", n, " is not a multiple of ", info.block_size);
  auto* out = static_cast<std::uint8_t*>(dst);
  if (t == ggml_type::f32) {
    if (n != 0) std::memcpy(out, src, n * sizeof(float));
    return;
  }
  if (t == ggml_type::f16 || t == ggml_type::bf16) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t bits = t == ggml_type::f16 ? to_f16(src[i]).bits : to_bf16(src[i]).bits;
      std::memcpy(out + 2 * i, &bits, 2);
    }
    return;
  }
  const std::size_t bs = info.block_size;
  if (t == ggml_type::q8_0) {  // GGUF's reference rule, through an aligned block
    q8_0_block block;
    for (std::size_t b = 0; b < n / bs; ++b) {
      q::check_finite(src + b * bs, bs, b * bs, info.name);
      try {
        quantize_q8_0(src + b * bs, &block, bs);
      } catch (const error& e) {  // the scale overflows f16
        fail("quantize_row(Q8_0): block ", b, ": ", e.what());
      }
      std::memcpy(out + b * sizeof(q8_0_block), &block, sizeof(q8_0_block));
    }
    return;
  }
  using block_fn = void (*)(const float*, std::uint8_t*, q::where);
  block_fn fn = nullptr;
  switch (t) {
    case ggml_type::q4_0:
      fn = q::q4_0;
      break;
    case ggml_type::q4_1:
      fn = q::q4_1;
      break;
    case ggml_type::q5_0:
      fn = q::q5_0;
      break;
    case ggml_type::q5_1:
      fn = q::q5_1;
      break;
    case ggml_type::q2_k:
      fn = q::q2_k;
      break;
    case ggml_type::q3_k:
      fn = q::q3_k;
      break;
    case ggml_type::q4_k:
      fn = q::q4_k;
      break;
    case ggml_type::q5_k:
      fn = q::q5_k;
      break;
    case ggml_type::q6_k:
      fn = q::q6_k;
      break;
    case ggml_type::iq4_nl:
      fn = q::iq4_nl;
      break;
    default:
      fn = q::iq4_xs;
      break;
  }
  for (std::size_t b = 0; b < n / bs; ++b) {
    q::check_finite(src + b * bs, bs, b * bs, info.name);
    fn(src + b * bs, out + b * info.type_size, q::where{info.name, b});
  }
}

/// quantize_row for a weight type: writes n floats as t
/// (weight_row_bytes(t, n) bytes at dst). Throws as the GGUF-type version.
inline void quantize_row(weight_type t, const float* src, void* dst, std::size_t n) {
  quantize_row(weight_info(t).ggml, src, dst, n);
}

}  // namespace shiftrope
