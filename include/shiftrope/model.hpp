// shiftrope/model.hpp - a Llama-family model (config + weights views over a
// mapped GGUF or llama2.c file) and a session that runs it: KV cache,
// scratch state, the forward pass.
//
// The forward pass, per token row (shapes for a chunk of n tokens):
//   x   [n × n_embd]   = token_embd[tokens]
//   per layer:
//     xb  [n × n_embd]   = rmsnorm(x) · attn_norm
//     q   [n × q_dim]    = xb · Wqᵀ (+ bq)      k, v [n × kv_dim] = xb · Wk/Wvᵀ (+ bk, bv)
//     K/V cache[pos]     = rotate(k, pos), v     (keys rotated once, at their own position)
//     att [n × q_dim]    = attention(q, cache, remap)   (q un-rotated: the kernel rotates
//                                                        it per key segment, STRING included)
//     x  += att · Woᵀ
//     xb  = rmsnorm(x) · ffn_norm
//     x  += (silu(xb · W1ᵀ) ⊙ (xb · W3ᵀ)) · W2ᵀ        (SwiGLU: w1 gate, w3 up, w2 down)
//   logits [rows × n_vocab] = (rmsnorm(x) · output_norm) · Woutᵀ   (all rows or the last)
// Prefill feeds up to max_batch tokens per step (GEMM); decode one (GEMV).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <shiftrope/attention.hpp>
#include <shiftrope/attention_self_extend.hpp>
#include <shiftrope/detail/model/forward.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/kv_cache.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/model_config.hpp>
#include <shiftrope/model_weights.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/rope.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace shiftrope {

/// STRING's reference implementation multiplies RoPE's cos and sin by
/// a = 1 + 0.1 ln 2, so every attention logit by a² ≈ 1.1434 (the YaRN
/// factor for scale 2), to sharpen the softmax that STRING smooths. Off by
/// default here (logit_scale = 1); select it with this constant.
inline constexpr double string_reference_logit_scale = 1.143433966251171;  // (1 + 0.1 ln 2)²

namespace detail {

/// True when the file starts with "GGUF" (a missing file answers false; the
/// llama2.c reader then names it).
inline bool has_gguf_magic(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  const std::size_t got = std::fread(magic, 1, 4, f);
  std::fclose(f);
  return got == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace detail

/// A loaded model: configuration and weight views over the mapped file it
/// owns. Move-only; views stay valid across moves.
class model {
 public:
  /// Opens a GGUF file or a llama2.c checkpoint (told apart by the "GGUF"
  /// magic), mapped or read into huge-page memory (see load_mode.hpp).
  /// Throws shiftrope::error naming the file and what is wrong.
  static model open(const std::string& path, load_mode mode = load_mode::map) {
    if (detail::has_gguf_magic(path)) return from_gguf(gguf_file::open(path, {}, mode));
    return from_llama2c(llama2c_checkpoint::open(path, mode));
  }

  /// A model over a parsed GGUF file (arch llama, qwen2 or phi3).
  static model from_gguf(gguf_file f) {
    model m;
    m.gguf_ = std::make_unique<gguf_file>(std::move(f));
    m.config_ = model_config_from_gguf(*m.gguf_);
    m.weights_ = load_weights(*m.gguf_, m.config_);
    return m;
  }

  /// A model over a llama2.c checkpoint.
  static model from_llama2c(llama2c_checkpoint ck) {
    model m;
    m.llama2c_ = std::make_unique<llama2c_checkpoint>(std::move(ck));
    m.config_ = model_config_from_llama2c(m.llama2c_->config(), m.llama2c_->name());
    m.weights_ = load_weights(*m.llama2c_, m.config_);
    return m;
  }

  [[nodiscard]] const model_config& config() const noexcept { return config_; }
  [[nodiscard]] const model_weights& weights() const noexcept { return weights_; }
  /// The file's path (or the name given to from_bytes).
  [[nodiscard]] const std::string& name() const noexcept {
    return gguf_ ? gguf_->name() : llama2c_->name();
  }
  /// The GGUF file (its tokenizer, metadata), or nullptr for llama2.c.
  [[nodiscard]] const gguf_file* gguf() const noexcept { return gguf_.get(); }

 private:
  model() = default;
  std::unique_ptr<gguf_file> gguf_;
  std::unique_ptr<llama2c_checkpoint> llama2c_;
  model_config config_;
  model_weights weights_;
};

/// Which logit rows forward() computes.
enum class logits_rows {
  last,  ///< only the last token's row [n_vocab] (generation)
  all,   ///< every token's row [n_tokens × n_vocab] (teacher forcing, --dump-logits)
};

struct session_params {
  std::int64_t n_ctx = 0;     ///< positions the KV cache holds; 0 = min(train_len, 4096)
  int max_batch = 256;        ///< tokens per forward step; longer inputs run in chunks
  kv_type kv = kv_type::f32;  ///< KV cache element type
  remap position_remap = identity_remap{};  ///< RoPE (identity) or STRING
  /// Training length the remap is checked against (S < L); 0 = the model's.
  std::int64_t train_len = 0;
  /// Multiplies every attention logit (after 1/sqrt(head_dim)); 1 = off.
  /// string_reference_logit_scale reproduces STRING's reference code.
  double logit_scale = 1.0;
  int n_threads = 0;  ///< threads per matmul/attention call; <= 0: OpenMP's default
  /// Activations of the one-token products (decode): q8 quantizes them to
  /// int8 for the weight types with an int8 kernel (faster; logits move about
  /// as much as llama.cpp's do), f32 keeps the exact float products. Prefill
  /// (several tokens per step) always uses float activations.
  gemv_activations decode_activations = gemv_activations::q8;
  std::uint64_t max_kv_bytes = std::uint64_t{1} << 36;  ///< cap on the KV cache (64 GiB)
  /// Self-Extend instead of position_remap (which must then be identity):
  /// keys beyond the neighbour window seen at grouped positions. Costs a
  /// second key cache (keys rotated at floor(n/G)), counted in max_kv_bytes.
  std::optional<self_extend_remap> self_extend;

  /// n_ctx with its default applied for a model with config `c`:
  /// min(train_len, 4096) when 0 (not validated: see validate()).
  [[nodiscard]] std::int64_t resolved_n_ctx(const model_config& c) const noexcept {
    return n_ctx > 0 ? n_ctx : std::min<std::int64_t>(c.train_len, 4096);
  }

  /// Throws shiftrope::error naming the field and the value.
  void validate() const {
    if (n_ctx < 0 || n_ctx > model_limits::max_train_len)
      fail("session_params: n_ctx must be in [0, ", model_limits::max_train_len, "], got ", n_ctx);
    if (max_batch < 1 || max_batch > 65536)
      fail("session_params: max_batch must be in [1, 65536], got ", max_batch);
    if (train_len < 0 || train_len > model_limits::max_train_len)
      fail("session_params: train_len must be in [0, ", model_limits::max_train_len, "], got ",
           train_len);
    if (!(logit_scale > 0.0) || !std::isfinite(logit_scale))
      fail("session_params: logit_scale must be a finite number > 0, got ", logit_scale);
    validate_remap(position_remap);
    validate_self_extend(position_remap, self_extend);
    if (self_extend && kv == kv_type::q8_0)
      fail("session_params: self_extend does not support kv = q8_0 (use f32, f16 or bf16)");
  }

  /// Throws unless `se` is valid and `r` is identity when `se` is set.
  static void validate_self_extend(const remap& r, const std::optional<self_extend_remap>& se) {
    if (!se) return;
    try {
      se->validate();
    } catch (const error& e) {
      fail("session_params: self_extend: ", e.what());
    }
    if (!std::holds_alternative<identity_remap>(r))
      fail("session_params: self_extend cannot be combined with position_remap = ", describe(r));
  }

 private:
  static void validate_remap(const remap& r) {
    try {
      shiftrope::validate(r);
    } catch (const error& e) {
      fail("session_params: position_remap: ", e.what());
    }
  }
};

/// What a session allocates that grows with its context, known before it
/// allocates anything (session_memory_of), so a program can refuse a
/// context that does not fit.
struct session_memory {
  std::int64_t n_ctx = 0;   ///< positions (session_params::n_ctx's default applied)
  std::uint64_t kv = 0;     ///< KV cache, plus Self-Extend's grouped keys; UINT64_MAX on overflow
  std::uint64_t total = 0;  ///< kv plus the RoPE table (cos and sin); UINT64_MAX on overflow
};

namespace detail {

inline kv_cache_params session_cache_params(const model_config& c, const session_params& p) {
  kv_cache_params k;
  k.n_layers = c.n_layers;
  k.n_kv_heads = c.n_kv_heads;
  k.head_dim = c.head_dim;
  k.n_ctx = p.resolved_n_ctx(c);
  k.type = p.kv;
  k.max_bytes = p.max_kv_bytes;
  return k;
}

/// Self-Extend's grouped keys: one more K, i.e. half of the K + V cache.
[[nodiscard]] constexpr std::uint64_t grouped_keys_bytes(std::uint64_t kv_bytes) noexcept {
  return kv_bytes / 2;
}

}  // namespace detail

/// The memory a session of a model with config `c` and parameters `p`
/// allocates for its context, before anything is allocated or validated
/// (the session's constructor validates p).
[[nodiscard]] inline session_memory session_memory_of(const model_config& c,
                                                      const session_params& p) {
  constexpr std::uint64_t overflow = ~std::uint64_t{0};
  session_memory sm;
  sm.n_ctx = p.resolved_n_ctx(c);
  const std::uint64_t kv = detail::session_cache_params(c, p).bytes();
  sm.kv = kv == overflow || !p.self_extend ? kv : kv + detail::grouped_keys_bytes(kv);
  const std::uint64_t rope_bytes =
      2 * sizeof(float) * static_cast<std::uint64_t>(c.rope.n_planes());
  std::uint64_t rope = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(sm.n_ctx), rope_bytes, &rope) ||
      __builtin_add_overflow(sm.kv, rope, &sm.total))
    sm.total = overflow;
  return sm;
}

/// A running model: KV cache, scratch activations, RoPE table and remap.
/// The model must outlive the session and stay where it is (the session
/// keeps its address). One session serves one sequence; several sessions
/// may share a model.
class session {
 public:
  /// Allocates the KV cache (n_ctx positions) and the scratch for
  /// max_batch tokens. Throws shiftrope::error for bad parameters, a remap
  /// with S >= train_len, or a cache above the cap.
  session(const model& m, const session_params& params = {});

  [[nodiscard]] const model_config& config() const noexcept { return model_->config(); }
  [[nodiscard]] const session_params& params() const noexcept { return params_; }
  /// Positions the KV cache holds.
  [[nodiscard]] std::int64_t n_ctx() const noexcept { return cache_.n_ctx(); }
  /// Positions [0, n_past) hold valid keys and values.
  [[nodiscard]] std::int64_t n_past() const noexcept { return n_past_; }
  /// The training length the remap was checked against.
  [[nodiscard]] std::int64_t train_len() const noexcept { return train_len_; }
  /// The logit factor in use: params().logit_scale × the RoPE scaling's
  /// attention factor² (YaRN, LongRoPE; see rope_attention_factor).
  [[nodiscard]] double logit_scale() const noexcept { return logit_scale_; }
  [[nodiscard]] const kv_cache& cache() const noexcept { return cache_; }
  /// Forgets every position (the next forward starts at 0).
  void reset() noexcept { n_past_ = 0; }

  /// Accumulates where forward() spends its time into *timing from now on
  /// (null: stop). The timing must outlive its use; the session only adds.
  void set_timing(forward_timing* timing) noexcept { timing_ = timing; }

  /// Switches the position scheme and the logit scale (the fields
  /// position_remap, self_extend and logit_scale of session_params, checked
  /// as the constructor checks them) without reallocating the KV cache;
  /// Self-Extend's grouped key cache is allocated on first use. Forgets
  /// every position: cached keys and values depend on the scheme.
  void set_positions(const remap& position_remap,
                     const std::optional<self_extend_remap>& self_extend, double logit_scale);

  /// Feeds tokens[0, n_tokens) at positions [start_pos, start_pos + n_tokens)
  /// (start_pos <= n_past(): rewinding drops later positions). Writes the
  /// logits of the last token to logits[n_vocab] (rows = last) or of every
  /// token to logits[n_tokens × n_vocab] (rows = all). Throws
  /// shiftrope::error naming the problem: no tokens, an id outside
  /// [0, n_vocab), a gap before start_pos, positions past n_ctx.
  void forward(const int* tokens, std::size_t n_tokens, std::int64_t start_pos, float* logits,
               logits_rows rows = logits_rows::last);

  /// The same, returning the logits.
  [[nodiscard]] std::vector<float> forward(const std::vector<int>& tokens, std::int64_t start_pos,
                                           logits_rows rows = logits_rows::last) {
    const std::size_t n_rows = rows == logits_rows::all ? tokens.size() : 1;
    std::vector<float> out(n_rows * static_cast<std::size_t>(config().n_vocab));
    forward(tokens.data(), tokens.size(), start_pos, out.data(), rows);
    return out;
  }

 private:
  void check_input(const int* tokens, std::size_t n_tokens, std::int64_t start_pos) const;
  void apply_positions();

  const model* model_;
  session_params params_;
  std::int64_t train_len_ = 0;
  double logit_scale_ = 1.0;
  std::size_t max_batch_ = 1;
  std::int64_t n_past_ = 0;
  rope_table<float> rope_;  // cos/sin for positions [0, n_ctx)
  kv_cache cache_;
  forward_state state_;
  attention_params attention_;           // shape and scales of every attention call
  std::vector<std::byte> attn_scratch_;  // the kernel's scratch, grown on demand
  // Self-Extend only: [n_layers × n_kv_heads × n_ctx × head_dim] keys rotated
  // at floor(n/G), in the cache's element type (same layout as its K), and
  // one key row [head_dim] being rotated.
  std::variant<std::vector<float>, std::vector<f16>, std::vector<bf16>> grouped_k_;
  std::vector<float> grouped_row_;
  forward_timing* timing_ = nullptr;
};

inline session::session(const model& m, const session_params& params)
    : model_(&m),
      params_((params.validate(), params)),  // validated before anything is sized from it
      train_len_(params.train_len > 0 ? params.train_len : m.config().train_len),
      cache_(detail::session_cache_params(m.config(), params_)) {
  const model_config& c = m.config();
  max_batch_ = static_cast<std::size_t>(std::min<std::int64_t>(params_.max_batch, n_ctx()));
  rope_ = rope_table<float>(c.rope, n_ctx());
  state_ = forward_state(c, max_batch_);
  attention_.n_heads = c.n_heads;
  attention_.n_kv_heads = c.n_kv_heads;
  attention_.head_dim = c.head_dim;
  attention_.softmax_scale = 0.0;  // 1 / sqrt(head_dim)
  attention_.n_threads = params_.n_threads;
  // A window the context never reaches masks nothing: left off.
  attention_.sliding_window = c.sliding_window < n_ctx() ? c.sliding_window : 0;
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
  const double rope_factor = rope_attention_factor(c.rope);
  logit_scale_ = params_.logit_scale * rope_factor * rope_factor;
  attention_.logit_scale = logit_scale_;
  attention_.validate();
  if (!params_.self_extend) return;
  if (attention_.sliding_window > 0)
    fail("session: self_extend cannot be combined with the model's sliding window (",
         attention_.sliding_window, " positions, below n_ctx = ", n_ctx(), ")");
  if (cache_.type() == kv_type::q8_0)
    fail("session: self_extend does not support kv_type q8_0 (use f32, f16 or bf16)");
  const std::uint64_t grouped_bytes = detail::grouped_keys_bytes(cache_.bytes());
  const std::size_t elements =
      static_cast<std::size_t>(grouped_bytes / (cache_.type() == kv_type::f32 ? 4 : 2));
  if (cache_.bytes() + grouped_bytes > params_.max_kv_bytes)
    fail("session: self_extend needs a second key cache of ", grouped_bytes,
         " bytes next to the KV cache's ", cache_.bytes(),
         ", above session_params.max_kv_bytes = ", params_.max_kv_bytes);
  std::visit(
      [&](const auto& kv) {
        using KV = typename detail::kv_element<std::decay_t<decltype(kv)>>::type;
        if constexpr (!kv_storage<KV>::quantized) {  // q8_0 refused above
          using grouped = std::vector<KV>;
          if (!std::holds_alternative<grouped>(grouped_k_) ||
              std::get<grouped>(grouped_k_).size() != elements)
            grouped_k_ = grouped(elements);
        }
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
        using KV = typename detail::kv_element<std::decay_t<decltype(kv)>>::type;
        KV* grouped = nullptr;  // Self-Extend's keys (never with q8_0: refused)
        if constexpr (!kv_storage<KV>::quantized)
          if (params_.self_extend) grouped = std::get<std::vector<KV>>(grouped_k_).data();
        const detail::forward_pass<KV> pass{config(),
                                            model_->weights(),
                                            state_,
                                            rope_,
                                            kv,
                                            n_ctx(),
                                            attention_,
                                            params_.position_remap,
                                            params_.self_extend,
                                            grouped,
                                            grouped_row_.data(),
                                            attn_scratch_,
                                            timing_,
                                            params_.decode_activations};
        for (std::size_t done = 0; done < n_tokens; done += max_batch_) {
          const std::size_t n = std::min(max_batch_, n_tokens - done);
          const bool last_chunk = done + n == n_tokens;
          const detail::chunk_rows cr = rows == logits_rows::all ? detail::chunk_rows::all
                                        : last_chunk             ? detail::chunk_rows::last
                                                                 : detail::chunk_rows::none;
          float* out = rows == logits_rows::all ? logits + done * n_vocab : logits;
          detail::run_chunk(pass, tokens + done, n, start_pos + static_cast<std::int64_t>(done),
                            out, cr);
        }
      },
      cache_.typed());
  n_past_ = start_pos + static_cast<std::int64_t>(n_tokens);
}

}  // namespace shiftrope
