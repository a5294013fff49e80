// shiftrope/detail/session_impl.hpp - definitions of model.hpp's session:
// construction, input checks and the forward pass. Included by model.hpp;
// not for direct use.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <variant>
#include <vector>

#include "../attention.hpp"
#include "../attention_self_extend.hpp"
#include "../model.hpp"

namespace shiftrope {

namespace detail {

/// n_ctx with the default applied: min(train_len, 4096).
inline std::int64_t session_n_ctx(const model_config& c, const session_params& p) {
  p.validate();
  return p.n_ctx > 0 ? p.n_ctx : std::min<std::int64_t>(c.train_len, 4096);
}

inline kv_cache_params session_cache_params(const model_config& c, const session_params& p) {
  kv_cache_params k;
  k.n_layers = c.n_layers;
  k.n_kv_heads = c.n_kv_heads;
  k.head_dim = c.head_dim;
  k.n_ctx = session_n_ctx(c, p);
  k.type = p.kv;
  k.max_bytes = p.max_kv_bytes;
  return k;
}

/// The element type of a kv_storage.
template <class S>
struct kv_element;
template <class T>
struct kv_element<kv_storage<T>> {
  using type = T;
};

}  // namespace detail

inline session::session(const model& m, const session_params& params)
    : model_(&m),
      params_(params),
      train_len_(params.train_len > 0 ? params.train_len : m.config().train_len),
      cache_(detail::session_cache_params(m.config(), params)) {
  const model_config& c = m.config();
  max_batch_ = static_cast<std::size_t>(std::min<std::int64_t>(params_.max_batch, n_ctx()));
  rope_ = rope_table<float>(c.rope, n_ctx());
  state_ = forward_state(c, max_batch_);
  attention_.n_heads = c.n_heads;
  attention_.n_kv_heads = c.n_kv_heads;
  attention_.head_dim = c.head_dim;
  attention_.softmax_scale = 0.0;  // 1 / sqrt(head_dim)
  attention_.n_threads = params_.n_threads;
  apply_positions();
}

// Checks the position fields of params_ against the training length, sets
// the logit scale and allocates Self-Extend's grouped keys when needed.
inline void session::apply_positions() {
  const model_config& c = config();
  if (const auto* s = std::get_if<string_remap>(&params_.position_remap)) {
    try {
      s->validate(train_len_);
    } catch (const error& e) {
      fail("session: ", e.what(),
           params_.train_len > 0 ? " (train_len given)" : " (train_len from the model file)");
    }
  }
  const double yarn = rope_attention_factor(c.rope);
  logit_scale_ = params_.logit_scale * yarn * yarn;
  attention_.logit_scale = logit_scale_;
  attention_.validate();
  if (!params_.self_extend) return;
  const std::size_t elements =
      static_cast<std::size_t>(cache_.bytes() / 2 / (cache_.type() == kv_type::f32 ? 4 : 2));
  if (cache_.bytes() + cache_.bytes() / 2 > params_.max_kv_bytes)
    fail("session: self_extend needs a second key cache of ", cache_.bytes() / 2,
         " bytes next to the KV cache's ", cache_.bytes(),
         ", above session_params.max_kv_bytes = ", params_.max_kv_bytes);
  std::visit(
      [&](const auto& kv) {
        using KV = typename detail::kv_element<std::decay_t<decltype(kv)>>::type;
        using grouped = std::vector<KV>;
        if (!std::holds_alternative<grouped>(grouped_k_) ||
            std::get<grouped>(grouped_k_).size() != elements)
          grouped_k_ = grouped(elements);
      },
      cache_.typed());
  grouped_row_.resize(static_cast<std::size_t>(c.head_dim));
}

inline void session::set_positions(const remap& position_remap,
                                   const std::optional<self_extend_remap>& self_extend,
                                   double logit_scale) {
  session_params p = params_;
  p.position_remap = position_remap;
  p.self_extend = self_extend;
  p.logit_scale = logit_scale;
  p.validate();
  const session_params old = params_;
  params_ = p;
  try {
    apply_positions();
  } catch (...) {
    params_ = old;
    apply_positions();
    throw;
  }
  n_past_ = 0;
}

template <class KV>
KV* session::grouped_keys(int layer) noexcept {
  const model_config& c = config();
  return std::get<std::vector<KV>>(grouped_k_).data() +
         static_cast<std::size_t>(layer) * static_cast<std::size_t>(c.n_kv_heads) *
             static_cast<std::size_t>(n_ctx()) * static_cast<std::size_t>(c.head_dim);
}

inline void session::check_input(const int* tokens, std::size_t n_tokens,
                                 std::int64_t start_pos) const {
  if (n_tokens == 0) fail("session::forward: no tokens (n_tokens = 0)");
  if (tokens == nullptr) fail("session::forward: tokens is null");
  const int n_vocab = config().n_vocab;
  for (std::size_t i = 0; i < n_tokens; ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      fail("session::forward: token id ", tokens[i], " at index ", i,
           " is outside the vocabulary [0, ", n_vocab, ")");
  if (start_pos < 0 || start_pos > n_past_)
    fail("session::forward: start_pos = ", start_pos, " must be in [0, n_past = ", n_past_,
         "] (no gaps in the KV cache)");
  if (static_cast<std::uint64_t>(n_tokens) > static_cast<std::uint64_t>(n_ctx() - start_pos))
    fail("session::forward: positions [", start_pos, ", ", start_pos, " + ", n_tokens,
         ") exceed the context (n_ctx = ", n_ctx(), ")");
}

inline void session::forward(const int* tokens, std::size_t n_tokens, std::int64_t start_pos,
                             float* logits, logits_rows rows) {
  check_input(tokens, n_tokens, start_pos);
  if (logits == nullptr) fail("session::forward: logits is null");
  const std::size_t n_vocab = static_cast<std::size_t>(config().n_vocab);
  std::visit(
      [&](auto& kv) {
        for (std::size_t done = 0; done < n_tokens; done += max_batch_) {
          const std::size_t n = std::min(max_batch_, n_tokens - done);
          const bool last_chunk = done + n == n_tokens;
          const chunk_rows cr = rows == logits_rows::all ? chunk_rows::all
                                : last_chunk             ? chunk_rows::last
                                                         : chunk_rows::none;
          float* out = rows == logits_rows::all ? logits + done * n_vocab : logits;
          run_chunk(kv, tokens + done, n, start_pos + static_cast<std::int64_t>(done), out, cr);
        }
      },
      cache_.typed());
  n_past_ = start_pos + static_cast<std::int64_t>(n_tokens);
}

// One chunk of n <= max_batch tokens at positions [pos0, pos0 + n).
template <class KV>
void session::run_chunk(kv_storage<KV>& kv, const int* tokens, std::size_t n, std::int64_t pos0,
                        float* logits, chunk_rows rows) {
  namespace ops = detail::model_ops;
  const model_config& c = config();
  const model_weights& w = model_->weights();
  const std::size_t d = static_cast<std::size_t>(c.n_embd);
  const std::size_t qd = static_cast<std::size_t>(c.q_dim());
  const std::size_t kvd = static_cast<std::size_t>(c.kv_dim());
  const std::size_t ff = static_cast<std::size_t>(c.n_ff);
  const float eps = static_cast<float>(c.rms_eps);
  const int nt = params_.n_threads;
  forward_state& s = state_;

  // The attention scratch is the same for every layer of the chunk; it grows
  // (rarely: its size depends on the batch and the thread plan, not on the
  // square of the length) and is then reused.
  const std::size_t attn_bytes =
      attention_scratch_bytes<float>(attention_, pos0, static_cast<std::int64_t>(n));
  if (attn_scratch_.size() < attn_bytes) attn_scratch_.resize(attn_bytes);

  // x [n × d] = token_embd[tokens]
  for (std::size_t t = 0; t < n; ++t)
    ops::weight_row(w.token_embd, static_cast<std::size_t>(tokens[t]), &s.x[t * d]);

  for (int l = 0; l < c.n_layers; ++l) {
    const layer_weights& L = w.layers[static_cast<std::size_t>(l)];
    // xb = rmsnorm(x) · attn_norm;  q, k, v = xb · W{q,k,v}ᵀ (+ bias)
    for (std::size_t t = 0; t < n; ++t)
      ops::rmsnorm(&s.x[t * d], L.attn_norm, &s.xb[t * d], d, eps);
    matmul(L.wq, s.xb.data(), d, s.q.data(), qd, n, nt);
    matmul(L.wk, s.xb.data(), d, s.k.data(), kvd, n, nt);
    matmul(L.wv, s.xb.data(), d, s.v.data(), kvd, n, nt);
    if (L.bq != nullptr) {
      for (std::size_t t = 0; t < n; ++t) {
        ops::add(&s.q[t * qd], L.bq, qd);
        ops::add(&s.k[t * kvd], L.bk, kvd);
        ops::add(&s.v[t * kvd], L.bv, kvd);
      }
    }
    attention_layer(kv, l, n, pos0);  // att [n × qd]
    // x += att · Woᵀ
    matmul(L.wo, s.att.data(), qd, s.xb.data(), d, n, nt);
    for (std::size_t t = 0; t < n; ++t) ops::add(&s.x[t * d], &s.xb[t * d], d);
    // x += (silu(xb · W1ᵀ) ⊙ (xb · W3ᵀ)) · W2ᵀ,  xb = rmsnorm(x) · ffn_norm
    for (std::size_t t = 0; t < n; ++t) ops::rmsnorm(&s.x[t * d], L.ffn_norm, &s.xb[t * d], d, eps);
    matmul(L.w_gate, s.xb.data(), d, s.hb.data(), ff, n, nt);
    matmul(L.w_up, s.xb.data(), d, s.hb2.data(), ff, n, nt);
    for (std::size_t t = 0; t < n; ++t) ops::swiglu(&s.hb[t * ff], &s.hb2[t * ff], ff);
    matmul(L.w_down, s.hb.data(), ff, s.xb.data(), d, n, nt);
    for (std::size_t t = 0; t < n; ++t) ops::add(&s.x[t * d], &s.xb[t * d], d);
  }

  if (rows == chunk_rows::none) return;
  // logits [rows × n_vocab] = (rmsnorm(x) · output_norm) · Woutᵀ
  const std::size_t first = rows == chunk_rows::all ? 0 : n - 1;
  for (std::size_t t = first; t < n; ++t)
    ops::rmsnorm(&s.x[t * d], w.output_norm, &s.xb[t * d], d, eps);
  matmul(w.output, &s.xb[first * d], d, logits, static_cast<std::size_t>(c.n_vocab), n - first, nt);
}

// Rotates the chunk's keys at their positions, stores K and V in the cache,
// then attends every query row of the chunk to positions [0, its own].
template <class KV>
void session::attention_layer(kv_storage<KV>& kv, int layer, std::size_t n, std::int64_t pos0) {
  const model_config& c = config();
  const std::size_t hd = static_cast<std::size_t>(c.head_dim);
  const std::size_t kvd = static_cast<std::size_t>(c.kv_dim());
  forward_state& s = state_;
  const std::optional<self_extend_remap>& se = params_.self_extend;
  for (std::size_t t = 0; t < n; ++t) {
    const std::int64_t pos = pos0 + static_cast<std::int64_t>(t);
    for (int h = 0; h < c.n_kv_heads; ++h) {
      float* k = &s.k[t * kvd + static_cast<std::size_t>(h) * hd];
      const std::size_t at = static_cast<std::size_t>(pos) * kv.pos_stride();
      if (se) {  // Self-Extend: a second copy of the key, rotated at floor(pos/G)
        std::copy(k, k + hd, grouped_row_.data());
        rope_.rotate(grouped_row_.data(), se->grouped_key_pos(pos));
        detail::simd::convert_row<KV>(
            grouped_row_.data(),
            grouped_keys<KV>(layer) + static_cast<std::size_t>(h) * kv.head_stride() + at, hd);
      }
      rope_.rotate(k, pos);
      detail::simd::convert_row<KV>(k, kv.k(layer, h) + at, hd);
      detail::simd::convert_row<KV>(&s.v[t * kvd + static_cast<std::size_t>(h) * hd],
                                    kv.v(layer, h) + at, hd);
    }
  }
  // att [n × n_heads × head_dim]: the fused kernel rotates q per key segment.
  const kv_cache_view<KV> view = kv_cache_view<KV>::head_major(
      kv.k(layer, 0), kv.v(layer, 0), n_ctx(), c.head_dim, pos0 + static_cast<std::int64_t>(n));
  if (se) {
    attention_self_extend<float, KV>(attention_, *se, rope_, s.q.data(), pos0,
                                     static_cast<std::int64_t>(n), view, grouped_keys<KV>(layer),
                                     s.att.data());
    return;
  }
  attention<float, KV>(attention_, params_.position_remap, rope_, s.q.data(), pos0,
                       static_cast<std::int64_t>(n), view, s.att.data(), attn_scratch_.data(),
                       attn_scratch_.size());
}

}  // namespace shiftrope
