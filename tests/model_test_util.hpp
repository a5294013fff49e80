// Test helpers for the model tests: paths into ../shared/models, golden
// files, logit comparison, a plain greedy loop, and a GGUF builder that
// writes the stories260K weights (or hostile variants) with the project's
// own gguf_writer, in memory.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/sampler.hpp>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "../tools/gguf_model.hpp"
#include "shared_data.hpp"

namespace model_test {

/// Teacher-forced logits agree with the double-precision reference within
/// this (absolute); the models README promises about 1e-3 in float32.
constexpr double golden_tolerance = 1e-3;

inline std::string shared(const std::string& rel) {
  return shared_data::path("models/" + rel);
}

/// True when every file is there; otherwise the test fails or is reported
/// as skipped (shared_data.hpp) and the caller returns.
using shared_data::have;

inline std::vector<int> read_tokens(const std::string& path) {
  std::ifstream f(path);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  std::vector<int> ids;
  std::stringstream ss(all);
  std::string item;
  while (std::getline(ss, item, ',')) ids.push_back(std::stoi(item));
  return ids;
}

inline std::vector<float> read_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

/// Largest |a - b| and the rows whose argmax differs.
struct logit_diff {
  double max_abs = 0.0;
  int argmax_mismatches = 0;
  int first_mismatch_row = -1;
};

inline logit_diff compare_logits(const std::vector<float>& a, const std::vector<float>& b,
                                 int n_vocab) {
  REQUIRE(a.size() == b.size());
  logit_diff d;
  const int rows = static_cast<int>(a.size() / static_cast<std::size_t>(n_vocab));
  for (int r = 0; r < rows; ++r) {
    const float* x = a.data() + static_cast<std::size_t>(r) * n_vocab;
    const float* y = b.data() + static_cast<std::size_t>(r) * n_vocab;
    for (int i = 0; i < n_vocab; ++i)
      d.max_abs = std::max(d.max_abs, static_cast<double>(std::abs(x[i] - y[i])));
    if (shiftrope::argmax(x, n_vocab) != shiftrope::argmax(y, n_vocab)) {
      if (d.first_mismatch_row < 0) d.first_mismatch_row = r;
      ++d.argmax_mismatches;
    }
  }
  return d;
}

/// Greedy continuation written plainly on the session API: prefill, then
/// one token at a time until `total` tokens or BOS/EOS (llama2.c's stop).
inline std::vector<int> greedy(const shiftrope::model& m, std::vector<int> ids, std::size_t total,
                               int bos = 1, int eos = 2, shiftrope::session_params params = {}) {
  shiftrope::session s(m, params);
  std::vector<float> logits = s.forward(ids, 0);
  while (ids.size() < total) {
    const int next = shiftrope::argmax(logits.data(), m.config().n_vocab);
    if (next == bos || next == eos) break;
    ids.push_back(next);
    if (ids.size() == total) break;
    logits = s.forward({next}, static_cast<std::int64_t>(ids.size()) - 1);
  }
  return ids;
}

/// The greedy stories of the models README: llama2.c's `run -n 64`.
struct story {
  const char* prompt;
  const char* text;
};
inline const story readme_stories[] = {
    {"Once upon a time",
     "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
     "One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily"},
    {"Lily and Tom",
     "Lily and Tom were playing in the park. They liked to play with their toys and run around "
     "the park. They saw a big box with a big box. They wanted to play with the box.\n\""},
    {"The cat",
     "The cat and a boy were playing in the park. They liked to play with their toys and run "
     "around the park. They liked to play with their toys and seek.\nOne day,"},
};
/// llama2.c feeds positions [0, 64) and prints the token sampled at each:
/// 65 tokens in all, BOS included.
constexpr std::size_t readme_total_tokens = 65;

// ---- GGUF files written with gguf_writer ----

using meta_value = std::variant<std::uint32_t, float, std::string>;

struct tensor_spec {
  std::string name;
  std::vector<std::uint64_t> dims;  // ne[0] first
  std::vector<float> values;        // product(dims) floats (ignored for raw types)
  shiftrope::ggml_type type = shiftrope::ggml_type::f32;
};

struct gguf_spec {
  std::vector<std::pair<std::string, meta_value>> meta;
  std::vector<tensor_spec> tensors;
  const shiftrope::gguf_file* tokenizer_from = nullptr;  // copy its tokenizer.* entries
};

inline void set_meta(gguf_spec& s, const std::string& key, meta_value v) {
  for (auto& kv : s.meta)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  s.meta.emplace_back(key, std::move(v));
}

inline void erase_meta(gguf_spec& s, const std::string& key) {
  s.meta.erase(
      std::remove_if(s.meta.begin(), s.meta.end(), [&](const auto& kv) { return kv.first == key; }),
      s.meta.end());
}

inline tensor_spec& tensor(gguf_spec& s, const std::string& name) {
  for (tensor_spec& t : s.tensors)
    if (t.name == name) return t;
  FAIL("no tensor ", name, " in the spec");
  throw 0;
}

inline void erase_tensor(gguf_spec& s, const std::string& name) {
  s.tensors.erase(std::remove_if(s.tensors.begin(), s.tensors.end(),
                                 [&](const tensor_spec& t) { return t.name == name; }),
                  s.tensors.end());
}

/// The bytes of a tensor in its type (another type, e.g. Q8_1: zero blocks of
/// the right size, for the unsupported-type tests); F32/F16/BF16/Q8_0 encoded
/// as the tools do.
inline std::vector<std::uint8_t> tensor_bytes(const tensor_spec& t) {
  using shiftrope::ggml_type;
  if (t.type == ggml_type::f32 || t.type == ggml_type::f16 || t.type == ggml_type::bf16 ||
      t.type == ggml_type::q8_0)
    return shiftrope::tools::encode_floats(t.type, t.values.data(), t.values.size());
  std::uint64_t n = 1;
  for (auto d : t.dims) n *= d;
  return std::vector<std::uint8_t>(shiftrope::ggml_row_bytes(t.type, t.dims[0]) * (n / t.dims[0]),
                                   0);
}

inline shiftrope::gguf_file build(const gguf_spec& s, const std::string& name = "test.gguf") {
  shiftrope::gguf_writer w;
  for (const auto& [key, v] : s.meta) {
    if (const auto* u = std::get_if<std::uint32_t>(&v)) w.add_uint32(key, *u);
    if (const auto* f = std::get_if<float>(&v)) w.add_float32(key, *f);
    if (const auto* str = std::get_if<std::string>(&v)) w.add_string(key, *str);
  }
  if (s.tokenizer_from)
    for (const auto& kv : s.tokenizer_from->metadata())
      if (kv.key.rfind("tokenizer.", 0) == 0) w.add_value(kv.key, kv.value);
  for (const tensor_spec& t : s.tensors) {
    const std::vector<std::uint8_t> bytes = tensor_bytes(t);
    w.add_tensor(t.name, t.type, t.dims, bytes.data(), bytes.size());
  }
  return shiftrope::gguf_file::from_bytes(w.to_bytes(), name);
}

/// Chooses the storage type of a 2-D weight [n_in = dims[0], n_out].
using type_rule = std::function<shiftrope::ggml_type(const std::vector<std::uint64_t>& dims)>;

inline type_rule all_f32 = [](const auto&) { return shiftrope::ggml_type::f32; };

/// The stories260K weights as a GGUF spec (arch llama, tied classifier, no
/// output.weight), matrices stored as `rule` says, vectors in F32.
inline gguf_spec stories_spec(const shiftrope::llama2c_checkpoint& ck, const type_rule& rule) {
  const shiftrope::llama2c_config& h = ck.config();
  gguf_spec s;
  s.meta = {{"general.architecture", std::string("llama")},
            {"llama.context_length", std::uint32_t(h.seq_len)},
            {"llama.embedding_length", std::uint32_t(h.dim)},
            {"llama.feed_forward_length", std::uint32_t(h.hidden_dim)},
            {"llama.block_count", std::uint32_t(h.n_layers)},
            {"llama.attention.head_count", std::uint32_t(h.n_heads)},
            {"llama.attention.head_count_kv", std::uint32_t(h.n_kv_heads)},
            {"llama.rope.dimension_count", std::uint32_t(h.head_size())},
            {"llama.attention.layer_norm_rms_epsilon", 1e-5f}};
  // The checkpoint's arrays under their GGUF names (shared with shiftrope-convert).
  for (const shiftrope::tools::llama2c_tensor& a : shiftrope::tools::llama2c_tensors(ck)) {
    const std::vector<std::uint64_t>& dims = a.slot.dims;
    const std::uint64_t n = shiftrope::tools::element_count(dims);
    tensor_spec t{a.slot.name, dims, std::vector<float>(a.data, a.data + n),
                  shiftrope::ggml_type::f32};
    if (dims.size() == 2) t.type = rule(dims);
    s.tensors.push_back(std::move(t));
  }
  return s;
}

/// The text of the shiftrope::error `f` throws, or "no error".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const shiftrope::error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace model_test
