// tools/gguf_model.hpp - what the tools (and the model tests) share to write
// Llama-family GGUF model files with the project's gguf_writer:
//   - the architecture metadata, keyed as real files carry it;
//   - the tensor names and dims of a configuration (GGUF order: ne[0] = row
//     length = input dimension), and the llama2.c checkpoint's arrays under
//     those names;
//   - float rows encoded as F32, F16, BF16 or Q8_0 (the GGUF rule, so a file
//     matches llama.cpp's bit for bit).
// Not part of the library: tools/ and tests/ include it by path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/model_config.hpp>
#include <shiftrope/numeric.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shiftrope::tools {

/// "f32", "f16", "bf16", "q8_0" -> weight_type; throws naming the value.
inline weight_type parse_weight_type(std::string_view s) {
  for (const weight_type t :
       {weight_type::f32, weight_type::f16, weight_type::bf16, weight_type::q8_0})
    if (s == weight_type_name(t)) return t;
  fail("weight type: expected f32, f16, bf16 or q8_0, got \"", s, "\"");
}

/// The GGUF tensor type of a weight type.
inline ggml_type to_ggml_type(weight_type t) noexcept {
  return weight_info(t).ggml;
}

/// The storage of a tensor with dims `dims` when matrices are asked to be
/// `matrices`: 2-D tensors take it when their row length (dims[0]) is a whole
/// number of its blocks, everything else stays F32 (norms, biases, and Q8_0
/// matrices whose rows are not a multiple of 32).
inline ggml_type storage_type(weight_type matrices, const std::vector<std::uint64_t>& dims) {
  const ggml_type t = to_ggml_type(matrices);
  if (dims.size() != 2 || ggml_row_bytes(t, dims[0]) == 0) return ggml_type::f32;
  return t;
}

/// Encodes n floats (n a multiple of 32 for Q8_0) as type t into dst, which
/// holds ggml_row_bytes(t, n) bytes. Throws for another type, and (Q8_0) for
/// non-finite values.
inline void encode_floats(ggml_type t, const float* src, std::size_t n, std::uint8_t* dst) {
  switch (t) {
    case ggml_type::f32:
      if (n != 0) std::memcpy(dst, src, n * sizeof(float));
      return;
    case ggml_type::f16:
    case ggml_type::bf16:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t bits = t == ggml_type::f16 ? to_f16(src[i]).bits : to_bf16(src[i]).bits;
        std::memcpy(dst + 2 * i, &bits, 2);
      }
      return;
    case ggml_type::q8_0: {
      // Blocks go through an aligned buffer: dst is a byte stream.
      q8_0_block block;
      if (n % q8_0_block::size != 0)
        fail("encode_floats: ", n, " values are not a whole number of Q8_0 blocks");
      for (std::size_t b = 0; b < n / q8_0_block::size; ++b) {
        quantize_q8_0(src + b * q8_0_block::size, &block, q8_0_block::size);
        std::memcpy(dst + b * sizeof(q8_0_block), &block, sizeof(q8_0_block));
      }
      return;
    }
    default:
      fail("encode_floats: cannot encode ", ggml_type_name(t), " (only F32, F16, BF16, Q8_0)");
  }
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
