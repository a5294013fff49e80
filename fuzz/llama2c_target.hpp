// fuzz/llama2c_target.hpp - the llama2.c readers on arbitrary bytes.
//
// Input layout: byte 0 selects the reader (bit 0), the rest is the file.
//   0: a checkpoint (llama2c_checkpoint::from_bytes), then a model over it
//      and a short forward pass (model_config_target.hpp);
//   1: a tokenizer.bin: 4 bytes little-endian int32 vocab_size (what the
//      checkpoint would say), then the file (parse_llama2c_vocab), then a
//      tokenizer built from it (tokenizer::from_llama2c).
// Properties checked besides "no crash": a parsed checkpoint's arrays lie
// inside the file and have the shapes the header implies; a parsed vocabulary
// has vocab_size pieces no longer than max_token_length; its tokenizer
// encodes to ids in range and decodes to valid UTF-8.
#pragma once

#include <cstdint>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "model_config_target.hpp"
#include "tokenizer_target.hpp"

namespace shiftrope_fuzz {

inline void check_checkpoint(const shiftrope::llama2c_checkpoint& ck, std::size_t file_size) {
  const shiftrope::llama2c_config& c = ck.config();
  expect(c.dim > 0 && c.hidden_dim > 0 && c.n_layers > 0 && c.n_heads > 0 && c.n_kv_heads > 0 &&
             c.vocab_size > 0 && c.seq_len > 0,
         "positive header fields");
  expect(c.dim % c.n_heads == 0 && c.n_heads % c.n_kv_heads == 0 && c.head_size() % 2 == 0,
         "heads divide");
  const shiftrope::llama2c_array arrays[] = {
      ck.token_embedding(), ck.rms_att(), ck.wq(), ck.wk(), ck.wv(),        ck.wo(),
      ck.rms_ffn(),         ck.w1(),      ck.w2(), ck.w3(), ck.rms_final(), ck.classifier()};
  std::uint64_t total = 0;
  for (const shiftrope::llama2c_array& a : arrays) {
    const std::size_t n = a.n_elements();
    expect(a.data != nullptr && n > 0, "array present");
    expect(n * sizeof(float) <= file_size - 28, "array fits the file");
    total += n;
    volatile float sink = a.data[0];  // first and last element (ASan checks the view)
    sink = a.data[n - 1];
    sink = *a.layer(a.shape[0] - 1);
    (void)sink;
  }
  expect(ck.token_embedding().shape[0] == static_cast<std::size_t>(c.vocab_size) &&
             ck.token_embedding().shape[1] == static_cast<std::size_t>(c.dim),
         "token_embedding [vocab, dim]");
  expect(ck.wq().shape[0] == static_cast<std::size_t>(c.n_layers), "wq [layers, ...]");
  (void)total;
}

inline void check_vocab(const shiftrope::llama2c_vocab& v, int vocab_size) {
  expect(
      v.pieces.size() == static_cast<std::size_t>(vocab_size) && v.scores.size() == v.pieces.size(),
      "vocab_size pieces and scores");
  for (const std::string& p : v.pieces)
    expect(p.size() <= static_cast<std::size_t>(v.max_token_length), "piece length");
}

inline void llama2c_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::uint8_t* p = data + 1;
  const std::uint8_t* end = data + size;
  if ((data[0] & 1) == 0) {
    const auto ck =
        shiftrope::llama2c_checkpoint::from_bytes(std::vector<std::uint8_t>(p, end), "fuzz.bin");
    check_checkpoint(ck, static_cast<std::size_t>(end - p));
    return;
  }
  const auto vocab_size = static_cast<std::int32_t>(static_cast<std::uint32_t>(take_le(p, end, 4)));
  const shiftrope::llama2c_vocab v = shiftrope::parse_llama2c_vocab(
      p, static_cast<std::size_t>(end - p), "fuzz-tokenizer.bin", vocab_size);
  check_vocab(v, vocab_size);
  exercise_file_tokenizer(shiftrope::tokenizer::from_llama2c(v));
}

}  // namespace shiftrope_fuzz
