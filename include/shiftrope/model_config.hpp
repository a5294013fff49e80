// shiftrope/model_config.hpp - the hyper-parameters of a Llama-family model,
// read from GGUF metadata (architectures `llama`, `qwen2` and `phi3`) or from a
// llama2.c checkpoint header, and validated before anything is allocated.
//
// GGUF keys read (ARCH = general.architecture):
//   ARCH.embedding_length, ARCH.block_count, ARCH.feed_forward_length,
//   ARCH.attention.head_count, ARCH.attention.head_count_kv (default: head_count),
//   ARCH.attention.key_length (default: n_embd / n_heads; value_length must equal it),
//   ARCH.attention.layer_norm_rms_epsilon, ARCH.context_length (train_len),
//   ARCH.vocab_size (optional; must equal the rows of token_embd.weight),
//   ARCH.rope.freq_base (default 10000), ARCH.rope.dimension_count (rotary dim,
//   default head_dim), ARCH.rope.scaling.type none|linear|yarn with
//   ARCH.rope.scaling.factor and ARCH.rope.scaling.original_context_length
//   (older files: ARCH.rope.scale_linear), and the `rope_freqs.weight` tensor
//   (per-plane frequency divisors, how GGUF stores Llama 3.1 scaling).
// phi3 only: the `rope_factors_long.weight` / `rope_factors_short.weight`
//   tensors and ARCH.rope.scaling.attn_factor (LongRoPE: the long factors
//   apply when the run's context exceeds ARCH.rope.scaling.original_context_length,
//   default context_length; the attention factor defaults to
//   sqrt(1 + ln(s) / ln(L_orig)), s = context_length / L_orig), and
//   ARCH.attention.sliding_window (keys at distance >= window masked; absent = none).
//
// RoPE pairing per architecture, as GGUF defines it: `llama` files carry Q/K
// rows permuted by the converter for the interleaved pairing (x[2i], x[2i+1]);
// `qwen2` and `phi3` files keep Hugging Face's layout and use the half-split
// pairing (x[i], x[i + rotary_dim/2]).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/rope.hpp>
#include <string>
#include <vector>

namespace shiftrope {

/// Model families the forward pass knows.
enum class model_arch {
  llama,  ///< Llama 1/2/3.x, Mistral, TinyLlama, SmolLM (GGUF "llama"), llama2.c
  qwen2,  ///< Qwen2 / Qwen2.5: like llama plus Q/K/V biases, half-split RoPE
  phi3,   ///< Phi-3, Phi-3.5, Phi-4-mini: fused QKV and gate/up, half-split LongRoPE
};

/// The GGUF general.architecture string ("llama", "qwen2", "phi3").
[[nodiscard]] constexpr const char* model_arch_name(model_arch a) noexcept {
  switch (a) {
    case model_arch::qwen2:
      return "qwen2";
    case model_arch::phi3:
      return "phi3";
    case model_arch::llama:
      break;
  }
  return "llama";
}

/// The architectures model_config_from_gguf accepts, for messages.
inline constexpr const char* supported_archs = "llama, qwen2, phi3";

/// Upper bounds on what a file may declare (checked before any allocation).
/// Generous next to real models (Llama 3.1 405B: n_embd 16384, 126 layers,
/// n_ff 53248, vocab 128256), tight enough to stop a hostile header.
struct model_limits {
  static constexpr int max_vocab = 1 << 22;
  static constexpr int max_embd = 1 << 17;
  static constexpr int max_layers = 1 << 12;
  static constexpr int max_heads = 1 << 12;
  static constexpr int max_head_dim = 1 << 12;
  static constexpr int max_ff = 1 << 20;
  static constexpr std::int64_t max_train_len = std::int64_t{1} << 30;
};

struct model_config {
  model_arch arch = model_arch::llama;  ///< tensor names and conventions
  int n_vocab = 0;                      ///< tokens: rows of the embedding and the classifier
  int n_embd = 0;                       ///< model width (the residual stream)
  int n_layers = 0;                     ///< transformer blocks
  int n_heads = 0;                      ///< query heads
  int n_kv_heads = 0;                   ///< key/value heads (GQA: n_heads % n_kv_heads == 0)
  int head_dim = 0;                     ///< values per head, for Q, K and V alike
  int n_ff = 0;                         ///< feed-forward inner width
  double rms_eps = 1e-5;                ///< RMSNorm epsilon
  std::int64_t train_len = 0;           ///< context length the model was trained with
  bool qkv_bias = false;                ///< Q/K/V projections carry biases (qwen2)
  bool tied_output = true;              ///< classifier = token embedding (no output.weight)
  /// Keys at distance m - n >= sliding_window are masked out; 0 = none (phi3).
  std::int64_t sliding_window = 0;
  rope_config rope;  ///< rope.head_dim == head_dim; pairing from the arch

  [[nodiscard]] int q_dim() const noexcept { return n_heads * head_dim; }
  [[nodiscard]] int kv_dim() const noexcept { return n_kv_heads * head_dim; }

  /// Throws shiftrope::error naming `source` (a file name or "model_config"),
  /// the field and the value.
  void validate(const std::string& source = "model_config") const {
    const auto in_range = [&](const char* field, std::int64_t v, std::int64_t max) {
      if (v < 1 || v > max) fail(source, ": ", field, " must be in [1, ", max, "], got ", v);
    };
    in_range("n_vocab", n_vocab, model_limits::max_vocab);
    in_range("n_embd", n_embd, model_limits::max_embd);
    in_range("n_layers", n_layers, model_limits::max_layers);
    in_range("n_heads", n_heads, model_limits::max_heads);
    in_range("n_kv_heads", n_kv_heads, model_limits::max_heads);
    in_range("head_dim", head_dim, model_limits::max_head_dim);
    in_range("n_ff", n_ff, model_limits::max_ff);
    in_range("train_len", train_len, model_limits::max_train_len);
    if (n_heads % n_kv_heads != 0)
      fail(source, ": n_heads (", n_heads, ") must be a multiple of n_kv_heads (", n_kv_heads, ")");
    if (static_cast<std::int64_t>(n_heads) * head_dim > model_limits::max_embd)
      fail(source, ": n_heads × head_dim = ", n_heads, " × ", head_dim, " exceeds ",
           model_limits::max_embd);
    if (sliding_window < 0 || sliding_window > model_limits::max_train_len)
      fail(source, ": sliding_window must be in [0, ", model_limits::max_train_len, "], got ",
           sliding_window);
    if (!(rms_eps > 0.0 && rms_eps < 1.0))
      fail(source, ": rms_eps must be in (0, 1), got ", rms_eps);
    if (rope.head_dim != head_dim)
      fail(source, ": rope.head_dim (", rope.head_dim, ") must equal head_dim (", head_dim, ")");
    try {
      rope.validate();
    } catch (const error& e) {
      fail(source, ": ", e.what());
    }
  }
};

namespace detail {

/// "[64, 512]": a tensor's dims as GGUF lists them (ne[0] first).
inline std::string dims_string(const std::vector<std::uint64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

/// Reads an integer key that must fit int (and be >= 0); a required key
/// (fallback < 0) throws naming the key when absent.
inline int gguf_int_field(const gguf_file& f, const std::string& key, std::int64_t fallback) {
  const std::int64_t v = fallback < 0 ? f.get_int(key) : f.get_int_or(key, fallback);
  if (v < 0 || v > (std::int64_t{1} << 31) - 1)
    fail(f.name(), ": ", key, " must be in [0, 2^31), got ", v);
  return static_cast<int>(v);
}

/// Converts one F32/F16/BF16 vector tensor to float (other types refused).
inline std::vector<float> gguf_vector_as_float(const gguf_file& f, const gguf_tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.n_elements));
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (t.type == ggml_type::f32) {
      float x;
      std::memcpy(&x, t.data + 4 * i, 4);
      out[i] = x;
    } else if (t.type == ggml_type::f16 || t.type == ggml_type::bf16) {
      std::uint16_t bits;
      std::memcpy(&bits, t.data + 2 * i, 2);
      out[i] = t.type == ggml_type::f16 ? to_float(f16{bits}) : to_float(bf16{bits});
    } else {
      fail(f.name(), ": tensor '", t.name, "' has type ", ggml_type_name(t.type),
           "; a vector must be F32, F16 or BF16");
    }
  }
  return out;
}

/// RoPE settings of a GGUF file (base, rotary dim, scaling, rope_freqs).
inline rope_config gguf_rope_config(const gguf_file& f, const std::string& arch, int head_dim,
                                    rope_pairing pairing) {
  rope_config rope;
  rope.head_dim = head_dim;
  rope.pairing = pairing;
  rope.base = f.get_float_or(arch + ".rope.freq_base", 10000.0);
  rope.rotary_dim = gguf_int_field(f, arch + ".rope.dimension_count", head_dim);
  if (rope.rotary_dim > head_dim)
    fail(f.name(), ": ", arch, ".rope.dimension_count (", rope.rotary_dim,
         ") exceeds the head size (", head_dim, ")");
  const std::string type = f.get_string_or(arch + ".rope.scaling.type", "none");
  const double legacy_linear = f.get_float_or(arch + ".rope.scale_linear", 1.0);
  if (type == "none" && legacy_linear != 1.0) {
    rope.scaling = rope_scaling::linear;
    rope.factor = legacy_linear;
  } else if (type == "linear") {
    rope.scaling = rope_scaling::linear;
    rope.factor = f.get_float(arch + ".rope.scaling.factor");
  } else if (type == "yarn") {
    rope.scaling = rope_scaling::yarn;
    rope.factor = f.get_float(arch + ".rope.scaling.factor");
    rope.original_max_positions = f.get_int(arch + ".rope.scaling.original_context_length");
  } else if (type != "none") {
    fail(f.name(), ": ", arch, ".rope.scaling.type = \"", type,
         "\" is not supported (none, linear, yarn)");
  }
  if (const gguf_tensor* t = f.find_tensor("rope_freqs.weight")) {
    const std::uint64_t planes = static_cast<std::uint64_t>(rope.rotary() / 2);
    if (t->dims.size() != 1 || t->dims[0] != planes)
      fail(f.name(), ": tensor 'rope_freqs.weight' must have dims [", planes,
           "] (rotary_dim / 2), got ", dims_string(t->dims));
    rope.freq_factors = gguf_vector_as_float(f, *t);
  }
  try {
    rope.validate();
  } catch (const error& e) {
    fail(f.name(), ": ", e.what());
  }
  return rope;
}

/// One LongRoPE factor tensor (rotary_dim / 2 values > 0), or empty when absent.
inline std::vector<float> gguf_rope_divisors(const gguf_file& f, const std::string& name,
                                             int n_planes) {
  const gguf_tensor* t = f.find_tensor(name);
  if (t == nullptr) return {};
  if (t->dims.size() != 1 || t->dims[0] != static_cast<std::uint64_t>(n_planes))
    fail(f.name(), ": tensor '", name, "' must have dims [", n_planes, "] (rotary_dim / 2), got ",
         dims_string(t->dims));
  std::vector<float> v = gguf_vector_as_float(f, *t);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!(v[i] > 0.0f) || !std::isfinite(v[i]))
      fail(f.name(), ": tensor '", name, "' holds ", v[i], " at index ", i,
           "; every factor must be > 0");
  return v;
}

/// LongRoPE settings of a phi3 file on top of `rope` (see the top of this file).
inline void gguf_longrope(const gguf_file& f, const std::string& arch, std::int64_t train_len,
                          rope_config& rope) {
  const std::string attn_key = arch + ".rope.scaling.attn_factor";
  const bool has_long = f.find_tensor("rope_factors_long.weight") != nullptr;
  const bool has_short = f.find_tensor("rope_factors_short.weight") != nullptr;
  if (!has_long && !has_short && !f.has(attn_key)) return;
  if (rope.scaling != rope_scaling::none || !rope.freq_factors.empty())
    fail(f.name(), ": rope_factors_long/short or ", attn_key,
         " cannot be combined with another RoPE scaling");
  rope.scaling = rope_scaling::longrope;
  rope.long_factors = gguf_rope_divisors(f, "rope_factors_long.weight", rope.n_planes());
  rope.short_factors = gguf_rope_divisors(f, "rope_factors_short.weight", rope.n_planes());
  const std::string orig_key = arch + ".rope.scaling.original_context_length";
  rope.original_max_positions = f.get_int_or(orig_key, train_len);
  if (rope.original_max_positions < 1 || rope.original_max_positions > model_limits::max_train_len)
    fail(f.name(), ": ", orig_key, " must be in [1, ", model_limits::max_train_len, "], got ",
         rope.original_max_positions);
  rope.factor = static_cast<double>(train_len) / static_cast<double>(rope.original_max_positions);
  if (f.has(attn_key)) {
    rope.longrope_attention_factor = f.get_float(attn_key);
    if (!(rope.longrope_attention_factor > 0.0) || !std::isfinite(rope.longrope_attention_factor))
      fail(f.name(), ": ", attn_key, " must be a finite number > 0, got ",
           rope.longrope_attention_factor);
  }
  try {
    rope.validate();
  } catch (const error& e) {
    fail(f.name(), ": ", e.what());
  }
}

}  // namespace detail

/// The configuration of a GGUF model file (arch llama, qwen2 or phi3). Throws
/// shiftrope::error naming the file, the key and the value; an unknown
/// architecture is named.
[[nodiscard]] inline model_config model_config_from_gguf(const gguf_file& f) {
  const std::string arch = f.get_arch();
  model_config c;
  if (arch == "llama") {
    c.arch = model_arch::llama;
  } else if (arch == "qwen2") {
    c.arch = model_arch::qwen2;
  } else if (arch == "phi3") {
    c.arch = model_arch::phi3;
  } else {
    fail(f.name(), ": general.architecture = \"", arch,
         "\" is not supported (supported: ", supported_archs, ")");
  }
  if (f.get_int_or(arch + ".expert_count", 0) > 0)
    fail(f.name(), ": ", arch, ".expert_count = ", f.get_int(arch + ".expert_count"),
         ": mixture-of-experts models are not supported");
  using detail::gguf_int_field;
  c.n_embd = gguf_int_field(f, arch + ".embedding_length", -1);
  c.n_layers = gguf_int_field(f, arch + ".block_count", -1);
  c.n_ff = gguf_int_field(f, arch + ".feed_forward_length", -1);
  c.n_heads = gguf_int_field(f, arch + ".attention.head_count", -1);
  c.n_kv_heads = gguf_int_field(f, arch + ".attention.head_count_kv", c.n_heads);
  if (c.n_heads < 1) fail(f.name(), ": ", arch, ".attention.head_count must be >= 1, got 0");
  if (!f.has(arch + ".attention.key_length") && c.n_embd % c.n_heads != 0)
    fail(f.name(), ": ", arch, ".embedding_length (", c.n_embd,
         ") is not a multiple of attention.head_count (", c.n_heads, ")");
  c.head_dim = gguf_int_field(f, arch + ".attention.key_length", c.n_embd / c.n_heads);
  const int value_length = gguf_int_field(f, arch + ".attention.value_length", c.head_dim);
  if (value_length != c.head_dim)
    fail(f.name(), ": ", arch, ".attention.value_length (", value_length,
         ") differs from key_length (", c.head_dim, "): not supported");
  c.rms_eps = f.get_float(arch + ".attention.layer_norm_rms_epsilon");
  c.train_len = f.get_int(arch + ".context_length");

  const gguf_tensor& embd = f.tensor("token_embd.weight");
  if (embd.dims.size() != 2)
    fail(f.name(), ": tensor 'token_embd.weight' must be 2-D [n_embd, n_vocab], got ",
         embd.dims.size(), " dims");
  if (embd.dims[1] > static_cast<std::uint64_t>(model_limits::max_vocab))
    fail(f.name(), ": tensor 'token_embd.weight' has ", embd.dims[1], " rows (n_vocab), above ",
         model_limits::max_vocab);
  c.n_vocab = static_cast<int>(embd.dims[1]);
  if (f.has(arch + ".vocab_size") && f.get_int(arch + ".vocab_size") != c.n_vocab)
    fail(f.name(), ": ", arch, ".vocab_size = ", f.get_int(arch + ".vocab_size"),
         " differs from the rows of token_embd.weight (", c.n_vocab, ")");
  c.qkv_bias = c.arch == model_arch::qwen2 || f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.tied_output = f.find_tensor("output.weight") == nullptr;
  const std::string window_key = arch + ".attention.sliding_window";
  if (c.arch == model_arch::phi3 && f.has(window_key)) {
    c.sliding_window = f.get_int(window_key);
    if (c.sliding_window < 1 || c.sliding_window > model_limits::max_train_len)
      fail(f.name(), ": ", window_key, " must be in [1, ", model_limits::max_train_len, "], got ",
           c.sliding_window);
  }

  // Counts first (a hostile head_dim must not reach the RoPE tables).
  model_config counts = c;
  counts.rope.head_dim = c.head_dim;
  counts.rope.rotary_dim = 0;
  counts.validate(f.name());
  c.rope = detail::gguf_rope_config(
      f, arch, c.head_dim,
      c.arch == model_arch::llama ? rope_pairing::interleaved : rope_pairing::half_split);
  if (c.arch == model_arch::phi3) detail::gguf_longrope(f, arch, c.train_len, c.rope);
  c.validate(f.name());
  return c;
}

/// The configuration of a llama2.c checkpoint: arch llama, RMSNorm eps 1e-5,
/// RoPE base 10000 over the whole head, interleaved pairs, train_len = seq_len.
[[nodiscard]] inline model_config model_config_from_llama2c(const llama2c_config& h,
                                                            const std::string& source) {
  h.validate(source);
  model_config c;
  c.arch = model_arch::llama;
  c.n_vocab = h.vocab_size;
  c.n_embd = h.dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.head_dim = h.head_size();
  c.n_ff = h.hidden_dim;
  c.rms_eps = 1e-5;
  c.train_len = h.seq_len;
  c.qkv_bias = false;
  c.tied_output = h.shared_classifier;
  c.rope.head_dim = c.head_dim;
  c.rope.base = 10000.0;
  c.rope.pairing = rope_pairing::interleaved;
  c.validate(source);
  return c;
}

}  // namespace shiftrope
