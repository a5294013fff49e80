// Hostile inputs beyond malformed files: vocabularies crafted against the
// token index, ill-formed UTF-8 and very long prompts through the real
// tokenizers, and (below) the model's runtime parameters at their edges.
// Everything must end in a result or shiftrope::error, in bounded time.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <shiftrope/detail/special_match.hpp>
#include <shiftrope/detail/utf8.hpp>
#include <shiftrope/detail/vocab_index.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace shiftrope;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// FNV-1a 64 from state h, written here from its definition (the hash the
/// token index used with a fixed initial state before it was seeded).
std::uint64_t fnv1a_from(std::uint64_t h, const std::string& s) {
  for (const unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

/// 2^blocks distinct texts of 4·blocks bytes whose fixed-basis FNV-1a hashes
/// agree in the low `bits` bits (a Joux multicollision: at each block, two
/// 4-letter strings that collide from the common state; FNV-1a's low bits
/// depend only on the low bits of its state, so any choice per block
/// collides). A fixed-hash open-addressing index puts them all in one slot.
std::vector<std::string> colliding_texts(int blocks, int bits) {
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  std::vector<std::pair<std::string, std::string>> pairs;
  std::uint64_t state = 0xcbf29ce484222325ull;
  for (int b = 0; b < blocks; ++b) {
    std::unordered_map<std::uint64_t, std::string> seen;  // low bits -> block
    for (std::uint32_t i = 0;; ++i) {
      std::string s(4, 'a');
      for (int j = 0; j < 4; ++j)
        s[static_cast<std::size_t>(j)] = static_cast<char>('a' + (i >> (5 * j)) % 26);
      const std::uint64_t h = fnv1a_from(state, s);
      const auto it = seen.find(h & mask);
      if (it != seen.end() && it->second != s) {
        pairs.emplace_back(it->second, s);
        state = h;  // both blocks lead to this state (mod 2^bits)
        break;
      }
      seen.emplace(h & mask, s);
    }
  }
  std::vector<std::string> texts;
  for (std::uint32_t m = 0; m < (1u << blocks); ++m) {
    std::string t;
    for (int b = 0; b < blocks; ++b)
      t += (m >> b & 1) ? pairs[static_cast<std::size_t>(b)].second
                        : pairs[static_cast<std::size_t>(b)].first;
    texts.push_back(std::move(t));
  }
  return texts;
}

/// As many texts of the same length, from a fixed-seed xorshift (no structure).
std::vector<std::string> plain_texts(std::size_t n, std::size_t length) {
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  std::vector<std::string> texts(n, std::string(length, 'a'));
  for (std::string& t : texts)
    for (char& c : t) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>('a' + x % 26);
    }
  return texts;
}

}  // namespace

TEST_CASE("hostile vocabulary: texts that collide under a fixed hash index in linear time") {
  // 2^14 texts: with a fixed FNV-1a slot choice they form one probe cluster
  // and indexing costs ~2^27 string comparisons (seconds; 2^20 tokens: hours).
  constexpr int blocks = 14;
  constexpr int bits = 20;  // covers every table size up to 2^20 slots
  // Generous: the seeded index takes about as long for both sets.
  constexpr double max_ratio = 8.0;
  constexpr double slack_seconds = 0.2;
  const std::vector<std::string> hostile = colliding_texts(blocks, bits);
  const std::vector<std::string> plain = plain_texts(hostile.size(), hostile[0].size());
  REQUIRE(hostile.size() == (1u << blocks));
  // The set really collides under the fixed hash (the test can tell).
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  const std::uint64_t h0 = fnv1a_from(0xcbf29ce484222325ull, hostile[0]) & mask;
  for (const std::string& t : hostile) REQUIRE((fnv1a_from(0xcbf29ce484222325ull, t) & mask) == h0);

  auto t0 = std::chrono::steady_clock::now();
  const detail::vocab_index plain_index(plain);
  const double plain_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const detail::vocab_index hostile_index(hostile);
  const double hostile_s = seconds_since(t0);
  MESSAGE("indexing 2^14 texts: plain ", plain_s, " s, colliding ", hostile_s, " s");
  CHECK(hostile_s < max_ratio * plain_s + slack_seconds);
  // Lookups are exact whatever the seed.
  for (std::size_t i = 0; i < hostile.size(); i += 97)
    CHECK(hostile_index.find(hostile[i]) == static_cast<std::int32_t>(i));
  CHECK(hostile_index.find(hostile[0] + "x") == -1);
  CHECK(hostile_index.duplicate().first == -1);
  // A tokenizer over the hostile texts (SPM with byte tokens) loads and encodes.
  vocab_data d;
  d.tokens = hostile;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    d.tokens.emplace_back(name);
  }
  t0 = std::chrono::steady_clock::now();
  const tokenizer tok(std::move(d));
  const std::string text = hostile[5] + hostile[9];
  const std::vector<int> ids = tok.encode(text, false);
  CHECK(seconds_since(t0) < 10 * (plain_s + slack_seconds));
  // No pair of letters is a token, so SPM spells the text in byte tokens.
  CHECK(ids.size() == text.size());
  CHECK(tok.decode(ids) == text);
}

namespace {

/// Longest entry that prefixes s, by trying every entry (the reference).
std::pair<int, std::size_t> naive_longest_prefix(
    const std::vector<std::pair<std::string, int>>& entries, const std::string& s) {
  std::pair<int, std::size_t> best{-1, 0};
  for (const auto& [text, id] : entries) {
    if (text.empty() || text.size() > detail::special_matcher::max_special_bytes) continue;
    if (s.compare(0, text.size(), text) == 0 && text.size() > best.second) best = {id, text.size()};
  }
  return best;
}

}  // namespace

TEST_CASE("special_matcher: longest prefix equals trying every text") {
  std::uint64_t x = 12345;
  const auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const char alphabet[] = {'a', 'b', '\xff', '<'};
  const auto random_text = [&](std::size_t max_len) {
    std::string s(1 + next() % max_len, 'a');
    for (char& c : s) c = alphabet[next() % 4];
    return s;
  };
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::pair<std::string, int>> entries;
    const int n = 1 + static_cast<int>(next() % 40);
    for (int i = 0; i < n; ++i) entries.emplace_back(random_text(6), i);
    entries.emplace_back(std::string(257, 'a'), n);  // longer than the bound: never matched
    // Distinct texts only, as in a vocabulary (validate() refuses duplicates).
    std::sort(entries.begin(), entries.end());
    entries.erase(std::unique(entries.begin(), entries.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  entries.end());
    const detail::special_matcher m(entries);
    for (int q = 0; q < 40; ++q) {
      const std::string s = q == 0 ? std::string(300, 'a') : random_text(9);
      CHECK(m.longest_prefix(s) == naive_longest_prefix(entries, s));
    }
  }
}

TEST_CASE("hostile vocabulary: parse_special stays linear in the prompt") {
  // Specials a^(L-1) b for L = 2..2000 (2 MB of text): each prompt position
  // of "aaa..." prefixes every one of them. Probing every distinct length
  // cost the sum of the lengths per position (a 4 KB prompt: 16 s).
  constexpr int max_len = 2000;
  constexpr std::size_t prompt_bytes = 1 << 13;
  constexpr double max_seconds = 5.0;  // 0.05 s at -O2; the old matcher took over 30 s
  vocab_data d;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    d.tokens.emplace_back(name);
  }
  d.types.assign(256, token_type::byte);
  for (int len = 2; len <= max_len; ++len) {
    d.tokens.push_back(std::string(static_cast<std::size_t>(len - 1), 'a') + "b");
    d.types.push_back(token_type::user_defined);
  }
  const tokenizer tok(std::move(d));
  const std::string prompt(prompt_bytes, 'a');
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int> ids = tok.encode(prompt, false, true);
  const double s = seconds_since(t0);
  MESSAGE("parse_special over ", prompt_bytes, " bytes against ", max_len - 1, " specials: ", s,
          " s");
  CHECK(s < max_seconds);
  // No special matches (each ends in 'b'): byte tokens 0x61 throughout.
  CHECK(ids == std::vector<int>(prompt_bytes, 0x61));
  // A special within the bound still matches, leftmost-longest.
  const std::vector<int> with_b = tok.encode("aaab", false, true);
  CHECK(with_b == std::vector<int>{256 + 2});  // "aaab" = a^3 b, length 4 -> id 256 + 4 - 2
}
