// Tests of the tokenizer's building blocks: UTF-8 decoding and repair
// (detail/text/utf8.hpp), GPT-2's byte alphabet (detail/text/bpe.hpp) and the regex
// pre-tokenizers (detail/text/pretokenize.hpp). Expected values are written out
// by hand from the Unicode standard, GPT-2's bytes_to_unicode and the
// published regexes.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <shiftrope/detail/text/bpe.hpp>
#include <shiftrope/detail/text/pretokenize.hpp>
#include <shiftrope/detail/text/utf8.hpp>
#include <string>
#include <vector>

using namespace shiftrope;
using pieces = std::vector<std::string>;

namespace {

/// splitmix64: fixed-seed data that is the same with every standard library.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

pieces split(std::string_view name, std::string_view text) {
  const detail::pretokenizer pre(name);
  pieces out;
  for (const std::string_view v : pre.split_views(text)) out.emplace_back(v);
  return out;
}

const std::string fffd = "\xEF\xBF\xBD";

}  // namespace

TEST_CASE("utf8: decode well-formed characters of every length") {
  const std::string s = "A\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80";  // A é 你 😀
  const detail::utf8_char a = detail::decode_utf8(s, 0);
  CHECK((a.valid && a.code_point == 0x41 && a.length == 1));
  const detail::utf8_char e = detail::decode_utf8(s, 1);
  CHECK((e.valid && e.code_point == 0xE9 && e.length == 2));
  const detail::utf8_char ni = detail::decode_utf8(s, 3);
  CHECK((ni.valid && ni.code_point == 0x4F60 && ni.length == 3));
  const detail::utf8_char smile = detail::decode_utf8(s, 6);
  CHECK((smile.valid && smile.code_point == 0x1F600 && smile.length == 4));
  CHECK(detail::is_valid_utf8(s));
}

TEST_CASE("utf8: repair replaces maximal ill-formed subparts (Unicode §3.9 examples)") {
  // Each row: input, expected output written by hand.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a\xFF"
       "b",
       "a" + fffd + "b"},                               // never a lead byte
      {"\xC0\x80", fffd + fffd},                        // overlong lead C0
      {"\xE0\x80\x80", fffd + fffd + fffd},             // overlong 3-byte form
      {"\xED\xA0\x80", fffd + fffd + fffd},             // surrogate U+D800
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // above U+10FFFF
      {"\xE2\x82"
       "A",
       fffd + "A"},                            // truncated 3-byte: one U+FFFD
      {"\xF0\x9F\x98", fffd},                  // truncated at the end
      {"\x80\x80", fffd + fffd},               // stray continuation bytes
      {"ok \xE2\x82\xAC", "ok \xE2\x82\xAC"},  // € unchanged
  };
  for (const auto& [in, expected] : cases) {
    CAPTURE(in);
    CHECK(detail::repair_utf8(in) == expected);
    CHECK(detail::is_valid_utf8(expected));
  }
  CHECK_FALSE(detail::is_valid_utf8("\xC3"));
}

TEST_CASE("utf8: append_utf8 inverts decode_utf8 on sampled code points") {
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x3000 ? 1 : 97)) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string s;
    detail::append_utf8(s, cp);
    const detail::utf8_char c = detail::decode_utf8(s, 0);
    REQUIRE(c.valid);
    REQUIRE(c.code_point == cp);
    REQUIRE(c.length == s.size());
  }
  std::string surrogate;
  detail::append_utf8(surrogate, 0xD800);
  CHECK(surrogate == fffd);
}

TEST_CASE("byte alphabet: GPT-2 bytes_to_unicode facts") {
  const auto& t = detail::byte_to_code_point();
  CHECK(t[' '] == 0x120);   // 'Ġ'
  CHECK(t['\n'] == 0x10A);  // 'Ċ'
  CHECK(t[0] == 0x100);
  CHECK(t['!'] == '!');
  CHECK(t['~'] == '~');
  CHECK(t[0x7F] == 0x121);  // first of the second run of non-printables
  CHECK(t[0xAD] == 0x143);  // soft hyphen: the last remapped byte
  CHECK(t[0xAE] == 0xAE);
  std::set<std::uint32_t> seen(t.begin(), t.end());
  CHECK(seen.size() == 256);  // a bijection onto its image
  for (int b = 0; b < 256; ++b)
    CHECK(detail::code_point_to_byte(t[static_cast<std::size_t>(b)]) == b);
  CHECK(detail::code_point_to_byte(0x144) == -1);
  CHECK(detail::code_point_to_byte(' ') == -1);  // ' ' is written 'Ġ', never as itself
  CHECK(detail::to_byte_alphabet(" a\n") ==
        "\xC4\xA0"
        "a\xC4\x8A");
}

// One string that every pre-tokenizer splits differently: an uppercase
// contraction after a word, a digit run, CJK followed by an emoji, "\r\n"
// and trailing spaces.
const std::string mixed =
    "Hello world's IT'S 12345 \xE4\xBD\xA0\xE5\xA5\xBD\xF0\x9F\x98\x80\r\n  end  ";
const std::string cjk = "\xE4\xBD\xA0\xE5\xA5\xBD";  // 你好
const std::string emoji = "\xF0\x9F\x98\x80";        // 😀

TEST_CASE("pre-tokenizer table: every llama.cpp name, each in one row, every regex compiles") {
  // The names llama.cpp (early 2025) accepts for BPE vocabularies.
  const std::vector<std::string> llama_cpp_names = {
      "default",      "llama3",         "llama-v3",     "llama-bpe",  "falcon3",
      "deepseek-llm", "deepseek-coder", "deepseek-v3",  "falcon",     "mpt",
      "starcoder",    "gpt-2",          "phi-2",        "jina-es",    "jina-de",
      "gigachat",     "jina-v1-en",     "jina-v2-es",   "jina-v2-de", "jina-v2-code",
      "roberta-bpe",  "refact",         "command-r",    "qwen2",      "deepseek-r1-qwen",
      "stablelm2",    "olmo",           "dbrx",         "smaug-bpe",  "poro-chat",
      "chatglm-bpe",  "viking",         "jais",         "tekken",     "smollm",
      "codeshell",    "bloom",          "gpt3-finnish", "exaone",     "chameleon",
      "minerva-7b",   "megrez"};
  for (const std::string& name : llama_cpp_names) {
    CAPTURE(name);
    CHECK(detail::find_pretokenizer(name) != nullptr);
  }
  std::set<std::string> seen;
  for (const detail::pretokenizer_rules& row : detail::pretokenizer_table) {
    CHECK(row.regexes[0] != nullptr);
    for (const std::string_view name : row.names) {
      if (name.empty()) continue;
      CAPTURE(name);
      CHECK(seen.insert(std::string(name)).second);  // no name in two rows
      CHECK(detail::find_pretokenizer(name) == &row);
      CHECK_NOTHROW(detail::pretokenizer{name});  // compiles every regex of the row
    }
  }
  CHECK(seen.size() == llama_cpp_names.size() + 1);  // and "gpt2"
}

TEST_CASE("pre-tokenizer default (llama.cpp's, also for an absent tokenizer.ggml.pre)") {
  // Punctuation runs, GPT-2, numbers, then ASCII digits in threes.
  CHECK(split("default", "a+b=12345, x!") ==
        pieces{"a", "+", "b", "=", "123", "45", ",", " x", "!"});
  CHECK(split("default", "Hello world's") == pieces{"Hello", " world", "'", "s"});
}

TEST_CASE("pre-tokenizer gpt-2 (also gpt2, mpt, olmo, jais, phi-2, roberta-bpe, jina-*)") {
  const pieces expected = {"Hello",  " world",  "'s",  " IT",   "'",    "S",
                           " 12345", " " + cjk, emoji, "\r\n ", " end", "  "};
  for (const char* name : {"gpt2", "gpt-2", "mpt", "olmo", "jais", "phi-2", "gigachat",
                           "roberta-bpe", "jina-v2-code"}) {
    CAPTURE(name);
    CHECK(split(name, mixed) == expected);
  }
  CHECK(split("gpt2", "a 1 22 333 4444 55555") ==
        pieces{"a", " 1", " 22", " 333", " 4444", " 55555"});
  CHECK(split("gpt2", "a\r\n\r\nb") == pieces{"a", "\r\n\r", "\n", "b"});
  CHECK(split("gpt2", "x   ") == pieces{"x", "   "});
  CHECK(split("gpt2", "Hello   world") == pieces{"Hello", "  ", " world"});
  CHECK(split("gpt2", "I'll we've they're") == pieces{"I", "'ll", " we", "'ve", " they", "'re"});
}

TEST_CASE("pre-tokenizer llama-bpe (Llama 3)") {
  const pieces expected = {"Hello", " world",  "'s",           " IT", "'S",   " ", "123",
                           "45",    " " + cjk, emoji + "\r\n", " ",   " end", "  "};
  for (const char* name :
       {"llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"}) {
    CAPTURE(name);
    CHECK(split(name, mixed) == expected);
  }
  CHECK(split("llama-bpe", "a 1 22 333 4444 55555") ==
        pieces{"a", " ", "1", " ", "22", " ", "333", " ", "444", "4", " ", "555", "55"});
  CHECK(split("llama-bpe", "a\r\n\r\nb") == pieces{"a", "\r\n\r\n", "b"});
  CHECK(split("llama-bpe", "WE'LL x'Re") == pieces{"WE", "'LL", " x", "'Re"});
  CHECK(split("llama-bpe", "x   ") == pieces{"x", "   "});
}

TEST_CASE("pre-tokenizer qwen2: Llama 3 with single digits") {
  const pieces expected = {"Hello", " world", "'s", " IT",     "'S",           " ", "1",    "2",
                           "3",     "4",      "5",  " " + cjk, emoji + "\r\n", " ", " end", "  "};
  for (const char* name : {"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}) {
    CAPTURE(name);
    CHECK(split(name, mixed) == expected);
  }
  CHECK(split("qwen2", "a 22 333") == pieces{"a", " ", "2", "2", " ", "3", "3", "3"});
}

TEST_CASE("pre-tokenizer starcoder / refact / smollm: digits isolated, then GPT-2") {
  const pieces expected = {"Hello", " world", "'s", " IT",     "'",   "S",     " ",    "1", "2",
                           "3",     "4",      "5",  " " + cjk, emoji, "\r\n ", " end", "  "};
  for (const char* name :
       {"starcoder", "refact", "smollm", "command-r", "codeshell", "exaone", "minerva-7b"}) {
    CAPTURE(name);
    CHECK(split(name, mixed) == expected);
  }
  CHECK(split("starcoder", "x1y 22") == pieces{"x", "1", "y", " ", "2", "2"});
}

TEST_CASE("pre-tokenizer falcon: punctuation runs, GPT-2, ASCII digits in threes") {
  CHECK(split("falcon", "Hello, world 1234567!") ==
        pieces{"Hello", ",", " world", " ", "123", "456", "7", "!"});
}

TEST_CASE("pre-tokenizer deepseek-llm: newlines alone, letter and punctuation classes, CJK") {
  CHECK(split("deepseek-llm", "Hello world\n\n123 " + cjk + "!") ==
        pieces{"Hello", " world", "\n", "\n", "123", " ", cjk, "!"});
  CHECK(split("deepseek-llm", "ab  ") == pieces{"ab", "  "});  // \s+$
  // Each regex re-splits the pieces of the one before: "_" is no letter
  // (step 2 leaves "a", "_", "b"), and ASCII letters, being in the
  // punctuation class's range :-~, are not joined again by step 3.
  CHECK(split("deepseek-llm", "a_b") == pieces{"a", "_", "b"});
  // U+212A KELVIN SIGN and U+212B ANGSTROM SIGN are in the letter class.
  CHECK(split("deepseek-llm",
              "\xE2\x84\xAA\xE2\x84\xAB"
              "9") == pieces{"\xE2\x84\xAA\xE2\x84\xAB", "9"});
}

TEST_CASE("pre-tokenizer deepseek-coder: digits one by one") {
  CHECK(split("deepseek-coder", "Hello world\n\n123 " + cjk + "!") ==
        pieces{"Hello", " world", "\n", "\n", "1", "2", "3", " ", cjk, "!"});
}

TEST_CASE("pre-tokenizer deepseek-v3: digits in threes first, punctuation before a word") {
  CHECK(split("deepseek-v3", "Hello world\n\n12345 " + cjk + "!") ==
        pieces{"Hello", " world", "\n\n", "123", "45", " ", cjk, "!"});
  CHECK(split("deepseek-v3", "a.append(1)") == pieces{"a", ".append", "(", "1", ")"});
}

TEST_CASE("pre-tokenizer bloom (also poro-chat, gpt3-finnish) and viking") {
  const std::string text = "Hello, world! (x|y) 12";
  // '!', '(' and ' ' before '(' match nothing: one gap.
  const pieces bloom = {"Hello", ",", " world", "! (", "x", "|", "y", ")", " 12"};
  for (const char* name : {"bloom", "poro-chat", "gpt3-finnish"}) {
    CAPTURE(name);
    CHECK(split(name, text) == bloom);
  }
  CHECK(split("viking", text) ==
        pieces{"Hello", ",", " world", "! (", "x", "|", "y", ")", " ", "1", "2"});
}

TEST_CASE("pre-tokenizer tekken: case runs, single digits, '/' and newlines after symbols") {
  CHECK(split("tekken", "helloWORLD 12 x/\n") ==
        pieces{"hello", "WORLD", " ", "1", "2", " x", "/\n"});
  CHECK(split("tekken", "HelloWorld") == pieces{"Hello", "World"});
}

TEST_CASE("pre-tokenizer chameleon: image tokens, spacing, digits and punctuation isolated") {
  CHECK(split("chameleon", "Hi  there,\tIMGIMGABZ 42") ==
        pieces{"Hi", "  ", "there", ",", "\t", "IMGIMGABZ", " ", "4", "2"});
  // A sentinel matched by the first regex is cut again by the digit and
  // punctuation regexes (llama.cpp's parse_special cuts it out before).
  CHECK(split("chameleon", "a<sentinel:12>b") ==
        pieces{"a", "<", "sentinel", ":", "1", "2", ">", "b"});
}

TEST_CASE("pre-tokenizer: unknown names are errors naming the name") {
  CHECK_THROWS_WITH_AS(detail::pretokenizer("no-such-pre"), doctest::Contains("no-such-pre"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(detail::pretokenizer("jina-v9"), doctest::Contains("'jina-v9'"),
                       shiftrope::error);
  CHECK(detail::pretokenizer_regexes("no-such-pre").empty());
  CHECK(detail::find_pretokenizer("") == nullptr);
}

TEST_CASE("pre-tokenizer: ill-formed UTF-8 becomes pieces of its own, never an error") {
  CHECK(split("gpt2",
              "ab\xFF"
              "cd") == pieces{"ab", "\xFF", "cd"});
  CHECK(split("llama-bpe",
              "ab\xFF"
              "cd") == pieces{"ab", "\xFF", "cd"});
  CHECK(split("gpt2", "x \xC3") == pieces{"x", " ", "\xC3"});
  // Property: on random bytes the pieces are non-empty and cover the input.
  splitmix64 rng{42};
  for (const detail::pretokenizer_rules& row : detail::pretokenizer_table) {
    const detail::pretokenizer pre(row.names[0]);
    CAPTURE(pre.name());
    for (int trial = 0; trial < 200; ++trial) {
      std::string text(1 + rng.next() % 97, '\0');
      for (char& c : text) c = static_cast<char>(rng.next() & 0xFF);
      std::string joined;
      for (const std::string_view p : pre.split_views(text)) {
        REQUIRE_FALSE(p.empty());
        joined += p;
      }
      REQUIRE(joined == text);
    }
  }
}

TEST_CASE("pre-tokenizer: every row splits 64 KB runs without a PCRE2 resource error") {
  const std::vector<std::string> runs = {std::string(1 << 16, 'x'), std::string(1 << 16, ' '),
                                         std::string(1 << 16, '7'), std::string(1 << 16, '\n'),
                                         std::string(1 << 16, ','), std::string(1 << 16, '\xFF')};
  std::string letters;  // 64 KB of 'é'
  for (int i = 0; i < (1 << 15); ++i) letters += "\xC3\xA9";
  for (const detail::pretokenizer_rules& row : detail::pretokenizer_table) {
    const detail::pretokenizer pre(row.names[0]);
    CAPTURE(pre.name());
    for (const std::string& run : {runs[0], runs[1], runs[2], runs[3], runs[4], runs[5], letters}) {
      std::size_t covered = 0;
      for (const auto& piece : pre.split(run)) covered += piece.second;
      CHECK(covered == run.size());
    }
  }
}

TEST_CASE("pre-tokenizer: long inputs stay linear (one 1 MB word, 1 MB of spaces)") {
  const detail::pretokenizer pre("llama-bpe");
  CHECK(pre.split(std::string(1 << 20, 'x')).size() == 1);
  CHECK(pre.split(std::string(1 << 20, ' ')).size() == 1);
  CHECK(pre.split(std::string(1 << 20, '7')).size() == ((1 << 20) + 2) / 3);
  CHECK(pre.split(std::string(1 << 20, ' ') + "x").size() == 2);  // "   ...", " x"
  CHECK(pre.split(std::string(1 << 20, '\xFF')).size() == 1);     // one ill-formed gap
  std::string mixed_gaps;
  for (int i = 0; i < (1 << 18); ++i)
    mixed_gaps +=
        "\xFF"
        "a";
  CHECK(pre.split(mixed_gaps).size() == 2u << 18);
}
