// fuzz/model_config_target.hpp - model loading from arbitrary GGUF bytes:
// the configuration (model_config_from_gguf), the weight views
// (model::from_gguf), then a short forward pass through a session with RoPE
// and with STRING. Also used by the llama2.c target for checkpoints.
//
// Properties checked besides "no crash": a loaded model's configuration is
// valid and matches its token embedding; the forward pass gives n_vocab
// logits per row and is deterministic (the same tokens twice give the same
// bits, NaN included: a difference would mean reads of stale or
// uninitialised memory); an out-of-range token id is refused with
// shiftrope::error.
#pragma once

#include <cstdint>
#include <cstring>
#include <shiftrope/gguf.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/model_config.hpp>
#include <vector>

#include "common.hpp"

namespace shiftrope_fuzz {

/// Runs a few tokens through m with `params`, twice, and compares the bits.
inline void exercise_session(const shiftrope::model& m, const shiftrope::session_params& params) {
  const shiftrope::model_config& c = m.config();
  shiftrope::session s(m, params);
  const std::vector<int> tokens = {0, c.n_vocab - 1, c.n_vocab / 2, 1 % c.n_vocab, 0};
  const std::vector<float> a = s.forward(tokens, 0, shiftrope::logits_rows::all);
  expect(a.size() == tokens.size() * static_cast<std::size_t>(c.n_vocab), "logits rows × n_vocab");
  const std::vector<float> last =
      s.forward({c.n_vocab - 1}, static_cast<std::int64_t>(tokens.size()));
  expect(last.size() == static_cast<std::size_t>(c.n_vocab), "decode logits");
  s.reset();
  const std::vector<float> b = s.forward(tokens, 0, shiftrope::logits_rows::all);
  expect(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0,
         "the same tokens give the same logits bits");
  expect(!accepts([&] { (void)s.forward({c.n_vocab}, 0); }), "token id n_vocab is refused");
  expect(!accepts([&] { (void)s.forward({-1}, 0); }), "token id -1 is refused");
}

/// Checks a loaded model and runs it with RoPE and with STRING (S = 3, W = 1).
inline void exercise_model(const shiftrope::model& m) {
  const shiftrope::model_config& c = m.config();
  c.validate(m.name());  // must not throw for a model that loaded
  expect(c.n_heads % c.n_kv_heads == 0 && c.rope.head_dim == c.head_dim, "config invariants");
  shiftrope::session_params p;
  p.n_ctx = 8;
  p.max_batch = 3;  // the 5-token prefill runs in two chunks
  p.n_threads = 1;
  exercise_session(m, p);
  p.position_remap = shiftrope::string_remap{3, 1};
  p.train_len = 8;
  p.kv = shiftrope::kv_type::f16;
  exercise_session(m, p);
}

inline void model_config_input(const std::uint8_t* data, std::size_t size) {
  shiftrope::gguf_file f = shiftrope::gguf_file::from_bytes(
      std::vector<std::uint8_t>(data, data + size), "fuzz-model.gguf");
  const shiftrope::model_config c = shiftrope::model_config_from_gguf(f);
  const shiftrope::model m = shiftrope::model::from_gguf(std::move(f));
  expect(m.config().n_vocab == c.n_vocab && m.config().n_layers == c.n_layers,
         "model::from_gguf reads the same configuration");
  exercise_model(m);
}

}  // namespace shiftrope_fuzz
