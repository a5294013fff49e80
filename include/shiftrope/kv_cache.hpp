// shiftrope/kv_cache.hpp - the key/value cache of a model: per layer, the
// rotated keys and the values of every position seen so far, stored as
// float, f16, bf16 or q8_0 (chosen at run time; the storage is a template
// inside).
//
// Layout, per layer and per tensor (K, V): [n_kv_heads × n_ctx × head_dim],
// head-major, so one KV head's positions are contiguous: decode streams them
// once per GQA group, and a prefill tile of keys is one block of memory.
//   element (layer, head, pos, i) at ((layer·n_kv_heads + head)·n_ctx + pos)·head_dim + i
// Memory = n_layers × 2 × n_ctx × n_kv_heads × head_dim × sizeof(T), checked
// against a cap before allocating.
//
// q8_0 (kv_q8.hpp): keys are rotated at their position, then quantized in
// blocks of 32 along head_dim with one f16 scale per block (values
// likewise). The int8 quants use the layout above (T = std::int8_t); the
// scales are a second array per tensor, scale of element e at e / 32. That
// is 34 bytes per 32 values, 34/64 of f16; head_dim must be a multiple of 32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <shiftrope/detail/big_buffer.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/kv_q8.hpp>
#include <shiftrope/numeric.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace shiftrope {

/// Element type of the KV cache.
enum class kv_type {
  f32,   ///< float: exact
  f16,   ///< IEEE half: 11-bit significand, range ±65504
  bf16,  ///< bfloat16: 8-bit significand, float's range
  q8_0,  ///< blocks of 32 int8 with an f16 scale (kv_q8.hpp): 34/64 of f16's memory
};

[[nodiscard]] constexpr const char* kv_type_name(kv_type t) noexcept {
  return t == kv_type::f16    ? "f16"
         : t == kv_type::bf16 ? "bf16"
         : t == kv_type::q8_0 ? "q8_0"
                              : "f32";
}

/// "f32", "f16", "bf16" or "q8_0" -> kv_type; throws naming the value otherwise.
[[nodiscard]] inline kv_type parse_kv_type(std::string_view s) {
  if (s == "f32") return kv_type::f32;
  if (s == "f16") return kv_type::f16;
  if (s == "bf16") return kv_type::bf16;
  if (s == "q8_0") return kv_type::q8_0;
  fail("kv_type: expected f32, f16, bf16 or q8_0, got \"", s, "\"");
}

struct kv_cache_params {
  int n_layers = 0;             ///< transformer blocks
  int n_kv_heads = 0;           ///< key/value heads per layer
  int head_dim = 0;             ///< values per head
  std::int64_t n_ctx = 0;       ///< positions the cache holds
  kv_type type = kv_type::f32;  ///< element type
  /// Refuse caches larger than this many bytes (a typo in --ctx must not ask
  /// for a terabyte). 64 GiB by default.
  std::uint64_t max_bytes = std::uint64_t{1} << 36;

  /// Elements of K (as many in V), or UINT64_MAX when that overflows.
  [[nodiscard]] std::uint64_t elements() const noexcept {
    std::uint64_t n = 1;
    for (std::uint64_t f :
         {static_cast<std::uint64_t>(n_layers), static_cast<std::uint64_t>(n_kv_heads),
          static_cast<std::uint64_t>(head_dim), static_cast<std::uint64_t>(n_ctx)})
      if (__builtin_mul_overflow(n, f, &n)) return ~std::uint64_t{0};
    return n;
  }

  /// Bytes the cache needs (K and V), or UINT64_MAX when that overflows.
  /// q8_0: one byte per element plus a 2-byte scale per 32 elements.
  [[nodiscard]] std::uint64_t bytes() const noexcept {
    const std::uint64_t n = elements(), overflow = ~std::uint64_t{0};
    if (n == overflow) return overflow;
    std::uint64_t per_tensor = 0;
    if (type == kv_type::q8_0) {
      if (__builtin_add_overflow(n, n / kv_q8_block * 2, &per_tensor)) return overflow;
    } else if (__builtin_mul_overflow(n, std::uint64_t{type == kv_type::f32 ? 4u : 2u},
                                      &per_tensor)) {
      return overflow;
    }
    std::uint64_t total = 0;
    if (__builtin_mul_overflow(per_tensor, std::uint64_t{2}, &total)) return overflow;
    return total;
  }

  /// Throws shiftrope::error naming the field and the value.
  void validate() const {
    if (n_layers < 1) fail("kv_cache_params: n_layers must be >= 1, got ", n_layers);
    if (n_kv_heads < 1) fail("kv_cache_params: n_kv_heads must be >= 1, got ", n_kv_heads);
    if (head_dim < 1) fail("kv_cache_params: head_dim must be >= 1, got ", head_dim);
    if (n_ctx < 1) fail("kv_cache_params: n_ctx must be >= 1, got ", n_ctx);
    if (type == kv_type::q8_0 && head_dim % kv_q8_block != 0)
      fail("kv_cache_params: head_dim = ", head_dim, " is not a multiple of ", kv_q8_block,
           ", which kv_type q8_0 needs (one f16 scale per 32 values of a head)");
    if (bytes() > max_bytes)
      fail("kv_cache_params: n_ctx = ", n_ctx, " needs ",
           bytes() == ~std::uint64_t{0} ? "more than 2^64" : std::to_string(bytes()), " bytes of ",
           kv_type_name(type), " KV cache (", n_layers, " layers × 2 × ", n_ctx, " positions × ",
           n_kv_heads, " heads × ", head_dim, "), above the cap of ", max_bytes, " bytes");
  }
};

/// The cache storage for one element type T (float, f16, bf16; std::int8_t
/// for q8_0, whose scales live beside the quants: k_scale, v_scale).
template <class T>
class kv_storage {
 public:
  /// True for the q8_0 storage.
  static constexpr bool quantized = std::is_same_v<T, std::int8_t>;

  explicit kv_storage(const kv_cache_params& p)
      : p_(p),
        k_(elements(p)),
        v_(elements(p)),
        ks_(quantized ? k_.size() / kv_q8_block : 0),
        vs_(quantized ? v_.size() / kv_q8_block : 0) {}

  /// First element of (layer, head, pos 0) of K or V: [n_ctx × head_dim] follow.
  [[nodiscard]] T* k(int layer, int head) noexcept { return k_.data() + offset(layer, head); }
  [[nodiscard]] T* v(int layer, int head) noexcept { return v_.data() + offset(layer, head); }
  [[nodiscard]] const T* k(int layer, int head) const noexcept {
    return k_.data() + offset(layer, head);
  }
  [[nodiscard]] const T* v(int layer, int head) const noexcept {
    return v_.data() + offset(layer, head);
  }
  /// q8_0 only: the scale of k(layer, head)[0] (element e of the head has
  /// the scale k_scale(layer, head)[e / 32]); likewise v_scale.
  [[nodiscard]] f16* k_scale(int layer, int head) noexcept {
    return ks_.data() + offset(layer, head) / kv_q8_block;
  }
  [[nodiscard]] f16* v_scale(int layer, int head) noexcept {
    return vs_.data() + offset(layer, head) / kv_q8_block;
  }
  [[nodiscard]] const f16* k_scale(int layer, int head) const noexcept {
    return ks_.data() + offset(layer, head) / kv_q8_block;
  }
  [[nodiscard]] const f16* v_scale(int layer, int head) const noexcept {
    return vs_.data() + offset(layer, head) / kv_q8_block;
  }
  /// Elements between consecutive positions and consecutive heads.
  [[nodiscard]] std::size_t pos_stride() const noexcept {
    return static_cast<std::size_t>(p_.head_dim);
  }
  [[nodiscard]] std::size_t head_stride() const noexcept {
    return static_cast<std::size_t>(p_.n_ctx) * static_cast<std::size_t>(p_.head_dim);
  }

 private:
  static std::size_t elements(const kv_cache_params& p) {
    p.validate();
    return static_cast<std::size_t>(p.elements());
  }
  [[nodiscard]] std::size_t offset(int layer, int head) const noexcept {
    return (static_cast<std::size_t>(layer) * static_cast<std::size_t>(p_.n_kv_heads) +
            static_cast<std::size_t>(head)) *
           head_stride();
  }

  kv_cache_params p_;
  // [n_layers × n_kv_heads × n_ctx × head_dim] each; huge pages where the
  // system allows, since decoding streams them (detail/big_buffer.hpp)
  std::vector<T, detail::big_buffer_allocator<T>> k_;
  std::vector<T, detail::big_buffer_allocator<T>> v_;
  // q8_0 only: [elements / 32] scales of K and of V (empty otherwise)
  std::vector<f16> ks_;
  std::vector<f16> vs_;
};

/// A KV cache whose element type is chosen at run time.
class kv_cache {
 public:
  using storage =
      std::variant<kv_storage<float>, kv_storage<f16>, kv_storage<bf16>, kv_storage<std::int8_t>>;

  explicit kv_cache(const kv_cache_params& p) : params_(p), storage_(make(p)) {}

  [[nodiscard]] const kv_cache_params& params() const noexcept { return params_; }
  [[nodiscard]] std::int64_t n_ctx() const noexcept { return params_.n_ctx; }
  [[nodiscard]] kv_type type() const noexcept { return params_.type; }
  [[nodiscard]] std::uint64_t bytes() const noexcept { return params_.bytes(); }
  /// The typed storage, for std::visit (the forward pass runs one template per type).
  [[nodiscard]] storage& typed() noexcept { return storage_; }
  [[nodiscard]] const storage& typed() const noexcept { return storage_; }

 private:
  static storage make(const kv_cache_params& p) {
    p.validate();
    switch (p.type) {
      case kv_type::f16:
        return storage(std::in_place_type<kv_storage<f16>>, p);
      case kv_type::bf16:
        return storage(std::in_place_type<kv_storage<bf16>>, p);
      case kv_type::q8_0:
        return storage(std::in_place_type<kv_storage<std::int8_t>>, p);
      case kv_type::f32:
        break;
    }
    return storage(std::in_place_type<kv_storage<float>>, p);
  }

  kv_cache_params params_;
  storage storage_;
};

}  // namespace shiftrope
