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

TEST_CASE("pre-tokenizer gpt2 (also default, mpt, olmo)") {
  const pieces expected = {"Hello",  " world",  "'s",  " IT",   "'",    "S",
                           " 12345", " " + cjk, emoji, "\r\n ", " end", "  "};
  for (const char* name : {"gpt2", "gpt-2", "default", "mpt", "olmo"}) {
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
  CHECK(split("llama-bpe", mixed) == expected);
  CHECK(split("llama3", mixed) == expected);
  CHECK(split("llama-bpe", "a 1 22 333 4444 55555") ==
        pieces{"a", " ", "1", " ", "22", " ", "333", " ", "444", "4", " ", "555", "55"});
  CHECK(split("llama-bpe", "a\r\n\r\nb") == pieces{"a", "\r\n\r\n", "b"});
  CHECK(split("llama-bpe", "WE'LL x'Re") == pieces{"WE", "'LL", " x", "'Re"});
  CHECK(split("llama-bpe", "x   ") == pieces{"x", "   "});
}

TEST_CASE("pre-tokenizer qwen2: Llama 3 with single digits") {
  const pieces expected = {"Hello", " world", "'s", " IT",     "'S",           " ", "1",    "2",
                           "3",     "4",      "5",  " " + cjk, emoji + "\r\n", " ", " end", "  "};
  CHECK(split("qwen2", mixed) == expected);
  CHECK(split("qwen2", "a 22 333") == pieces{"a", " ", "2", "2", " ", "3", "3", "3"});
}

TEST_CASE("pre-tokenizer starcoder / refact / smollm: digits isolated, then GPT-2") {
  const pieces expected = {"Hello", " world", "'s", " IT",     "'",   "S",     " ",    "1", "2",
                           "3",     "4",      "5",  " " + cjk, emoji, "\r\n ", " end", "  "};
  for (const char* name : {"starcoder", "refact", "smollm"}) {
    CAPTURE(name);
    CHECK(split(name, mixed) == expected);
  }
  CHECK(split("starcoder", "x1y 22") == pieces{"x", "1", "y", " ", "2", "2"});
}

TEST_CASE("pre-tokenizer: unknown names are errors naming the name") {
  CHECK_THROWS_WITH_AS(detail::pretokenizer("no-such-pre"), doctest::Contains("no-such-pre"),
                       shiftrope::error);
  CHECK(detail::pretokenizer_regexes("no-such-pre").empty());
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
  for (const char* name : {"gpt2", "llama-bpe", "qwen2", "starcoder"}) {
    const detail::pretokenizer pre(name);
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
