// shiftrope/detail/model/forward.hpp - the forward pass of a Llama-family
// model over a chunk of tokens: embeddings, per layer RMSNorm → Q/K/V →
// keys into the cache → attention (RoPE, STRING or Self-Extend) → output
// projection → SwiGLU FFN, then the logits. model.hpp's session owns the
// state and calls run_chunk; the shapes are in model.hpp's header comment.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <shiftrope/attention.hpp>
#include <shiftrope/attention_self_extend.hpp>
#include <shiftrope/detail/model/ops.hpp>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/kv_cache.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/model_config.hpp>
#include <shiftrope/model_weights.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/rope.hpp>
#include <vector>

namespace shiftrope {

/// Scratch activations for up to max_batch tokens, allocated once.
struct forward_state {
  std::vector<float> x;    ///< [max_batch × n_embd] residual stream
  std::vector<float> xb;   ///< [max_batch × n_embd] normed input of a sub-block / its output
  std::vector<float> q;    ///< [max_batch × q_dim] queries (un-rotated)
  std::vector<float> k;    ///< [max_batch × kv_dim] keys of the new tokens
  std::vector<float> v;    ///< [max_batch × kv_dim] values of the new tokens
  std::vector<float> att;  ///< [max_batch × q_dim] attention output
  std::vector<float> hb;   ///< [max_batch × n_ff] gate, then silu(gate) ⊙ up
  std::vector<float> hb2;  ///< [max_batch × n_ff] up
  /// [max(n_embd, q_dim, n_ff) / 32] one token's matmul input quantized to
  /// int8 (decode with gemv_activations::q8), shared by the products that
  /// read the same input (q, k, v; gate, up)
  std::vector<q8_activation_block> xq;

  forward_state() = default;
  forward_state(const model_config& c, std::size_t max_batch)
      : x(max_batch * c.n_embd),
        xb(x.size()),
        q(max_batch * c.q_dim()),
        k(max_batch * c.kv_dim()),
        v(k.size()),
        att(q.size()),
        hb(max_batch * c.n_ff),
        hb2(hb.size()),
        xq(static_cast<std::size_t>(std::max({c.n_embd, c.q_dim(), c.n_ff})) /
               q8_activation_block::size +
           1) {}
};

/// Where the forward pass spends its time, accumulated over every call of a
/// session given one (session::set_timing); left untouched otherwise. The
/// clock is read around each attention layer and each matrix product only
/// when a timing is attached, so an unobserved session pays nothing.
struct forward_timing {
  double total = 0;          ///< seconds in forward chunks, all work included
  double attention = 0;      ///< keys rotated into the cache and the attention kernel
  double matmul = 0;         ///< products with weight matrices (layers and classifier)
  std::uint64_t tokens = 0;  ///< tokens fed
  std::uint64_t chunks = 0;  ///< forward chunks run

  /// Seconds in neither attention nor matrix products: embeddings, norms,
  /// biases, SwiGLU, residual additions.
  [[nodiscard]] double other() const noexcept { return total - attention - matmul; }
};

namespace detail {

/// Adds the seconds between construction and destruction to *sink (nothing
/// when sink is null: no clock is read).
class stopwatch {
 public:
  explicit stopwatch(double* sink) noexcept : sink_(sink) {
    if (sink_ != nullptr) t0_ = std::chrono::steady_clock::now();
  }
  ~stopwatch() {
    if (sink_ != nullptr)
      *sink_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  stopwatch(const stopwatch&) = delete;
  stopwatch& operator=(const stopwatch&) = delete;

 private:
  double* sink_;
  std::chrono::steady_clock::time_point t0_{};
};

/// Which logit rows a chunk computes (the last chunk of a forward call, or
/// every chunk when all rows are wanted).
enum class chunk_rows { none, last, all };

/// Everything a forward chunk reads and writes besides its tokens.
template <class KV>
struct forward_pass {
  const model_config& config;
  const model_weights& weights;
  forward_state& state;
  const rope_table<float>& rope;  // cos/sin for positions [0, n_ctx)
  kv_storage<KV>& kv;
  std::int64_t n_ctx;                 // positions the cache holds
  const attention_params& attention;  // shape, scales and threads of every call
  const remap& positions;             // RoPE or STRING (identity when self_extend)
  const std::optional<self_extend_remap>& self_extend;
  KV* grouped_k;  // Self-Extend: [n_layers × n_kv_heads × n_ctx × head_dim] keys at floor(n/G)
  float* grouped_row;                    // Self-Extend: [head_dim] one key being rotated
  std::vector<std::byte>& attn_scratch;  // the kernel's scratch, grown on demand
  forward_timing* timing;                // where time is accumulated, or null
  gemv_activations decode_activations;   // float or int8 x in one-token products
};

/// The element type of a kv_storage.
template <class S>
struct kv_element;
template <class T>
struct kv_element<kv_storage<T>> {
  using type = T;
};

// Rotates the chunk's keys at their positions, stores K and V in the cache,
// then attends every query row of the chunk to positions [0, its own].
template <class KV>
void attention_layer(const forward_pass<KV>& f, int layer, std::size_t n, std::int64_t pos0) {
  const model_config& c = f.config;
  const std::size_t hd = static_cast<std::size_t>(c.head_dim);
  const std::size_t kvd = static_cast<std::size_t>(c.kv_dim());
  forward_state& s = f.state;
  kv_storage<KV>& kv = f.kv;
  const std::optional<self_extend_remap>& se = f.self_extend;
  // Self-Extend only: this layer's keys rotated at floor(n/G), same layout as kv.k(layer, 0).
  KV* grouped = se ? f.grouped_k + static_cast<std::size_t>(layer) *
                                       static_cast<std::size_t>(c.n_kv_heads) *
                                       static_cast<std::size_t>(f.n_ctx) * hd
                   : nullptr;
  for (std::size_t t = 0; t < n; ++t) {
    const std::int64_t pos = pos0 + static_cast<std::int64_t>(t);
    for (int h = 0; h < c.n_kv_heads; ++h) {
      float* k = &s.k[t * kvd + static_cast<std::size_t>(h) * hd];
      const float* v = &s.v[t * kvd + static_cast<std::size_t>(h) * hd];
      const std::size_t at = static_cast<std::size_t>(pos) * kv.pos_stride();
      if constexpr (kv_storage<KV>::quantized) {  // q8_0: rotate, then quantize (kv_q8.hpp)
        f.rope.rotate(k, pos);
        quantize_kv_q8(k, kv.k(layer, h) + at, kv.k_scale(layer, h) + at / kv_q8_block, hd);
        quantize_kv_q8(v, kv.v(layer, h) + at, kv.v_scale(layer, h) + at / kv_q8_block, hd);
      } else {
        if (se) {  // Self-Extend: a second copy of the key, rotated at floor(pos/G)
          std::copy(k, k + hd, f.grouped_row);
          f.rope.rotate(f.grouped_row, se->grouped_key_pos(pos));
          simd::convert_row<KV>(f.grouped_row,
                                grouped + static_cast<std::size_t>(h) * kv.head_stride() + at, hd);
        }
        f.rope.rotate(k, pos);
        simd::convert_row<KV>(k, kv.k(layer, h) + at, hd);
        simd::convert_row<KV>(v, kv.v(layer, h) + at, hd);
      }
    }
  }
  // att [n × n_heads × head_dim]: the fused kernel rotates q per key segment.
  kv_cache_view<KV> view = kv_cache_view<KV>::head_major(
      kv.k(layer, 0), kv.v(layer, 0), f.n_ctx, c.head_dim, pos0 + static_cast<std::int64_t>(n));
  if constexpr (kv_storage<KV>::quantized) {
    // The session refuses Self-Extend with a q8_0 cache.
    view = view.with_scales(kv.k_scale(layer, 0), kv.v_scale(layer, 0));
  } else if (se) {
    attention_self_extend<float, KV>(f.attention, *se, f.rope, s.q.data(), pos0,
                                     static_cast<std::int64_t>(n), view, grouped, s.att.data());
    return;
  }
  attention<float, KV>(f.attention, f.positions, f.rope, s.q.data(), pos0,
                       static_cast<std::int64_t>(n), view, s.att.data(), f.attn_scratch.data(),
                       f.attn_scratch.size());
}

// One chunk of n <= max_batch tokens at positions [pos0, pos0 + n).
template <class KV>
void run_chunk(const forward_pass<KV>& f, const int* tokens, std::size_t n, std::int64_t pos0,
               float* logits, chunk_rows rows) {
  namespace ops = model_ops;
  const model_config& c = f.config;
  const model_weights& w = f.weights;
  const std::size_t d = static_cast<std::size_t>(c.n_embd);
  const std::size_t qd = static_cast<std::size_t>(c.q_dim());
  const std::size_t kvd = static_cast<std::size_t>(c.kv_dim());
  const std::size_t ff = static_cast<std::size_t>(c.n_ff);
  const float eps = static_cast<float>(c.rms_eps);
  const int nt = f.attention.n_threads;
  forward_state& s = f.state;
  forward_timing* const timing = f.timing;
  const stopwatch whole(timing ? &timing->total : nullptr);
  double* const mm = timing ? &timing->matmul : nullptr;
  // One token with int8 activations: x is quantized once (into s.xq) for
  // all the products that read it; quantize(x) is called before them, and a
  // product takes the quantized copy when its weight type has an int8 kernel.
  const bool q8 = n == 1 && f.decode_activations == gemv_activations::q8;
  const float* quantized_from = nullptr;  // the x that s.xq holds, or null
  const auto quantize = [&](const float* x, std::size_t n_in) {
    quantized_from = nullptr;
    if (!q8 || n_in % q8_activation_block::size != 0) return;
    const stopwatch sw(mm);
    quantize_activations(x, n_in, s.xq.data());
    quantized_from = x;
  };
  const auto product = [&](const weight_view& wv, const float* x, std::size_t x_stride, float* y,
                           std::size_t y_stride, std::size_t n_rows) {
    const stopwatch sw(mm);
    if (x == quantized_from && has_q8_kernel(wv.type))
      matvec_q8(wv, s.xq.data(), y, nt);
    else
      matmul(wv, x, x_stride, y, y_stride, n_rows, nt);
  };
  if (timing != nullptr) {
    timing->tokens += n;
    ++timing->chunks;
  }

  // The attention scratch is the same for every layer of the chunk; it grows
  // (rarely: its size depends on the batch and the thread plan, not on the
  // square of the length) and is then reused.
  const std::size_t attn_bytes =
      attention_scratch_bytes<float>(f.attention, pos0, static_cast<std::int64_t>(n));
  if (f.attn_scratch.size() < attn_bytes) f.attn_scratch.resize(attn_bytes);

  // x [n × d] = token_embd[tokens]
  for (std::size_t t = 0; t < n; ++t)
    ops::weight_row(w.token_embd, static_cast<std::size_t>(tokens[t]), &s.x[t * d]);

  for (int l = 0; l < c.n_layers; ++l) {
    const layer_weights& L = w.layers[static_cast<std::size_t>(l)];
    // xb = rmsnorm(x) · attn_norm;  q, k, v = xb · W{q,k,v}ᵀ (+ bias)
    for (std::size_t t = 0; t < n; ++t)
      ops::rmsnorm(&s.x[t * d], L.attn_norm, &s.xb[t * d], d, eps);
    quantize(s.xb.data(), d);
    product(L.wq, s.xb.data(), d, s.q.data(), qd, n);
    product(L.wk, s.xb.data(), d, s.k.data(), kvd, n);
    product(L.wv, s.xb.data(), d, s.v.data(), kvd, n);
    if (L.bq != nullptr) {
      for (std::size_t t = 0; t < n; ++t) {
        ops::add(&s.q[t * qd], L.bq, qd);
        ops::add(&s.k[t * kvd], L.bk, kvd);
        ops::add(&s.v[t * kvd], L.bv, kvd);
      }
    }
    {
      const stopwatch sw(timing ? &timing->attention : nullptr);
      attention_layer(f, l, n, pos0);  // att [n × qd]
    }
    // x += att · Woᵀ
    quantize(s.att.data(), qd);
    product(L.wo, s.att.data(), qd, s.xb.data(), d, n);
    for (std::size_t t = 0; t < n; ++t) ops::add(&s.x[t * d], &s.xb[t * d], d);
    // x += (silu(xb · W1ᵀ) ⊙ (xb · W3ᵀ)) · W2ᵀ,  xb = rmsnorm(x) · ffn_norm
    for (std::size_t t = 0; t < n; ++t) ops::rmsnorm(&s.x[t * d], L.ffn_norm, &s.xb[t * d], d, eps);
    quantize(s.xb.data(), d);
    product(L.w_gate, s.xb.data(), d, s.hb.data(), ff, n);
    product(L.w_up, s.xb.data(), d, s.hb2.data(), ff, n);
    for (std::size_t t = 0; t < n; ++t) ops::swiglu(&s.hb[t * ff], &s.hb2[t * ff], ff);
    quantize(s.hb.data(), ff);
    product(L.w_down, s.hb.data(), ff, s.xb.data(), d, n);
    for (std::size_t t = 0; t < n; ++t) ops::add(&s.x[t * d], &s.xb[t * d], d);
  }

  if (rows == chunk_rows::none) return;
  // logits [rows × n_vocab] = (rmsnorm(x) · output_norm) · Woutᵀ
  const std::size_t first = rows == chunk_rows::all ? 0 : n - 1;
  for (std::size_t t = first; t < n; ++t)
    ops::rmsnorm(&s.x[t * d], w.output_norm, &s.xb[t * d], d, eps);
  quantize(&s.xb[first * d], d);
  product(w.output, &s.xb[first * d], d, logits, static_cast<std::size_t>(c.n_vocab), n - first);
}

// Compile time, for programs with many translation units that run sessions:
// define SHIFTROPE_EXTERN_FORWARD in all of them and
// SHIFTROPE_INSTANTIATE_FORWARD in exactly one (before any shiftrope
// header), and the forward pass for the four KV cache types is compiled
// once instead of once per translation unit. Behaviour is unchanged.
#if defined(SHIFTROPE_INSTANTIATE_FORWARD) || defined(SHIFTROPE_EXTERN_FORWARD)
#ifdef SHIFTROPE_INSTANTIATE_FORWARD
#define SHIFTROPE_FORWARD_INSTANCE(KV)                                                        \
  template void run_chunk<KV>(const forward_pass<KV>&, const int*, std::size_t, std::int64_t, \
                              float*, chunk_rows);
#else
#define SHIFTROPE_FORWARD_INSTANCE(KV)                                                 \
  extern template void run_chunk<KV>(const forward_pass<KV>&, const int*, std::size_t, \
                                     std::int64_t, float*, chunk_rows);
#endif
SHIFTROPE_FORWARD_INSTANCE(float)
SHIFTROPE_FORWARD_INSTANCE(f16)
SHIFTROPE_FORWARD_INSTANCE(bf16)
SHIFTROPE_FORWARD_INSTANCE(std::int8_t)
#undef SHIFTROPE_FORWARD_INSTANCE
#endif

}  // namespace detail
}  // namespace shiftrope
