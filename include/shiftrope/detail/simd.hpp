// shiftrope/detail/simd.hpp - the only door to xsimd (and to the few x86
// intrinsics that xsimd 8.1 lacks: f16/bf16 -> float conversions).
//
// Vocabulary: vec<Acc> (a full register of float or double, the width chosen
// at compile time by the consumer's flags), load_as / store_as between any
// storage type and a register, and row primitives (dot, axpy, scale, max,
// convert) with scalar tails. Nothing outside this header names xsimd.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__) || defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include <shiftrope/numeric.hpp>

/// Forces inlining of small register helpers (SHIFTROPE_LAMBDA_INLINE: of
/// a lambda, written after its parameter list): a call between them passes
/// the registers through memory (and, with AVX-512, costs a vzeroupper), which
/// made the per-block helpers of the quantized kernels several times slower
/// than their bodies.
#if defined(__GNUC__)
#define SHIFTROPE_FORCE_INLINE __attribute__((always_inline)) inline
#define SHIFTROPE_LAMBDA_INLINE __attribute__((always_inline))
#else
#define SHIFTROPE_FORCE_INLINE inline
#define SHIFTROPE_LAMBDA_INLINE
#endif

namespace shiftrope::detail::simd {

/// A full SIMD register of Acc (float or double).
template <class Acc>
using vec = xsimd::batch<Acc>;

/// Lanes of vec<Acc>.
template <class Acc>
inline constexpr std::size_t lanes = vec<Acc>::size;

/// The widest alignment any register here needs (for scratch buffers).
inline constexpr std::size_t max_align = 64;

namespace impl {

// Half and bfloat16 rows converted element by element into a float buffer:
// the portable path (no F16C / AVX-512) and the path for double registers.
template <class Acc, class T>
inline vec<Acc> load_scalar(const T* p, std::size_t n) noexcept {
  alignas(max_align) Acc buf[lanes<Acc>] = {};
  for (std::size_t i = 0; i < n; ++i) buf[i] = convert<Acc>(p[i]);
  return vec<Acc>::load_aligned(buf);
}

}  // namespace impl

/// Loads lanes<Acc> consecutive elements of storage type T as a register of
/// Acc. f16/bf16 convert to float first (exactly), so no native half
/// arithmetic is needed.
template <class Acc, class T>
inline vec<Acc> load_as(const T* p) noexcept {
  static_assert(is_compute_type_v<Acc>, "Acc must be float or double");
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    return vec<Acc>::load_unaligned(p);
  } else if constexpr (std::is_same_v<Acc, float> && std::is_same_v<T, bf16>) {
#if defined(__AVX512F__)
    if constexpr (lanes<float> == 16) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      return vec<float>(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
#endif
#if defined(__AVX2__)
    // vec<Acc> (= vec<float> here), not vec<float>: a dependent type keeps clang
    // from checking the 8-lane cast in this branch when it is discarded (AVX-512).
    if constexpr (lanes<float> == 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      return vec<Acc>(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
    }
#endif
    return impl::load_scalar<Acc>(p, lanes<Acc>);
  } else if constexpr (std::is_same_v<Acc, float> && std::is_same_v<T, f16>) {
#if defined(__AVX512F__)
    if constexpr (lanes<float> == 16) {
      return vec<float>(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
    }
#endif
#if defined(__F16C__) && defined(__AVX__)
    if constexpr (lanes<float> == 8) {
      return vec<Acc>(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    }
#endif
    return impl::load_scalar<Acc>(p, lanes<Acc>);
  } else {
    return impl::load_scalar<Acc>(p, lanes<Acc>);
  }
}

/// Where q8_0 elements are read (the KV cache's layout, kv_q8.hpp): element
/// i is quants[at + i] times the f16 scale scales[(at + i) / 32]. Adding an
/// offset moves it like a pointer, so the kernels that read float or half
/// rows through `row + offset` read q8_0 rows unchanged.
struct q8_ptr {
  const std::int8_t* quants = nullptr;  // element 0 (its index a multiple of 32)
  const f16* scales = nullptr;          // one per 32 quants from quants[0]
  std::size_t at = 0;                   // the element this points at

  friend q8_ptr operator+(q8_ptr p, std::size_t n) noexcept {
    p.at += n;
    return p;
  }
  explicit operator bool() const noexcept { return quants != nullptr; }
};

/// The f16 scale as a float: one instruction with F16C.
inline float scale_value(f16 h) noexcept {
#if defined(__F16C__)
  return _cvtsh_ss(h.bits);
#else
  return to_float(h);
#endif
}

/// Loads lanes<Acc> q8_0 elements as Acc: int8 widened and converted, times
/// their block's scale (the lanes never straddle two blocks: at is a
/// multiple of the register width, and 32 of the width).
template <class Acc>
inline vec<Acc> load_as(const q8_ptr& p) noexcept {
  static_assert(is_compute_type_v<Acc>, "Acc must be float or double");
  static_assert(32 % lanes<Acc> == 0, "a register must not straddle two q8_0 blocks");
  const std::int8_t* q = p.quants + p.at;
  const vec<Acc> d = vec<Acc>(static_cast<Acc>(scale_value(p.scales[p.at / 32])));
  if constexpr (std::is_same_v<Acc, float>) {
#if defined(__AVX512F__)
    if constexpr (lanes<float> == 16) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
      return vec<Acc>(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b))) * d;
    }
#endif
#if defined(__AVX2__)
    if constexpr (lanes<float> == 8) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
      return vec<Acc>(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b))) * d;
    }
#endif
  }
  alignas(max_align) Acc buf[lanes<Acc>];
  for (std::size_t i = 0; i < lanes<Acc>; ++i) buf[i] = static_cast<Acc>(q[i]);
  return vec<Acc>::load_aligned(buf) * d;
}

/// Loads n < lanes<Acc> elements (a tail); the other lanes are zero.
template <class Acc, class T>
inline vec<Acc> load_partial_as(const T* p, std::size_t n) noexcept {
  return impl::load_scalar<Acc>(p, n);
}

/// Stores a register to lanes<Acc> elements of storage type T (rounding to
/// nearest even for f16/bf16).
template <class T, class Acc>
inline void store_as(T* p, const vec<Acc>& v) noexcept {
  if constexpr (std::is_same_v<T, Acc>) {
    v.store_unaligned(p);
  } else {
    alignas(max_align) Acc buf[lanes<Acc>];
    v.store_aligned(buf);
    for (std::size_t i = 0; i < lanes<Acc>; ++i) p[i] = convert<T>(buf[i]);
  }
}

/// Stores the first n lanes of a register.
template <class T, class Acc>
inline void store_partial_as(T* p, const vec<Acc>& v, std::size_t n) noexcept {
  alignas(max_align) Acc buf[lanes<Acc>];
  v.store_aligned(buf);
  for (std::size_t i = 0; i < n; ++i) p[i] = convert<T>(buf[i]);
}

/// a * b + c, fused where the target has FMA.
template <class Acc>
inline vec<Acc> fma(const vec<Acc>& a, const vec<Acc>& b, const vec<Acc>& c) noexcept {
  return xsimd::fma(a, b, c);
}

/// Sum of the lanes.
template <class Acc>
inline Acc hsum(const vec<Acc>& v) noexcept {
  return xsimd::hadd(v);
}

/// Largest lane.
template <class Acc>
inline Acc hmax(const vec<Acc>& v) noexcept {
  alignas(max_align) Acc buf[lanes<Acc>];
  v.store_aligned(buf);
  Acc m = buf[0];
  for (std::size_t i = 1; i < lanes<Acc>; ++i) m = std::max(m, buf[i]);
  return m;
}

/// Lane-wise maximum.
template <class Acc>
inline vec<Acc> max(const vec<Acc>& a, const vec<Acc>& b) noexcept {
  return xsimd::max(a, b);
}

/// Lane-wise e^x (vectorised; float underflows to 0 below about -88.4).
template <class Acc>
inline vec<Acc> exp(const vec<Acc>& x) noexcept {
  return xsimd::exp(x);
}

/// sum_i x[i] * y[i]; x in compute type, y in any storage type.
template <class Acc, class T>
inline Acc dot(const Acc* x, const T* y, std::size_t n) noexcept {
  constexpr std::size_t w = lanes<Acc>;
  vec<Acc> a0(Acc(0)), a1(Acc(0)), a2(Acc(0)), a3(Acc(0));
  std::size_t i = 0;
  for (; i + 4 * w <= n; i += 4 * w) {
    a0 = fma(vec<Acc>::load_unaligned(x + i), load_as<Acc>(y + i), a0);
    a1 = fma(vec<Acc>::load_unaligned(x + i + w), load_as<Acc>(y + i + w), a1);
    a2 = fma(vec<Acc>::load_unaligned(x + i + 2 * w), load_as<Acc>(y + i + 2 * w), a2);
    a3 = fma(vec<Acc>::load_unaligned(x + i + 3 * w), load_as<Acc>(y + i + 3 * w), a3);
  }
  for (; i + w <= n; i += w) a0 = fma(vec<Acc>::load_unaligned(x + i), load_as<Acc>(y + i), a0);
  Acc s = hsum((a0 + a1) + (a2 + a3));
  for (; i < n; ++i) s += x[i] * convert<Acc>(y[i]);
  return s;
}

/// y[i] += a * x[i]; x in any storage type, y in compute type.
template <class Acc, class T>
inline void axpy(Acc a, const T* x, Acc* y, std::size_t n) noexcept {
  constexpr std::size_t w = lanes<Acc>;
  const vec<Acc> va(a);
  std::size_t i = 0;
  for (; i + w <= n; i += w)
    fma(va, load_as<Acc>(x + i), vec<Acc>::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += a * convert<Acc>(x[i]);
}

/// y[i] *= a.
template <class Acc>
inline void scale(Acc* y, Acc a, std::size_t n) noexcept {
  constexpr std::size_t w = lanes<Acc>;
  const vec<Acc> va(a);
  std::size_t i = 0;
  for (; i + w <= n; i += w) (vec<Acc>::load_unaligned(y + i) * va).store_unaligned(y + i);
  for (; i < n; ++i) y[i] *= a;
}

/// Largest element of x[0..n), n >= 1.
template <class Acc>
inline Acc max_value(const Acc* x, std::size_t n) noexcept {
  constexpr std::size_t w = lanes<Acc>;
  std::size_t i = 0;
  Acc m = x[0];
  if (n >= w) {
    vec<Acc> vm = vec<Acc>::load_unaligned(x);
    for (i = w; i + w <= n; i += w) vm = max(vm, vec<Acc>::load_unaligned(x + i));
    m = hmax(vm);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

/// dst[i] = src[i] converted between any storage and compute types.
template <class To, class From>
inline void convert_row(const From* src, To* dst, std::size_t n) noexcept {
  if constexpr (is_compute_type_v<To>) {
    constexpr std::size_t w = lanes<To>;
    std::size_t i = 0;
    for (; i + w <= n; i += w) load_as<To>(src + i).store_unaligned(dst + i);
    for (; i < n; ++i) dst[i] = convert<To>(src[i]);
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = convert<To>(src[i]);
  }
}

/// Rotation in planes (a[i], b[i]), i in [0, n):
/// (a, b) -> (a cos - b sin, b cos + a sin). The half-split RoPE pairing:
/// a = x, b = x + rotary_dim/2.
template <class T>
inline void rotate_half_split(T* a, T* b, const T* cos, const T* sin, std::size_t n) noexcept {
  static_assert(is_compute_type_v<T>, "rotation happens in float or double");
  constexpr std::size_t w = lanes<T>;
  std::size_t i = 0;
  for (; i + w <= n; i += w) {
    const vec<T> va = vec<T>::load_unaligned(a + i), vb = vec<T>::load_unaligned(b + i);
    const vec<T> c = vec<T>::load_unaligned(cos + i), s = vec<T>::load_unaligned(sin + i);
    fma(va, c, -(vb * s)).store_unaligned(a + i);
    fma(vb, c, va * s).store_unaligned(b + i);
  }
  for (; i < n; ++i) {
    const T x0 = a[i], x1 = b[i];
    a[i] = x0 * cos[i] - x1 * sin[i];
    b[i] = x1 * cos[i] + x0 * sin[i];
  }
}

/// Rotation in adjacent planes (x[2i], x[2i+1]), i in [0, n): the interleaved
/// RoPE pairing. xsimd 8.1 has no portable lane swap, so this is written as
/// the plain complex product, which g++/clang vectorise at -O2 and above.
template <class T>
inline void rotate_interleaved(T* x, const T* cos, const T* sin, std::size_t n) noexcept {
  static_assert(is_compute_type_v<T>, "rotation happens in float or double");
  for (std::size_t i = 0; i < n; ++i) {
    const T x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * cos[i] - x1 * sin[i];
    x[2 * i + 1] = x1 * cos[i] + x0 * sin[i];
  }
}

/// Loads lanes<Acc> consecutive int8 values as a register of Acc (exact:
/// every int8 is a float). The Q8_0 weight path: sign-extend to int32, then
/// convert.
template <class Acc>
SHIFTROPE_FORCE_INLINE vec<Acc> load_i8_as(const std::int8_t* p) noexcept {
  static_assert(is_compute_type_v<Acc>, "Acc must be float or double");
  if constexpr (std::is_same_v<Acc, float>) {
#if defined(__AVX512F__)
    if constexpr (lanes<float> == 16) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      return vec<float>(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
    }
#endif
#if defined(__AVX2__)
    if constexpr (lanes<float> == 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
      return vec<Acc>(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
    }
#endif
  }
  alignas(max_align) Acc buf[lanes<Acc>];
  for (std::size_t i = 0; i < lanes<Acc>; ++i) buf[i] = static_cast<Acc>(p[i]);
  return vec<Acc>::load_aligned(buf);
}

/// Loads lanes<float> consecutive bytes and returns the bit field
/// (p[i] >> shift) & mask of each as a float (exact): the quantized weight
/// paths unpack nibbles and 2-bit fields with it.
template <class Acc = float>
SHIFTROPE_FORCE_INLINE vec<Acc> load_u8_field_as_float(const std::uint8_t* p, int shift,
                                                       unsigned mask) noexcept {
  static_assert(std::is_same_v<Acc, float>, "the bit fields load as float");
  // The mask matters only where it clears bits of the shifted byte (not for
  // the high nibble, p[i] >> 4 & 15); shift and mask are constants once
  // inlined, so the tests vanish.
  [[maybe_unused]] const bool keep_bits = ((0xFFu >> shift) & ~mask) != 0;
#if defined(__AVX512F__)
  if constexpr (lanes<Acc> == 16) {
    __m512i f = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    if (shift != 0) f = _mm512_srl_epi32(f, _mm_cvtsi32_si128(shift));
    if (keep_bits) f = _mm512_and_si512(f, _mm512_set1_epi32(static_cast<int>(mask)));
    return vec<Acc>(_mm512_cvtepi32_ps(f));
  }
#endif
#if defined(__AVX2__)
  if constexpr (lanes<Acc> == 8) {
    __m256i f = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    if (shift != 0) f = _mm256_srl_epi32(f, _mm_cvtsi32_si128(shift));
    if (keep_bits) f = _mm256_and_si256(f, _mm256_set1_epi32(static_cast<int>(mask)));
    return vec<Acc>(_mm256_cvtepi32_ps(f));
  }
#endif
  alignas(max_align) Acc buf[lanes<Acc>];
  for (std::size_t i = 0; i < lanes<Acc>; ++i) buf[i] = static_cast<Acc>((p[i] >> shift) & mask);
  return vec<Acc>::load_aligned(buf);
}

/// Lane i = (bits >> (first + i)) & 1 as a float (0 or 1), for i <
/// lanes<float> and first + lanes<float> <= 32: the fifth bits of Q5_0 / Q5_1
/// quants, stored one per bit.
template <class Acc = float>
SHIFTROPE_FORCE_INLINE vec<Acc> bits_as_float(std::uint32_t bits, int first) noexcept {
#if defined(__AVX512F__)
  if constexpr (lanes<Acc> == 16) {
    const __m512i sh =
        _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(first));
    const __m512i b = _mm512_and_si512(
        _mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(bits)), sh), _mm512_set1_epi32(1));
    return vec<Acc>(_mm512_cvtepi32_ps(b));
  }
#endif
#if defined(__AVX2__)
  if constexpr (lanes<Acc> == 8) {
    const __m256i sh =
        _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(first));
    const __m256i b = _mm256_and_si256(
        _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(bits)), sh), _mm256_set1_epi32(1));
    return vec<Acc>(_mm256_cvtepi32_ps(b));
  }
#endif
  alignas(max_align) float buf[lanes<Acc>];
  for (std::size_t i = 0; i < lanes<Acc>; ++i)
    buf[i] = static_cast<float>((bits >> (static_cast<std::size_t>(first) + i)) & 1u);
  return vec<Acc>::load_aligned(buf);
}

/// Lane i = table[(p[i] >> shift) & 15] for lanes<float> bytes at p: a
/// 16-entry lookup (IQ4_NL / IQ4_XS codes), one permute with AVX-512, two
/// and a blend with AVX2.
template <class Acc = float>
SHIFTROPE_FORCE_INLINE vec<Acc> lookup16_u8_field(const std::uint8_t* p, int shift,
                                                  const float* table) noexcept {
#if defined(__AVX512F__)
  if constexpr (lanes<Acc> == 16) {
    const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m512i idx =
        _mm512_and_si512(_mm512_srl_epi32(b, _mm_cvtsi32_si128(shift)), _mm512_set1_epi32(15));
    return vec<Acc>(_mm512_permutexvar_ps(idx, _mm512_loadu_ps(table)));
  }
#endif
#if defined(__AVX2__)
  if constexpr (lanes<Acc> == 8) {
    const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    const __m256i idx =
        _mm256_and_si256(_mm256_srl_epi32(b, _mm_cvtsi32_si128(shift)), _mm256_set1_epi32(15));
    const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), idx);
    const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), idx);
    const __m256 upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7)));
    return vec<Acc>(_mm256_blendv_ps(lo, hi, upper));
  }
#endif
  alignas(max_align) float buf[lanes<Acc>];
  for (std::size_t i = 0; i < lanes<Acc>; ++i) buf[i] = table[(p[i] >> shift) & 15];
  return vec<Acc>::load_aligned(buf);
}

/// One f16 -> float, exact; a single F16C instruction where the target has
/// it (the per-block Q8_0 scale), numeric.hpp's bit manipulation otherwise.
SHIFTROPE_FORCE_INLINE float half_to_float(f16 h) noexcept {
#if defined(__F16C__)
  return _cvtsh_ss(h.bits);
#else
  return to_float(h);
#endif
}

// --- register primitives for the attention kernels ---------------------

/// lanes<Acc> values of Acc from p (any alignment).
template <class Acc>
inline vec<Acc> load(const Acc* p) noexcept {
  return vec<Acc>::load_unaligned(p);
}

/// Stores a register to lanes<Acc> values at p (any alignment).
template <class Acc>
inline void store(Acc* p, const vec<Acc>& v) noexcept {
  v.store_unaligned(p);
}

/// Every lane = x (a broadcast).
template <class Acc>
inline vec<Acc> splat(Acc x) noexcept {
  return vec<Acc>(x);
}

/// Lane-wise minimum.
template <class Acc>
inline vec<Acc> min(const vec<Acc>& a, const vec<Acc>& b) noexcept {
  return xsimd::min(a, b);
}

/// s in the lanes where lo <= k < hi, fill elsewhere (masks the scores of
/// key k for the rows whose key range [lo, hi) does not hold it).
template <class Acc>
inline vec<Acc> keep_in_range(const vec<Acc>& s, Acc k, const vec<Acc>& lo, const vec<Acc>& hi,
                              Acc fill) noexcept {
  const vec<Acc> vk(k);
  return xsimd::select((vk >= lo) && (vk < hi), s, vec<Acc>(fill));
}

/// v with every lane equal to -infinity replaced by x.
template <class Acc>
inline vec<Acc> replace_neg_inf(const vec<Acc>& v, Acc x) noexcept {
  return xsimd::select(v == vec<Acc>(-std::numeric_limits<Acc>::infinity()), vec<Acc>(x), v);
}

/// log(e^a + e^b) lane-wise, with -infinity as the neutral element (a score
/// counted twice enters a softmax as one score of this value).
template <class Acc>
inline vec<Acc> log_add_exp(const vec<Acc>& a, const vec<Acc>& b) noexcept {
  const vec<Acc> hi = xsimd::max(a, b), lo = xsimd::min(a, b);
  const vec<Acc> neg_inf(-std::numeric_limits<Acc>::infinity());
  const vec<Acc> sum = hi + xsimd::log1p(xsimd::exp(lo - replace_neg_inf(hi, Acc(0))));
  return xsimd::select(hi == neg_inf, neg_inf, sum);
}

/// Keeps v in a register from here on: g++ otherwise folds a load into
/// every FMA that uses it, re-reading memory once per use, which makes
/// register-blocked tiles load-bound. No instruction is emitted.
template <class Acc>
inline void pin(vec<Acc>& v) noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
  typename vec<Acc>::register_type r = v;
  __asm__("" : "+v"(r));
  v = r;
#else
  (void)v;
#endif
}

/// Keeps a prefetch loop alive. g++ treats __builtin_prefetch as free of
/// side effects, so it finds a function made of prefetch loops "looping
/// const" and, since C++ loops may be assumed to end, deletes every call
/// whose result (none) is unused: the prefetches vanished from the
/// attention kernel's binary. An empty volatile asm that takes the address
/// is a side effect the optimiser keeps (and it costs no instruction).
inline void keep_prefetch(const void* p) noexcept {
#if defined(__GNUC__)
  __asm__ volatile("" : : "r"(p));
#else
  (void)p;
#endif
}

/// Asks the cache hierarchy for the bytes [p, p + bytes) ahead of use
/// (reads), so that a loop over scattered rows overlaps its misses.
inline void prefetch(const void* p, std::size_t bytes) noexcept {
#if defined(__GNUC__)
  const char* c = static_cast<const char*>(p);
#pragma GCC unroll 4
  for (std::size_t off = 0; off < bytes; off += 64) {
    __builtin_prefetch(c + off, 0, 3);
    keep_prefetch(c + off);
  }
#else
  (void)p;
  (void)bytes;
#endif
}

/// The same for bytes about to be written.
inline void prefetch_for_write(void* p, std::size_t bytes) noexcept {
#if defined(__GNUC__)
  char* c = static_cast<char*>(p);
  for (std::size_t off = 0; off < bytes; off += 64) {
    __builtin_prefetch(c + off, 1, 3);
    keep_prefetch(c + off);
  }
#else
  (void)p;
  (void)bytes;
#endif
}

/// dst[c·ld_dst + i] = src[i·ld_src + c] for i < lanes<Acc> rows and
/// c < n_cols: turns a register's worth of rows into columns. AVX-512 float
/// transposes 16×16 blocks in registers; other targets copy element-wise.
template <class Acc>
inline void transpose_rows(const Acc* src, std::size_t ld_src, Acc* dst, std::size_t ld_dst,
                           std::size_t n_cols) noexcept {
  constexpr std::size_t w = lanes<Acc>;
  std::size_t c0 = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Acc, float> && w == 16) {
    for (; c0 + 16 <= n_cols; c0 += 16) {
      __m512 t[16], u[16];
      for (int k = 0; k < 8; ++k) {  // 32-bit interleave of row pairs
        const __m512 a = _mm512_loadu_ps(src + (2 * k) * ld_src + c0);
        const __m512 b = _mm512_loadu_ps(src + (2 * k + 1) * ld_src + c0);
        t[2 * k] = _mm512_unpacklo_ps(a, b);
        t[2 * k + 1] = _mm512_unpackhi_ps(a, b);
      }
      for (int k = 0; k < 4; ++k) {  // 64-bit interleave: u[4k + j] lane L = column 4L + j
        const __m512d t0 = _mm512_castps_pd(t[4 * k]), t1 = _mm512_castps_pd(t[4 * k + 1]);
        const __m512d t2 = _mm512_castps_pd(t[4 * k + 2]), t3 = _mm512_castps_pd(t[4 * k + 3]);
        u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
      }
      for (int j = 0; j < 4; ++j) {  // 128-bit lanes gathered across the four row groups
        const __m512 x0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
        const __m512 x1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
        const __m512 y0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        const __m512 y1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        _mm512_storeu_ps(dst + (c0 + j) * ld_dst, _mm512_shuffle_f32x4(x0, y0, 0x88));
        _mm512_storeu_ps(dst + (c0 + 4 + j) * ld_dst, _mm512_shuffle_f32x4(x1, y1, 0x88));
        _mm512_storeu_ps(dst + (c0 + 8 + j) * ld_dst, _mm512_shuffle_f32x4(x0, y0, 0xDD));
        _mm512_storeu_ps(dst + (c0 + 12 + j) * ld_dst, _mm512_shuffle_f32x4(x1, y1, 0xDD));
      }
    }
  }
#endif
  for (std::size_t c = c0; c < n_cols; ++c)
    for (std::size_t i = 0; i < w; ++i) dst[c * ld_dst + i] = src[i * ld_src + c];
}

/// a in the lanes where k < bound, b elsewhere (one compare, one blend).
template <class Acc>
inline vec<Acc> pick_below(Acc k, const vec<Acc>& bound, const vec<Acc>& a,
                           const vec<Acc>& b) noexcept {
  return xsimd::select(vec<Acc>(k) < bound, a, b);
}

/// True where the key-score tree below exists (AVX-512 float): the decoding
/// kernel folds 16 unreduced dot-product registers into one register that
/// holds the 16 sums, one per lane, without going through memory.
template <class Acc>
inline constexpr bool has_lane_tree =
#if defined(__AVX512F__)
    std::is_same_v<Acc, float>&& lanes<float> == 16;
#else
    false;
#endif

#if defined(__AVX512F__)
// The tree of hsum_many, one level at a time, so that a caller can fold
// each pair of registers as soon as both exist (few registers live). With
// x(0..15) the unreduced registers in order:
//   tree_fold1(x(2k), x(2k+1)) = y(k)   (256-bit halves: 8 partials each)
//   tree_fold2(y(2m), y(2m+1)) = z(m)   (128-bit blocks: 4 partials each)
//   tree_fold3(z(2q), z(2q+1)) = w(q)
//   tree_fold4(w(0), w(1))     = lane i holds the sum of the lanes of x(i).
SHIFTROPE_FORCE_INLINE vec<float> tree_fold1(const vec<float>& a, const vec<float>& b) noexcept {
  return vec<float>(
      _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE)));
}
SHIFTROPE_FORCE_INLINE vec<float> tree_fold2(const vec<float>& a, const vec<float>& b) noexcept {
  return vec<float>(
      _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD)));
}
SHIFTROPE_FORCE_INLINE vec<float> tree_fold3(const vec<float>& a, const vec<float>& b) noexcept {
  return vec<float>(_mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b)));
}
SHIFTROPE_FORCE_INLINE vec<float> tree_fold4(const vec<float>& a, const vec<float>& b) noexcept {
  const __m512d a2 = _mm512_castps_pd(a), b2 = _mm512_castps_pd(b);
  // Lane 4b + c holds the sum of x(4c + b): transpose the 4 × 4 index.
  const __m512 v = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a2, b2)),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(a2, b2)));
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return vec<float>(_mm512_permutexvar_ps(idx, v));
}
/// Largest lane, in registers.
SHIFTROPE_FORCE_INLINE float hmax_reg(const vec<float>& v) noexcept {
  return _mm512_reduce_max_ps(v);
}
/// Sum of the lanes, in registers.
SHIFTROPE_FORCE_INLINE float hsum_reg(const vec<float>& v) noexcept {
  return _mm512_reduce_add_ps(v);
}
/// v in lanes [0, n), fill in the others (n <= 16).
SHIFTROPE_FORCE_INLINE vec<float> keep_first_lanes(const vec<float>& v, int n,
                                                   float fill) noexcept {
  const __mmask16 k = static_cast<__mmask16>((1u << n) - 1u);
  return vec<float>(_mm512_mask_blend_ps(k, _mm512_set1_ps(fill), v));
}
#endif

/// out[i] = the sum of the lanes of x[i], i < n <= lanes<Acc>: many
/// horizontal sums at once. AVX-512 float folds 16 registers in a shuffle
/// tree (about 3 instructions per sum instead of ~8); elsewhere one hsum each.
/// Always inlined: called out of line, the 16 registers go through memory.
template <class Acc>
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
inline void
hsum_many(const vec<Acc>* x, int n, Acc* out) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Acc, float> && lanes<float> == 16) {
    __m512 a[16];
    for (int i = 0; i < 16; ++i) a[i] = i < n ? __m512(x[i]) : _mm512_setzero_ps();
    __m512 y[8], z[4], w[2];
    for (int k = 0; k < 8; ++k)  // 256-bit halves: y[k] = [x(2k) | x(2k+1)], 8 partials each
      y[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0x44),
                           _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0xEE));
    for (int m = 0; m < 4; ++m)  // 128-bit blocks: block b of z[m] = x(4m + b), 4 partials
      z[m] = _mm512_add_ps(_mm512_shuffle_f32x4(y[2 * m], y[2 * m + 1], 0x88),
                           _mm512_shuffle_f32x4(y[2 * m], y[2 * m + 1], 0xDD));
    for (int q = 0; q < 2; ++q)  // in each block: lanes 0,2 from z[2q], lanes 1,3 from z[2q+1]
      w[q] = _mm512_add_ps(_mm512_unpacklo_ps(z[2 * q], z[2 * q + 1]),
                           _mm512_unpackhi_ps(z[2 * q], z[2 * q + 1]));
    const __m512d w0 = _mm512_castps_pd(w[0]), w1 = _mm512_castps_pd(w[1]);
    // Lane 4b + c now holds the sum of x(4c + b): transpose the 4 × 4 index.
    const __m512 v = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(w0, w1)),
                                   _mm512_castpd_ps(_mm512_unpackhi_pd(w0, w1)));
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    alignas(max_align) float buf[16];
    _mm512_store_ps(buf, _mm512_permutexvar_ps(idx, v));
    for (int i = 0; i < n; ++i) out[i] = buf[i];
    return;
  }
#endif
  for (int i = 0; i < n; ++i) out[i] = hsum(x[i]);
}

// ---- int8 dot products: quantized weights × int8 activations ----
//
// A block of 32 weights or activations as 32 bytes in one register; products
// summed four at a time into 8 int32 lanes (lane k: bytes 4k..4k+3), then
// converted to float and scaled once per block. AVX512-VNNI (vpdpbusd on
// 256-bit registers), AVX-VNNI, AVX2 (maddubs + madd: each pair sum must fit
// int16, which holds for |u| <= 128, |s| <= 127), or plain loops.

#if defined(__AVX2__) && defined(__FMA__)
/// Defined when the int8 wrappers below use SIMD instructions (AVX2 and FMA).
#define SHIFTROPE_SIMD_INT8 1
struct bytes32 {
  __m256i v;
};
struct ints8 {
  __m256i v;
};
struct floats8 {
  __m256 v;
};
#else
struct bytes32 {
  std::uint8_t b[32];
};
struct ints8 {
  std::int32_t i[8];
};
struct floats8 {
  float f[8];
};
#endif

/// 32 bytes from p (no alignment needed).
SHIFTROPE_FORCE_INLINE bytes32 load_bytes32(const void* p) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {_mm256_loadu_si256(static_cast<const __m256i*>(p))};
#else
  bytes32 r;
  std::memcpy(r.b, p, 32);
  return r;
#endif
}

/// The nibbles of 16 bytes: byte j = p[j] & 15, byte j + 16 = p[j] >> 4.
SHIFTROPE_FORCE_INLINE bytes32 load_nibbles16(const std::uint8_t* p) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return {_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), _mm256_set1_epi8(15))};
#else
  bytes32 r;
  for (int j = 0; j < 16; ++j) {
    r.b[j] = static_cast<std::uint8_t>(p[j] & 15);
    r.b[j + 16] = static_cast<std::uint8_t>(p[j] >> 4);
  }
  return r;
#endif
}

/// Each byte (x >> shift) & mask (unsigned).
SHIFTROPE_FORCE_INLINE bytes32 bits_of(bytes32 x, int shift, std::uint8_t mask) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {
      _mm256_and_si256(_mm256_srli_epi16(x.v, shift), _mm256_set1_epi8(static_cast<char>(mask)))};
#else
  for (std::uint8_t& b : x.b) b = static_cast<std::uint8_t>((b >> shift) & mask);
  return x;
#endif
}

/// Each byte a | (b << shift); b << shift must fit a byte.
SHIFTROPE_FORCE_INLINE bytes32 or_shifted(bytes32 a, bytes32 b, int shift) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {_mm256_or_si256(a.v, _mm256_slli_epi16(b.v, shift))};
#else
  for (int j = 0; j < 32; ++j) a.b[j] = static_cast<std::uint8_t>(a.b[j] | b.b[j] << shift);
  return a;
#endif
}

/// Each byte table[x & 15] (x < 16 expected): 16 int8 values looked up.
SHIFTROPE_FORCE_INLINE bytes32 lookup16(bytes32 x, const std::int8_t* table) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(table));
  return {_mm256_shuffle_epi8(_mm256_set_m128i(t, t), x.v)};
#else
  for (std::uint8_t& b : x.b) b = static_cast<std::uint8_t>(table[b & 15]);
  return x;
#endif
}

/// 8 int32 lanes from p.
SHIFTROPE_FORCE_INLINE ints8 load_ints8(const std::int32_t* p) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))};
#else
  ints8 r;
  std::memcpy(r.i, p, sizeof r.i);
  return r;
#endif
}

/// Each lane x << shift.
SHIFTROPE_FORCE_INLINE ints8 shift_left(ints8 x, int shift) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {_mm256_slli_epi32(x.v, shift)};
#else
  for (std::int32_t& v : x.i) v = static_cast<std::int32_t>(static_cast<std::uint32_t>(v) << shift);
  return x;
#endif
}

SHIFTROPE_FORCE_INLINE ints8 zero_ints8() noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {_mm256_setzero_si256()};
#else
  return {};
#endif
}

/// acc[k] + sum_{j<4} u[4k+j] * s[4k+j]: u unsigned bytes (<= 128), s signed.
SHIFTROPE_FORCE_INLINE ints8 dot_u8_i8(ints8 acc, bytes32 u, bytes32 s) noexcept {
#if defined(SHIFTROPE_SIMD_INT8) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return {_mm256_dpbusd_epi32(acc.v, u.v, s.v)};
#elif defined(SHIFTROPE_SIMD_INT8) && defined(__AVXVNNI__)
  return {_mm256_dpbusd_avx_epi32(acc.v, u.v, s.v)};
#elif defined(SHIFTROPE_SIMD_INT8)
  const __m256i pairs = _mm256_maddubs_epi16(u.v, s.v);
  return {_mm256_add_epi32(acc.v, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))};
#else
  for (int k = 0; k < 8; ++k)
    for (int j = 0; j < 4; ++j)
      acc.i[k] += static_cast<std::int32_t>(u.b[4 * k + j]) *
                  static_cast<std::int32_t>(static_cast<std::int8_t>(s.b[4 * k + j]));
  return acc;
#endif
}

/// acc[k] + sum_{j<4} a[4k+j] * b[4k+j], both signed (|a|, |b| <= 127, or a
/// = -128): |a| times b with a's sign moved onto b.
SHIFTROPE_FORCE_INLINE ints8 dot_i8_i8(ints8 acc, bytes32 a, bytes32 b) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return dot_u8_i8(acc, {_mm256_sign_epi8(a.v, a.v)}, {_mm256_sign_epi8(b.v, a.v)});
#else
  for (int k = 0; k < 8; ++k)
    for (int j = 0; j < 4; ++j)
      acc.i[k] += static_cast<std::int32_t>(static_cast<std::int8_t>(a.b[4 * k + j])) *
                  static_cast<std::int32_t>(static_cast<std::int8_t>(b.b[4 * k + j]));
  return acc;
#endif
}

SHIFTROPE_FORCE_INLINE floats8 zero_floats8() noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {_mm256_setzero_ps()};
#else
  return {};
#endif
}

/// acc + float(x) * scale, lane by lane.
SHIFTROPE_FORCE_INLINE floats8 fma_ints(ints8 x, float scale, floats8 acc) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {_mm256_fmadd_ps(_mm256_cvtepi32_ps(x.v), _mm256_set1_ps(scale), acc.v)};
#else
  for (int k = 0; k < 8; ++k) acc.f[k] += static_cast<float>(x.i[k]) * scale;
  return acc;
#endif
}

/// acc + float(x) * scale with lanes 0-3 (bytes 0-15) scaled by lo and
/// lanes 4-7 (bytes 16-31) by hi: two groups of 16 weights.
SHIFTROPE_FORCE_INLINE floats8 fma_ints_halves(ints8 x, float lo, float hi, floats8 acc) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  const __m256 s = _mm256_set_m128(_mm_set1_ps(hi), _mm_set1_ps(lo));
  return {_mm256_fmadd_ps(_mm256_cvtepi32_ps(x.v), s, acc.v)};
#else
  for (int k = 0; k < 8; ++k) acc.f[k] += static_cast<float>(x.i[k]) * (k < 4 ? lo : hi);
  return acc;
#endif
}

SHIFTROPE_FORCE_INLINE floats8 add(floats8 a, floats8 b) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  return {_mm256_add_ps(a.v, b.v)};
#else
  for (int k = 0; k < 8; ++k) a.f[k] += b.f[k];
  return a;
#endif
}

/// The sum of the 8 lanes.
SHIFTROPE_FORCE_INLINE float hsum(floats8 x) noexcept {
#if defined(SHIFTROPE_SIMD_INT8)
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x.v), _mm256_extractf128_ps(x.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
#else
  return ((x.f[0] + x.f[1]) + (x.f[2] + x.f[3])) + ((x.f[4] + x.f[5]) + (x.f[6] + x.f[7]));
#endif
}

}  // namespace shiftrope::detail::simd
