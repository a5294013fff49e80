// fuzz/tokenizer_target.hpp - tokenizer encode/decode on arbitrary bytes.
//
// Input layout: byte 0 = flags, the rest = payload.
//   flags bit 0: parse_special          bit 1: add_bos
//   flags bits 2-3: 0, 1 = encode the payload as text;
//                   2    = decode ids, 2 payload bytes each, mapped onto
//                          [-2, n_vocab + 2) so that most are valid;
//                   3    = decode raw little-endian int32 ids.
// Properties checked besides "no crash": every encoded id is in range; decode
// output is well-formed UTF-8; without parse_special, decode(encode(t))
// gives t back (after UTF-8 repair; SPM also writes U+2581 as ' '); decode
// throws shiftrope::error exactly when some id is out of range.
//
// The vocabularies are the real ones under SHIFTROPE_SHARED_DIR/vocab when
// present, otherwise small ones built here (so the targets run anywhere).
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <shiftrope/gguf.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common.hpp"

namespace shiftrope_fuzz {

/// Encodes text, checks the ids, decodes them, checks the text; returns the ids.
inline std::vector<int> exercise_encode(const shiftrope::tokenizer& tok, std::string_view text,
                                        bool parse_special, bool add_bos) {
  const std::vector<int> ids = tok.encode(text, add_bos, parse_special);
  for (const int id : ids) expect(id >= 0 && id < tok.n_vocab(), "encode: id in [0, n_vocab)");
  if (add_bos) expect(!ids.empty() && ids[0] == tok.bos(), "encode: BOS first");
  const std::string back = tok.decode(ids);
  expect(shiftrope::detail::is_valid_utf8(back), "decode(encode(text)) is valid UTF-8");
  return ids;
}

/// Decodes ids: must throw shiftrope::error iff an id is out of range, and
/// give valid UTF-8 otherwise; piece/text/type of every valid id must work.
inline void exercise_decode(const shiftrope::tokenizer& tok, const std::vector<int>& ids) {
  bool all_valid = true;
  for (const int id : ids) {
    if (id < 0 || id >= tok.n_vocab()) {
      all_valid = false;
      expect(!accepts([&] { (void)tok.piece(id); }), "piece(out-of-range id) throws");
      continue;
    }
    (void)tok.piece(id);
    (void)tok.text(id);
    (void)tok.type(id);
    (void)tok.is_eog(id);
  }
  std::string text;
  const bool ok = accepts([&] { text = tok.decode(ids); });
  expect(ok == all_valid, "decode throws exactly when an id is out of range");
  if (ok) expect(shiftrope::detail::is_valid_utf8(text), "decode gives valid UTF-8");
}

/// Texts and ids that reach the paths of a tokenizer built from a fuzzed file.
inline void exercise_file_tokenizer(const shiftrope::tokenizer& tok) {
  for (const std::string_view text :
       {std::string_view(""), std::string_view(" Hello  world\n\t12345 it's"),
        std::string_view("<s>x</s><|endoftext|><unk>"),
        std::string_view("\xff\xfe\xe2\x82 \xc3\xa9")})
    for (const bool special : {false, true})
      (void)accepts([&] { (void)exercise_encode(tok, text, special, false); });
  std::vector<int> ids;
  const int n = tok.n_vocab();
  for (int id = 0; id < n && id < 4096; ++id) ids.push_back(id);
  exercise_decode(tok, ids);
  exercise_decode(tok, {-1, n});
}

/// What decode(encode(text)) must give without parse_special.
inline std::string expected_round_trip(const shiftrope::tokenizer& tok, std::string_view text) {
  std::string want = shiftrope::detail::repair_utf8(text);
  const auto& d = tok.data();
  if (d.model == shiftrope::vocab_model::spm && d.escape_spaces) {
    std::string out;  // U+2581 is the escaped space: it decodes to ' '
    for (std::size_t p = 0; p < want.size();) {
      if (want.compare(p, 3, "\xE2\x96\x81") == 0) {
        out += ' ';
        p += 3;
      } else {
        out += want[p++];
      }
    }
    want.swap(out);
  }
  return want;
}

/// One input against a tokenizer (layout in the header comment).
/// `lossless`: the vocabulary can spell every byte, so round trips must hold.
inline void tokenizer_input(const shiftrope::tokenizer& tok, bool lossless,
                            const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::uint8_t flags = data[0];
  const bool parse_special = flags & 1;
  const bool add_bos = (flags & 2) && tok.bos() >= 0;
  const int mode = (flags >> 2) & 3;
  const std::uint8_t* p = data + 1;
  const std::uint8_t* end = data + size;
  if (mode < 2) {
    const std::string_view text = as_text(p, static_cast<std::size_t>(end - p));
    const std::vector<int> ids = exercise_encode(tok, text, parse_special, add_bos);
    if (lossless && !parse_special)
      expect(tok.decode(ids) == expected_round_trip(tok, text), "decode(encode(text)) == text");
    return;
  }
  std::vector<int> ids;
  const auto span = static_cast<std::uint64_t>(tok.n_vocab()) + 4;
  while (p < end) {
    if (mode == 2) {
      ids.push_back(static_cast<int>(take_le(p, end, 2) % span) - 2);
    } else {
      ids.push_back(static_cast<int>(static_cast<std::uint32_t>(take_le(p, end, 4))));
    }
  }
  exercise_decode(tok, ids);
}

// ---- vocabularies ----

inline std::vector<std::uint8_t> read_file_or_empty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
}

/// A small SPM vocabulary: <unk>, <s>, </s>, 256 byte tokens, printable
/// ASCII, U+2581 and a few merges; llama.cpp's SPM conventions.
inline shiftrope::vocab_data small_spm_vocab() {
  using shiftrope::token_type;
  shiftrope::vocab_data d;
  d.model = shiftrope::vocab_model::spm;
  auto add = [&](std::string text, token_type type, float score) {
    d.tokens.push_back(std::move(text));
    d.types.push_back(type);
    d.scores.push_back(score);
  };
  add("<unk>", token_type::unknown, 0);
  add("<s>", token_type::control, 0);
  add("</s>", token_type::control, 0);
  static const char hex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b)
    add(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", token_type::byte, 0);
  float score = -1;
  for (const char* t : {"\xE2\x96\x81", "\xE2\x96\x81t", "\xE2\x96\x81th", "\xE2\x96\x81the", "he",
                        "in", "er", "an", "\xC3\xA9", "\xE2\x96\x81\xE2\x96\x81"})
    add(t, token_type::normal, score--);
  for (char c = 0x21; c < 0x7F; ++c) add(std::string(1, c), token_type::normal, score--);
  add("<|user|>", token_type::user_defined, 0);
  d.bos_id = 1;
  d.eos_id = 2;
  d.unk_id = 0;
  d.add_bos = true;
  d.add_space_prefix = true;
  return d;
}

/// A small GPT-2 byte-level vocabulary: the 256-character byte alphabet, a
/// few merges, and <|endoftext|>.
inline shiftrope::vocab_data small_bpe_vocab() {
  shiftrope::vocab_data d;
  d.model = shiftrope::vocab_model::bpe;
  for (int b = 0; b < 256; ++b)
    d.tokens.push_back(shiftrope::detail::to_byte_alphabet(std::string(1, static_cast<char>(b))));
  const std::pair<const char*, const char*> merges[] = {
      {"\xC4\xA0", "t"},        {"h", "e"}, {"\xC4\xA0t", "he"}, {"i", "n"},
      {"\xC4\xA0", "\xC4\xA0"}, {"e", "r"}, {"1", "2"}};
  for (const auto& [l, r] : merges) {
    d.merges.emplace_back(l, r);
    d.tokens.push_back(std::string(l) + r);
  }
  d.tokens.push_back("<|endoftext|>");
  d.types.assign(d.tokens.size(), shiftrope::token_type::normal);
  d.types.back() = shiftrope::token_type::control;
  d.eos_id = static_cast<std::int32_t>(d.tokens.size() - 1);
  return d;
}

/// The shared vocabulary `file` (SHIFTROPE_SHARED_DIR/vocab/file) or, when
/// it is absent, `fallback`; says once on stderr which one is used.
inline shiftrope::tokenizer load_vocab(const char* file, shiftrope::vocab_data (*fallback)()) {
#ifdef SHIFTROPE_SHARED_DIR
  const std::string path = std::string(SHIFTROPE_SHARED_DIR) + "/vocab/" + file;
  std::vector<std::uint8_t> bytes = read_file_or_empty(path);
  if (!bytes.empty()) {
    std::fprintf(stderr, "fuzz: vocabulary %s\n", path.c_str());
    return shiftrope::tokenizer::from_gguf(
        shiftrope::gguf_file::from_bytes(std::move(bytes), path));
  }
#endif
  std::fprintf(stderr, "fuzz: %s not found, using a small built-in vocabulary\n", file);
  return shiftrope::tokenizer(fallback());
}

inline const shiftrope::tokenizer& spm_tokenizer() {
  static const shiftrope::tokenizer tok = load_vocab("ggml-vocab-llama-spm.gguf", small_spm_vocab);
  return tok;
}

inline const shiftrope::tokenizer& bpe_tokenizer() {
  static const shiftrope::tokenizer tok = load_vocab("ggml-vocab-gpt-2.gguf", small_bpe_vocab);
  return tok;
}

inline void tokenizer_spm_input(const std::uint8_t* data, std::size_t size) {
  tokenizer_input(spm_tokenizer(), true, data, size);
}

inline void tokenizer_bpe_input(const std::uint8_t* data, std::size_t size) {
  tokenizer_input(bpe_tokenizer(), true, data, size);
}

}  // namespace shiftrope_fuzz
