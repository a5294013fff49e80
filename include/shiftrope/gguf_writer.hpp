// shiftrope/gguf_writer.hpp - writes GGUF v3 files: metadata of every value
// type (arrays included) and tensors with correct alignment and padding.
// For tests, fuzzers and tools (llama2.c -> GGUF, random-weight models).
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <shiftrope/detail/io/gguf_encode.hpp>
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

inline void gguf_writer::set_alignment(std::uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    fail("gguf_writer: alignment ", alignment, " is not a power of two");
  alignment_ = alignment;
  alignment_set_ = true;
}

inline void gguf_writer::begin_entry(std::string_view key, gguf_value_type type) {
  if (key.empty()) fail("gguf_writer: empty metadata key");
  if (key == "general.alignment")
    fail("gguf_writer: metadata key 'general.alignment' is written by set_alignment");
  if (!keys_.emplace(key).second) fail("gguf_writer: duplicate metadata key '", key, "'");
  detail::put_string(kv_bytes_, key);
  detail::put_le<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(type));
  ++kv_count_;
}

#define SHIFTROPE_GGUF_SCALAR_ADDER(fn, T, tag)            \
  inline void gguf_writer::fn(std::string_view key, T v) { \
    begin_entry(key, gguf_value_type::tag);                \
    detail::put_le<T>(kv_bytes_, v);                       \
  }
SHIFTROPE_GGUF_SCALAR_ADDER(add_uint8, std::uint8_t, uint8)
SHIFTROPE_GGUF_SCALAR_ADDER(add_int8, std::int8_t, int8)
SHIFTROPE_GGUF_SCALAR_ADDER(add_uint16, std::uint16_t, uint16)
SHIFTROPE_GGUF_SCALAR_ADDER(add_int16, std::int16_t, int16)
SHIFTROPE_GGUF_SCALAR_ADDER(add_uint32, std::uint32_t, uint32)
SHIFTROPE_GGUF_SCALAR_ADDER(add_int32, std::int32_t, int32)
SHIFTROPE_GGUF_SCALAR_ADDER(add_uint64, std::uint64_t, uint64)
SHIFTROPE_GGUF_SCALAR_ADDER(add_int64, std::int64_t, int64)
SHIFTROPE_GGUF_SCALAR_ADDER(add_float32, float, float32)
SHIFTROPE_GGUF_SCALAR_ADDER(add_float64, double, float64)
#undef SHIFTROPE_GGUF_SCALAR_ADDER

inline void gguf_writer::add_bool(std::string_view key, bool v) {
  begin_entry(key, gguf_value_type::boolean);
  detail::put_le<std::uint8_t>(kv_bytes_, v ? 1 : 0);
}

inline void gguf_writer::add_string(std::string_view key, std::string_view v) {
  begin_entry(key, gguf_value_type::string);
  detail::put_string(kv_bytes_, v);
}

template <class T>
void gguf_writer::add_array(std::string_view key, const std::vector<T>& values) {
  constexpr gguf_value_type elem = detail::gguf_type_of<T>();
  static_assert(elem != gguf_value_type::array,
                "add_array takes (u)int8..64, float or double elements");
  begin_entry(key, gguf_value_type::array);
  detail::put_le<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(elem));
  detail::put_le<std::uint64_t>(kv_bytes_, values.size());
  for (const T& v : values) detail::put_le<T>(kv_bytes_, v);
}

inline void gguf_writer::add_bool_array(std::string_view key, const std::vector<bool>& values) {
  begin_entry(key, gguf_value_type::array);
  detail::put_le<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(gguf_value_type::boolean));
  detail::put_le<std::uint64_t>(kv_bytes_, values.size());
  for (bool v : values) detail::put_le<std::uint8_t>(kv_bytes_, v ? 1 : 0);
}

inline void gguf_writer::add_string_array(std::string_view key,
                                          const std::vector<std::string_view>& values) {
  begin_entry(key, gguf_value_type::array);
  detail::put_le<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(gguf_value_type::string));
  detail::put_le<std::uint64_t>(kv_bytes_, values.size());
  for (std::string_view v : values) detail::put_string(kv_bytes_, v);
}

inline void gguf_writer::add_string_array(std::string_view key,
                                          const std::vector<std::string>& values) {
  add_string_array(key, std::vector<std::string_view>(values.begin(), values.end()));
}

inline void gguf_writer::add_value(std::string_view key, const gguf_value& value) {
  begin_entry(key, value.type());
  if (value.is_array()) {
    detail::put_le<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(value.element_type()));
    detail::put_le<std::uint64_t>(kv_bytes_, value.size());
  }
  for (std::uint64_t i = 0; i < value.size(); ++i) {
    if (auto s = value.string_at(i)) {
      detail::put_string(kv_bytes_, *s);
      continue;
    }
    // Scalars and numeric elements: copy the stored little-endian bytes.
    const std::uint32_t size = detail::gguf_scalar_size(value.element_type());
    const std::uint8_t* p = value.raw_ + i * size;
    kv_bytes_.insert(kv_bytes_.end(), p, p + size);
  }
}

inline std::uint64_t gguf_writer::check_tensor(std::string_view name, ggml_type type,
                                               const std::vector<std::uint64_t>& dims) const {
  if (name.empty()) fail("gguf_writer: empty tensor name");
  if (tensor_names_.count(std::string(name)))
    fail("gguf_writer: duplicate tensor name '", name, "'");
  if (!ggml_type_known(static_cast<std::uint32_t>(type)))
    fail("gguf_writer: tensor '", name, "': unknown ", ggml_type_name(type));
  if (dims.empty() || dims.size() > 4)
    fail("gguf_writer: tensor '", name, "': n_dims ", dims.size(), " is out of range (1..4)");
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) {
    if (d == 0 || !detail::checked_mul(n, d, n))
      fail("gguf_writer: tensor '", name, "': dims entry ", d, " is zero or overflows");
  }
  const std::uint64_t row = ggml_row_bytes(type, dims[0]);
  std::uint64_t expected = 0;
  if (row == 0 || !detail::checked_mul(row, n / dims[0], expected))
    fail("gguf_writer: tensor '", name, "': row length ", dims[0], " is not a whole number of ",
         ggml_type_name(type), " blocks");
  return expected;
}

inline void gguf_writer::add_tensor(std::string_view name, ggml_type type,
                                    const std::vector<std::uint64_t>& dims, const void* data,
                                    std::size_t n_bytes) {
  const std::uint64_t expected = check_tensor(name, type, dims);
  if (expected != n_bytes)
    fail("gguf_writer: tensor '", name, "': n_bytes ", n_bytes, " differs from the ", expected,
         " bytes its type and dims need");
  const auto* p = static_cast<const std::uint8_t*>(data);
  tensor_names_.emplace(name);
  tensors_.push_back(tensor_entry{std::string(name), type, dims, {p, p + n_bytes}, n_bytes, false});
}

inline void gguf_writer::add_tensor_f32(std::string_view name,
                                        const std::vector<std::uint64_t>& dims,
                                        const std::vector<float>& values) {
  add_tensor(name, ggml_type::f32, dims, values.data(), values.size() * sizeof(float));
}

inline void gguf_writer::add_tensor_deferred(std::string_view name, ggml_type type,
                                             const std::vector<std::uint64_t>& dims) {
  const std::uint64_t n_bytes = check_tensor(name, type, dims);
  tensor_names_.emplace(name);
  tensors_.push_back(tensor_entry{std::string(name), type, dims, {}, n_bytes, true});
}

inline std::vector<std::uint8_t> gguf_writer::header_bytes(
    std::vector<std::uint64_t>& offsets) const {
  std::vector<std::uint8_t> out;
  // The magic as bytes one by one: g++ 12 warns (-Wstringop-overflow, a false
  // positive) about inserting an initializer list into an empty vector here.
  for (const char c : {'G', 'G', 'U', 'F'}) out.push_back(static_cast<std::uint8_t>(c));
  detail::put_le<std::uint32_t>(out, 3);
  detail::put_le<std::uint64_t>(out, tensors_.size());
  detail::put_le<std::uint64_t>(out, kv_count_ + (alignment_set_ ? 1 : 0));
  if (alignment_set_) {
    detail::put_string(out, "general.alignment");
    detail::put_le<std::uint32_t>(out, static_cast<std::uint32_t>(gguf_value_type::uint32));
    detail::put_le<std::uint32_t>(out, alignment_);
  }
  out.insert(out.end(), kv_bytes_.begin(), kv_bytes_.end());
  const auto align_up = [a = std::uint64_t{alignment_}](std::uint64_t x) {
    return (x + a - 1) / a * a;
  };
  std::uint64_t offset = 0;  // within the data section
  offsets.clear();
  for (const tensor_entry& t : tensors_) {
    detail::put_string(out, t.name);
    detail::put_le<std::uint32_t>(out, static_cast<std::uint32_t>(t.dims.size()));
    for (std::uint64_t d : t.dims) detail::put_le<std::uint64_t>(out, d);
    detail::put_le<std::uint32_t>(out, static_cast<std::uint32_t>(t.type));
    offset = align_up(offset);
    offsets.push_back(offset);
    detail::put_le<std::uint64_t>(out, offset);
    offset += t.n_bytes;
  }
  if (!tensors_.empty()) out.resize(static_cast<std::size_t>(align_up(out.size())), 0);
  return out;
}

inline std::vector<std::uint8_t> gguf_writer::to_bytes() const {
  for (const tensor_entry& t : tensors_)
    if (t.deferred)
      fail("gguf_writer: tensor '", t.name, "' is deferred: write it with write_streamed");
  std::vector<std::uint64_t> offsets;
  std::vector<std::uint8_t> out = header_bytes(offsets);
  const std::size_t data_start = out.size();
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    out.resize(static_cast<std::size_t>(data_start + offsets[i]), 0);  // zero padding
    out.insert(out.end(), tensors_[i].bytes.begin(), tensors_[i].bytes.end());
  }
  return out;
}

inline void gguf_writer::write(const std::string& path) const {
  const std::vector<std::uint8_t> bytes = to_bytes();
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) fail("cannot create '", path, "': ", std::strerror(errno));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  const int e = errno;
  if (std::fclose(file) != 0 || !ok)
    fail("cannot write '", path, "': ", std::strerror(ok ? errno : e));
}

inline void gguf_tensor_sink::put(const void* data, std::size_t n) {
  if (n > remaining_)
    fail("gguf_writer: tensor '", tensor_, "': the producer delivers ", n, " bytes where only ",
         remaining_, " remain");
  if (n != 0 && std::fwrite(data, 1, n, file_) != n)
    fail("cannot write '", path_, "': ", std::strerror(errno));
  remaining_ -= n;
}

inline void gguf_writer::write_streamed(const std::string& path,
                                        const gguf_tensor_producer& produce) const {
  std::vector<std::uint64_t> offsets;
  const std::vector<std::uint8_t> header = header_bytes(offsets);
  // unique_ptr closes the file on every path, exceptions of `produce` included.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "wb"),
                                                       &std::fclose);
  if (!file) fail("cannot create '", path, "': ", std::strerror(errno));
  const auto put = [&](const void* p, std::size_t n) {
    if (n != 0 && std::fwrite(p, 1, n, file.get()) != n)
      fail("cannot write '", path, "': ", std::strerror(errno));
  };
  put(header.data(), header.size());
  std::uint64_t at = 0;  // bytes written into the data section
  static const std::uint8_t zeros[64] = {};
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const tensor_entry& t = tensors_[i];
    while (at < offsets[i]) {  // zero padding up to the tensor's offset
      const std::uint64_t n = std::min<std::uint64_t>(sizeof zeros, offsets[i] - at);
      put(zeros, static_cast<std::size_t>(n));
      at += n;
    }
    if (!t.deferred) {
      put(t.bytes.data(), t.bytes.size());
    } else {
      if (!produce) fail("gguf_writer: tensor '", t.name, "' is deferred, but no producer given");
      gguf_tensor_sink sink(file.get(), path, t.name, t.n_bytes);
      produce(i, t.name, sink);
      if (sink.remaining() != 0)
        fail("gguf_writer: tensor '", t.name, "': the producer left ", sink.remaining(), " of ",
             t.n_bytes, " bytes unwritten");
    }
    at += t.n_bytes;
  }
  const bool flushed = std::fflush(file.get()) == 0 && !std::ferror(file.get());
  const int e = errno;
  if (std::fclose(file.release()) != 0 || !flushed)
    fail("cannot write '", path, "': ", std::strerror(flushed ? errno : e));
}

}  // namespace shiftrope
