// shiftrope/gguf_value.hpp - the records of a GGUF file: metadata value
// types, values (scalars, strings, arrays as views into the file), entries,
// tensor records, and the caps a reader checks. gguf.hpp reads files into
// these; gguf_writer.hpp writes them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <shiftrope/error.hpp>
#include <shiftrope/ggml_type.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace shiftrope {

namespace detail {
struct gguf_parser;
}  // namespace detail
class gguf_file;
class gguf_writer;

/// Metadata value types (uint32 in the file).
enum class gguf_value_type : std::uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

/// "uint32", "string", ...; "type <id>" for an id outside 0..12.
inline std::string gguf_value_type_name(gguf_value_type t);

/// Caps on what a file may declare, checked before anything is allocated.
/// Counts are also bounded by the bytes left in the file.
struct gguf_limits {
  std::uint64_t max_tensors = 65536;          // tensor_count
  std::uint64_t max_kv = 65536;               // metadata_kv_count
  std::uint64_t max_string_length = 1 << 20;  // bytes of one key, tensor name or string value
  std::uint64_t max_array_length = 1 << 24;   // elements of one metadata array
  std::uint32_t max_dims = 4;                 // n_dims of a tensor (ggml's GGML_MAX_DIMS)
  std::uint32_t max_alignment = 1 << 16;      // general.alignment (a power of two)

  /// Throws naming the field when a cap is zero.
  void validate() const;
};

/// One metadata value: a scalar, a string, or an array of one element type
/// (arrays of arrays are refused: no model file needs them). Numeric arrays
/// and scalars point into the file's bytes (no copy); strings are views into
/// the file. A value is valid while its gguf_file lives.
class gguf_value {
 public:
  /// The value's type (gguf_value_type::array for arrays).
  gguf_value_type type() const noexcept { return type_; }
  bool is_array() const noexcept { return type_ == gguf_value_type::array; }
  /// Element type of an array; type() for a scalar.
  gguf_value_type element_type() const noexcept { return elem_; }
  /// Elements of an array; 1 for a scalar.
  std::uint64_t size() const noexcept { return count_; }

  // Scalar conversions: nullopt when the type does not fit (arrays never fit).
  /// Any integer type with a non-negative value.
  std::optional<std::uint64_t> as_uint() const noexcept;
  /// Any integer type whose value fits int64.
  std::optional<std::int64_t> as_int() const noexcept;
  /// float32 or float64.
  std::optional<double> as_double() const noexcept;
  std::optional<bool> as_bool() const noexcept;
  std::optional<std::string_view> as_string() const noexcept;

  // Element i (< size()) of an array or 0 of a scalar, same rules as above.
  std::optional<std::uint64_t> uint_at(std::uint64_t i) const noexcept;
  std::optional<std::int64_t> int_at(std::uint64_t i) const noexcept;
  std::optional<double> double_at(std::uint64_t i) const noexcept;
  std::optional<bool> bool_at(std::uint64_t i) const noexcept;
  std::optional<std::string_view> string_at(std::uint64_t i) const noexcept;

  /// Human-readable rendering for dumps: `42`, `"llama"`, `[1, 2, 3, ... (512 total)]`.
  std::string to_display(std::size_t max_elements = 8) const;

 private:
  friend class gguf_file;
  friend class gguf_writer;
  friend struct detail::gguf_parser;
  gguf_value_type type_ = gguf_value_type::uint8;
  gguf_value_type elem_ = gguf_value_type::uint8;
  std::uint64_t count_ = 0;
  const std::uint8_t* raw_ = nullptr;      // [count_ × size of elem_] bytes (non-string types)
  std::vector<std::string_view> strings_;  // [count_] views (string types)
};

/// One metadata entry, in file order.
struct gguf_kv {
  std::string_view key;  // view into the file
  gguf_value value;
};

/// One tensor of the file, validated: dims ≥ 1, byte size = ggml_row_bytes ×
/// rows, aligned offset, data wholly inside the data section, no overlap.
struct gguf_tensor {
  std::string name;
  ggml_type type = ggml_type::f32;
  std::vector<std::uint64_t> dims;     // ne: dims[0] = row length (fastest varying)
  std::uint64_t n_elements = 0;        // product of dims
  std::uint64_t offset = 0;            // bytes from the start of the data section
  std::uint64_t n_bytes = 0;           // bytes of data
  const std::uint8_t* data = nullptr;  // [n_bytes] view into the file's bytes

  /// Rows = n_elements / dims[0].
  std::uint64_t n_rows() const noexcept { return dims.empty() ? 0 : n_elements / dims[0]; }
};

inline std::string gguf_value_type_name(gguf_value_type t) {
  static constexpr const char* names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                          "int32",  "float32", "bool",   "string", "array",
                                          "uint64", "int64",   "float64"};
  const auto id = static_cast<std::uint32_t>(t);
  return id < 13 ? std::string(names[id]) : "type " + std::to_string(id);
}

inline void gguf_limits::validate() const {
  if (max_tensors == 0) fail("gguf_limits: max_tensors must be positive, got 0");
  if (max_kv == 0) fail("gguf_limits: max_kv must be positive, got 0");
  if (max_string_length == 0) fail("gguf_limits: max_string_length must be positive, got 0");
  if (max_array_length == 0) fail("gguf_limits: max_array_length must be positive, got 0");
  if (max_dims == 0) fail("gguf_limits: max_dims must be positive, got 0");
  if (max_alignment == 0) fail("gguf_limits: max_alignment must be positive, got 0");
}

namespace detail {

/// Bytes of one scalar of type t; 0 for string, array and unknown ids.
inline std::uint32_t gguf_scalar_size(gguf_value_type t) noexcept {
  switch (t) {
    case gguf_value_type::uint8:
    case gguf_value_type::int8:
    case gguf_value_type::boolean:
      return 1;
    case gguf_value_type::uint16:
    case gguf_value_type::int16:
      return 2;
    case gguf_value_type::uint32:
    case gguf_value_type::int32:
    case gguf_value_type::float32:
      return 4;
    case gguf_value_type::uint64:
    case gguf_value_type::int64:
    case gguf_value_type::float64:
      return 8;
    default:
      return 0;
  }
}

inline bool gguf_is_integer(gguf_value_type t) noexcept {
  return t != gguf_value_type::float32 && t != gguf_value_type::float64 &&
         t != gguf_value_type::boolean && gguf_scalar_size(t) != 0;
}

template <class T>
T load_le(const std::uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Integer element at p as (value fits int64, int64 value) / (non-negative, uint64 value).
struct gguf_int {
  bool is_int = false;          // the type is an integer type
  bool negative = false;        // the value is < 0
  std::uint64_t magnitude = 0;  // |value|
};

inline gguf_int gguf_load_int(gguf_value_type t, const std::uint8_t* p) noexcept {
  auto from_signed = [](std::int64_t v) {
    return gguf_int{true, v < 0,
                    v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v)};
  };
  switch (t) {
    case gguf_value_type::uint8:
      return {true, false, load_le<std::uint8_t>(p)};
    case gguf_value_type::uint16:
      return {true, false, load_le<std::uint16_t>(p)};
    case gguf_value_type::uint32:
      return {true, false, load_le<std::uint32_t>(p)};
    case gguf_value_type::uint64:
      return {true, false, load_le<std::uint64_t>(p)};
    case gguf_value_type::int8:
      return from_signed(load_le<std::int8_t>(p));
    case gguf_value_type::int16:
      return from_signed(load_le<std::int16_t>(p));
    case gguf_value_type::int32:
      return from_signed(load_le<std::int32_t>(p));
    case gguf_value_type::int64:
      return from_signed(load_le<std::int64_t>(p));
    default:
      return {};
  }
}

}  // namespace detail

// ---- gguf_value ----

inline std::optional<std::uint64_t> gguf_value::uint_at(std::uint64_t i) const noexcept {
  if (i >= count_ || raw_ == nullptr) return std::nullopt;
  const auto v = detail::gguf_load_int(elem_, raw_ + i * detail::gguf_scalar_size(elem_));
  if (!v.is_int || v.negative) return std::nullopt;
  return v.magnitude;
}

inline std::optional<std::int64_t> gguf_value::int_at(std::uint64_t i) const noexcept {
  if (i >= count_ || raw_ == nullptr) return std::nullopt;
  const auto v = detail::gguf_load_int(elem_, raw_ + i * detail::gguf_scalar_size(elem_));
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!v.is_int || v.magnitude > max + (v.negative ? 1 : 0)) return std::nullopt;
  if (!v.negative) return static_cast<std::int64_t>(v.magnitude);
  // -(2^63) has no positive int64 counterpart: go through magnitude - 1.
  return -static_cast<std::int64_t>(v.magnitude - 1) - 1;
}

inline std::optional<double> gguf_value::double_at(std::uint64_t i) const noexcept {
  if (i >= count_ || raw_ == nullptr) return std::nullopt;
  if (elem_ == gguf_value_type::float32) return detail::load_le<float>(raw_ + i * 4);
  if (elem_ == gguf_value_type::float64) return detail::load_le<double>(raw_ + i * 8);
  return std::nullopt;
}

inline std::optional<bool> gguf_value::bool_at(std::uint64_t i) const noexcept {
  if (i >= count_ || raw_ == nullptr || elem_ != gguf_value_type::boolean) return std::nullopt;
  return raw_[i] != 0;
}

inline std::optional<std::string_view> gguf_value::string_at(std::uint64_t i) const noexcept {
  if (elem_ != gguf_value_type::string || i >= strings_.size()) return std::nullopt;
  return strings_[static_cast<std::size_t>(i)];
}

inline std::optional<std::uint64_t> gguf_value::as_uint() const noexcept {
  return is_array() ? std::nullopt : uint_at(0);
}
inline std::optional<std::int64_t> gguf_value::as_int() const noexcept {
  return is_array() ? std::nullopt : int_at(0);
}
inline std::optional<double> gguf_value::as_double() const noexcept {
  return is_array() ? std::nullopt : double_at(0);
}
inline std::optional<bool> gguf_value::as_bool() const noexcept {
  return is_array() ? std::nullopt : bool_at(0);
}
inline std::optional<std::string_view> gguf_value::as_string() const noexcept {
  return is_array() ? std::nullopt : string_at(0);
}

inline std::string gguf_value::to_display(std::size_t max_elements) const {
  std::ostringstream out;
  auto element = [&](std::uint64_t i) {
    if (auto s = string_at(i)) {
      out << '"' << *s << '"';
    } else if (auto b = bool_at(i)) {
      out << (*b ? "true" : "false");
    } else if (auto d = double_at(i)) {
      out << *d;
    } else if (auto n = int_at(i)) {
      out << *n;
    } else if (auto u = uint_at(i)) {
      out << *u;
    }
  };
  if (!is_array()) {
    element(0);
    return out.str();
  }
  out << '[';
  const std::uint64_t shown = std::min<std::uint64_t>(count_, max_elements);
  for (std::uint64_t i = 0; i < shown; ++i) {
    if (i) out << ", ";
    element(i);
  }
  if (shown < count_) out << (shown ? ", " : "") << "... (" << count_ << " total)";
  out << ']';
  return out.str();
}

}  // namespace shiftrope
