// shiftrope/detail/text/pretokenize.hpp - the regex pre-tokenizers of byte-level
// BPE vocabularies (GPT-2 and its descendants), on PCRE2.
//
// A pre-tokenizer is a list of regexes applied one after the other: each
// regex cuts every current piece into its matches and the gaps between them,
// and both are kept (Hugging Face's `Split` with behaviour "Isolated", and
// llama.cpp's unicode_regex_split, behave so). BPE merges never cross a piece
// boundary.
//
// Regexes run in PCRE2's UTF + UCP mode (\p{L}, \p{N} and \s follow Unicode
// properties) with PCRE2_MATCH_INVALID_UTF: bytes that are not well-formed
// UTF-8 match nothing and so end up in gaps of their own instead of making
// the match fail. JIT is used when the library has it.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <shiftrope/detail/text/utf8.hpp>
#include <shiftrope/error.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shiftrope::detail {

// --- The published regexes -------------------------------------------------

/// GPT-2's pattern, from OpenAI's gpt-2 `encoder.py` (also the ByteLevel
/// pre-tokenizer of Hugging Face tokenizers).
inline constexpr const char* regex_gpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

/// Llama 3's pattern (Meta's tokenizer.json). The published form starts with
/// the case-insensitive group (?i:'s|'t|'re|'ve|'m|'ll|'d); we spell the case
/// variants out, as llama.cpp does, because PCRE2's caseless Unicode matching
/// would also fold U+017F 'ſ' to 's' and U+212A 'K' to 'k'.
inline constexpr const char* regex_llama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// Qwen2's pattern (Qwen2 tokenizer.json): Llama 3's with single digits.
inline constexpr const char* regex_qwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// Digit isolation of StarCoder, Refact and SmolLM (their tokenizer.json:
/// Split on \p{N}, "Isolated", before the GPT-2 ByteLevel split).
inline constexpr const char* regex_digits = R"(\p{N})";

/// The regex list for a `tokenizer.ggml.pre` name, or an empty list when the
/// name is unknown. Names follow llama.cpp's (convert_hf_to_gguf.py writes
/// them); "default" is GPT-2's byte-level split here, see tokenizer.hpp.
inline std::vector<const char*> pretokenizer_regexes(std::string_view name) {
  const auto is = [&](std::initializer_list<std::string_view> names) {
    for (std::string_view n : names)
      if (n == name) return true;
    return false;
  };
  if (is({"default", "gpt2", "gpt-2", "mpt", "olmo", "phi-2", "jais", "roberta-bpe"}))
    return {regex_gpt2};
  if (is({"llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"}))
    return {regex_llama3};
  if (is({"qwen2", "stablelm2", "megrez"})) return {regex_qwen2};
  if (is({"starcoder", "refact", "smollm", "command-r", "codeshell", "exaone", "minerva-7b"}))
    return {regex_digits, regex_gpt2};
  return {};
}

// --- PCRE2 wrapper -----------------------------------------------------------

struct pcre2_code_deleter {
  void operator()(pcre2_code* code) const noexcept { pcre2_code_free(code); }
};
struct pcre2_match_data_deleter {
  void operator()(pcre2_match_data* data) const noexcept { pcre2_match_data_free(data); }
};

/// One compiled pattern (immutable after construction, so shareable between
/// threads; each match call owns its match data).
class compiled_regex {
 public:
  explicit compiled_regex(const char* pattern) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED, options,
                              &err, &err_offset, nullptr));
    if (!code_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(err, message, sizeof message);
      fail("pre-tokenizer regex '", pattern, "': PCRE2 error at offset ", err_offset, ": ",
           reinterpret_cast<const char*>(message));
    }
    // JIT is an optimisation only: when the library lacks it (or the
    // platform forbids executable memory) pcre2_match interprets instead.
    (void)pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE);
  }

  /// Appends to `out` the pieces of text[begin, end): matches and the gaps
  /// between them, as (offset, length) in `text`. The subject of the match
  /// is the piece alone, so lookarounds do not see past its ends.
  void split(std::string_view text, std::size_t begin, std::size_t end,
             std::vector<std::pair<std::size_t, std::size_t>>& out) const {
    std::unique_ptr<pcre2_match_data, pcre2_match_data_deleter> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    if (!md) fail("pre-tokenizer: out of memory for PCRE2 match data");
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + begin);
    const PCRE2_SIZE length = end - begin;
    PCRE2_SIZE pos = 0;
    PCRE2_SIZE gap_start = 0;
    while (pos < length) {
      const int rc = pcre2_match(code_.get(), subject, length, pos, 0, md.get(), nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof message);
        fail("pre-tokenizer: PCRE2 match error ", rc, ": ", reinterpret_cast<const char*>(message));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      const PCRE2_SIZE m_begin = ov[0];
      const PCRE2_SIZE m_end = ov[1];
      if (m_end == m_begin) {  // empty match: none of our patterns has one; step on
        pos = m_begin + decode_utf8(text.substr(begin, length), m_begin).length;
        continue;
      }
      if (m_begin > gap_start) out.emplace_back(begin + gap_start, m_begin - gap_start);
      out.emplace_back(begin + m_begin, m_end - m_begin);
      pos = gap_start = m_end;
    }
    if (length > gap_start) out.emplace_back(begin + gap_start, length - gap_start);
  }

 private:
  std::unique_ptr<pcre2_code, pcre2_code_deleter> code_;
};

/// A named pre-tokenizer: its regexes applied in sequence.
class pretokenizer {
 public:
  /// Throws shiftrope::error naming `name` when it is not a known one.
  explicit pretokenizer(std::string_view name) : name_(name) {
    const std::vector<const char*> patterns = pretokenizer_regexes(name);
    if (patterns.empty())
      fail("tokenizer.ggml.pre: unknown pre-tokenizer '", name,
           "' (known: default, gpt2, gpt-2, mpt, olmo, llama-bpe, qwen2, starcoder, refact, "
           "smollm and their aliases)");
    for (const char* p : patterns) regexes_.push_back(std::make_shared<const compiled_regex>(p));
  }

  const std::string& name() const noexcept { return name_; }

  /// Pieces of `text` as (offset, length), in order, covering it exactly.
  std::vector<std::pair<std::size_t, std::size_t>> split(std::string_view text) const {
    std::vector<std::pair<std::size_t, std::size_t>> pieces;
    if (text.empty()) return pieces;
    pieces.emplace_back(0, text.size());
    std::vector<std::pair<std::size_t, std::size_t>> next;
    for (const auto& regex : regexes_) {
      next.clear();
      for (const auto& [offset, length] : pieces) regex->split(text, offset, offset + length, next);
      pieces.swap(next);
    }
    return pieces;
  }

  /// The pieces as views into `text`.
  std::vector<std::string_view> split_views(std::string_view text) const {
    std::vector<std::string_view> views;
    for (const auto& [offset, length] : split(text)) views.push_back(text.substr(offset, length));
    return views;
  }

 private:
  std::string name_;
  std::vector<std::shared_ptr<const compiled_regex>> regexes_;
};

}  // namespace shiftrope::detail
