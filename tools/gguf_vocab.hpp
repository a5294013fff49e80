// tools/gguf_vocab.hpp - SentencePiece-style ("llama") vocabularies for the
// GGUF files the tools write: a synthetic one for random-weight models, the
// byte vocabulary of the project's own model, and a llama2.c tokenizer.bin
// converted the way llama.cpp's llama2.c converter does. Each is a
// shiftrope::vocab_data, written by add_vocab_metadata under the
// tokenizer.ggml.* keys that tokenizer::from_gguf (and llama.cpp) read.
// Not part of the library: tools/ and tests/ include it by path.
#pragma once

#include <cstdint>
#include <cstdio>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <vector>

namespace shiftrope::tools {

/// U+2581 '▁', how SentencePiece vocabularies write a space.
inline constexpr const char* spm_space = "\xE2\x96\x81";

/// "<0xNN>" with upper-case hex digits (SentencePiece's byte pieces).
inline std::string byte_token_text(int byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", byte & 0xFF);
  return buf;
}

/// Writes an SPM vocabulary: tokenizer.ggml.model "llama", tokens, scores,
/// token_type, the special ids (uint32; -1 written as 0xFFFFFFFF, "none", as
/// llama.cpp's converters do), add_bos_token, add_eos_token,
/// add_space_prefix. Throws when `v` does not validate or is not SPM.
inline void add_vocab_metadata(gguf_writer& w, const vocab_data& v) {
  v.validate();
  if (v.model != vocab_model::spm || !v.escape_spaces)
    fail("vocab metadata: only SPM vocabularies with '\xE2\x96\x81' for spaces are written");
  const std::size_t n = v.tokens.size();
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  w.add_array("tokenizer.ggml.scores", v.scores.empty() ? std::vector<float>(n, 0.0f) : v.scores);
  std::vector<std::int32_t> types(n, static_cast<std::int32_t>(token_type::normal));
  for (std::size_t i = 0; i < v.types.size(); ++i) types[i] = static_cast<std::int32_t>(v.types[i]);
  w.add_array("tokenizer.ggml.token_type", types);
  const auto id = [](std::int32_t x) { return static_cast<std::uint32_t>(x); };  // -1 -> 2^32-1
  w.add_uint32("tokenizer.ggml.bos_token_id", id(v.bos_id));
  w.add_uint32("tokenizer.ggml.eos_token_id", id(v.eos_id));
  w.add_uint32("tokenizer.ggml.unknown_token_id", id(v.unk_id));
  w.add_uint32("tokenizer.ggml.padding_token_id", id(v.pad_id));
  w.add_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.add_bool("tokenizer.ggml.add_eos_token", v.add_eos);
  w.add_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
}

/// A synthetic vocabulary of n_vocab >= 259 tokens, laid out like Llama 2's:
/// "<unk>" (0, unknown), "<s>" (1, control, BOS), "</s>" (2, control, EOS),
/// the 256 byte tokens "<0x00>".."<0xFF>" (type byte), then filler pieces
/// "a".."z", "aa", ... alternately with and without a leading '▁', scored
/// -1, -2, ... so that earlier (shorter) pieces merge first.
inline vocab_data synthetic_vocab(int n_vocab) {
  constexpr int fixed = 3 + 256;
  if (n_vocab < fixed)
    fail("synthetic vocabulary: n_vocab ", n_vocab, " is below ", fixed,
         " (3 special tokens + 256 byte tokens)");
  vocab_data v;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {token_type::unknown, token_type::control, token_type::control};
  v.scores.assign(3, 0.0f);
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(byte_token_text(b));
    v.types.push_back(token_type::byte);
    v.scores.push_back(0.0f);
  }
  for (int k = 0; static_cast<int>(v.tokens.size()) < n_vocab; ++k) {
    std::string letters;  // bijective base 26: a..z, aa..zz, aaa..
    for (int x = k / 2 + 1; x > 0; x = (x - 1) / 26)
      letters.insert(letters.begin(), static_cast<char>('a' + (x - 1) % 26));
    v.tokens.push_back(k % 2 == 0 ? std::string(spm_space) + letters : letters);
    v.types.push_back(token_type::normal);
    v.scores.push_back(-static_cast<float>(k + 1));
  }
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_bos = true;
  v.add_space_prefix = true;
  return v;
}

/// The byte vocabulary of the project's passkey model (tools/train): id =
/// byte value for 0..255, BOS "<s>" = 256, EOS "</s>" = 257 (control), no
/// unknown token, no space prefix. Byte tokens are "<0xNN>" of type byte,
/// except the space: an SPM tokenizer (ours and llama.cpp's) writes ' ' as
/// '▁' before looking pieces up, so id 32 is the normal piece "▁" — then a
/// space encodes to 32, not to the three byte tokens of U+2581. Every byte
/// string maps 1:1 to its bytes, except that a literal U+2581 in the input
/// also becomes 32 (the vocabulary has no other way to spell it).
inline vocab_data byte_vocab() {
  vocab_data v;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(b == ' ' ? std::string(spm_space) : byte_token_text(b));
    v.types.push_back(b == ' ' ? token_type::normal : token_type::byte);
  }
  v.tokens.insert(v.tokens.end(), {"<s>", "</s>"});
  v.types.insert(v.types.end(), {token_type::control, token_type::control});
  v.scores.assign(v.tokens.size(), 0.0f);
  v.bos_id = 256;
  v.eos_id = 257;
  v.unk_id = -1;
  v.add_bos = true;
  v.add_space_prefix = false;
  return v;
}

/// A llama2.c tokenizer.bin as a GGUF vocabulary, by the rules of
/// llama.cpp's llama2.c converter: id 0 becomes "<unk>" (unknown), 1 "<s>"
/// and 2 "</s>" (control; llama2.c writes them "\n<s>\n", "\n</s>\n"), an
/// empty piece is control, "<0xNN>" is a byte token, the rest normal; spaces
/// become '▁'. Scores are kept. BOS 1, EOS 2, unknown 0, space prefix on
/// (llama2.c's encoder adds a dummy " ").
inline vocab_data vocab_from_llama2c(const llama2c_vocab& in) {
  const std::size_t n = in.pieces.size();
  if (n < 3) fail("llama2.c tokenizer: ", n, " tokens; need at least <unk>, <s>, </s>");
  vocab_data v;
  v.scores = in.scores;
  for (std::size_t i = 0; i < n; ++i) {
    std::string text = in.pieces[i];
    token_type type = token_type::normal;
    if (i == 0) {
      text = "<unk>";
      type = token_type::unknown;
    } else if (i == 1 || i == 2) {
      text = i == 1 ? "<s>" : "</s>";
      type = token_type::control;
    } else if (text.empty()) {
      type = token_type::control;
    } else if (detail::parse_byte_token(text) >= 0) {
      type = token_type::byte;
    }
    std::string escaped;
    for (const char c : text) escaped += c == ' ' ? std::string(spm_space) : std::string(1, c);
    v.tokens.push_back(std::move(escaped));
    v.types.push_back(type);
  }
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_bos = true;
  v.add_space_prefix = true;
  try {
    v.validate();
  } catch (const error& e) {
    fail("llama2.c tokenizer: ", e.what());
  }
  return v;
}

}  // namespace shiftrope::tools
