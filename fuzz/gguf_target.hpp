// fuzz/gguf_target.hpp - the GGUF reader on arbitrary bytes, then everything
// that reads a parsed file: typed getters on every key, tensor checks, a
// writer round trip, and the tokenizer built from the file's metadata.
//
// Properties checked besides "no crash": every accessor agrees with the
// entry list; every tensor lies inside the file and has the size its type
// and dims imply; whatever parses with the default caps parses with the
// widest caps too (counts then bounded by the bytes alone); re-writing a parsed file with
// gguf_writer and parsing it again gives the same entries and tensor bytes; a tokenizer loaded from
// the file encodes to ids in range and decodes to valid UTF-8.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <shiftrope/gguf.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "tokenizer_target.hpp"

namespace shiftrope_fuzz {

/// Every getter on one entry: each either answers or throws shiftrope::error,
/// and the typed getters agree with the value's own conversions.
inline void exercise_value(const shiftrope::gguf_file& f, const shiftrope::gguf_kv& kv) {
  const shiftrope::gguf_value& v = kv.value;
  expect(f.find(kv.key) == &v, "find(key) returns the entry (keys are unique)");
  (void)v.to_display();
  if (auto u = v.as_uint()) expect(f.get_uint(kv.key) == *u, "get_uint == as_uint");
  if (auto i = v.as_int()) expect(f.get_int(kv.key) == *i, "get_int == as_int");
  if (auto s = v.as_string()) expect(f.get_string(kv.key) == *s, "get_string == as_string");
  if (auto b = v.as_bool()) expect(f.get_bool(kv.key) == *b, "get_bool == as_bool");
  (void)accepts([&] { (void)f.get_float(kv.key); });
  (void)accepts([&] { (void)f.get_string_or(kv.key, "x"); });
  (void)accepts([&] { (void)f.get_uint_or(kv.key, 1); });
  (void)accepts([&] { (void)f.get_int_or(kv.key, 1); });
  (void)accepts([&] { (void)f.get_float_or(kv.key, 1.0); });
  (void)accepts([&] { (void)f.get_bool_or(kv.key, true); });
  if (!v.is_array()) {
    expect(v.size() == 1, "a scalar has size 1");
    expect(!accepts([&] { (void)f.array_size(kv.key); }), "array_size(scalar) throws");
    return;
  }
  expect(f.array_size(kv.key) == v.size(), "array_size == size");
  if (accepts([&] { (void)f.get_string_array(kv.key); }))
    expect(f.get_string_array(kv.key).size() == v.size(), "string array size");
  if (accepts([&] { (void)f.get_float_array(kv.key); }))
    expect(f.get_float_array(kv.key).size() == v.size(), "float array size");
  if (accepts([&] { (void)f.get_int_array(kv.key); }))
    expect(f.get_int_array(kv.key).size() == v.size(), "int array size");
  for (std::uint64_t i = 0; i < v.size() && i < 64; ++i) {
    (void)v.uint_at(i);
    (void)v.int_at(i);
    (void)v.double_at(i);
    (void)v.bool_at(i);
    (void)v.string_at(i);
  }
  expect(!v.uint_at(v.size()) && !v.string_at(v.size()), "element size() is absent");
}

/// Every tensor: inside the data section, sized by its type and dims.
inline void check_tensors(const shiftrope::gguf_file& f) {
  for (const shiftrope::gguf_tensor& t : f.tensors()) {
    expect(f.find_tensor(t.name) == &t, "find_tensor(name) returns the tensor");
    expect(!t.dims.empty() && t.dims.size() <= 4, "1..4 dims");
    std::uint64_t n = 1;
    for (const std::uint64_t d : t.dims) n *= d;  // the reader checked for overflow
    expect(n == t.n_elements, "n_elements = product of dims");
    expect(t.n_bytes == shiftrope::ggml_row_bytes(t.type, t.dims[0]) * t.n_rows(),
           "n_bytes = row bytes × rows");
    expect(f.data_start() <= f.file_size() && t.offset <= f.file_size() - f.data_start() &&
               t.n_bytes <= f.file_size() - f.data_start() - t.offset,
           "tensor inside the file");
    expect(t.offset % f.alignment() == 0, "aligned offset");
    // Touch the first and last byte (ASan checks the view against the buffer).
    volatile std::uint8_t sink = t.data[0];
    sink = t.data[t.n_bytes - 1];
    (void)sink;
    (void)accepts([&] { f.require_supported(t); });
  }
}

/// Writes the parsed file again with gguf_writer and parses the result: the
/// same entries (general.alignment moves to the front) and tensor bytes.
inline void check_round_trip(const shiftrope::gguf_file& f) {
  shiftrope::gguf_writer w;
  if (f.has("general.alignment")) w.set_alignment(f.alignment());
  for (const shiftrope::gguf_kv& kv : f.metadata())
    if (kv.key != "general.alignment") w.add_value(kv.key, kv.value);
  for (const shiftrope::gguf_tensor& t : f.tensors())
    w.add_tensor(t.name, t.type, t.dims, t.data, static_cast<std::size_t>(t.n_bytes));
  const shiftrope::gguf_file g = shiftrope::gguf_file::from_bytes(w.to_bytes(), "round-trip.gguf");
  expect(g.metadata().size() == f.metadata().size(), "round trip: entry count");
  expect(g.alignment() == f.alignment(), "round trip: alignment");
  for (const shiftrope::gguf_kv& kv : f.metadata()) {
    const shiftrope::gguf_value* v = g.find(kv.key);
    expect(v != nullptr, "round trip: key present");
    expect(v->type() == kv.value.type() && v->element_type() == kv.value.element_type() &&
               v->size() == kv.value.size(),
           "round trip: type and size");
    const auto all = std::numeric_limits<std::size_t>::max();
    expect(v->to_display(all) == kv.value.to_display(all), "round trip: values");
  }
  expect(g.tensors().size() == f.tensors().size(), "round trip: tensor count");
  for (const shiftrope::gguf_tensor& t : f.tensors()) {
    const shiftrope::gguf_tensor* u = g.find_tensor(t.name);
    expect(u != nullptr && u->type == t.type && u->dims == t.dims && u->n_bytes == t.n_bytes,
           "round trip: tensor info");
    expect(std::memcmp(u->data, t.data, static_cast<std::size_t>(t.n_bytes)) == 0,
           "round trip: tensor bytes");
  }
}

/// Caps as large as their types allow: counts must then be bounded by the
/// file's bytes alone (and no size computation may overflow).
inline shiftrope::gguf_limits widest_limits() {
  shiftrope::gguf_limits l;
  l.max_tensors = l.max_kv = l.max_string_length = l.max_array_length = ~std::uint64_t{0};
  l.max_dims = ~std::uint32_t{0};
  l.max_alignment = std::uint32_t{1} << 31;
  return l;
}

inline void gguf_input(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::uint8_t> bytes(data, data + size);
  // The widest caps first: whatever the default caps accept, these accept too.
  const bool wide_ok = accepts([&] {
    const auto w = shiftrope::gguf_file::from_bytes(bytes, "wide.gguf", widest_limits());
    for (const shiftrope::gguf_kv& kv : w.metadata()) (void)kv.value.to_display();
  });
  const shiftrope::gguf_file f = shiftrope::gguf_file::from_bytes(bytes, "fuzz.gguf");
  expect(wide_ok, "a file within the default caps also parses with the widest caps");
  expect(f.version() == 2 || f.version() == 3, "version 2 or 3");
  expect(f.file_size() == size, "file_size");
  for (const shiftrope::gguf_kv& kv : f.metadata()) exercise_value(f, kv);
  check_tensors(f);
  (void)accepts([&] { (void)f.get_arch(); });
  // The probes are absent unless the file itself names them (a mutated file
  // can carry any string, these included).
  const char* const key = "\x01not a key";
  const char* const name = "\x01not a tensor";
  expect(accepts([&] { (void)f.at(key); }) == f.has(key), "at(key) throws exactly when absent");
  expect(accepts([&] { (void)f.tensor(name); }) == (f.find_tensor(name) != nullptr),
         "tensor(name) throws exactly when absent");
  check_round_trip(f);
  if (f.has("tokenizer.ggml.model")) {
    (void)accepts([&] { exercise_file_tokenizer(shiftrope::tokenizer::from_gguf(f)); });
  }
}

}  // namespace shiftrope_fuzz
