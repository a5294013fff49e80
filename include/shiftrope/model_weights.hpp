// shiftrope/model_weights.hpp - non-owning views of a model's weights in a
// mapped file (GGUF or llama2.c), every tensor checked against the
// configuration: present, exact dims, a supported type.
//
// Fused tensors (phi3: attn_qkv holding the rows of Q, then K, then V;
// ffn_up holding the rows of the gate, then the up projection) are split
// into row-range views: each part is still a view into the file.
//
// Matrices stay where the file has them (any type of the table in
// quant.hpp, read by matmul; block types have every f16 scale checked
// finite at load); vectors (norms, biases) are used as float: F32 ones are viewed in
// place, F16/BF16 ones are converted once into storage the weights own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/model_config.hpp>
#include <string>
#include <type_traits>
#include <vector>

namespace shiftrope {

/// One transformer block. Matrices are [n_out × n_in] row-major.
struct layer_weights {
  const float* attn_norm = nullptr;  ///< [n_embd] RMSNorm gain before attention
  weight_view wq;                    ///< [n_heads·head_dim × n_embd]
  weight_view wk;                    ///< [n_kv_heads·head_dim × n_embd]
  weight_view wv;                    ///< [n_kv_heads·head_dim × n_embd]
  const float* bq = nullptr;         ///< [n_heads·head_dim] or null (qwen2 biases)
  const float* bk = nullptr;         ///< [n_kv_heads·head_dim] or null
  const float* bv = nullptr;         ///< [n_kv_heads·head_dim] or null
  weight_view wo;                    ///< [n_embd × n_heads·head_dim]
  const float* ffn_norm = nullptr;   ///< [n_embd] RMSNorm gain before the feed-forward
  weight_view w_gate;                ///< w1 [n_ff × n_embd]
  weight_view w_up;                  ///< w3 [n_ff × n_embd]
  weight_view w_down;                ///< w2 [n_embd × n_ff]
};

/// All weights of a model: views into the file plus the few vectors that had
/// to be converted to float (owned here; moving keeps the pointers valid).
struct model_weights {
  weight_view token_embd;                       ///< [n_vocab × n_embd] (rows looked up, any type)
  std::vector<layer_weights> layers;            ///< [n_layers]
  const float* output_norm = nullptr;           ///< [n_embd]
  weight_view output;                           ///< [n_vocab × n_embd]: token_embd when tied
  std::vector<std::unique_ptr<float[]>> owned;  ///< converted vectors the views point into
};

namespace detail {

/// ggml type -> matmul weight type (the table in quant.hpp); refuses the
/// others naming the tensor and its type.
inline weight_type gguf_weight_type(const gguf_file& f, const gguf_tensor& t) {
  weight_type w{};
  if (!weight_type_of_ggml(t.type, w))
    fail(f.name(), ": tensor '", t.name, "' has type ", ggml_type_name(t.type),
         ", which shiftrope does not support (", supported_ggml_types(), ")");
  return w;
}

/// Refuses a block-quantized matrix with a non-finite f16 scale (d, or the
/// minimum's scale) in any block: one pass over the blocks at load, naming
/// the tensor, the row and the block, so that no NaN reaches the logits.
inline void gguf_check_scales(const gguf_file& f, const std::string& name, const weight_view& w) {
  visit_weight_type(w.type, [&](auto tag) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    if constexpr (is_block_type_v<T>) {
      const std::size_t per_row = row_units_of<T>(w.n_in);
      const std::ptrdiff_t bad =
          first_nonfinite_scale(static_cast<const T*>(w.data), w.n_out * per_row);
      if (bad >= 0) {
        const std::size_t b = static_cast<std::size_t>(bad);
        fail(f.name(), ": tensor '", name, "' (", weight_type_name(w.type),
             ") has a non-finite scale in row ", b / per_row, ", block ", b % per_row);
      }
    }
  });
}

/// Looks up a tensor and checks its dims exactly (ne[0] first).
inline const gguf_tensor& gguf_checked_tensor(const gguf_file& f, const std::string& name,
                                              const std::vector<std::uint64_t>& dims) {
  const gguf_tensor* t = f.find_tensor(name);
  if (t == nullptr) fail(f.name(), ": tensor '", name, "' is missing");
  if (t->dims != dims)
    fail(f.name(), ": tensor '", name, "' has dims ", dims_string(t->dims), ", expected ",
         dims_string(dims));
  return *t;
}

/// A matrix [n_out × n_in] (GGUF dims [n_in, n_out]) as a weight_view.
inline weight_view gguf_matrix(const gguf_file& f, const std::string& name, int n_out, int n_in) {
  const gguf_tensor& t = gguf_checked_tensor(
      f, name, {static_cast<std::uint64_t>(n_in), static_cast<std::uint64_t>(n_out)});
  weight_view w{t.data, gguf_weight_type(f, t), static_cast<std::size_t>(n_out),
                static_cast<std::size_t>(n_in)};
  try {
    w.validate();
  } catch (const error& e) {
    fail(f.name(), ": tensor '", name, "': ", e.what());
  }
  gguf_check_scales(f, name, w);
  return w;
}

/// A vector of n floats: in place when F32 and aligned, else converted into `owned`.
inline const float* gguf_vector(const gguf_file& f, const std::string& name, int n,
                                std::vector<std::unique_ptr<float[]>>& owned) {
  const gguf_tensor& t = gguf_checked_tensor(f, name, {static_cast<std::uint64_t>(n)});
  if (t.type == ggml_type::f32 && reinterpret_cast<std::uintptr_t>(t.data) % alignof(float) == 0)
    return reinterpret_cast<const float*>(t.data);
  const std::vector<float> v = gguf_vector_as_float(f, t);  // refuses other types
  owned.push_back(std::make_unique<float[]>(v.size()));
  std::copy(v.begin(), v.end(), owned.back().get());
  return owned.back().get();
}

}  // namespace detail

/// Views of every weight of a GGUF model with configuration `c` (from
/// model_config_from_gguf). Throws naming the file and the tensor: missing,
/// dims other than expected (both listed; for a fused tensor, the dims the
/// head counts and n_ff give), unsupported type. The classifier is
/// token_embd when the file has no output.weight (c.tied_output).
[[nodiscard]] inline model_weights load_weights(const gguf_file& f, const model_config& c) {
  using detail::gguf_matrix;
  using detail::gguf_vector;
  model_weights w;
  w.token_embd = gguf_matrix(f, "token_embd.weight", c.n_vocab, c.n_embd);
  w.output_norm = gguf_vector(f, "output_norm.weight", c.n_embd, w.owned);
  w.output = c.tied_output ? w.token_embd : gguf_matrix(f, "output.weight", c.n_vocab, c.n_embd);
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    layer_weights& L = w.layers[static_cast<std::size_t>(l)];
    L.attn_norm = gguf_vector(f, p + "attn_norm.weight", c.n_embd, w.owned);
    const std::size_t qd = static_cast<std::size_t>(c.q_dim());
    const std::size_t kvd = static_cast<std::size_t>(c.kv_dim());
    const std::size_t ff = static_cast<std::size_t>(c.n_ff);
    if (c.arch == model_arch::phi3) {  // [q_dim + 2·kv_dim × n_embd]: rows Q, K, V
      const weight_view qkv =
          gguf_matrix(f, p + "attn_qkv.weight", c.q_dim() + 2 * c.kv_dim(), c.n_embd);
      L.wq = qkv.rows(0, qd);
      L.wk = qkv.rows(qd, kvd);
      L.wv = qkv.rows(qd + kvd, kvd);
    } else {
      L.wq = gguf_matrix(f, p + "attn_q.weight", c.q_dim(), c.n_embd);
      L.wk = gguf_matrix(f, p + "attn_k.weight", c.kv_dim(), c.n_embd);
      L.wv = gguf_matrix(f, p + "attn_v.weight", c.kv_dim(), c.n_embd);
    }
    if (c.qkv_bias) {
      L.bq = gguf_vector(f, p + "attn_q.bias", c.q_dim(), w.owned);
      L.bk = gguf_vector(f, p + "attn_k.bias", c.kv_dim(), w.owned);
      L.bv = gguf_vector(f, p + "attn_v.bias", c.kv_dim(), w.owned);
    }
    L.wo = gguf_matrix(f, p + "attn_output.weight", c.n_embd, c.q_dim());
    L.ffn_norm = gguf_vector(f, p + "ffn_norm.weight", c.n_embd, w.owned);
    if (c.arch == model_arch::phi3) {  // [2·n_ff × n_embd]: rows gate, then up
      const weight_view gate_up = gguf_matrix(f, p + "ffn_up.weight", 2 * c.n_ff, c.n_embd);
      L.w_gate = gate_up.rows(0, ff);
      L.w_up = gate_up.rows(ff, ff);
    } else {
      L.w_gate = gguf_matrix(f, p + "ffn_gate.weight", c.n_ff, c.n_embd);
      L.w_up = gguf_matrix(f, p + "ffn_up.weight", c.n_ff, c.n_embd);
    }
    L.w_down = gguf_matrix(f, p + "ffn_down.weight", c.n_embd, c.n_ff);
  }
  return w;
}

/// Views of every weight of a llama2.c checkpoint (all F32, in the mapping).
/// The reader has already checked the file size against the header.
[[nodiscard]] inline model_weights load_weights(const llama2c_checkpoint& ck,
                                                const model_config& c) {
  const auto matrix = [](const float* data, int n_out, int n_in) {
    return weight_view{data, weight_type::f32, static_cast<std::size_t>(n_out),
                       static_cast<std::size_t>(n_in)};
  };
  model_weights w;
  w.token_embd = matrix(ck.token_embedding().data, c.n_vocab, c.n_embd);
  w.output_norm = ck.rms_final().data;
  w.output = matrix(ck.classifier().data, c.n_vocab, c.n_embd);
  w.layers.resize(static_cast<std::size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    const std::size_t i = static_cast<std::size_t>(l);
    layer_weights& L = w.layers[i];
    L.attn_norm = ck.rms_att().layer(i);
    L.wq = matrix(ck.wq().layer(i), c.q_dim(), c.n_embd);
    L.wk = matrix(ck.wk().layer(i), c.kv_dim(), c.n_embd);
    L.wv = matrix(ck.wv().layer(i), c.kv_dim(), c.n_embd);
    L.wo = matrix(ck.wo().layer(i), c.n_embd, c.q_dim());
    L.ffn_norm = ck.rms_ffn().layer(i);
    L.w_gate = matrix(ck.w1().layer(i), c.n_ff, c.n_embd);
    L.w_up = matrix(ck.w3().layer(i), c.n_ff, c.n_embd);
    L.w_down = matrix(ck.w2().layer(i), c.n_embd, c.n_ff);
  }
  return w;
}

}  // namespace shiftrope
