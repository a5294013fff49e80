// tools/gguf_model.hpp - what the tools (and the model tests) share to write
// Llama-family GGUF model files with the project's gguf_writer:
//   - the architecture metadata, keyed as real files carry it;
//   - the tensor names and dims of a configuration (GGUF order: ne[0] = row
//     length = input dimension), and the llama2.c checkpoint's arrays under
//     those names;
//   - float rows encoded as F32, F16, BF16 or any quantized type
//     quantize_row writes, and the weight schemes of shiftrope-make-model
//     (one type for the matrices, or llama.cpp's Q4_K_M mix).
// Not part of the library: tools/ and tests/ include it by path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/model_config.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/quantize.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shiftrope::tools {

/// A weight type's short name ("f32", "q4_k", ...) -> weight_type; throws
/// naming the value.
inline weight_type parse_weight_type(std::string_view s) {
  for (std::size_t i = 0; i < weight_type_count; ++i)
    if (s == weight_type_name(static_cast<weight_type>(i))) return static_cast<weight_type>(i);
  fail("weight type: unknown \"", s, "\"");
}

/// The GGUF tensor type of a weight type.
inline ggml_type to_ggml_type(weight_type t) noexcept {
  return weight_info(t).ggml;
}

/// The type llama.cpp's quantizer stores a matrix in when its rows are not
/// whole 256-element super-blocks of the type asked for: Q4_K -> Q5_0,
/// Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K / Q3_K / IQ4_XS -> IQ4_NL (blocks of 32,
/// of about the same precision). Every other type is its own fallback.
inline ggml_type block_fallback_type(ggml_type t) noexcept {
  switch (t) {
    case ggml_type::q4_k:
      return ggml_type::q5_0;
    case ggml_type::q5_k:
      return ggml_type::q5_1;
    case ggml_type::q6_k:
      return ggml_type::q8_0;
    case ggml_type::q2_k:
    case ggml_type::q3_k:
    case ggml_type::iq4_xs:
      return ggml_type::iq4_nl;
    default:
      return t;
  }
}

/// The storage of a tensor with dims `dims` when matrices are asked to be
/// `matrices`: 2-D tensors take it when their row length (dims[0]) is a whole
/// number of its blocks; otherwise its block_fallback_type when the rows are
/// whole blocks of that (as llama.cpp does: a K-quant on rows of 576 becomes
/// Q5_0, Q8_0...); everything else stays F32 (norms, biases, and rows that
/// are not a multiple of 32).
inline ggml_type storage_type(ggml_type matrices, const std::vector<std::uint64_t>& dims) {
  if (dims.size() != 2) return ggml_type::f32;
  if (ggml_row_bytes(matrices, dims[0]) != 0) return matrices;
  const ggml_type fallback = block_fallback_type(matrices);
  if (fallback != matrices && ggml_row_bytes(fallback, dims[0]) != 0) return fallback;
  return ggml_type::f32;
}

inline ggml_type storage_type(weight_type matrices, const std::vector<std::uint64_t>& dims) {
  return storage_type(to_ggml_type(matrices), dims);
}

/// How a model's tensors are stored (shiftrope-make-model --weights): one
/// type for every matrix, or llama.cpp's Q4_K_M mix. Norms and biases are
/// F32 always; a matrix whose rows are not whole blocks of its type takes
/// llama.cpp's fallback type, or stays F32 (storage_type).
struct weight_scheme {
  std::string name = "f32";             // as on the command line: "q4_k", "q4_k_m"
  ggml_type matrices = ggml_type::f32;  // the type of the matrices
  bool q4_k_m = false;                  // the Q4_K_M mix (see wanted_type)
  std::uint32_t file_type = 0;          // general.file_type, llama.cpp's numbering
};

/// The names parse_weight_scheme accepts, in the order --help lists them.
inline constexpr const char* weight_scheme_names[] = {
    "f32",  "f16",  "bf16", "q8_0", "q4_0", "q4_1",   "q5_0",   "q5_1",
    "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs", "q4_k_m"};

/// "f32", "q4_k", ..., "q4_k_m" (weight_scheme_names) -> its scheme; throws
/// naming the value and listing the names.
inline weight_scheme parse_weight_scheme(std::string_view s) {
  // general.file_type as llama.cpp numbers its file types: a whole-model
  // K-quant is its "_S" variant.
  struct entry {
    const char* name;
    ggml_type type;
    std::uint32_t file_type;
  };
  static constexpr entry table[] = {
      {"f32", ggml_type::f32, 0},        {"f16", ggml_type::f16, 1},
      {"bf16", ggml_type::bf16, 32},     {"q8_0", ggml_type::q8_0, 7},
      {"q4_0", ggml_type::q4_0, 2},      {"q4_1", ggml_type::q4_1, 3},
      {"q5_0", ggml_type::q5_0, 8},      {"q5_1", ggml_type::q5_1, 9},
      {"q2_k", ggml_type::q2_k, 10},     {"q3_k", ggml_type::q3_k, 11},
      {"q4_k", ggml_type::q4_k, 14},     {"q5_k", ggml_type::q5_k, 16},
      {"q6_k", ggml_type::q6_k, 18},     {"iq4_nl", ggml_type::iq4_nl, 25},
      {"iq4_xs", ggml_type::iq4_xs, 30}, {"q4_k_m", ggml_type::q4_k, 15},
  };
  for (const entry& e : table)
    if (s == e.name) return weight_scheme{e.name, e.type, s == "q4_k_m", e.file_type};
  std::string list;
  for (const char* n : weight_scheme_names) list += (list.empty() ? "" : ", ") + std::string(n);
  fail("unknown weight type '", s, "' (expected one of: ", list, ")");
}

/// The scheme that stores every matrix as t.
inline weight_scheme weight_scheme_of(weight_type t) {
  return parse_weight_scheme(weight_type_name(t));
}

/// The type a scheme asks for the 2-D tensor `name` of a model with
/// n_layers blocks and (tied) no separate output matrix. Q4_K_M follows
/// llama.cpp's choice for that mix: the classifier (output.weight, or
/// token_embd.weight when it is tied) in Q6_K, and attn_v.weight and
/// ffn_down.weight in Q6_K on the layers l with l < n/8, l >= 7n/8 or
/// (l - n/8) % 3 == 2 (integer division; n = n_layers); every other matrix
/// Q4_K (phi3's fused attn_qkv too).
inline ggml_type wanted_type(const weight_scheme& s, std::string_view name, int n_layers,
                             bool tied) {
  if (!s.q4_k_m) return s.matrices;
  if (name == "output.weight" || (tied && name == "token_embd.weight")) return ggml_type::q6_k;
  const auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (name.rfind("blk.", 0) == 0 &&
      (ends_with(".attn_v.weight") || ends_with(".ffn_down.weight"))) {
    const int l = std::atoi(std::string(name.substr(4)).c_str());
    const int n = n_layers;
    if (l < n / 8 || l >= 7 * n / 8 || (l - n / 8) % 3 == 2) return ggml_type::q6_k;
  }
  return ggml_type::q4_k;
}

/// The storage of tensor `name` with dims `dims` under scheme s: F32 for
/// 1-D tensors, the wanted type for matrices of whole blocks of it, else
/// its fallback type or F32 (storage_type above).
inline ggml_type storage_type(const weight_scheme& s, std::string_view name,
                              const std::vector<std::uint64_t>& dims, int n_layers, bool tied) {
  if (dims.size() != 2) return ggml_type::f32;
  return storage_type(wanted_type(s, name, n_layers, tied), dims);
}

/// Encodes n floats as type t into dst, which holds ggml_row_bytes(t, n)
/// bytes (quantize_row: Q8_0 by the GGUF rule, so a file matches
/// llama.cpp's bit for bit). Throws for a type quantize_row does not write,
/// n not a whole number of blocks, and (quantized types) non-finite values.
inline void encode_floats(ggml_type t, const float* src, std::size_t n, std::uint8_t* dst) {
  quantize_row(t, src, dst, n);
}

/// Decodes n elements of type t at src into dst with the library's
/// reference dequantizer (dequantize_row), for every type it computes with.
/// src must be aligned for the type's storage (4 bytes for F32, 2 for the
/// others), as rows of GGUF tensors usually are but need not be.
/// Throws naming the type for another type or n not a whole number of
/// blocks.
inline void decode_floats(ggml_type t, const std::uint8_t* src, std::size_t n, float* dst) {
  weight_type w{};
  if (!weight_type_of_ggml(t, w))
    fail("decode_floats: cannot decode ", ggml_type_name(t), " (", supported_ggml_types(), ")");
  dequantize_row(w, src, dst, n);
}

/// The encoding of n floats as type t, as a byte vector.
inline std::vector<std::uint8_t> encode_floats(ggml_type t, const float* src, std::size_t n) {
  const std::uint64_t bytes = ggml_row_bytes(t, n);
  if (bytes == 0 && n != 0)
    fail("encode_floats: ", n, " values of ", ggml_type_name(t), " are not whole blocks");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(bytes));
  encode_floats(t, src, n, out.data());
  return out;
}

/// Writes the model's hyper-parameters under the keys llama.cpp reads
/// (general.architecture, <arch>.context_length, embedding_length,
/// block_count, feed_forward_length, attention.head_count, head_count_kv,
/// attention.layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count;
/// attention.key_length / value_length only when head_dim differs from
/// n_embd / n_heads). `c.train_len` becomes context_length. Throws for a
/// configuration that does not validate or uses RoPE scaling (not written).
inline void add_model_metadata(gguf_writer& w, const model_config& c, std::string_view name) {
  c.validate("model metadata");
  if (c.rope.scaling != rope_scaling::none || !c.rope.freq_factors.empty())
    fail("model metadata: RoPE scaling is not written by the tools");
  const std::string a = model_arch_name(c.arch);
  const auto u32 = [](std::int64_t v) { return static_cast<std::uint32_t>(v); };
  if (c.train_len > 0xFFFFFFFFll)
    fail("model metadata: train_len ", c.train_len, " exceeds uint32");
  w.add_string("general.architecture", a);
  w.add_string("general.name", name);
  w.add_uint32(a + ".context_length", u32(c.train_len));
  w.add_uint32(a + ".embedding_length", u32(c.n_embd));
  w.add_uint32(a + ".block_count", u32(c.n_layers));
  w.add_uint32(a + ".feed_forward_length", u32(c.n_ff));
  w.add_uint32(a + ".attention.head_count", u32(c.n_heads));
  w.add_uint32(a + ".attention.head_count_kv", u32(c.n_kv_heads));
  if (static_cast<std::int64_t>(c.head_dim) * c.n_heads != c.n_embd) {
    w.add_uint32(a + ".attention.key_length", u32(c.head_dim));
    w.add_uint32(a + ".attention.value_length", u32(c.head_dim));
  }
  w.add_float32(a + ".attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_eps));
  w.add_float32(a + ".rope.freq_base", static_cast<float>(c.rope.base));
  w.add_uint32(a + ".rope.dimension_count", u32(c.rope.rotary()));
  if (c.sliding_window > 0) w.add_uint32(a + ".attention.sliding_window", u32(c.sliding_window));
}

/// One tensor of a model file: its name and dims (ne[0] first).
struct tensor_slot {
  std::string name;                 // "blk.3.attn_q.weight"
  std::vector<std::uint64_t> dims;  // [n_in, n_out] for matrices, [n] for vectors
};

/// Every tensor a configuration needs, in the order llama.cpp's converters
/// write them: token_embd, output_norm, output (unless tied), then per block
/// attn_norm, attn_q/k/v (+ biases when qkv_bias), attn_output, ffn_norm,
/// ffn_gate, ffn_down, ffn_up. phi3 fuses Q/K/V into attn_qkv (rows Q, K, V)
/// and the gate into ffn_up (rows gate, then up).
inline std::vector<tensor_slot> model_tensor_slots(const model_config& c) {
  using u64 = std::uint64_t;
  const u64 d = static_cast<u64>(c.n_embd), q = static_cast<u64>(c.q_dim()),
            kv = static_cast<u64>(c.kv_dim()), ff = static_cast<u64>(c.n_ff),
            v = static_cast<u64>(c.n_vocab);
  std::vector<tensor_slot> s = {{"token_embd.weight", {d, v}}, {"output_norm.weight", {d}}};
  if (!c.tied_output) s.push_back({"output.weight", {d, v}});
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const bool phi3 = c.arch == model_arch::phi3;
    s.push_back({p + "attn_norm.weight", {d}});
    if (phi3) {
      s.push_back({p + "attn_qkv.weight", {d, q + 2 * kv}});
    } else {
      s.push_back({p + "attn_q.weight", {d, q}});
      s.push_back({p + "attn_k.weight", {d, kv}});
      s.push_back({p + "attn_v.weight", {d, kv}});
    }
    if (c.qkv_bias) {
      s.push_back({p + "attn_q.bias", {q}});
      s.push_back({p + "attn_k.bias", {kv}});
      s.push_back({p + "attn_v.bias", {kv}});
    }
    s.push_back({p + "attn_output.weight", {q, d}});
    s.push_back({p + "ffn_norm.weight", {d}});
    if (!phi3) s.push_back({p + "ffn_gate.weight", {d, ff}});
    s.push_back({p + "ffn_down.weight", {ff, d}});
    s.push_back({p + "ffn_up.weight", {d, phi3 ? 2 * ff : ff}});
  }
  return s;
}

/// A llama2.c array under its GGUF name: [product(dims)] floats in the
/// checkpoint's mapping (row-major [out, in] is GGUF's [in, out]).
struct llama2c_tensor {
  tensor_slot slot;
  const float* data = nullptr;
};

/// The checkpoint's arrays with GGUF names, in model_tensor_slots order for
/// its configuration (output.weight = the classifier, only when not shared).
/// No Q/K permutation: llama2.c and GGUF's llama both pair (x[2i], x[2i+1]).
inline std::vector<llama2c_tensor> llama2c_tensors(const llama2c_checkpoint& ck) {
  const model_config c = model_config_from_llama2c(ck.config(), ck.name());
  std::vector<llama2c_tensor> out;
  for (tensor_slot& s : model_tensor_slots(c)) {
    const std::string& n = s.name;
    const float* data = nullptr;
    if (n == "token_embd.weight") {
      data = ck.token_embedding().data;
    } else if (n == "output_norm.weight") {
      data = ck.rms_final().data;
    } else if (n == "output.weight") {
      data = ck.classifier().data;
    } else {  // "blk.<l>.<what>"
      const std::size_t dot = n.find('.', 4);
      const auto l = static_cast<std::size_t>(std::stoul(n.substr(4, dot - 4)));
      const std::string_view what = std::string_view(n).substr(dot + 1);
      const std::pair<std::string_view, llama2c_array> per_layer[] = {
          {"attn_norm.weight", ck.rms_att()}, {"attn_q.weight", ck.wq()},
          {"attn_k.weight", ck.wk()},         {"attn_v.weight", ck.wv()},
          {"attn_output.weight", ck.wo()},    {"ffn_norm.weight", ck.rms_ffn()},
          {"ffn_gate.weight", ck.w1()},       {"ffn_down.weight", ck.w2()},
          {"ffn_up.weight", ck.w3()}};
      for (const auto& [suffix, array] : per_layer)
        if (what == suffix) data = array.layer(l);
      SHIFTROPE_ASSERT(data != nullptr);  // model_tensor_slots names no other tensor
    }
    out.push_back({std::move(s), data});
  }
  return out;
}

/// Elements of a tensor with these dims.
inline std::uint64_t element_count(const std::vector<std::uint64_t>& dims) noexcept {
  std::uint64_t n = 1;
  for (const std::uint64_t d : dims) n *= d;
  return n;
}

}  // namespace shiftrope::tools
