// shiftrope/quant.hpp - the weight types shiftrope computes with: their
// storage blocks (the GGUF layouts, byte for byte), scalar reference
// dequantizers, and the one table every type switch reads.
//
// A weight row of a block type is n / block_size blocks laid end to end.
// Legacy types use 32-element blocks with an f16 scale (and an f16 minimum
// for the _1 types); K-quants use 256-element super-blocks of 16 or 8
// sub-blocks whose scales are small integers scaled by the super-block's f16
// d (and dmin); IQ4 types map 4-bit codes through a fixed non-linear table.
//
// Adding a type: its block struct with a dequantize_block overload and an
// element_traits specialization, an enumerator in weight_type, and the block
// in weight_elements (in enumerator order). The table, the names, the GGUF
// mapping, the row sizes and the matmul dispatch all follow from that list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <shiftrope/error.hpp>
#include <shiftrope/ggml_type.hpp>
#include <shiftrope/numeric.hpp>
#include <string>
#include <type_traits>

namespace shiftrope {

/// How a weight matrix is stored (one enumerator per row of the table below,
/// in the same order).
enum class weight_type {
  f32,     // float
  f16,     // IEEE binary16
  bf16,    // bfloat16
  q8_0,    // 32 int8, f16 scale
  q4_0,    // 32 4-bit, f16 scale, offset 8
  q4_1,    // 32 4-bit, f16 scale and minimum
  q5_0,    // 32 5-bit, f16 scale, offset 16
  q5_1,    // 32 5-bit, f16 scale and minimum
  q2_k,    // 256: 16 × 16 2-bit, 4-bit scales and minimums
  q3_k,    // 256: 16 × 16 3-bit, 6-bit signed scales
  q4_k,    // 256: 8 × 32 4-bit, 6-bit scales and minimums
  q5_k,    // 256: 8 × 32 5-bit, 6-bit scales and minimums
  q6_k,    // 256: 16 × 16 6-bit, int8 scales
  iq4_nl,  // 32 4-bit codes of the non-linear table, f16 scale
  iq4_xs,  // 256: 8 × 32 4-bit codes of the non-linear table, 6-bit scales
};

// ---- blocks (GGUF layouts) ----

/// Q4_0: value = d * (q - 8); element j < 16 is the low nibble of qs[j],
/// element j + 16 its high nibble.
struct q4_0_block {
  static constexpr int size = 32;
  f16 d;
  std::uint8_t qs[16];
};

/// Q4_1: value = d * q + m, nibbles as in Q4_0.
struct q4_1_block {
  static constexpr int size = 32;
  f16 d;
  f16 m;
  std::uint8_t qs[16];
};

/// Q5_0: value = d * (q - 16), q = nibble (as in Q4_0) | bit j of the
/// little-endian 32-bit qh << 4.
struct q5_0_block {
  static constexpr int size = 32;
  f16 d;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};

/// Q5_1: value = d * q + m, q as in Q5_0.
struct q5_1_block {
  static constexpr int size = 32;
  f16 d;
  f16 m;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};

/// Q2_K: 16 sub-blocks of 16; scales[s] = 4-bit scale (low) | 4-bit minimum
/// (high); value = d * scale * q - dmin * min. Element i: byte qs[32 * (i /
/// 128) + i % 32], bits 2 * ((i % 128) / 32) and up.
struct q2_k_block {
  static constexpr int size = 256;
  std::uint8_t scales[16];
  std::uint8_t qs[64];
  f16 d;
  f16 dmin;
};

/// Q3_K: 16 sub-blocks of 16 with 6-bit scales (offset 32) packed in 12
/// bytes; 2 low bits of q as in Q2_K, the third bit in hmask[i % 32] bit
/// (i / 32); value = d * (scale - 32) * (q - 4) with the bit set adding 4.
struct q3_k_block {
  static constexpr int size = 256;
  std::uint8_t hmask[32];
  std::uint8_t qs[64];
  std::uint8_t scales[12];
  f16 d;
};

/// Q4_K: 8 sub-blocks of 32 with 6-bit scales and minimums packed in 12
/// bytes; element i: qs[32 * (i / 64) + i % 32], low nibble for the even
/// sub-block, high for the odd; value = d * scale * q - dmin * min.
struct q4_k_block {
  static constexpr int size = 256;
  f16 d;
  f16 dmin;
  std::uint8_t scales[12];
  std::uint8_t qs[128];
};

/// Q5_K: as Q4_K with a fifth bit: qh[i % 32] bit (i / 32).
struct q5_k_block {
  static constexpr int size = 256;
  f16 d;
  f16 dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[32];
  std::uint8_t qs[128];
};

/// Q6_K: 16 sub-blocks of 16 with int8 scales; value = d * scale * (q - 32),
/// q = 4 low bits from ql, 2 high bits from qh.
struct q6_k_block {
  static constexpr int size = 256;
  std::uint8_t ql[128];
  std::uint8_t qh[64];
  std::int8_t scales[16];
  f16 d;
};

/// IQ4_NL: value = d * iq4_values[code], codes as the nibbles of Q4_0.
struct iq4_nl_block {
  static constexpr int size = 32;
  f16 d;
  std::uint8_t qs[16];
};

/// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (offset 32: 4 low bits in
/// scales_l, 2 high bits in scales_h); codes of each sub-block as IQ4_NL.
struct iq4_xs_block {
  static constexpr int size = 256;
  f16 d;
  std::uint16_t scales_h;
  std::uint8_t scales_l[4];
  std::uint8_t qs[128];
};

static_assert(sizeof(q4_0_block) == 18 && sizeof(q4_1_block) == 20 && sizeof(q5_0_block) == 22 &&
                  sizeof(q5_1_block) == 24 && sizeof(q2_k_block) == 84 &&
                  sizeof(q3_k_block) == 110 && sizeof(q4_k_block) == 144 &&
                  sizeof(q5_k_block) == 176 && sizeof(q6_k_block) == 210 &&
                  sizeof(iq4_nl_block) == 18 && sizeof(iq4_xs_block) == 136,
              "blocks must match the GGUF layouts");

/// The 16 values of the IQ4 codes (a non-linear grid, denser near zero).
inline constexpr std::int8_t iq4_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                               1,    13,   25,  38,  53,  69,  89,  113};

// ---- scalar reference dequantizers: one block into block_size floats ----

inline void dequantize_block(const q8_0_block& b, float* y) noexcept {
  const float d = to_float(b.d);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(b.qs[i]);
}

inline void dequantize_block(const q4_0_block& b, float* y) noexcept {
  const float d = to_float(b.d);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((b.qs[j] & 15) - 8);
    y[j + 16] = d * static_cast<float>((b.qs[j] >> 4) - 8);
  }
}

inline void dequantize_block(const q4_1_block& b, float* y) noexcept {
  const float d = to_float(b.d), m = to_float(b.m);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(b.qs[j] & 15) + m;
    y[j + 16] = d * static_cast<float>(b.qs[j] >> 4) + m;
  }
}

namespace detail {
inline std::uint32_t load_u32_le(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}
/// 5-bit values of a Q5_0 / Q5_1 block: nibble | high bit << 4.
inline void q5_values(const std::uint8_t* qs, const std::uint8_t* qh_bytes, int* q) noexcept {
  const std::uint32_t qh = load_u32_le(qh_bytes);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 15) | static_cast<int>((qh >> j) & 1u) << 4;
    q[j + 16] = (qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
  }
}
/// Scale and minimum (6 bits each) of sub-block s < 8 of Q4_K / Q5_K: the
/// first four in the low 6 bits of bytes 0-3 (scales) and 4-7 (minimums);
/// the last four in the nibbles of bytes 8-11 with their top 2 bits in the
/// top bits of bytes 0-7.
inline void k4_scale_min(const std::uint8_t* s, int j, int& sc, int& m) noexcept {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
    m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
  }
}
/// Scale s < 16 of Q3_K (6 bits, not yet offset): low 4 bits from the
/// nibbles of bytes 0-7, high 2 bits from bytes 8-11.
inline int q3_k_scale(const std::uint8_t* s, int i) noexcept {
  const int low = i < 8 ? s[i] & 15 : s[i - 8] >> 4;
  const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
  return low | high << 4;
}
}  // namespace detail

inline void dequantize_block(const q5_0_block& b, float* y) noexcept {
  int q[32];
  detail::q5_values(b.qs, b.qh, q);
  const float d = to_float(b.d);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(q[i] - 16);
}

inline void dequantize_block(const q5_1_block& b, float* y) noexcept {
  int q[32];
  detail::q5_values(b.qs, b.qh, q);
  const float d = to_float(b.d), m = to_float(b.m);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(q[i]) + m;
}

inline void dequantize_block(const q2_k_block& b, float* y) noexcept {
  const float d = to_float(b.d), dmin = to_float(b.dmin);
  for (int s = 0; s < 16; ++s) {
    const float dl = d * static_cast<float>(b.scales[s] & 15);
    const float ml = dmin * static_cast<float>(b.scales[s] >> 4);
    const std::uint8_t* q = b.qs + 32 * (s / 8) + 16 * (s % 2);
    const int shift = 2 * ((s % 8) / 2);
    for (int l = 0; l < 16; ++l) y[16 * s + l] = dl * static_cast<float>((q[l] >> shift) & 3) - ml;
  }
}

inline void dequantize_block(const q3_k_block& b, float* y) noexcept {
  const float d = to_float(b.d);
  for (int s = 0; s < 16; ++s) {
    const float dl = d * static_cast<float>(detail::q3_k_scale(b.scales, s) - 32);
    const int half = s / 8, j = (s % 8) / 2, l0 = 16 * (s % 2);
    const std::uint8_t* q = b.qs + 32 * half;
    const int hbit = 4 * half + j;
    for (int l = l0; l < l0 + 16; ++l) {
      const int v = ((q[l] >> (2 * j)) & 3) - (((b.hmask[l] >> hbit) & 1) ? 0 : 4);
      y[16 * s + l - l0] = dl * static_cast<float>(v);
    }
  }
}

inline void dequantize_block(const q4_k_block& b, float* y) noexcept {
  const float d = to_float(b.d), dmin = to_float(b.dmin);
  for (int s = 0; s < 8; ++s) {
    int sc = 0, m = 0;
    detail::k4_scale_min(b.scales, s, sc, m);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(m);
    const std::uint8_t* q = b.qs + 32 * (s / 2);
    const int shift = 4 * (s % 2);
    for (int l = 0; l < 32; ++l) y[32 * s + l] = dl * static_cast<float>((q[l] >> shift) & 15) - ml;
  }
}

inline void dequantize_block(const q5_k_block& b, float* y) noexcept {
  const float d = to_float(b.d), dmin = to_float(b.dmin);
  for (int s = 0; s < 8; ++s) {
    int sc = 0, m = 0;
    detail::k4_scale_min(b.scales, s, sc, m);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(m);
    const std::uint8_t* q = b.qs + 32 * (s / 2);
    const int shift = 4 * (s % 2);
    for (int l = 0; l < 32; ++l) {
      const int v = ((q[l] >> shift) & 15) | ((b.qh[l] >> s) & 1) << 4;
      y[32 * s + l] = dl * static_cast<float>(v) - ml;
    }
  }
}

inline void dequantize_block(const q6_k_block& b, float* y) noexcept {
  const float d = to_float(b.d);
  for (int i = 0; i < 256; ++i) {
    const int half = i / 128, k = (i % 128) / 32, l = i % 32;
    const std::uint8_t lo = b.ql[64 * half + 32 * (k % 2) + l];
    const int nib = k < 2 ? lo & 15 : lo >> 4;
    const int hi = (b.qh[32 * half + l] >> (2 * k)) & 3;
    const float dl = d * static_cast<float>(b.scales[i / 16]);
    y[i] = dl * static_cast<float>((nib | hi << 4) - 32);
  }
}

inline void dequantize_block(const iq4_nl_block& b, float* y) noexcept {
  const float d = to_float(b.d);
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(iq4_values[b.qs[j] & 15]);
    y[j + 16] = d * static_cast<float>(iq4_values[b.qs[j] >> 4]);
  }
}

inline void dequantize_block(const iq4_xs_block& b, float* y) noexcept {
  const float d = to_float(b.d);
  for (int s = 0; s < 8; ++s) {
    const int ls = ((b.scales_l[s / 2] >> (4 * (s % 2))) & 15) | ((b.scales_h >> (2 * s)) & 3) << 4;
    const float dl = d * static_cast<float>(ls - 32);
    const std::uint8_t* q = b.qs + 16 * s;
    for (int j = 0; j < 16; ++j) {
      y[32 * s + j] = dl * static_cast<float>(iq4_values[q[j] & 15]);
      y[32 * s + j + 16] = dl * static_cast<float>(iq4_values[q[j] >> 4]);
    }
  }
}

// ---- the table ----

/// Facts of one element type of a weight row (float, f16, bf16 or a block).
template <class T>
struct element_traits;

#define SHIFTROPE_WEIGHT_ELEMENT(T, TYPE, NAME, GGML, BLOCK) \
  template <>                                                \
  struct element_traits<T> {                                 \
    static constexpr weight_type type = weight_type::TYPE;   \
    static constexpr const char* name = NAME;                \
    static constexpr ggml_type ggml = ggml_type::GGML;       \
    static constexpr std::size_t block_size = BLOCK;         \
  };
SHIFTROPE_WEIGHT_ELEMENT(float, f32, "f32", f32, 1)
SHIFTROPE_WEIGHT_ELEMENT(f16, f16, "f16", f16, 1)
SHIFTROPE_WEIGHT_ELEMENT(bf16, bf16, "bf16", bf16, 1)
SHIFTROPE_WEIGHT_ELEMENT(q8_0_block, q8_0, "q8_0", q8_0, 32)
SHIFTROPE_WEIGHT_ELEMENT(q4_0_block, q4_0, "q4_0", q4_0, 32)
SHIFTROPE_WEIGHT_ELEMENT(q4_1_block, q4_1, "q4_1", q4_1, 32)
SHIFTROPE_WEIGHT_ELEMENT(q5_0_block, q5_0, "q5_0", q5_0, 32)
SHIFTROPE_WEIGHT_ELEMENT(q5_1_block, q5_1, "q5_1", q5_1, 32)
SHIFTROPE_WEIGHT_ELEMENT(q2_k_block, q2_k, "q2_k", q2_k, 256)
SHIFTROPE_WEIGHT_ELEMENT(q3_k_block, q3_k, "q3_k", q3_k, 256)
SHIFTROPE_WEIGHT_ELEMENT(q4_k_block, q4_k, "q4_k", q4_k, 256)
SHIFTROPE_WEIGHT_ELEMENT(q5_k_block, q5_k, "q5_k", q5_k, 256)
SHIFTROPE_WEIGHT_ELEMENT(q6_k_block, q6_k, "q6_k", q6_k, 256)
SHIFTROPE_WEIGHT_ELEMENT(iq4_nl_block, iq4_nl, "iq4_nl", iq4_nl, 32)
SHIFTROPE_WEIGHT_ELEMENT(iq4_xs_block, iq4_xs, "iq4_xs", iq4_xs, 256)
#undef SHIFTROPE_WEIGHT_ELEMENT

/// A list of element types.
template <class... T>
struct type_list {};

/// Every weight element type, in weight_type order: the one list the table
/// and the matmul dispatch are built from.
using weight_elements = type_list<float, f16, bf16, q8_0_block, q4_0_block, q4_1_block, q5_0_block,
                                  q5_1_block, q2_k_block, q3_k_block, q4_k_block, q5_k_block,
                                  q6_k_block, iq4_nl_block, iq4_xs_block>;

/// True for the block types (several weights per storage unit).
template <class T>
inline constexpr bool is_block_type_v = element_traits<T>::block_size > 1;

/// Elements of a row of n weights (n blocks' worth of units for block types).
template <class T>
constexpr std::size_t row_units_of(std::size_t n) noexcept {
  return n / element_traits<T>::block_size;
}

/// dst[0..n) = n weights starting at src (n a whole number of blocks).
template <class T>
inline void dequantize_row_of(const void* src, float* dst, std::size_t n) noexcept {
  const T* s = static_cast<const T*>(src);
  if constexpr (is_block_type_v<T>) {
    constexpr std::size_t bs = element_traits<T>::block_size;
    for (std::size_t b = 0; b < n / bs; ++b) dequantize_block(s[b], dst + b * bs);
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = to_float(s[i]);
  }
}

/// One row of the table of weight types.
struct weight_type_info {
  weight_type type;        // the enumerator
  const char* name;        // short name ("q4_k"), for messages and benchmarks
  ggml_type ggml;          // the GGUF tensor type id
  std::size_t block_size;  // weights per storage unit (1 for f32 / f16 / bf16)
  std::size_t unit_bytes;  // bytes per storage unit
  void (*dequantize_row)(const void* src, float* dst, std::size_t n) noexcept;  // reference
};

namespace detail {
template <class T>
constexpr weight_type_info weight_row_info() noexcept {
  using tr = element_traits<T>;
  return {tr::type, tr::name, tr::ggml, tr::block_size, sizeof(T), &dequantize_row_of<T>};
}
template <class... T>
struct weight_table_of {
  static constexpr weight_type_info rows[] = {weight_row_info<T>()...};
  static constexpr std::size_t size = sizeof...(T);
};
template <class... T>
constexpr weight_table_of<T...> make_weight_table(type_list<T...>) noexcept {
  return {};
}
using weight_table = decltype(make_weight_table(weight_elements{}));
}  // namespace detail

/// Number of weight types.
inline constexpr std::size_t weight_type_count = detail::weight_table::size;

/// The table row of t.
constexpr const weight_type_info& weight_info(weight_type t) noexcept {
  return detail::weight_table::rows[static_cast<std::size_t>(t)];
}

namespace detail {
constexpr bool weight_table_in_order() noexcept {
  for (std::size_t i = 0; i < weight_table::size; ++i)
    if (static_cast<std::size_t>(weight_table::rows[i].type) != i) return false;
  return true;
}
static_assert(weight_table_in_order(), "weight_elements must list the types in enumerator order");
}  // namespace detail

/// Calls f(T{}) ... with a value-initialized tag of the element type of t:
/// f(static_cast<const T*>(nullptr)), the one switch on the weight type.
template <class F, class T0, class... T>
inline decltype(auto) visit_weight_type_impl(weight_type t, F&& f, type_list<T0, T...>) {
  if constexpr (sizeof...(T) == 0) {
    return f(static_cast<const T0*>(nullptr));
  } else {
    if (t == element_traits<T0>::type) return f(static_cast<const T0*>(nullptr));
    return visit_weight_type_impl(t, static_cast<F&&>(f), type_list<T...>{});
  }
}

/// Calls f(static_cast<const T*>(nullptr)) for the element type T of t.
template <class F>
inline decltype(auto) visit_weight_type(weight_type t, F&& f) {
  return visit_weight_type_impl(t, static_cast<F&&>(f), weight_elements{});
}

/// The weight type of GGUF tensor type g, if shiftrope computes with it.
inline bool weight_type_of_ggml(ggml_type g, weight_type& out) noexcept {
  for (const weight_type_info& r : detail::weight_table::rows)
    if (r.ggml == g) {
      out = r.type;
      return true;
    }
  return false;
}

/// True when shiftrope computes with GGUF tensor type t (a row of the table).
inline bool ggml_type_supported(ggml_type t) noexcept {
  weight_type w{};
  return weight_type_of_ggml(t, w);
}

/// "F32, F16, ..., IQ4_XS": the GGUF types shiftrope computes with.
inline std::string supported_ggml_types() {
  std::string s;
  for (const weight_type_info& r : detail::weight_table::rows) {
    if (!s.empty()) s += ", ";
    s += ggml_type_name(r.ggml);
  }
  return s;
}

/// Dequantizes (converts) n weights of type t at src into dst[0..n): the
/// scalar reference, in the order of the elements. Throws shiftrope::error
/// when n is not a whole number of blocks.
inline void dequantize_row(weight_type t, const void* src, float* dst, std::size_t n) {
  const weight_type_info& r = weight_info(t);
  if (n % r.block_size != 0)
    fail("dequantize_row: n = ", n, " is not a multiple of ", r.block_size, " (type ", r.name, ")");
  r.dequantize_row(src, dst, n);
}

/// The f16 scales of a row of blocks (d, and dmin / m where the type has
/// one): the index of the first block with a non-finite scale, or -1.
template <class T>
inline std::ptrdiff_t first_nonfinite_scale(const T* blocks, std::size_t n_blocks) noexcept {
  const auto bad = [](f16 h) { return (h.bits & 0x7c00u) == 0x7c00u; };
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const T& x = blocks[b];
    bool nf = bad(x.d);
    if constexpr (std::is_same_v<T, q4_1_block> || std::is_same_v<T, q5_1_block>) nf |= bad(x.m);
    if constexpr (std::is_same_v<T, q2_k_block> || std::is_same_v<T, q4_k_block> ||
                  std::is_same_v<T, q5_k_block>)
      nf |= bad(x.dmin);
    if (nf) return static_cast<std::ptrdiff_t>(b);
  }
  return -1;
}

}  // namespace shiftrope
