// shiftrope/gguf_writer.hpp - writes GGUF v3 files: metadata of every value
// type (arrays included) and tensors with correct alignment and padding.
// For tests, fuzzers and tools (llama2.c -> GGUF, random-weight models).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/numeric.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

namespace shiftrope {

/// Receives the bytes of one deferred tensor while gguf_writer::write_streamed
/// writes the file: put() may be called any number of times, and the pieces
/// must add up to exactly the tensor's size.
class gguf_tensor_sink {
 public:
  /// Appends n bytes; throws naming the file and the tensor when they exceed
  /// the tensor's size or the write fails.
  void put(const void* data, std::size_t n);
  /// Bytes still expected.
  std::uint64_t remaining() const noexcept { return remaining_; }

 private:
  friend class gguf_writer;
  gguf_tensor_sink(std::FILE* file, const std::string& path, const std::string& tensor,
                   std::uint64_t size)
      : file_(file), path_(path), tensor_(tensor), remaining_(size) {}
  std::FILE* file_;
  const std::string& path_;
  const std::string& tensor_;
  std::uint64_t remaining_;
};

/// Produces deferred tensor `index` (its position among all tensors, in
/// insertion order) named `name` into `sink`.
using gguf_tensor_producer =
    std::function<void(std::size_t index, const std::string& name, gguf_tensor_sink& sink)>;

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
  /// Declares a tensor whose bytes are produced only while write_streamed
  /// writes the file, so that a model larger than memory never has to be
  /// held at once (a 1.1B-parameter model is 4.4 GB in F32).
  void add_tensor_deferred(std::string_view name, ggml_type type,
                           const std::vector<std::uint64_t>& dims);

  /// The complete file (throws when a tensor is deferred).
  std::vector<std::uint8_t> to_bytes() const;
  /// Writes the file to `path` (throws when a tensor is deferred); throws
  /// naming the path on I/O failure.
  void write(const std::string& path) const;
  /// Writes the file to `path`, tensor by tensor: stored tensors from their
  /// bytes, deferred ones from `produce` (called once each, in file order).
  /// Throws naming the path on I/O failure and the tensor when its producer
  /// delivers a wrong number of bytes; exceptions of `produce` pass through.
  /// A failed write leaves a partial file behind.
  void write_streamed(const std::string& path, const gguf_tensor_producer& produce) const;

 private:
  struct tensor_entry {
    std::string name;
    ggml_type type;
    std::vector<std::uint64_t> dims;
    std::vector<std::uint8_t> bytes;  // empty when deferred
    std::uint64_t n_bytes = 0;        // size of the data
    bool deferred = false;            // bytes come from write_streamed's producer
  };
  void begin_entry(std::string_view key, gguf_value_type type);
  /// Validates a new tensor's name, type and dims; returns its byte size.
  std::uint64_t check_tensor(std::string_view name, ggml_type type,
                             const std::vector<std::uint64_t>& dims) const;
  /// Header, metadata and tensor infos, padded to the data section; the
  /// tensors' offsets within the data section.
  std::vector<std::uint8_t> header_bytes(std::vector<std::uint64_t>& offsets) const;

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
