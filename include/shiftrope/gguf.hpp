// shiftrope/gguf.hpp - GGUF v2/v3 reader: memory-mapped, strictly validated
// before anything is used. Knows the file format only, never a model.
//
// Layout (little-endian): "GGUF", uint32 version, uint64 tensor_count,
// uint64 metadata_kv_count; kv_count entries {gguf string key, uint32 value
// type, value}; tensor_count infos {gguf string name, uint32 n_dims,
// uint64 ne[n_dims] (ne[0] = row length, fastest varying), uint32 ggml type,
// uint64 offset}; padding to `general.alignment` (default 32); the data
// section, each tensor at data_start + offset. A gguf string is uint64 length
// + bytes (no terminator). Version 1 (uint32 counts) is refused.
//
// Limits (a file is untrusted input). Each count is checked, before anything
// is allocated for it, against a cap (gguf_limits; defaults shown) and
// against the bytes left in the file:
//   tensor_count       <= max_tensors = 65536; 32 bytes per tensor info left
//   metadata_kv_count  <= max_kv = 65536; 13 bytes per entry left
//   key, tensor name, string value  <= max_string_length = 1 MiB; bytes left
//   array length       <= max_array_length = 2^24; 1..8 bytes per element left
//                      (8 per string)
//   n_dims             in [1, max_dims = 4]; each dim in [1, 2^63); element and
//                      byte counts overflow-checked
//   tensor data        = row bytes × rows, inside the data section, no overlap
//   general.alignment  a power of two <= max_alignment = 65536
// Memory while loading: values and tensor data are views into the file's
// bytes; the index structures cost at most ~7× the file size plus a constant
// (worst shape: 65536 one-byte entries; tests/test_limits.cpp checks
// 16× + 1 MiB for the costliest shapes, the tokenizer built from the file
// included).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <shiftrope/detail/mapped_file.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/ggml_type.hpp>
#include <shiftrope/load_mode.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shiftrope {

namespace detail {
struct gguf_parser;
}  // namespace detail
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

/// A parsed GGUF file. Move-only; views (values, tensor data) stay valid
/// across moves and die with the object.
///
/// Tensor data alignment: data_start and every offset are multiples of
/// alignment(); the bytes start on a page (open) or on operator new's
/// alignment (from_bytes), so tensor data is aligned to min(alignment(), 16).
class gguf_file {
 public:
  /// Maps (or, with load_mode::copy, reads) and validates `path`. Throws
  /// shiftrope::error naming the file, the field and the value on any
  /// malformed input.
  static gguf_file open(const std::string& path, const gguf_limits& limits = {},
                        load_mode mode = load_mode::map);
  /// Parses bytes held in memory; `name` stands for the path in messages.
  static gguf_file from_bytes(std::vector<std::uint8_t> bytes, std::string name,
                              const gguf_limits& limits = {});

  gguf_file(gguf_file&&) = default;
  gguf_file& operator=(gguf_file&&) = default;
  gguf_file(const gguf_file&) = delete;
  gguf_file& operator=(const gguf_file&) = delete;

  std::uint32_t version() const noexcept { return version_; }
  /// The path, or the name given to from_bytes.
  const std::string& name() const noexcept { return bytes_.name(); }
  std::uint64_t file_size() const noexcept { return bytes_.size(); }
  /// general.alignment, or 32 when absent.
  std::uint32_t alignment() const noexcept { return alignment_; }
  /// File offset of the data section.
  std::uint64_t data_start() const noexcept { return data_start_; }

  // ---- metadata ----
  /// All entries in file order.
  const std::vector<gguf_kv>& metadata() const noexcept { return kvs_; }
  bool has(std::string_view key) const noexcept { return find(key) != nullptr; }
  /// nullptr when absent.
  const gguf_value* find(std::string_view key) const noexcept;
  /// Throws naming the file and the key when absent.
  const gguf_value& at(std::string_view key) const;

  // Typed getters: throw naming the file, the key, the expected and actual type.
  std::string get_string(std::string_view key) const;
  /// Any integer type with a non-negative value.
  std::uint64_t get_uint(std::string_view key) const;
  /// Any integer type whose value fits int64.
  std::int64_t get_int(std::string_view key) const;
  /// float32 or float64.
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;

  // The same with a default when the key is absent (a present key of the
  // wrong type still throws).
  std::string get_string_or(std::string_view key, std::string_view fallback) const;
  std::uint64_t get_uint_or(std::string_view key, std::uint64_t fallback) const;
  std::int64_t get_int_or(std::string_view key, std::int64_t fallback) const;
  double get_float_or(std::string_view key, double fallback) const;
  bool get_bool_or(std::string_view key, bool fallback) const;

  // Arrays: throw when absent, not an array, or of another element type.
  /// Array of strings; views into the file.
  std::vector<std::string_view> get_string_array(std::string_view key) const;
  /// Array of float32 or float64 (converted to float).
  std::vector<float> get_float_array(std::string_view key) const;
  /// Array of any integer type whose values fit int64.
  std::vector<std::int64_t> get_int_array(std::string_view key) const;
  /// Elements of an array (throws when absent or not an array).
  std::uint64_t array_size(std::string_view key) const;

  /// general.architecture ("llama", "qwen2", ...).
  std::string get_arch() const { return get_string("general.architecture"); }

  // ---- tensors ----
  /// All tensors in file order.
  const std::vector<gguf_tensor>& tensors() const noexcept { return tensors_; }
  /// nullptr when absent.
  const gguf_tensor* find_tensor(std::string_view name) const noexcept;
  /// Throws naming the file and the tensor when absent.
  const gguf_tensor& tensor(std::string_view name) const;
  /// Throws "tensor '<name>' has type Q4_K, which shiftrope does not support"
  /// unless ggml_type_supported(t.type).
  void require_supported(const gguf_tensor& t) const;

 private:
  gguf_file() = default;
  friend struct detail::gguf_parser;
  [[noreturn]] void type_error(std::string_view key, const gguf_value& v,
                               const char* expected) const;

  detail::mapped_file bytes_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = 32;
  std::uint64_t data_start_ = 0;
  std::vector<gguf_kv> kvs_;
  std::unordered_map<std::string_view, std::size_t> kv_index_;  // key -> index in kvs_
  std::vector<gguf_tensor> tensors_;
  std::unordered_map<std::string_view, std::size_t> tensor_index_;  // views of tensors_[i].name
};

}  // namespace shiftrope

#include <shiftrope/detail/gguf_impl.hpp>
