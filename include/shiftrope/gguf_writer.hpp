// shiftrope/gguf_writer.hpp - writes GGUF v3 files: metadata of every value
// type (arrays included) and tensors with correct alignment and padding.
// For tests, fuzzers and tools (llama2.c -> GGUF, random-weight models).
#pragma once

#include <cstddef>
#include <cstdint>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/numeric.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

namespace shiftrope {

/// Collects metadata and tensors, then produces the file. Entries are written
/// in insertion order; tensors are laid out in insertion order, each at the
/// next multiple of the alignment. Duplicate keys or tensor names throw.
class gguf_writer {
 public:
  gguf_writer() = default;

  /// Sets general.alignment (a power of two, >= 1), written as the first
  /// entry (uint32); without a call the default 32 is used and no entry is written.
  void set_alignment(std::uint32_t alignment);
  std::uint32_t alignment() const noexcept { return alignment_; }

  // Scalars. Keys must be non-empty and unique; "general.alignment" only via
  // set_alignment.
  void add_uint8(std::string_view key, std::uint8_t v);
  void add_int8(std::string_view key, std::int8_t v);
  void add_uint16(std::string_view key, std::uint16_t v);
  void add_int16(std::string_view key, std::int16_t v);
  void add_uint32(std::string_view key, std::uint32_t v);
  void add_int32(std::string_view key, std::int32_t v);
  void add_uint64(std::string_view key, std::uint64_t v);
  void add_int64(std::string_view key, std::int64_t v);
  void add_float32(std::string_view key, float v);
  void add_float64(std::string_view key, double v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);

  /// Array of a numeric element type, deduced from T (uint8_t ... int64_t,
  /// float -> float32, double -> float64).
  template <class T>
  void add_array(std::string_view key, const std::vector<T>& values);
  void add_bool_array(std::string_view key, const std::vector<bool>& values);
  void add_string_array(std::string_view key, const std::vector<std::string>& values);
  void add_string_array(std::string_view key, const std::vector<std::string_view>& values);

  /// Copies an entry read from another file (any type).
  void add_value(std::string_view key, const gguf_value& value);

  /// Adds a tensor: dims[0] = row length; `n_bytes` must equal the size the
  /// type and dims imply. The bytes are copied.
  void add_tensor(std::string_view name, ggml_type type, const std::vector<std::uint64_t>& dims,
                  const void* data, std::size_t n_bytes);
  /// F32 tensor from floats (dims product must equal values.size()).
  void add_tensor_f32(std::string_view name, const std::vector<std::uint64_t>& dims,
                      const std::vector<float>& values);

  /// The complete file.
  std::vector<std::uint8_t> to_bytes() const;
  /// Writes to_bytes() to `path`; throws naming the path on I/O failure.
  void write(const std::string& path) const;

 private:
  struct tensor_entry {
    std::string name;
    ggml_type type;
    std::vector<std::uint64_t> dims;
    std::vector<std::uint8_t> bytes;
  };
  void begin_entry(std::string_view key, gguf_value_type type);

  std::uint32_t alignment_ = 32;
  std::vector<std::uint8_t> kv_bytes_;  // serialized entries, in order
  std::uint64_t kv_count_ = 0;
  std::unordered_set<std::string> keys_;
  std::vector<tensor_entry> tensors_;
  std::unordered_set<std::string> tensor_names_;
  bool alignment_set_ = false;  // write general.alignment (as the first entry)
};

}  // namespace shiftrope

#include <shiftrope/detail/gguf_writer_impl.hpp>
