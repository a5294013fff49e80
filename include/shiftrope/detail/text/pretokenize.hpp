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
//
// pretokenizer_table maps every `tokenizer.ggml.pre` name to its regex list;
// pretokenizer, vocab_data::validate and the error messages all read it.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <array>
#include <cstddef>
#include <memory>
#include <shiftrope/detail/text/utf8.hpp>
#include <shiftrope/error.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shiftrope::detail {

// --- The regexes --------------------------------------------------------------
//
// Each string is llama.cpp's (src/llama-vocab.cpp, early 2025) unless a
// comment says how and why it was rewritten; the table below says which
// `tokenizer.ggml.pre` names use which list. Non-ASCII characters are
// written as PCRE2 \x{...} escapes: llama.cpp writes them as UTF-8 literals,
// and a literal such as U+212A KELVIN SIGN (a range end in DeepSeek LLM's
// letter class) silently becomes 'K' under any tool that normalizes text.

/// GPT-2's pattern, from OpenAI's gpt-2 `encoder.py` (also the ByteLevel
/// pre-tokenizer of Hugging Face tokenizers). llama.cpp writes it without the
/// final `|\s+` but hands that exact string to a hand-written splitter
/// (unicode.cpp, unicode_regex_split_custom_gpt2) that implements the full
/// published pattern, trailing `\s+` included; we run the published pattern.
inline constexpr const char* regex_gpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

/// Llama 3's pattern (Meta's tokenizer.json). The published form starts with
/// the case-insensitive group (?i:'s|'t|'re|'ve|'m|'ll|'d); we spell the case
/// variants out, as llama.cpp does, because PCRE2's caseless Unicode matching
/// would also fold U+017F (long s) to 's' and U+212A (Kelvin sign) to 'k'.
inline constexpr const char* regex_llama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// Qwen2's pattern (Qwen2 tokenizer.json): Llama 3's with single digits.
inline constexpr const char* regex_qwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// Every number character on its own (StarCoder, Refact, Viking, ...).
inline constexpr const char* regex_digit = R"(\p{N})";

/// Runs of newline characters are cut to single ones (DeepSeek).
inline constexpr const char* regex_newline = R"([\r\n])";

/// CJK ideographs, U+0800..U+4E00 and Hangul as runs (DeepSeek LLM / Coder).
inline constexpr const char* regex_deepseek_cjk =
    R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";

/// Bloom and its descendants: words with an optional leading space, cut
/// before whitespace and a few punctuation marks (the parentheses and '|'
/// are literal members of the class, as in their tokenizer.json).
inline constexpr const char* regex_bloom =
    R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)";

/// Tekken (Mistral Nemo). Its tokenizer.json matches case with
/// [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and [\p{Ll}\p{Lm}\p{Lo}\p{M}]; llama.cpp
/// approximates them as "a letter other than a-z" ((?=[\p{L}])([^a-z])) and
/// "a letter other than A-Z", so a non-ASCII letter counts as both cases. We
/// keep llama.cpp's meaning but write each as one character class,
/// [^\P{L}a-z] and [^\P{L}A-Z]: the same set of characters, without a
/// lookahead and a capture group per character (which made PCRE2 keep a
/// backtracking frame per letter of a long word).
inline constexpr const char* regex_tekken =
    R"([^\r\n\p{L}\p{N}]?[^\P{L}a-z]*[^\P{L}A-Z]+|[^\r\n\p{L}\p{N}]?[^\P{L}a-z]+[^\P{L}A-Z]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// The regexes of one pre-tokenizer and the `tokenizer.ggml.pre` names that
/// select it. Unused entries are empty (names) or null (regexes).
struct pretokenizer_rules {
  std::array<std::string_view, 16> names;  // exact names, as convert_hf_to_gguf.py writes them
  std::array<const char*, 6> regexes;      // applied in order (see the header comment)
};

/// Every pre-tokenizer llama.cpp (early 2025) knows for BPE vocabularies, one
/// row per distinct list of regexes. "gpt2" is accepted besides llama.cpp's
/// "gpt-2". llama.cpp lists the jina names one by one (no prefix match), and
/// so do we.
inline constexpr pretokenizer_rules pretokenizer_table[] = {
    // llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT (also what a GGUF without
    // tokenizer.ggml.pre gets): punctuation runs, GPT-2, numbers, then
    // ASCII digits in threes.
    {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", regex_gpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
    {{"gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "gigachat", "roberta-bpe", "jina-es",
      "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code"},
     {regex_gpt2}},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"},
     {regex_llama3}},
    {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {regex_qwen2}},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {regex_digit, regex_gpt2}},
    {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", regex_gpt2, "[0-9][0-9][0-9]"}},
    {{"deepseek-llm"},
     {regex_newline,
      R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)",
      R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)",
      R"(\s+$)", regex_deepseek_cjk, R"(\p{N}+)"}},
    {{"deepseek-coder"},
     {regex_newline, R"(\s?\p{L}+)", R"(\s?\p{P}+)", regex_deepseek_cjk, regex_digit}},
    {{"deepseek-v3"},
     {R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
      R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
    {{"poro-chat", "bloom", "gpt3-finnish"}, {regex_bloom}},
    {{"viking"}, {regex_bloom, regex_digit}},
    {{"tekken"}, {regex_tekken}},
    // Chameleon's sentinel and image-token patterns come first, as in its
    // tokenizer.json (special tokens are cut out before, so they rarely
    // match), then spacing, digits and punctuation isolated, then GPT-2.
    {{"chameleon"},
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", regex_digit,
      R"([\p{P}!-/:-@\[-`{-~])", regex_gpt2}},
};

/// The row of `name`, or nullptr when llama.cpp does not know the name.
inline const pretokenizer_rules* find_pretokenizer(std::string_view name) noexcept {
  for (const pretokenizer_rules& row : pretokenizer_table)
    for (const std::string_view n : row.names)
      if (!n.empty() && n == name) return &row;
  return nullptr;
}

/// The regex list for a `tokenizer.ggml.pre` name, or an empty list when the
/// name is unknown.
inline std::vector<const char*> pretokenizer_regexes(std::string_view name) {
  std::vector<const char*> out;
  if (const pretokenizer_rules* row = find_pretokenizer(name))
    for (const char* r : row->regexes)
      if (r) out.push_back(r);
  return out;
}

/// Every known name, comma-separated (for error messages and documentation).
inline std::string pretokenizer_names() {
  std::string out;
  for (const pretokenizer_rules& row : pretokenizer_table)
    for (const std::string_view n : row.names)
      if (!n.empty()) {
        if (!out.empty()) out += ", ";
        out += n;
      }
  return out;
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
    // DOLLAR_ENDONLY: '$' (DeepSeek LLM's \s+$) matches only at the end of
    // the piece, as in std::regex, not also before a final newline.
    const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
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
      fail("tokenizer.ggml.pre: unknown pre-tokenizer '", name, "' (known: ", pretokenizer_names(),
           ")");
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
