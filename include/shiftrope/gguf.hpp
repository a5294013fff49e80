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
#include <shiftrope/detail/io/gguf_parse.hpp>
#include <shiftrope/detail/io/mapped_file.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/ggml_type.hpp>
#include <shiftrope/gguf_value.hpp>
#include <shiftrope/load_mode.hpp>
#include <shiftrope/quant.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shiftrope {

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

  std::uint32_t version() const noexcept { return ix_.version; }
  /// The path, or the name given to from_bytes.
  const std::string& name() const noexcept { return bytes_.name(); }
  std::uint64_t file_size() const noexcept { return bytes_.size(); }
  /// general.alignment, or 32 when absent.
  std::uint32_t alignment() const noexcept { return ix_.alignment; }
  /// File offset of the data section.
  std::uint64_t data_start() const noexcept { return ix_.data_start; }

  // ---- metadata ----
  /// All entries in file order.
  const std::vector<gguf_kv>& metadata() const noexcept { return ix_.kvs; }
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
  const std::vector<gguf_tensor>& tensors() const noexcept { return ix_.tensors; }
  /// nullptr when absent.
  const gguf_tensor* find_tensor(std::string_view name) const noexcept;
  /// Throws naming the file and the tensor when absent.
  const gguf_tensor& tensor(std::string_view name) const;
  /// Throws "tensor '<name>' has type Q4_K, which shiftrope does not support"
  /// unless ggml_type_supported(t.type).
  void require_supported(const gguf_tensor& t) const;

 private:
  gguf_file() = default;
  [[noreturn]] void type_error(std::string_view key, const gguf_value& v,
                               const char* expected) const;

  detail::mapped_file bytes_;
  detail::gguf_index ix_;  // what the parser found in bytes_
};

// ---- gguf_file ----

inline gguf_file gguf_file::open(const std::string& path, const gguf_limits& limits,
                                 load_mode mode) {
  gguf_file f;
  f.bytes_ =
      mode == load_mode::copy ? detail::mapped_file::read(path) : detail::mapped_file::open(path);
  detail::gguf_parser(f.bytes_, limits, f.ix_).run();
  return f;
}

inline gguf_file gguf_file::from_bytes(std::vector<std::uint8_t> bytes, std::string name,
                                       const gguf_limits& limits) {
  gguf_file f;
  f.bytes_ = detail::mapped_file::from_bytes(std::move(bytes), std::move(name));
  detail::gguf_parser(f.bytes_, limits, f.ix_).run();
  return f;
}

inline const gguf_value* gguf_file::find(std::string_view key) const noexcept {
  const auto it = ix_.kv_index.find(key);
  return it == ix_.kv_index.end() ? nullptr : &ix_.kvs[it->second].value;
}

inline const gguf_value& gguf_file::at(std::string_view key) const {
  const gguf_value* v = find(key);
  if (v == nullptr) fail("gguf file '", name(), "': metadata key '", key, "' is missing");
  return *v;
}

inline void gguf_file::type_error(std::string_view key, const gguf_value& v,
                                  const char* expected) const {
  const std::string actual = v.is_array() ? "array of " + gguf_value_type_name(v.element_type())
                                          : gguf_value_type_name(v.type()) + " " + v.to_display();
  fail("gguf file '", name(), "': metadata key '", key, "' has type ", actual, ", expected ",
       expected);
}

inline std::string gguf_file::get_string(std::string_view key) const {
  const gguf_value& v = at(key);
  if (auto s = v.as_string()) return std::string(*s);
  type_error(key, v, "string");
}

inline std::uint64_t gguf_file::get_uint(std::string_view key) const {
  const gguf_value& v = at(key);
  if (auto u = v.as_uint()) return *u;
  type_error(key, v, "a non-negative integer");
}

inline std::int64_t gguf_file::get_int(std::string_view key) const {
  const gguf_value& v = at(key);
  if (auto i = v.as_int()) return *i;
  type_error(key, v, "an integer within int64");
}

inline double gguf_file::get_float(std::string_view key) const {
  const gguf_value& v = at(key);
  if (auto d = v.as_double()) return *d;
  type_error(key, v, "float32 or float64");
}

inline bool gguf_file::get_bool(std::string_view key) const {
  const gguf_value& v = at(key);
  if (auto b = v.as_bool()) return *b;
  type_error(key, v, "bool");
}

inline std::string gguf_file::get_string_or(std::string_view key, std::string_view fallback) const {
  return has(key) ? get_string(key) : std::string(fallback);
}
inline std::uint64_t gguf_file::get_uint_or(std::string_view key, std::uint64_t fallback) const {
  return has(key) ? get_uint(key) : fallback;
}
inline std::int64_t gguf_file::get_int_or(std::string_view key, std::int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}
inline double gguf_file::get_float_or(std::string_view key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}
inline bool gguf_file::get_bool_or(std::string_view key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}

inline std::uint64_t gguf_file::array_size(std::string_view key) const {
  const gguf_value& v = at(key);
  if (!v.is_array()) type_error(key, v, "an array");
  return v.size();
}

inline std::vector<std::string_view> gguf_file::get_string_array(std::string_view key) const {
  const gguf_value& v = at(key);
  if (!v.is_array() || v.element_type() != gguf_value_type::string)
    type_error(key, v, "array of string");
  return v.strings_;
}

inline std::vector<float> gguf_file::get_float_array(std::string_view key) const {
  const gguf_value& v = at(key);
  if (!v.is_array() || (v.element_type() != gguf_value_type::float32 &&
                        v.element_type() != gguf_value_type::float64))
    type_error(key, v, "array of float32 or float64");
  std::vector<float> out(static_cast<std::size_t>(v.size()));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(*v.double_at(i));
  return out;
}

inline std::vector<std::int64_t> gguf_file::get_int_array(std::string_view key) const {
  const gguf_value& v = at(key);
  if (!v.is_array() || !detail::gguf_is_integer(v.element_type()))
    type_error(key, v, "array of integers");
  std::vector<std::int64_t> out(static_cast<std::size_t>(v.size()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto x = v.int_at(i);
    if (!x) {
      fail("gguf file '", name(), "': metadata key '", key, "': element ", i, " = ", *v.uint_at(i),
           " does not fit int64");
    }
    out[i] = *x;
  }
  return out;
}

inline const gguf_tensor* gguf_file::find_tensor(std::string_view name) const noexcept {
  const auto it = ix_.tensor_index.find(name);
  return it == ix_.tensor_index.end() ? nullptr : &ix_.tensors[it->second];
}

inline const gguf_tensor& gguf_file::tensor(std::string_view name) const {
  const gguf_tensor* t = find_tensor(name);
  if (t == nullptr) fail("gguf file '", this->name(), "': tensor '", name, "' is missing");
  return *t;
}

inline void gguf_file::require_supported(const gguf_tensor& t) const {
  if (!ggml_type_supported(t.type)) {
    fail("gguf file '", name(), "': tensor '", t.name, "' has type ", ggml_type_name(t.type),
         ", which shiftrope does not support (supported: ", supported_ggml_types(), ")");
  }
}

}  // namespace shiftrope
