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
#include <cstddef>
#include <cstdint>
#include <shiftrope/detail/byte_reader.hpp>
#include <shiftrope/detail/mapped_file.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/load_mode.hpp>
#include <string>
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

}  // namespace shiftrope

#include <shiftrope/detail/llama2c_impl.hpp>
