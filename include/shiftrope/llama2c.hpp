// shiftrope/llama2c.hpp - llama2.c checkpoints (version 0, float32) and
// tokenizer.bin files: memory-mapped, validated, no copy of the weights.
//
// Checkpoint layout (little-endian): 7 × int32 header {dim, hidden_dim,
// n_layers, n_heads, n_kv_heads, vocab_size (negative: separate classifier),
// seq_len}, then float32 arrays in this order (hs = dim / n_heads):
//   token_embedding [vocab, dim]         rms_att  [layers, dim]
//   wq [layers, n_heads·hs, dim]         wk, wv   [layers, n_kv_heads·hs, dim]
//   wo [layers, dim, n_heads·hs]         rms_ffn  [layers, dim]
//   w1, w3 [layers, hidden, dim]         w2       [layers, dim, hidden]
//   rms_final [dim]                      2 legacy RoPE tables [seq_len·hs/2] each (skipped)
//   classifier [vocab, dim]              only when vocab_size < 0 in the header
// Matrices are row-major [out, in]. The file size must match exactly.
//
// tokenizer.bin: int32 max_token_length, then per token: float32 score,
// int32 byte length, the bytes.
//
// Limits (a file is untrusted input), checked before anything is allocated:
//   checkpoint header  every field > 0, heads divide, head size even; the
//                      file size must equal 28 + 4 × (float count the header
//                      implies), computed with overflow checks. Nothing is
//                      allocated: the arrays are views into the file
//                      (model_config_from_llama2c then applies model_limits).
//   tokenizer.bin      vocab_size (from the checkpoint) in [1, max_vocab_size
//                      = 2^22] and 8 bytes per token left; max_token_length in
//                      [1, 65536]; each length in [0, max_token_length] and
//                      inside the file; no trailing bytes.
// Memory while loading tokenizer.bin: at most ~4.5× the file size (2^18
// empty pieces; tests/test_limits.cpp).
#pragma once

#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <shiftrope/detail/io/byte_reader.hpp>
#include <shiftrope/detail/io/mapped_file.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/load_mode.hpp>
#include <string>
#include <utility>
#include <vector>

namespace shiftrope {

/// The checkpoint header, with the classifier flag decoded.
struct llama2c_config {
  int dim = 0;                    // model width (embedding length)
  int hidden_dim = 0;             // feed-forward inner width
  int n_layers = 0;               // transformer blocks
  int n_heads = 0;                // query heads
  int n_kv_heads = 0;             // key/value heads (n_heads % n_kv_heads == 0)
  int vocab_size = 0;             // tokens (always positive here)
  int seq_len = 0;                // training sequence length (the model's train_len)
  bool shared_classifier = true;  // classifier = token embedding (header vocab_size > 0)

  int head_size() const noexcept { return n_heads > 0 ? dim / n_heads : 0; }
  int kv_dim() const noexcept { return head_size() * n_kv_heads; }

  /// Throws naming `source` and the field when a value is not positive, heads
  /// do not divide, the head size is odd, or the sizes overflow.
  void validate(const std::string& source) const;
};

/// A non-owning view of one float32 weight array: rank 1..3, row-major.
/// Per-layer arrays have shape[0] = n_layers; layer(l) is the l-th slice.
struct llama2c_array {
  const float* data = nullptr;         // [shape[0] × ... × shape[rank-1]]
  std::array<std::size_t, 3> shape{};  // unused trailing entries are 0
  int rank = 0;

  std::size_t n_elements() const noexcept {
    std::size_t n = rank > 0 ? 1 : 0;
    for (int i = 0; i < rank; ++i) n *= shape[static_cast<std::size_t>(i)];
    return n;
  }
  /// Slice l along the first axis (for per-layer arrays: layer l's weights).
  const float* layer(std::size_t l) const noexcept {
    return data + l * (shape[0] == 0 ? 0 : n_elements() / shape[0]);
  }
};

/// A mapped llama2.c checkpoint. Move-only; views die with the object.
class llama2c_checkpoint {
 public:
  /// Maps and validates `path`; throws shiftrope::error naming the file, the
  /// field and the value.
  static llama2c_checkpoint open(const std::string& path, load_mode mode = load_mode::map);
  /// Parses bytes in memory; `name` stands for the path in messages.
  static llama2c_checkpoint from_bytes(std::vector<std::uint8_t> bytes, std::string name);

  llama2c_checkpoint(llama2c_checkpoint&&) noexcept = default;
  llama2c_checkpoint& operator=(llama2c_checkpoint&&) noexcept = default;
  llama2c_checkpoint(const llama2c_checkpoint&) = delete;
  llama2c_checkpoint& operator=(const llama2c_checkpoint&) = delete;

  const llama2c_config& config() const noexcept { return config_; }
  const std::string& name() const noexcept { return bytes_.name(); }

  llama2c_array token_embedding() const noexcept { return arrays_[0]; }  // [vocab, dim]
  llama2c_array rms_att() const noexcept { return arrays_[1]; }          // [layers, dim]
  llama2c_array wq() const noexcept { return arrays_[2]; }          // [layers, n_heads·hs, dim]
  llama2c_array wk() const noexcept { return arrays_[3]; }          // [layers, n_kv_heads·hs, dim]
  llama2c_array wv() const noexcept { return arrays_[4]; }          // [layers, n_kv_heads·hs, dim]
  llama2c_array wo() const noexcept { return arrays_[5]; }          // [layers, dim, n_heads·hs]
  llama2c_array rms_ffn() const noexcept { return arrays_[6]; }     // [layers, dim]
  llama2c_array w1() const noexcept { return arrays_[7]; }          // [layers, hidden, dim] (gate)
  llama2c_array w2() const noexcept { return arrays_[8]; }          // [layers, dim, hidden] (down)
  llama2c_array w3() const noexcept { return arrays_[9]; }          // [layers, hidden, dim] (up)
  llama2c_array rms_final() const noexcept { return arrays_[10]; }  // [dim]
  /// [vocab, dim]: the token embedding when shared_classifier.
  llama2c_array classifier() const noexcept { return arrays_[11]; }

 private:
  llama2c_checkpoint() = default;
  void parse();

  detail::mapped_file bytes_;
  llama2c_config config_;
  std::array<llama2c_array, 12> arrays_{};  // in the accessor order above
};

/// A llama2.c tokenizer: piece i has score scores[i].
struct llama2c_vocab {
  std::vector<std::string> pieces;  // [vocab_size] raw bytes of each token
  std::vector<float> scores;        // [vocab_size] merge scores
  int max_token_length = 0;         // header value; every piece is at most this long
};

/// Limits of tokenizer.bin reading (checked before allocating).
struct llama2c_vocab_limits {
  int max_vocab_size = 1 << 22;    // vocab_size argument
  int max_token_length = 1 << 16;  // header max_token_length
};

/// Reads tokenizer.bin with `vocab_size` tokens (from the checkpoint). The
/// file must hold exactly that many tokens.
inline llama2c_vocab read_llama2c_vocab(const std::string& path, int vocab_size,
                                        const llama2c_vocab_limits& limits = {});
/// The same from bytes in memory; `name` stands for the path in messages.
inline llama2c_vocab parse_llama2c_vocab(const std::uint8_t* data, std::size_t size,
                                         const std::string& name, int vocab_size,
                                         const llama2c_vocab_limits& limits = {});

// ---- definitions ----

inline void llama2c_config::validate(const std::string& source) const {
  const std::pair<const char*, int> fields[] = {
      {"dim", dim},         {"hidden_dim", hidden_dim}, {"n_layers", n_layers},
      {"n_heads", n_heads}, {"n_kv_heads", n_kv_heads}, {"vocab_size", vocab_size},
      {"seq_len", seq_len}};
  for (const auto& [field, value] : fields)
    if (value <= 0) fail(source, ": ", field, " = ", value, " must be positive");
  if (n_kv_heads > n_heads || n_heads % n_kv_heads != 0)
    fail(source, ": n_heads = ", n_heads, " is not a multiple of n_kv_heads = ", n_kv_heads);
  if (dim % n_heads != 0)
    fail(source, ": dim = ", dim, " is not a multiple of n_heads = ", n_heads);
  if (head_size() % 2 != 0)
    fail(source, ": head size dim / n_heads = ", head_size(), " is odd (RoPE rotates pairs)");
}

namespace detail {

/// Element counts of the checkpoint's arrays, in file order, overflow-checked.
/// Index 11 = the two legacy RoPE tables; 12 = the separate classifier (0 when shared).
inline std::array<std::uint64_t, 13> llama2c_counts(const llama2c_config& c,
                                                    const std::string& source) {
  const auto u = [](int v) { return static_cast<std::uint64_t>(v); };
  const std::uint64_t hs = u(c.head_size());
  std::array<std::uint64_t, 13> n{};
  bool ok = true;
  auto mul = [&](std::initializer_list<std::uint64_t> xs) {
    std::uint64_t p = 1;
    for (std::uint64_t x : xs) ok = ok && checked_mul(p, x, p);
    return p;
  };
  const std::uint64_t L = u(c.n_layers), D = u(c.dim), H = u(c.hidden_dim);
  n[0] = mul({u(c.vocab_size), D});         // token_embedding
  n[1] = mul({L, D});                       // rms_att
  n[2] = mul({L, u(c.n_heads), hs, D});     // wq
  n[3] = mul({L, u(c.n_kv_heads), hs, D});  // wk
  n[4] = n[3];                              // wv
  n[5] = mul({L, D, u(c.n_heads), hs});     // wo
  n[6] = n[1];                              // rms_ffn
  n[7] = mul({L, H, D});                    // w1
  n[8] = n[7];                              // w2
  n[9] = n[7];                              // w3
  n[10] = D;                                // rms_final
  n[11] = mul({u(c.seq_len), hs});          // 2 tables × seq_len·hs/2
  n[12] = c.shared_classifier ? 0 : n[0];   // classifier
  if (!ok)
    fail(source, ": the weight sizes overflow (dim = ", c.dim, ", n_layers = ", c.n_layers,
         ", hidden_dim = ", c.hidden_dim, ", vocab_size = ", c.vocab_size, ")");
  return n;
}

}  // namespace detail

inline llama2c_checkpoint llama2c_checkpoint::open(const std::string& path, load_mode mode) {
  llama2c_checkpoint ck;
  ck.bytes_ =
      mode == load_mode::copy ? detail::mapped_file::read(path) : detail::mapped_file::open(path);
  ck.parse();
  return ck;
}

inline llama2c_checkpoint llama2c_checkpoint::from_bytes(std::vector<std::uint8_t> bytes,
                                                         std::string name) {
  llama2c_checkpoint ck;
  ck.bytes_ = detail::mapped_file::from_bytes(std::move(bytes), std::move(name));
  ck.parse();
  return ck;
}

inline void llama2c_checkpoint::parse() {
  const std::string source = "llama2c checkpoint '" + name() + "'";
  detail::byte_reader r(bytes_.data(), bytes_.size(), "llama2c checkpoint", name());
  if (r.remaining() >= 4 && std::memcmp(bytes_.data(), "ak42", 4) == 0)
    r.error(
        "magic \"ak42\": llama2.c export versions 1 and 2 are not supported (only the legacy "
        "version 0 float32 format)");
  int header[7];
  for (int& h : header) h = r.read<std::int32_t>("the 28-byte header");
  config_ = {header[0], header[1], header[2], header[3], header[4], header[5], header[6], true};
  if (header[5] < 0) {  // a negative vocab_size flags a separate classifier
    if (header[5] == INT_MIN) r.error("vocab_size = ", header[5], " is out of range");
    config_.vocab_size = -header[5];
    config_.shared_classifier = false;
  }
  config_.validate(source);
  const std::array<std::uint64_t, 13> n = detail::llama2c_counts(config_, source);
  std::uint64_t floats = 0;
  bool ok = true;
  for (std::uint64_t x : n) ok = ok && detail::checked_add(floats, x, floats);
  std::uint64_t expected = 0;
  if (!ok || !detail::checked_mul(floats, 4, expected) ||
      !detail::checked_add(expected, 28, expected))
    r.error("the weight sizes overflow");
  if (bytes_.size() != expected) {
    const bool extra_classifier = config_.shared_classifier && bytes_.size() == expected + 4 * n[0];
    r.error("file size ", bytes_.size(), " differs from the ", expected,
            " bytes the header implies (dim = ", config_.dim, ", hidden_dim = ", config_.hidden_dim,
            ", n_layers = ", config_.n_layers, ", n_heads = ", config_.n_heads,
            ", n_kv_heads = ", config_.n_kv_heads, ", vocab_size = ", header[5],
            ", seq_len = ", config_.seq_len, ")",
            extra_classifier ? "; the extra bytes would fit a separate classifier, but vocab_size "
                               "is positive (shared classifier)"
                             : "");
  }
  // Floats start at byte 28, a multiple of 4; the base is page- or new-aligned.
  const float* p = reinterpret_cast<const float*>(bytes_.data() + 28);
  const auto c = config_;
  const auto z = [](int v) { return static_cast<std::size_t>(v); };
  const std::size_t L = z(c.n_layers), D = z(c.dim), H = z(c.hidden_dim), V = z(c.vocab_size);
  const std::size_t Q = z(c.n_heads * c.head_size()), K = z(c.kv_dim());
  const std::array<std::array<std::size_t, 3>, 11> shapes = {{{V, D, 0},
                                                              {L, D, 0},
                                                              {L, Q, D},
                                                              {L, K, D},
                                                              {L, K, D},
                                                              {L, D, Q},
                                                              {L, D, 0},
                                                              {L, H, D},
                                                              {L, D, H},
                                                              {L, H, D},
                                                              {D, 0, 0}}};
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const int rank = shapes[i][2] ? 3 : shapes[i][1] ? 2 : 1;
    arrays_[i] = llama2c_array{p, shapes[i], rank};
    p += n[i];
  }
  p += n[11];  // legacy RoPE tables
  arrays_[11] = c.shared_classifier ? arrays_[0] : llama2c_array{p, {V, D, 0}, 2};
}

inline llama2c_vocab parse_llama2c_vocab(const std::uint8_t* data, std::size_t size,
                                         const std::string& name, int vocab_size,
                                         const llama2c_vocab_limits& limits) {
  detail::byte_reader r(data, size, "llama2c tokenizer", name);
  if (vocab_size <= 0 || vocab_size > limits.max_vocab_size)
    r.error("vocab_size ", vocab_size, " is out of range (1..", limits.max_vocab_size, ")");
  llama2c_vocab v;
  v.max_token_length = r.read<std::int32_t>("max_token_length");
  if (v.max_token_length <= 0 || v.max_token_length > limits.max_token_length)
    r.error("max_token_length ", v.max_token_length, " is out of range (1..",
            limits.max_token_length, ")");
  // Each token needs at least its score and length (8 bytes): bound before allocating.
  const std::uint64_t least = static_cast<std::uint64_t>(vocab_size) * 8;
  if (least > r.remaining())
    r.error("vocab_size ", vocab_size, " needs at least ", least, " bytes, but only ",
            r.remaining(), " remain");
  v.pieces.reserve(static_cast<std::size_t>(vocab_size));
  v.scores.reserve(static_cast<std::size_t>(vocab_size));
  for (int i = 0; i < vocab_size; ++i) {
    r.set_context("token " + std::to_string(i) + ": ");
    v.scores.push_back(r.read<float>("score"));
    const auto len = r.read<std::int32_t>("length");
    if (len < 0 || len > v.max_token_length)
      r.error("length ", len, " is out of range (0..max_token_length = ", v.max_token_length, ")");
    const std::uint8_t* p = r.take(static_cast<std::uint64_t>(len), "token bytes");
    v.pieces.emplace_back(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len));
  }
  r.set_context("");
  if (r.remaining() != 0)
    r.error(r.remaining(), " trailing bytes after ", vocab_size, " tokens (vocab_size mismatch?)");
  return v;
}

inline llama2c_vocab read_llama2c_vocab(const std::string& path, int vocab_size,
                                        const llama2c_vocab_limits& limits) {
  const detail::mapped_file file = detail::mapped_file::open(path);
  return parse_llama2c_vocab(file.data(), file.size(), path, vocab_size, limits);
}

}  // namespace shiftrope
