// shiftrope/detail/io/gguf_parse.hpp - the validating GGUF parser: file
// bytes in, an index of metadata entries and tensor records out (gguf.hpp's
// gguf_file owns both).
//
// Order of checks: header, counts against caps and the bytes left, every
// metadata entry, every tensor info (dims, type, sizes with overflow checks,
// aligned offsets), then the tensors' placement in the data section. Nothing
// is allocated in proportion to a count before the count is checked against
// the bytes that would have to hold it.
#pragma once

#include <algorithm>
#include <numeric>
#include <shiftrope/detail/io/byte_reader.hpp>
#include <shiftrope/detail/io/mapped_file.hpp>
#include <shiftrope/gguf_value.hpp>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shiftrope {
namespace detail {

/// What the parser finds in a file: its header fields, entries and tensors
/// (values and tensor data are views into the file's bytes).
struct gguf_index {
  std::uint32_t version = 0;
  std::uint32_t alignment = 32;  // general.alignment, or 32
  std::uint64_t data_start = 0;  // file offset of the data section
  std::vector<gguf_kv> kvs;
  std::unordered_map<std::string_view, std::size_t> kv_index;  // key -> index in kvs
  std::vector<gguf_tensor> tensors;
  std::unordered_map<std::string_view, std::size_t> tensor_index;  // views of tensors[i].name
};

struct gguf_parser {
  // Smallest possible encodings, to bound counts by the bytes left:
  // a metadata entry = key length (8) + value type (4) + 1-byte value;
  // a tensor info = name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
  static constexpr std::uint64_t min_kv_bytes = 13;
  static constexpr std::uint64_t min_tensor_info_bytes = 32;

  gguf_index& f;
  const gguf_limits& lim;
  const std::string& name;  // the file's path, for messages
  byte_reader r;

  gguf_parser(const mapped_file& bytes, const gguf_limits& limits, gguf_index& out)
      : f(out), lim(limits), name(bytes.name()), r(bytes.data(), bytes.size(), "gguf file", name) {}

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
    f.version = r.read<std::uint32_t>("version");
    if (f.version == 1)
      r.error("version 1 is not supported (32-bit counts); only versions 2 and 3 are read");
    if (f.version != 2 && f.version != 3) {
      r.error("version ", f.version, " is not supported (only 2 and 3)",
              (f.version & 0xffffu) == 0 ? "; a big-endian file?" : "");
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
    f.kvs.reserve(static_cast<std::size_t>(n_kv));
    f.kv_index.reserve(static_cast<std::size_t>(n_kv));
    for (std::uint64_t i = 0; i < n_kv; ++i) {
      r.set_context("metadata entry " + std::to_string(i) + ": ");
      gguf_kv kv;
      kv.key = read_string("key", "key length");
      if (kv.key.empty()) r.error("empty key");
      r.set_context("metadata entry " + std::to_string(i) + " '" + std::string(kv.key) + "': ");
      const gguf_value_type type = read_type("value type");
      parse_value(kv.value, type);
      if (!f.kv_index.emplace(kv.key, f.kvs.size()).second) r.error("duplicate key");
      if (kv.key == "general.alignment") check_alignment(kv.value);
      f.kvs.push_back(std::move(kv));
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
    f.alignment = a;
  }

  void parse_tensor_infos(std::uint64_t n_tensors) {
    f.tensors.reserve(static_cast<std::size_t>(n_tensors));
    f.tensor_index.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      r.set_context("tensor info " + std::to_string(i) + ": ");
      const std::string_view name = read_string("tensor name", "tensor name length");
      if (name.empty()) r.error("empty tensor name");
      r.set_context("tensor '" + std::string(name) + "': ");
      if (!f.tensor_index.emplace(name, f.tensors.size()).second) r.error("duplicate tensor name");
      gguf_tensor t;
      t.name = std::string(name);
      parse_shape(t);
      t.offset = r.read<std::uint64_t>("offset");
      if (t.offset % f.alignment != 0)
        r.error("offset ", t.offset, " is not a multiple of the alignment ", f.alignment);
      f.tensors.push_back(std::move(t));
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
    const std::uint64_t a = f.alignment;
    f.data_start = (pos + a - 1) / a * a;  // pos <= file size, a <= 2^31: no overflow
    const std::uint64_t size = r.size();
    const std::uint64_t data_size = f.data_start <= size ? size - f.data_start : 0;
    for (gguf_tensor& t : f.tensors) {
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        fail("gguf file '", name, "': tensor '", t.name, "': offset ", t.offset, " + ", t.n_bytes,
             " bytes lies outside the data section (", data_size, " bytes from file offset ",
             f.data_start, ")");
      }
      t.data = r.base() + f.data_start + t.offset;
    }
    std::vector<std::size_t> order(f.tensors.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
      return f.tensors[x].offset < f.tensors[y].offset;
    });
    for (std::size_t k = 1; k < order.size(); ++k) {
      const gguf_tensor& lo = f.tensors[order[k - 1]];
      const gguf_tensor& hi = f.tensors[order[k]];
      if (lo.offset + lo.n_bytes > hi.offset)
        fail("gguf file '", name, "': tensor '", hi.name, "' (offset ", hi.offset,
             ") overlaps tensor '", lo.name, "' (offset ", lo.offset, ", ", lo.n_bytes, " bytes)");
    }
  }
};

}  // namespace detail

}  // namespace shiftrope
