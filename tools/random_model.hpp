// tools/random_model.hpp - random-weight GGUF models of a given shape, for
// benchmarks and tests: the architecture metadata and a synthetic
// vocabulary as real files carry them, weights drawn from a seeded
// generator and streamed to disk tensor by tensor (a 1.1B model in F32 is
// 4.4 GB; at most one chunk of ~1M values is in memory at a time).
//
// Values: matrices uniform in ±1/sqrt(n_in) (n_in = row length), so every
// product keeps the scale of its input and activations stay finite; norm
// gains uniform in 1 ± 0.1; biases uniform in ±0.1. Each tensor draws from
// its own stream, seeded from (seed, tensor index).
// Used by shiftrope-make-model (tools/make_model.cpp) and the forward
// benchmark (bench/forward.cpp). Not part of the library.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/model_config.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "gguf_model.hpp"
#include "gguf_vocab.hpp"

namespace shiftrope::tools {

/// splitmix64 (Steele, Lea, Flood 2014): a small seeded generator whose
/// output is the same on every platform and standard library.
struct splitmix64 {
  std::uint64_t state = 0;
  std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

/// A model shape by name: "smollm-135m" (n_embd 576, 30 layers, 9 heads,
/// 3 KV heads, n_ff 1536), "tinyllama-1.1b" (2048, 22, 32, 4, 5632), both
/// with a 32000-token vocabulary and context 2048; "tiny" (64, 2, 4, 2, 160,
/// vocab 512, context 256). Architecture conventions come from `arch`:
/// llama: RMSNorm eps 1e-5, RoPE base 1e4, interleaved pairs; qwen2: eps
/// 1e-6, base 1e6, half-split pairs, Q/K/V biases; phi3: as llama but
/// half-split pairs (and fused tensors, see model_tensor_slots). The output matrix is
/// separate (tied_output false). Throws naming an unknown shape.
inline model_config named_shape(std::string_view shape, model_arch arch) {
  model_config c;
  c.arch = arch;
  if (shape == "smollm-135m") {
    c.n_embd = 576, c.n_layers = 30, c.n_heads = 9, c.n_kv_heads = 3, c.n_ff = 1536;
    c.n_vocab = 32000, c.train_len = 2048;
  } else if (shape == "tinyllama-1.1b") {
    c.n_embd = 2048, c.n_layers = 22, c.n_heads = 32, c.n_kv_heads = 4, c.n_ff = 5632;
    c.n_vocab = 32000, c.train_len = 2048;
  } else if (shape == "tiny") {
    c.n_embd = 64, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.n_ff = 160;
    c.n_vocab = 512, c.train_len = 256;
  } else {
    fail("shape: unknown shape \"", shape, "\" (smollm-135m, tinyllama-1.1b, tiny)");
  }
  c.tied_output = false;
  return c;
}

/// Fills in what follows from the counts and the architecture: head_dim =
/// n_embd / n_heads, RMSNorm eps, RoPE (base, pairing, whole head), biases.
/// Then validates (throws naming the field).
inline model_config complete_shape(model_config c) {
  if (c.n_heads < 1) fail("n_heads must be >= 1, got ", c.n_heads);
  if (c.n_embd % c.n_heads != 0)
    fail("n_embd (", c.n_embd, ") must be a multiple of n_heads (", c.n_heads, ")");
  c.head_dim = c.n_embd / c.n_heads;
  const bool qwen2 = c.arch == model_arch::qwen2;
  c.rms_eps = qwen2 ? 1e-6 : 1e-5;
  c.qkv_bias = qwen2;
  c.rope = rope_config{};
  c.rope.head_dim = c.head_dim;
  c.rope.base = qwen2 ? 1e6 : 1e4;
  c.rope.pairing =
      c.arch == model_arch::llama ? rope_pairing::interleaved : rope_pairing::half_split;
  c.validate("model shape");
  return c;
}

/// Parameters of one random model file.
struct random_model_params {
  model_config config;                     // complete_shape() output
  weight_type weights = weight_type::f32;  // storage of 2-D matrices (see storage_type)
  std::optional<weight_scheme> scheme;     // when set, replaces `weights` (any type, Q4_K_M)
  std::uint64_t seed = 1;                  // generator seed
  std::string name = "random";             // general.name

  /// Throws naming the field.
  void validate() const {
    config.validate("random_model_params.config");
    if (name.empty()) fail("random_model_params.name: empty");
  }
};

/// The weight scheme of a random model: `scheme`, or `weights` for every
/// matrix.
inline weight_scheme scheme_of(const random_model_params& p) {
  return p.scheme ? *p.scheme : weight_scheme_of(p.weights);
}

/// The storage type of each tensor of model_tensor_slots(p.config), in order.
inline std::vector<ggml_type> random_model_types(const random_model_params& p) {
  const weight_scheme scheme = scheme_of(p);
  std::vector<ggml_type> types;
  for (const tensor_slot& s : model_tensor_slots(p.config))
    types.push_back(storage_type(scheme, s.name, s.dims, p.config.n_layers, p.config.tied_output));
  return types;
}

/// Bytes of the tensor data of a random model (the file is slightly larger).
inline std::uint64_t random_model_data_bytes(const random_model_params& p) {
  std::uint64_t total = 0;
  const std::vector<tensor_slot> slots = model_tensor_slots(p.config);
  const std::vector<ggml_type> types = random_model_types(p);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const tensor_slot& s = slots[i];
    total += ggml_row_bytes(types[i], s.dims[0]) * (element_count(s.dims) / s.dims[0]);
  }
  return total;
}

namespace detail_random {

/// Uniform floats in [lo, hi): two 24-bit draws per 64-bit output.
inline void fill_uniform(splitmix64& rng, float* out, std::size_t n, float lo, float hi) {
  constexpr float unit = 1.0f / 16777216.0f;  // 2^-24
  const float span = hi - lo;
  for (std::size_t i = 0; i < n; i += 2) {
    const std::uint64_t u = rng.next();
    out[i] = lo + span * static_cast<float>(u >> 40) * unit;
    if (i + 1 < n) out[i + 1] = lo + span * static_cast<float>((u >> 8) & 0xFFFFFF) * unit;
  }
}

/// The value range of a tensor by its role.
inline void value_range(const tensor_slot& s, float& lo, float& hi) {
  const auto ends_with = [&](std::string_view suffix) {
    return s.name.size() >= suffix.size() &&
           s.name.compare(s.name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (s.dims.size() == 2) {
    hi = 1.0f / std::sqrt(static_cast<float>(s.dims[0]));
    lo = -hi;
  } else if (ends_with("norm.weight")) {
    lo = 0.9f, hi = 1.1f;
  } else {  // biases
    lo = -0.1f, hi = 0.1f;
  }
}

}  // namespace detail_random

/// Called after each chunk with the data bytes written so far and the total.
using progress_fn = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// Writes a random model to `path` (overwritten). Throws shiftrope::error
/// naming the path on I/O failure; a failed write may leave a partial file
/// (write to a temporary name and rename to keep readers away from it).
inline void write_random_model(const std::string& path, const random_model_params& p,
                               const progress_fn& progress = {}) {
  p.validate();
  gguf_writer w;
  add_model_metadata(w, p.config, p.name);
  w.add_uint32("general.file_type", scheme_of(p).file_type);
  add_vocab_metadata(w, synthetic_vocab(p.config.n_vocab));
  const std::vector<tensor_slot> slots = model_tensor_slots(p.config);
  const std::vector<ggml_type> types = random_model_types(p);
  for (std::size_t i = 0; i < slots.size(); ++i)
    w.add_tensor_deferred(slots[i].name, types[i], slots[i].dims);

  const std::uint64_t total = random_model_data_bytes(p);
  std::uint64_t done = 0;
  std::vector<float> values;        // [rows_per_chunk × n_in]
  std::vector<std::uint8_t> bytes;  // the same, encoded
  w.write_streamed(path, [&](std::size_t index, const std::string&, gguf_tensor_sink& sink) {
    const tensor_slot& s = slots[index];
    const ggml_type type = types[index];
    const std::size_t n_in = static_cast<std::size_t>(s.dims[0]);
    const std::size_t rows = static_cast<std::size_t>(element_count(s.dims) / s.dims[0]);
    const std::size_t chunk_rows = std::max<std::size_t>(1, (std::size_t(1) << 20) / n_in);
    const std::size_t row_bytes = static_cast<std::size_t>(ggml_row_bytes(type, n_in));
    splitmix64 rng{p.seed ^ (0x9E3779B97F4A7C15ull * (index + 1))};
    float lo = 0, hi = 0;
    detail_random::value_range(s, lo, hi);
    for (std::size_t r = 0; r < rows; r += chunk_rows) {
      const std::size_t n_rows = std::min(chunk_rows, rows - r);
      values.resize(n_rows * n_in);
      bytes.resize(n_rows * row_bytes);
      detail_random::fill_uniform(rng, values.data(), values.size(), lo, hi);
      for (std::size_t i = 0; i < n_rows; ++i)
        encode_floats(type, &values[i * n_in], n_in, &bytes[i * row_bytes]);
      sink.put(bytes.data(), bytes.size());
      done += bytes.size();
      if (progress) progress(done, total);
    }
  });
}

}  // namespace shiftrope::tools
