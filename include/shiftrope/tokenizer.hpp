// shiftrope/tokenizer.hpp - text ↔ token ids for Llama-family models: one
// tokenizer over plain vocabulary data, two algorithms, several loaders.
//
// - SPM (GGUF `tokenizer.ggml.model` = "llama"; llama2.c tokenizer.bin):
//   SentencePiece BPE by scores with byte fallback (detail/spm.hpp).
// - BPE (GGUF "gpt2"): GPT-2 byte-level BPE with a regex pre-tokenizer
//   chosen by `tokenizer.ggml.pre` (detail/pretokenize.hpp, detail/bpe.hpp).
//
// Conventions (what encode/decode do beyond the algorithms):
// - SPM space prefix: when add_space_prefix is set, each text fragment that
//   starts the input or follows a special token gets a ' ' in front (as
//   llama.cpp and SentencePiece's dummy prefix); then ' ' is written as
//   U+2581 '▁' (escape_spaces: GGUF/SentencePiece vocabularies) or kept as
//   ' ' (llama2.c tokenizer.bin, whose pieces hold real spaces).
// - decode() drops that prefix again: with add_space_prefix, one leading
//   ' ' is stripped from the first text token of the output and from the
//   first text token after a control, unknown or user-defined token
//   (llama2.c strips it after BOS).
// - Control and unknown tokens decode to nothing (decode) but show their
//   text in piece(). User-defined tokens decode to their text.
// - decode() returns well-formed UTF-8: byte tokens are joined first, then
//   ill-formed sequences become U+FFFD. piece() returns raw bytes (a byte
//   token alone may be part of a character).
// - Literal tokens, as llama.cpp: before any algorithm runs, the texts of
//   user-defined tokens found in the input always become those ids, and with
//   parse_special so do the texts of control and unknown tokens; only the
//   text between them is encoded (pre-tokenized, for BPE). The order in
//   which overlapping texts win is llama.cpp's, longest text first
//   (detail/special_match.hpp). Under SPM the text after such a token gets
//   the space prefix again. Texts longer than 256 bytes
//   (detail::special_matcher::max_special_bytes) are never matched: that
//   bound keeps encoding near-linear in the prompt whatever the vocabulary.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <shiftrope/detail/text/bpe.hpp>
#include <shiftrope/detail/text/pretokenize.hpp>
#include <shiftrope/detail/text/special_match.hpp>
#include <shiftrope/detail/text/spm.hpp>
#include <shiftrope/detail/text/utf8.hpp>
#include <shiftrope/detail/text/vocab_index.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/llama2c.hpp>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace shiftrope {

/// The tokenization algorithm.
enum class vocab_model {
  spm,  // SentencePiece BPE by scores, byte fallback
  bpe,  // GPT-2 byte-level BPE by merge rank
};

/// Token types, numbered as GGUF's `tokenizer.ggml.token_type`.
enum class token_type : std::int32_t {
  undefined = 0,  // treated as normal
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,  // "<0xNN>": stands for one raw byte (SPM byte fallback)
};

/// A vocabulary as plain data: what every loader produces.
struct vocab_data {
  vocab_model model = vocab_model::spm;  // algorithm
  std::vector<std::string> tokens;       // [n_vocab] token texts as the vocabulary writes them
  std::vector<float> scores;             // [n_vocab] SPM merge priority (higher first), or empty: 0
  std::vector<token_type> types;         // [n_vocab], or empty: normal ("<0xNN>" byte for SPM)
  std::vector<std::pair<std::string, std::string>> merges;  // BPE rules; rank = index
  std::int32_t bos_id = -1;                                 // beginning of sequence; -1 = none
  std::int32_t eos_id = -1;                                 // end of sequence; -1 = none
  std::int32_t unk_id = -1;                                 // unknown; -1 = none
  std::int32_t pad_id = -1;                                 // padding; -1 = none
  bool add_bos = false;           // the model expects BOS first (a default for callers)
  bool add_eos = false;           // the model expects EOS last (a default for callers)
  bool add_space_prefix = false;  // SPM: ' ' before the text (see the header comment)
  bool escape_spaces = true;      // SPM: tokens write ' ' as U+2581 (false: llama2.c)
  bool ignore_merges = false;     // BPE: a pre-token that is a token stays whole (Llama 3)
  std::string pre = "default";    // BPE pre-tokenizer name (tokenizer.ggml.pre)

  /// Throws shiftrope::error naming the field and the value.
  void validate() const;
};

namespace detail {

/// "<0xNN>" (two upper- or lower-case hex digits) → NN, otherwise -1.
inline int parse_byte_token(std::string_view text) noexcept {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (std::size_t i = 3; i < 5; ++i) {
    const char c = text[i];
    const int digit = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                             : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/// Token texts that end generation when they are control tokens (the list
/// llama.cpp uses to build its end-of-generation set).
inline bool is_eog_text(std::string_view t) noexcept {
  for (std::string_view s : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                             "<|endoftext|>", "<|eom_id|>", "<EOT>"})
    if (t == s) return true;
  return false;
}

}  // namespace detail

inline void vocab_data::validate() const {
  const std::size_t n = tokens.size();
  if (n == 0) fail("vocab_data.tokens: empty vocabulary");
  if (n > 0x7FFFFFFFu) fail("vocab_data.tokens: ", n, " tokens exceed the int32 id range");
  if (!scores.empty() && scores.size() != n)
    fail("vocab_data.scores: size ", scores.size(), " does not match tokens size ", n);
  if (!types.empty() && types.size() != n)
    fail("vocab_data.types: size ", types.size(), " does not match tokens size ", n);
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (std::isnan(scores[i])) fail("vocab_data.scores[", i, "]: NaN");
  for (std::size_t i = 0; i < types.size(); ++i) {
    const auto t = static_cast<std::int32_t>(types[i]);
    if (t < 0 || t > 6) fail("vocab_data.types[", i, "]: ", t, " is not a token type (0..6)");
    if (types[i] == token_type::byte && detail::parse_byte_token(tokens[i]) < 0)
      fail("vocab_data.types[", i, "]: byte token '", tokens[i], "' is not of the form <0xNN>");
  }
  const std::pair<const char*, std::int32_t> ids[] = {
      {"bos_id", bos_id}, {"eos_id", eos_id}, {"unk_id", unk_id}, {"pad_id", pad_id}};
  for (const auto& [field, id] : ids)
    if (id < -1 || (id >= 0 && static_cast<std::size_t>(id) >= n))
      fail("vocab_data.", field, ": ", id, " is neither -1 (none) nor a token id below n_vocab ",
           n);
  if (add_bos && bos_id < 0) fail("vocab_data.add_bos: true, but bos_id is -1");
  if (add_eos && eos_id < 0) fail("vocab_data.add_eos: true, but eos_id is -1");
  const detail::vocab_index index(tokens);
  if (const auto dup = index.duplicate(); dup.first >= 0)
    fail("vocab_data.tokens[", dup.second, "]: '", tokens[static_cast<std::size_t>(dup.second)],
         "' duplicates tokens[", dup.first, "]");
  if (model != vocab_model::bpe) return;
  if (detail::pretokenizer_regexes(pre).empty())
    fail("vocab_data.pre: unknown pre-tokenizer '", pre, "' (known: ", detail::pretokenizer_names(),
         ")");
  if (merges.empty()) fail("vocab_data.merges: empty, but a bpe vocabulary needs merge rules");
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const auto& [left, right] = merges[i];
    const char* bad = index.find(left) < 0 ? "left" : index.find(right) < 0 ? "right" : nullptr;
    if (bad)
      fail("vocab_data.merges[", i, "]: '", left, " ", right, "': its ", bad,
           " part is not a token");
    if (index.find(left + right) < 0)
      fail("vocab_data.merges[", i, "]: '", left, " ", right, "': '", left + right,
           "' is not a token");
  }
}

/// Encodes text to token ids and back. Immutable after construction, so one
/// tokenizer may serve several threads.
class tokenizer {
 public:
  /// Validates `data` (shiftrope::error naming the field) and builds indexes.
  explicit tokenizer(vocab_data data);

  /// From a GGUF file's tokenizer.ggml.* entries ("llama" → SPM, "gpt2" →
  /// BPE), with llama.cpp's defaults for absent keys. Errors name the file
  /// and the key.
  static tokenizer from_gguf(const gguf_file& file);
  /// From a llama2.c tokenizer.bin: SPM, pieces with real spaces, BOS = 1,
  /// EOS = 2, byte tokens recognised by their "<0xNN>" text.
  static tokenizer from_llama2c(const llama2c_vocab& vocab);

  /// `text` → ids. add_bos: BOS first (error when the vocabulary has none;
  /// add_bos_default() says what the model expects). parse_special: see
  /// the header comment. Any bytes are accepted.
  std::vector<int> encode(std::string_view text, bool add_bos, bool parse_special = false) const;
  /// ids → UTF-8 text (header comment). An id outside [0, n_vocab) throws
  /// shiftrope::error naming it and its position.
  std::string decode(const std::vector<int>& ids) const;
  /// The bytes one token stands for (control/unknown: their text).
  std::string piece(int id) const;

  int n_vocab() const noexcept { return static_cast<int>(data_.tokens.size()); }
  int bos() const noexcept { return data_.bos_id; }
  int eos() const noexcept { return data_.eos_id; }
  int unk() const noexcept { return data_.unk_id; }
  int pad() const noexcept { return data_.pad_id; }
  bool add_bos_default() const noexcept { return data_.add_bos; }
  bool add_eos_default() const noexcept { return data_.add_eos; }
  /// End of generation: EOS, and control tokens named like <|eot_id|>, <|im_end|>, ...
  bool is_eog(int id) const noexcept {
    return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
  }
  vocab_model model() const noexcept { return data_.model; }
  /// Type of a token (throws for an id out of range).
  token_type type(int id) const {
    check_id(id, "type");
    return types_[static_cast<std::size_t>(id)];
  }
  /// The token's text as the vocabulary writes it.
  const std::string& text(int id) const {
    check_id(id, "text");
    return data_.tokens[static_cast<std::size_t>(id)];
  }
  const vocab_data& data() const noexcept { return data_; }

 private:
  static constexpr std::size_t no_position = static_cast<std::size_t>(-1);
  void check_id(int id, const char* what, std::size_t position = no_position) const {
    if (id >= 0 && id < n_vocab()) return;
    if (position == no_position)
      fail("tokenizer::", what, ": token id ", id, " is outside [0, n_vocab = ", n_vocab(), ")");
    fail("tokenizer::", what, ": token id ", id, " at position ", position,
         " is outside [0, n_vocab = ", n_vocab(), ")");
  }
  void encode_text(std::string_view text, bool space_prefix, std::vector<int>& out) const;
  void build_special_matcher();
  std::string_view space_symbol() const noexcept {
    return data_.escape_spaces ? "\xE2\x96\x81" : " ";
  }

  vocab_data data_;
  detail::vocab_index index_;                // token text → id
  std::vector<token_type> types_;            // [n_vocab] resolved types
  std::vector<float> scores_;                // [n_vocab] resolved scores
  std::array<std::int32_t, 256> byte_ids_;   // byte → its token (SPM <0xNN>, BPE alphabet) or -1
  std::size_t max_token_bytes_ = 0;          // longest token text
  bool spm_split_ = false;                   // SPM: encode space runs apart (same ids, faster)
  detail::bpe_merge_table merges_;           // BPE only
  std::optional<detail::pretokenizer> pre_;  // BPE only
  detail::special_matcher special_;          // parse_special: control, unknown, user-defined
  detail::special_matcher user_defined_;     // always: user-defined texts → ids
  std::vector<int> eog_ids_;                 // sorted
};

inline tokenizer::tokenizer(vocab_data data) : data_(std::move(data)) {
  data_.validate();
  const std::size_t n = data_.tokens.size();
  index_ = detail::vocab_index(data_.tokens);
  scores_ = data_.scores.empty() ? std::vector<float>(n, 0.0f) : data_.scores;
  types_ = data_.types;
  if (types_.empty()) {
    types_.assign(n, token_type::normal);
    if (data_.model == vocab_model::spm)
      for (std::size_t i = 0; i < n; ++i)
        if (detail::parse_byte_token(data_.tokens[i]) >= 0) types_[i] = token_type::byte;
  }
  for (const std::string& t : data_.tokens) max_token_bytes_ = std::max(max_token_bytes_, t.size());
  byte_ids_.fill(-1);
  if (data_.model == vocab_model::spm) {
    spm_split_ = detail::spm_can_split_at_spaces(data_.tokens, space_symbol());
    for (std::size_t i = 0; i < n; ++i) {
      const int b = types_[i] == token_type::byte ? detail::parse_byte_token(data_.tokens[i]) : -1;
      if (b >= 0 && byte_ids_[static_cast<std::size_t>(b)] < 0)
        byte_ids_[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(i);
    }
  } else {
    for (std::size_t b = 0; b < 256; ++b) {
      std::string c;
      detail::append_utf8(c, detail::byte_to_code_point()[b]);
      byte_ids_[b] = index_.find(c);
    }
    std::vector<std::array<std::int32_t, 3>> rules;  // validate(): all three are tokens
    rules.reserve(data_.merges.size());
    for (const auto& [left, right] : data_.merges)
      rules.push_back({index_.find(left), index_.find(right), index_.find(left + right)});
    merges_ = detail::bpe_merge_table(rules);
    pre_.emplace(data_.pre);
  }
  build_special_matcher();
  if (data_.eos_id >= 0) eog_ids_.push_back(data_.eos_id);
  for (std::size_t i = 0; i < n; ++i)
    if (types_[i] == token_type::control && detail::is_eog_text(data_.tokens[i]))
      eog_ids_.push_back(static_cast<int>(i));
  std::sort(eog_ids_.begin(), eog_ids_.end());
  eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());
}

inline void tokenizer::build_special_matcher() {
  std::vector<std::pair<std::string, int>> special, user_defined;
  for (std::size_t i = 0; i < types_.size(); ++i) {
    const token_type t = types_[i];
    const std::string& text = data_.tokens[i];
    if (t == token_type::control || t == token_type::user_defined || t == token_type::unknown)
      special.emplace_back(text, static_cast<int>(i));
    if (t == token_type::user_defined) user_defined.emplace_back(text, static_cast<int>(i));
  }
  special_ = detail::special_matcher(std::move(special));  // skips empty and over-long texts
  user_defined_ = detail::special_matcher(std::move(user_defined));
}

inline void tokenizer::encode_text(std::string_view text, bool space_prefix,
                                   std::vector<int>& out) const {
  if (text.empty()) return;
  if (data_.model == vocab_model::spm) {
    std::string s;
    s.reserve(text.size() + 1);
    if (space_prefix && data_.add_space_prefix) s += ' ';
    s += text;
    if (data_.escape_spaces) {
      std::string escaped;
      escaped.reserve(s.size() + s.size() / 4);
      for (const char c : s) {
        if (c == ' ') {
          escaped += "\xE2\x96\x81";  // U+2581
        } else {
          escaped += c;
        }
      }
      s.swap(escaped);
    }
    const detail::spm_vocab_view view{&index_, &scores_, max_token_bytes_, &byte_ids_,
                                      data_.unk_id};
    detail::spm_workspace ws;
    if (spm_split_) {
      detail::spm_encode_split(s, space_symbol(), view, ws, out);
    } else {
      detail::spm_encode(s, view, ws, out);
    }
    return;
  }
  detail::bpe_workspace ws;
  for (const auto& [offset, length] : pre_->split(text)) {
    const std::string_view piece = text.substr(offset, length);
    if (data_.ignore_merges) {
      const std::int32_t whole = index_.find(detail::to_byte_alphabet(piece));
      if (whole >= 0) {
        out.push_back(whole);
        continue;
      }
    }
    detail::bpe_encode_piece(piece, byte_ids_, merges_, data_.unk_id, ws, out);
  }
}

inline std::vector<int> tokenizer::encode(std::string_view text, bool add_bos,
                                          bool parse_special) const {
  std::vector<int> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos) {
    if (data_.bos_id < 0)
      fail("tokenizer::encode: add_bos requested, but the vocabulary has no BOS");
    out.push_back(data_.bos_id);
  }
  const std::vector<detail::literal_match> literals =
      detail::partition_literals(text, parse_special ? special_ : user_defined_);
  bool after_special = true;  // the start counts as "after a special token"
  std::size_t start = 0;      // first byte not yet encoded
  for (const detail::literal_match& m : literals) {
    if (m.offset > start) {
      encode_text(text.substr(start, m.offset - start), after_special, out);
      after_special = false;
    }
    out.push_back(m.id);
    after_special = true;
    start = m.offset + m.length;
  }
  encode_text(text.substr(start), after_special, out);
  return out;
}

inline std::string tokenizer::piece(int id) const {
  check_id(id, "piece");
  const auto i = static_cast<std::size_t>(id);
  const std::string& text = data_.tokens[i];
  const token_type t = types_[i];
  if (t == token_type::byte) {
    const int b = detail::parse_byte_token(text);
    if (b >= 0) return std::string(1, static_cast<char>(b));
  }
  if (t == token_type::control || t == token_type::unknown || t == token_type::user_defined)
    return text;
  std::string out;
  out.reserve(text.size());
  if (data_.model == vocab_model::spm) {
    if (!data_.escape_spaces) return text;
    for (std::size_t p = 0; p < text.size();) {
      if (text.compare(p, 3, "\xE2\x96\x81") == 0) {
        out += ' ';
        p += 3;
      } else {
        out += text[p++];
      }
    }
    return out;
  }
  for (std::size_t p = 0; p < text.size();) {  // byte alphabet → bytes
    const detail::utf8_char c = detail::decode_utf8(text, p);
    const int b = c.valid ? detail::code_point_to_byte(c.code_point) : -1;
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      out.append(text, p, c.length);  // not of the alphabet: kept as written
    }
    p += c.length;
  }
  return out;
}

inline std::string tokenizer::decode(const std::vector<int>& ids) const {
  std::string bytes;
  bytes.reserve(ids.size() * 4);  // most tokens are a few bytes; grows if not
  const bool prefix = data_.model == vocab_model::spm && data_.add_space_prefix;
  bool strip = prefix;  // the next text token may carry the space prefix
  for (std::size_t k = 0; k < ids.size(); ++k) {
    check_id(ids[k], "decode", k);
    const token_type t = types_[static_cast<std::size_t>(ids[k])];
    if (t == token_type::control || t == token_type::unknown) {
      strip = prefix;
      continue;
    }
    std::string p = piece(ids[k]);
    if (t == token_type::user_defined) {  // its text; encode prefixed what follows
      bytes += p;
      strip = prefix;
      continue;
    }
    if (strip && t != token_type::byte && !p.empty() && p[0] == ' ') p.erase(0, 1);
    strip = false;
    bytes += p;
  }
  return detail::repair_utf8(bytes);
}

namespace detail {

/// Reads an optional special-token id from a GGUF file: absent → `fallback`;
/// 0xFFFFFFFF (how converters write "none" as uint32) or -1 → -1.
inline std::int32_t gguf_token_id(const gguf_file& f, std::string_view key, std::int32_t fallback,
                                  std::size_t n_vocab) {
  const gguf_value* v = f.find(key);
  if (!v) return fallback;
  const std::optional<std::int64_t> id = v->as_int();
  if (!id || v->is_array())
    fail(f.name(), ": ", key, ": expected an integer, found ", v->to_display());
  if (*id == -1 || *id == 0xFFFFFFFFll) return -1;
  if (*id < 0 || static_cast<std::uint64_t>(*id) >= n_vocab)
    fail(f.name(), ": ", key, ": ", *id, " is not a token id below n_vocab ", n_vocab);
  return static_cast<std::int32_t>(*id);
}

}  // namespace detail

inline tokenizer tokenizer::from_gguf(const gguf_file& f) {
  vocab_data d;
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model == "llama") {  // llama.cpp's SPM defaults
    d.model = vocab_model::spm;
    d.bos_id = 1;
    d.eos_id = 2;
    d.unk_id = 0;
    d.add_bos = true;
    d.add_space_prefix = true;
  } else if (model == "gpt2") {  // llama.cpp's BPE defaults (see the report on bos/eos)
    d.model = vocab_model::bpe;
  } else {
    fail(f.name(), ": tokenizer.ggml.model: unsupported tokenizer model '", model,
         "' (supported: llama, gpt2)");
  }
  for (const std::string_view t : f.get_string_array("tokenizer.ggml.tokens"))
    d.tokens.emplace_back(t);
  const std::size_t n = d.tokens.size();
  if (f.has("tokenizer.ggml.scores")) d.scores = f.get_float_array("tokenizer.ggml.scores");
  if (!d.scores.empty() && d.scores.size() != n)
    fail(f.name(), ": tokenizer.ggml.scores: ", d.scores.size(), " entries for ", n, " tokens");
  if (f.has("tokenizer.ggml.token_type")) {
    const std::vector<std::int64_t> types = f.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != n)
      fail(f.name(), ": tokenizer.ggml.token_type: ", types.size(), " entries for ", n, " tokens");
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (types[i] < 0 || types[i] > 6)
        fail(f.name(), ": tokenizer.ggml.token_type[", i, "]: ", types[i],
             " is not a token type (0..6)");
      d.types.push_back(static_cast<token_type>(types[i]));
    }
  }
  if (d.model == vocab_model::bpe) {
    d.pre = f.get_string_or("tokenizer.ggml.pre", "default");
    // llama.cpp's per-name defaults: Llama 3 and Tekken want BOS and keep
    // whole-token words whole; Chameleon wants BOS.
    if (d.pre == "llama-bpe" || d.pre == "llama3" || d.pre == "llama-v3" || d.pre == "falcon3" ||
        d.pre == "tekken") {
      d.add_bos = true;
      d.ignore_merges = true;
    }
    if (d.pre == "chameleon") d.add_bos = true;
    if (!f.has("tokenizer.ggml.merges"))
      fail(f.name(), ": tokenizer.ggml.merges: missing (required by tokenizer model 'gpt2')");
    const std::vector<std::string_view> merges = f.get_string_array("tokenizer.ggml.merges");
    d.merges.reserve(merges.size());
    for (std::size_t i = 0; i < merges.size(); ++i) {
      // "left right"; searching from 1 lets a left part start with ' '.
      const std::size_t space =
          merges[i].size() > 1 ? merges[i].find(' ', 1) : std::string_view::npos;
      if (space == std::string_view::npos)
        fail(f.name(), ": tokenizer.ggml.merges[", i, "]: '", merges[i],
             "' is not two tokens separated by a space");
      d.merges.emplace_back(std::string(merges[i].substr(0, space)),
                            std::string(merges[i].substr(space + 1)));
    }
  }
  d.bos_id = detail::gguf_token_id(f, "tokenizer.ggml.bos_token_id", d.bos_id, n);
  d.eos_id = detail::gguf_token_id(f, "tokenizer.ggml.eos_token_id", d.eos_id, n);
  d.unk_id = detail::gguf_token_id(f, "tokenizer.ggml.unknown_token_id", d.unk_id, n);
  d.pad_id = detail::gguf_token_id(f, "tokenizer.ggml.padding_token_id", d.pad_id, n);
  d.add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", d.add_bos);
  d.add_eos = f.get_bool_or("tokenizer.ggml.add_eos_token", d.add_eos);
  if (d.model == vocab_model::spm)
    d.add_space_prefix = f.get_bool_or("tokenizer.ggml.add_space_prefix", d.add_space_prefix);
  try {
    return tokenizer(std::move(d));
  } catch (const error& e) {
    fail(f.name(), ": ", e.what());
  }
}

inline tokenizer tokenizer::from_llama2c(const llama2c_vocab& v) {
  vocab_data d;
  d.model = vocab_model::spm;
  d.tokens = v.pieces;
  d.scores = v.scores;
  d.bos_id = 1;
  d.eos_id = 2;
  d.add_bos = true;
  d.add_space_prefix = true;  // llama2.c's dummy prefix " " before non-empty text
  d.escape_spaces = false;    // its pieces hold real spaces
  const std::size_t n = d.tokens.size();
  if (n > 0 && d.tokens[0] == "<unk>") d.unk_id = 0;
  d.types.assign(n, token_type::normal);
  for (std::size_t i = 0; i < n; ++i)
    if (detail::parse_byte_token(d.tokens[i]) >= 0) d.types[i] = token_type::byte;
  if (d.unk_id == 0) d.types[0] = token_type::unknown;
  for (const std::size_t special : {std::size_t{1}, std::size_t{2}})
    if (special < n) d.types[special] = token_type::control;
  try {
    return tokenizer(std::move(d));
  } catch (const error& e) {
    fail("llama2.c tokenizer: ", e.what());
  }
}

}  // namespace shiftrope
