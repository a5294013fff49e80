// shiftrope/detail/gguf_parse.hpp - the validating GGUF parser and the
// gguf_file accessors. Included by gguf.hpp; not for direct use.
//
// Order of checks: header, counts against caps and the bytes left, every
// metadata entry, every tensor info (dims, type, sizes with overflow checks,
// aligned offsets), then the tensors' placement in the data section. Nothing
// is allocated in proportion to a count before the count is checked against
// the bytes that would have to hold it.
#pragma once

#include <algorithm>
#include <shiftrope/detail/byte_reader.hpp>
#include <shiftrope/detail/gguf_impl.hpp>
#include <shiftrope/gguf.hpp>

namespace shiftrope {
namespace detail {

struct gguf_parser {
  // Smallest possible encodings, to bound counts by the bytes left:
  // a metadata entry = key length (8) + value type (4) + 1-byte value;
  // a tensor info = name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
  static constexpr std::uint64_t min_kv_bytes = 13;
  static constexpr std::uint64_t min_tensor_info_bytes = 32;

  gguf_file& f;
  const gguf_limits& lim;
  byte_reader r;

  gguf_parser(gguf_file& file, const gguf_limits& limits)
      : f(file),
        lim(limits),
        r(file.bytes_.data(), file.bytes_.size(), "gguf file", file.bytes_.name()) {}

  void run() {
    lim.validate();
    std::uint64_t n_tensors = 0, n_kv = 0;
    parse_header(n_tensors, n_kv);
    parse_metadata(n_kv);
    parse_tensor_infos(n_tensors);
    place_tensors();
  }

  void parse_header(std::uint64_t& n_tensors, std::uint64_t& n_kv) {
    const std::uint8_t* magic = r.take(4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) {
      r.error("bad magic: expected \"GGUF\" (47 47 55 46), found bytes ", hex_bytes(magic, 4));
    }
    f.version_ = r.read<std::uint32_t>("version");
    if (f.version_ == 1)
      r.error("version 1 is not supported (32-bit counts); only versions 2 and 3 are read");
    if (f.version_ != 2 && f.version_ != 3) {
      r.error("version ", f.version_, " is not supported (only 2 and 3)",
              (f.version_ & 0xffffu) == 0 ? "; a big-endian file?" : "");
    }
    n_tensors = r.read<std::uint64_t>("tensor_count");
    n_kv = r.read<std::uint64_t>("metadata_kv_count");
    if (n_tensors > lim.max_tensors)
      r.error("tensor_count ", n_tensors, " exceeds the limit max_tensors = ", lim.max_tensors);
    if (n_kv > lim.max_kv)
      r.error("metadata_kv_count ", n_kv, " exceeds the limit max_kv = ", lim.max_kv);
    // Divide rather than multiply: the caps are user-settable, up to 2^64 - 1.
    const std::uint64_t left = r.remaining();
    if (n_kv > left / min_kv_bytes || n_tensors > left / min_tensor_info_bytes ||
        n_kv * min_kv_bytes > left - n_tensors * min_tensor_info_bytes) {
      r.error("tensor_count ", n_tensors, " and metadata_kv_count ", n_kv, " need at least ",
              min_tensor_info_bytes, " and ", min_kv_bytes, " bytes each, but only ", left,
              " bytes remain");
    }
  }

  static std::string hex_bytes(const std::uint8_t* p, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      if (i) s += ' ';
      s += digits[p[i] >> 4];
      s += digits[p[i] & 15];
    }
    return s;
  }

  /// A gguf string: uint64 length (<= max_string_length) + bytes.
  std::string_view read_string(const char* what, const char* len_what) {
    const auto len = r.read<std::uint64_t>(len_what);
    if (len > lim.max_string_length)
      r.error(len_what, " ", len, " exceeds the limit max_string_length = ", lim.max_string_length);
    const std::uint8_t* p = r.take(len, what);
    return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(len)};
  }

  gguf_value_type read_type(const char* what) {
    const auto id = r.read<std::uint32_t>(what);
    if (id > static_cast<std::uint32_t>(gguf_value_type::float64))
      r.error(what, " ", id, " is unknown (valid: 0..12)");
    return static_cast<gguf_value_type>(id);
  }

  void parse_metadata(std::uint64_t n_kv) {
    f.kvs_.reserve(static_cast<std::size_t>(n_kv));
    f.kv_index_.reserve(static_cast<std::size_t>(n_kv));
    for (std::uint64_t i = 0; i < n_kv; ++i) {
      r.set_context("metadata entry " + std::to_string(i) + ": ");
      gguf_kv kv;
      kv.key = read_string("key", "key length");
      if (kv.key.empty()) r.error("empty key");
      r.set_context("metadata entry " + std::to_string(i) + " '" + std::string(kv.key) + "': ");
      const gguf_value_type type = read_type("value type");
      parse_value(kv.value, type);
      if (!f.kv_index_.emplace(kv.key, f.kvs_.size()).second) r.error("duplicate key");
      if (kv.key == "general.alignment") check_alignment(kv.value);
      f.kvs_.push_back(std::move(kv));
    }
    r.set_context("");
  }

  void parse_value(gguf_value& v, gguf_value_type type) {
    v.type_ = type;
    v.elem_ = type;
    v.count_ = 1;
    if (type == gguf_value_type::array) {
      v.elem_ = read_type("array element type");
      if (v.elem_ == gguf_value_type::array) r.error("arrays of arrays are not supported");
      v.count_ = r.read<std::uint64_t>("array length");
      if (v.count_ > lim.max_array_length) {
        r.error("array length ", v.count_,
                " exceeds the limit max_array_length = ", lim.max_array_length);
      }
    }
    if (v.elem_ == gguf_value_type::string) {
      // Each string needs at least its 8-byte length: bound before reserving.
      if (v.count_ > r.remaining() / 8)
        r.error("array length ", v.count_,
                " of strings needs at least 8 bytes per string, but only ", r.remaining(),
                " bytes remain");
      v.strings_.reserve(static_cast<std::size_t>(v.count_));
      for (std::uint64_t j = 0; j < v.count_; ++j)
        v.strings_.push_back(read_string("string value", "string length"));
      return;
    }
    const std::uint64_t size = gguf_scalar_size(v.elem_);
    if (v.is_array() && v.count_ > r.remaining() / size)  // (count × size could overflow)
      r.error("file truncated while reading array elements at offset ", r.pos(), " (", v.count_,
              " elements of ", size, " bytes, ", r.remaining(), " bytes left)");
    v.raw_ = r.take(v.count_ * size, v.is_array() ? "array elements" : "value");
    if (v.elem_ == gguf_value_type::boolean) {
      for (std::uint64_t j = 0; j < v.count_; ++j)
        if (v.raw_[j] > 1) r.error("bool value ", int{v.raw_[j]}, " is neither 0 nor 1");
    }
  }

  void check_alignment(const gguf_value& v) {
    if (v.type() != gguf_value_type::uint32)
      r.error("general.alignment must be uint32, found ", gguf_value_type_name(v.type()));
    const auto a = load_le<std::uint32_t>(v.raw_);
    if (a == 0 || (a & (a - 1)) != 0) r.error("general.alignment ", a, " is not a power of two");
    if (a > lim.max_alignment)
      r.error("general.alignment ", a, " exceeds the limit max_alignment = ", lim.max_alignment);
    f.alignment_ = a;
  }

  void parse_tensor_infos(std::uint64_t n_tensors) {
    f.tensors_.reserve(static_cast<std::size_t>(n_tensors));
    f.tensor_index_.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      r.set_context("tensor info " + std::to_string(i) + ": ");
      const std::string_view name = read_string("tensor name", "tensor name length");
      if (name.empty()) r.error("empty tensor name");
      r.set_context("tensor '" + std::string(name) + "': ");
      if (!f.tensor_index_.emplace(name, f.tensors_.size()).second)
        r.error("duplicate tensor name");
      gguf_tensor t;
      t.name = std::string(name);
      parse_shape(t);
      t.offset = r.read<std::uint64_t>("offset");
      if (t.offset % f.alignment_ != 0)
        r.error("offset ", t.offset, " is not a multiple of the alignment ", f.alignment_);
      f.tensors_.push_back(std::move(t));
    }
    r.set_context("");
  }

  /// n_dims, dims, type; computes n_elements and n_bytes with overflow checks.
  void parse_shape(gguf_tensor& t) {
    const auto n_dims = r.read<std::uint32_t>("n_dims");
    if (n_dims == 0 || n_dims > lim.max_dims)
      r.error("n_dims ", n_dims, " is out of range (1..", lim.max_dims, ")");
    r.need(std::uint64_t{n_dims} * 8, "dims");  // before allocating n_dims entries
    t.dims.resize(n_dims);
    t.n_elements = 1;
    constexpr auto max_dim = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      t.dims[d] = r.read<std::uint64_t>("dims");
      if (t.dims[d] == 0 || t.dims[d] > max_dim)
        r.error("dims[", d, "] = ", t.dims[d], " is out of range (1..2^63-1)");
      if (!checked_mul(t.n_elements, t.dims[d], t.n_elements) || t.n_elements > max_dim)
        r.error("element count overflows at dims[", d, "] = ", t.dims[d]);
    }
    const auto id = r.read<std::uint32_t>("type");
    if (!ggml_type_known(id)) r.error("ggml type ", id, " is unknown");
    t.type = static_cast<ggml_type>(id);
    const ggml_type_traits info = ggml_type_info(id);
    if (t.dims[0] % info.block_size != 0)
      r.error("row length dims[0] = ", t.dims[0], " is not a multiple of the ", info.name,
              " block size ", info.block_size);
    const std::uint64_t row = ggml_row_bytes(t.type, t.dims[0]);
    if (row == 0 || !checked_mul(row, t.n_elements / t.dims[0], t.n_bytes))
      r.error("byte size overflows (", t.n_elements, " elements of ", info.name, ")");
  }

  void place_tensors() {
    const std::uint64_t pos = r.pos();
    const std::uint64_t a = f.alignment_;
    f.data_start_ = (pos + a - 1) / a * a;  // pos <= file size, a <= 2^31: no overflow
    const std::uint64_t size = r.size();
    const std::uint64_t data_size = f.data_start_ <= size ? size - f.data_start_ : 0;
    for (gguf_tensor& t : f.tensors_) {
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        fail("gguf file '", f.name(), "': tensor '", t.name, "': offset ", t.offset, " + ",
             t.n_bytes, " bytes lies outside the data section (", data_size,
             " bytes from file offset ", f.data_start_, ")");
      }
      t.data = r.base() + f.data_start_ + t.offset;
    }
    std::vector<std::size_t> order(f.tensors_.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
      return f.tensors_[x].offset < f.tensors_[y].offset;
    });
    for (std::size_t k = 1; k < order.size(); ++k) {
      const gguf_tensor& lo = f.tensors_[order[k - 1]];
      const gguf_tensor& hi = f.tensors_[order[k]];
      if (lo.offset + lo.n_bytes > hi.offset)
        fail("gguf file '", f.name(), "': tensor '", hi.name, "' (offset ", hi.offset,
             ") overlaps tensor '", lo.name, "' (offset ", lo.offset, ", ", lo.n_bytes, " bytes)");
    }
  }
};

}  // namespace detail

// ---- gguf_file ----

inline gguf_file gguf_file::open(const std::string& path, const gguf_limits& limits,
                                 load_mode mode) {
  gguf_file f;
  f.bytes_ =
      mode == load_mode::copy ? detail::mapped_file::read(path) : detail::mapped_file::open(path);
  detail::gguf_parser(f, limits).run();
  return f;
}

inline gguf_file gguf_file::from_bytes(std::vector<std::uint8_t> bytes, std::string name,
                                       const gguf_limits& limits) {
  gguf_file f;
  f.bytes_ = detail::mapped_file::from_bytes(std::move(bytes), std::move(name));
  detail::gguf_parser(f, limits).run();
  return f;
}

inline const gguf_value* gguf_file::find(std::string_view key) const noexcept {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
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
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

inline const gguf_tensor& gguf_file::tensor(std::string_view name) const {
  const gguf_tensor* t = find_tensor(name);
  if (t == nullptr) fail("gguf file '", this->name(), "': tensor '", name, "' is missing");
  return *t;
}

inline void gguf_file::require_supported(const gguf_tensor& t) const {
  if (!ggml_type_supported(t.type)) {
    fail("gguf file '", name(), "': tensor '", t.name, "' has type ", ggml_type_name(t.type),
         ", which shiftrope does not support (supported: F32, F16, BF16, Q8_0)");
  }
}

}  // namespace shiftrope
