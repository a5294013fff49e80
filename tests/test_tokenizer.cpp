// Tests of tokenizer.hpp against independent references:
// - golden ids: llama.cpp's vocabulary test cases (every NAME.gguf with
//   NAME.gguf.inp and NAME.gguf.out in ../shared/vocab) and the llama2.c
//   story tokens (../shared/models/golden/story64.tokens);
// - naive reference encoders written plainly here: llama2.c's O(n²) encode
//   (rescan for the best pair after every merge) and a naive rank-order BPE;
// - identities: decode(encode(s)) == s where it holds by construction.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <shiftrope/detail/text/utf8.hpp>
// g++ 12 reports a false -Wstringop-overflow inside gguf_writer::to_bytes
// (std::vector<uint8_t>::insert of an initializer list into an empty
// vector) when it is inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include <shiftrope/gguf_writer.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <shiftrope/tokenizer.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "shared_data.hpp"

using namespace shiftrope;
using ids = std::vector<int>;

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
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

std::string shared_path(const std::string& rel) {
  return shared_data::path(rel);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string spm_path = shared_path("vocab/ggml-vocab-llama-spm.gguf");
const std::string gpt2_path = shared_path("vocab/ggml-vocab-gpt-2.gguf");
const std::string tok512_path = shared_path("models/tok512.bin");

/// Tokenizers are loaded once per program (the GPT-2 vocabulary is 1.7 MB).
const tokenizer& load(const std::string& path) {
  static std::map<std::string, std::unique_ptr<tokenizer>> cache;
  auto& slot = cache[path];
  if (!slot) {
    if (path == tok512_path) {
      slot = std::make_unique<tokenizer>(tokenizer::from_llama2c(read_llama2c_vocab(path, 512)));
    } else {
      slot = std::make_unique<tokenizer>(tokenizer::from_gguf(gguf_file::open(path)));
    }
  }
  return *slot;
}

struct vocab_case {
  std::string text;
  ids expected;
};

/// llama.cpp's test files: NAME.inp holds each input followed by the line
/// "__ggml_vocab_test__" (so every case ends with "\n__ggml_vocab_test__\n";
/// the newline before the marker is not part of the text; `od -c` shows the
/// file starts with the first text and ends with the last marker); NAME.out
/// holds one line of space-separated ids per input, no BOS.
std::vector<vocab_case> read_cases(const std::string& gguf_path) {
  const std::string inp = slurp(gguf_path + ".inp");
  const std::string marker = "\n__ggml_vocab_test__\n";
  std::vector<vocab_case> cases;
  for (std::size_t pos = 0; pos < inp.size();) {
    const std::size_t end = inp.find(marker, pos);
    REQUIRE_MESSAGE(end != std::string::npos, "text after the last marker in " << gguf_path);
    cases.push_back({inp.substr(pos, end - pos), {}});
    pos = end + marker.size();
  }
  std::istringstream out(slurp(gguf_path + ".out"));
  std::string line;
  std::size_t i = 0;
  for (; std::getline(out, line); ++i) {
    REQUIRE(i < cases.size());
    std::istringstream fields(line);
    for (int id; fields >> id;) cases[i].expected.push_back(id);
  }
  REQUIRE(i == cases.size());
  return cases;
}

void check_vocab_cases(const std::string& path) {
  const tokenizer& tok = load(path);
  const std::vector<vocab_case> cases = read_cases(path);
  REQUIRE(!cases.empty());
  std::size_t passed = 0;
  for (const vocab_case& c : cases) {
    CAPTURE(c.text);
    const ids got = tok.encode(c.text, false, false);
    CHECK(got == c.expected);
    passed += got == c.expected;
  }
  MESSAGE(path << ": " << passed << "/" << cases.size() << " cases give the expected ids");
  CHECK(passed == cases.size());
}

/// llama2.c's encode, written plainly (quadratic): byte fallback per
/// character first ("+3": ids 3..258 are <0x00>..<0xFF>), a dummy-prefix " "
/// token, then merge the best-scoring adjacent pair (leftmost on ties) and
/// rescan, until no pair is a token.
ids llama2c_encode_reference(const std::vector<std::string>& vocab,
                             const std::vector<float>& scores, const std::string& text, bool bos) {
  std::map<std::string, int> lookup;
  for (std::size_t i = 0; i < vocab.size(); ++i) lookup.emplace(vocab[i], static_cast<int>(i));
  ids tokens;
  if (bos) tokens.push_back(1);
  if (!text.empty()) tokens.push_back(lookup.at(" "));
  std::string buf;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) buf.clear();
    buf += text[i];
    if (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80 &&
        buf.size() < 4)
      continue;
    const auto it = lookup.find(buf);
    if (it != lookup.end()) {
      tokens.push_back(it->second);
    } else {
      for (const char b : buf) tokens.push_back(static_cast<unsigned char>(b) + 3);
    }
    buf.clear();
  }
  for (;;) {
    float best_score = -1e10f;
    int best_id = -1;
    std::size_t best_idx = 0;
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      const auto it = lookup.find(vocab[static_cast<std::size_t>(tokens[i])] +
                                  vocab[static_cast<std::size_t>(tokens[i + 1])]);
      if (it != lookup.end() && scores[static_cast<std::size_t>(it->second)] > best_score) {
        best_score = scores[static_cast<std::size_t>(it->second)];
        best_id = it->second;
        best_idx = i;
      }
    }
    if (best_id < 0) break;
    tokens[best_idx] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_idx) + 1);
  }
  return tokens;
}

/// Random text from pieces that exercise every path: ASCII words, digit runs,
/// runs of spaces, tabs and newlines, punctuation, accents, CJK and emoji.
std::string random_text(splitmix64& rng, std::size_t n_pieces) {
  static const std::vector<std::string> parts = {"the",
                                                 "Once",
                                                 " upon",
                                                 "a",
                                                 "time",
                                                 " ",
                                                 "  ",
                                                 "\n",
                                                 "\t",
                                                 "\r\n",
                                                 "123",
                                                 "4",
                                                 "99999",
                                                 ",",
                                                 ".",
                                                 "!?",
                                                 "'s",
                                                 "'LL",
                                                 "é",
                                                 "ü",
                                                 "\xE4\xBD\xA0\xE5\xA5\xBD",  // 你好
                                                 "\xF0\x9F\x98\x80",          // 😀
                                                 "\xE2\x9C\x85",              // ✅
                                                 "Lily",
                                                 "Tom",
                                                 "cat",
                                                 "ing",
                                                 "--",
                                                 "==",
                                                 "<",
                                                 ">",
                                                 "xyz"};
  std::string s;
  for (std::size_t i = 0; i < n_pieces; ++i) s += parts[rng.below(parts.size())];
  return s;
}

std::vector<std::string> story_prompts() {
  return {"Once upon a time", "Lily and Tom", "The cat"};
}

}  // namespace

// Every vocabulary in ../shared/vocab that has its cases beside it, so a
// vocabulary dropped there is checked without a new test (the four shipped:
// llama-spm, gpt-2, deepseek-llm with its 2,398 user-defined tokens, refact).
TEST_CASE("llama.cpp vocabulary cases: every vocabulary in the shared folder") {
  if (!shared_data::have({spm_path, gpt2_path})) return;
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(shared_path("vocab"))) {
    const std::string p = entry.path().string();
    if (entry.path().extension() == ".gguf" && shared_data::exists(p + ".inp") &&
        shared_data::exists(p + ".out"))
      paths.push_back(p);
  }
  std::sort(paths.begin(), paths.end());
  REQUIRE(paths.size() >= 2);
  for (const std::string& path : paths) {
    CAPTURE(path);
    check_vocab_cases(path);
  }
}

// decode(encode(s)) == s holds by construction for well-formed UTF-8 without
// special-token parsing: byte-level BPE keeps every byte; SPM keeps every
// byte too (tokens or byte fallback), ' ' ↔ '▁' is a bijection as long as
// the text holds no '▁' of its own, and decode drops exactly the one space
// prefix encode added. It does not hold for ill-formed UTF-8 (decode
// repairs it), for text containing U+2581 under SPM (it comes back as ' '),
// or with parse_special (control tokens decode to nothing): see below.
TEST_CASE("round trip: llama.cpp cases and random text, every vocabulary") {
  if (!shared_data::have({spm_path, gpt2_path, tok512_path})) return;
  for (const std::string& path : {spm_path, gpt2_path, tok512_path}) {
    CAPTURE(path);
    const tokenizer& tok = load(path);
    std::vector<std::string> texts;
    if (path != tok512_path)
      for (const vocab_case& c : read_cases(path)) texts.push_back(c.text);
    splitmix64 rng{7};
    for (int i = 0; i < 300; ++i) texts.push_back(random_text(rng, rng.below(40)));
    for (const std::string& s : texts) {
      CAPTURE(s);
      REQUIRE(detail::is_valid_utf8(s));
      CHECK(tok.decode(tok.encode(s, false)) == s);
      CHECK(tok.decode(tok.encode(s, tok.bos() >= 0)) == s);
    }
  }
}

TEST_CASE("round trip: the documented exceptions") {
  if (!shared_data::have({spm_path, gpt2_path})) return;
  const tokenizer& spm = load(spm_path);
  const tokenizer& bpe = load(gpt2_path);
  // Ill-formed UTF-8: the bytes survive encoding, decode repairs them.
  for (const tokenizer* tok : {&spm, &bpe}) {
    CHECK(tok->decode(tok->encode("a\xFF"
                                  "b",
                                  false)) ==
          "a\xEF\xBF\xBD"
          "b");
    CHECK(tok->decode(tok->encode("\xE4\xBD", false)) == "\xEF\xBF\xBD");
  }
  // SPM: a literal U+2581 in the text is a space in the vocabulary's eyes.
  CHECK(spm.decode(spm.encode("a\xE2\x96\x81"
                              "b",
                              false)) == "a b");
  // parse_special: control tokens take part in encoding but decode to "".
  CHECK(spm.decode(spm.encode("<s>hi</s>", false, true)) == "hi");
  CHECK(bpe.decode(bpe.encode("hi<|endoftext|>", false, true)) == "hi");
}

TEST_CASE("llama2.c tok512: encode agrees with llama2.c's algorithm written plainly") {
  if (!shared_data::have({tok512_path})) return;
  const llama2c_vocab v = read_llama2c_vocab(tok512_path, 512);
  const tokenizer& tok = load(tok512_path);
  std::vector<std::string> texts = story_prompts();
  splitmix64 rng{11};
  for (int i = 0; i < 300; ++i) texts.push_back(random_text(rng, rng.below(30)));
  texts.push_back("");
  for (const std::string& s : texts) {
    CAPTURE(s);
    CHECK(tok.encode(s, true) == llama2c_encode_reference(v.pieces, v.scores, s, true));
    CHECK(tok.encode(s, false) == llama2c_encode_reference(v.pieces, v.scores, s, false));
  }
  CHECK(tok.encode("", true) == ids{1});  // no dummy prefix for empty text
}

TEST_CASE("llama2.c tok512: the golden story's prompt tokens and text") {
  const std::string tokens_path = shared_path("models/golden/story64.tokens");
  const std::string readme_path = shared_path("models/README.md");
  if (!shared_data::have({tok512_path, tokens_path, readme_path})) return;
  const tokenizer& tok = load(tok512_path);
  ids story;
  std::istringstream in(slurp(tokens_path));
  for (std::string field; std::getline(in, field, ',');) story.push_back(std::stoi(field));
  REQUIRE(story.size() == 64);
  // The story begins with BOS + the prompt "Once upon a time".
  const ids prompt = tok.encode("Once upon a time", true);
  REQUIRE(prompt.size() < story.size());
  CHECK(prompt == ids(story.begin(), story.begin() + static_cast<std::ptrdiff_t>(prompt.size())));
  CHECK(prompt == ids{1, 403, 407, 261, 378});
  // README: the text `run` printed, indented by four spaces under the prompt.
  std::istringstream readme(slurp(readme_path));
  std::string line, text;
  while (std::getline(readme, line) && line != "    prompt \"Once upon a time\":") {
  }
  for (bool first = true; std::getline(readme, line) && line.rfind("    ", 0) == 0; first = false)
    text += (first ? "" : "\n") + line.substr(4);
  REQUIRE(!text.empty());
  // `run -n 64` prints the token chosen at each of the 64 positions, i.e. one
  // token beyond the 64 of story64.tokens (BOS included): the README text is
  // decode(story) followed by that one token's piece.
  const std::string decoded = tok.decode(story);
  REQUIRE(text.size() > decoded.size());
  CHECK(text.compare(0, decoded.size(), decoded) == 0);
  const std::string rest = text.substr(decoded.size());
  bool rest_is_one_token = false;
  for (int id = 0; id < tok.n_vocab(); ++id) rest_is_one_token |= tok.piece(id) == rest;
  CHECK_MESSAGE(rest_is_one_token, "rest = '" << rest << "'");
  CHECK(decoded.rfind("Once upon a time, there was a little girl named Lily.", 0) == 0);
}

TEST_CASE("llama2.c tok512 and stories260K.gguf: the same vocabulary, the same ids") {
  const std::string gguf_path = shared_path("models/stories260K.gguf");
  if (!shared_data::have({tok512_path, gguf_path})) return;
  const tokenizer& bin = load(tok512_path);
  const tokenizer gguf = tokenizer::from_gguf(gguf_file::open(gguf_path));
  CHECK(gguf.n_vocab() == 512);
  CHECK(gguf.bos() == 1);
  CHECK(gguf.eos() == 2);
  CHECK(gguf.add_bos_default());
  splitmix64 rng{3};
  std::vector<std::string> texts = story_prompts();
  for (int i = 0; i < 200; ++i) texts.push_back(random_text(rng, rng.below(30)));
  for (const std::string& s : texts) {
    CAPTURE(s);
    const ids a = bin.encode(s, true);
    CHECK(a == gguf.encode(s, true));
    CHECK(bin.decode(a) == gguf.decode(a));
  }
}

namespace {

/// A small SPM vocabulary over " abcd": <unk>, <s>, </s>, the 256 byte
/// tokens, the characters, then random strings with random scores (ties
/// included, to exercise the leftmost rule).
vocab_data random_spm_vocab(splitmix64& rng) {
  vocab_data d;
  d.tokens = {"<unk>", "<s>", "</s>"};
  d.types = {token_type::unknown, token_type::control, token_type::control};
  for (int b = 0; b < 256; ++b) {
    static const char* hex = "0123456789ABCDEF";
    d.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
    d.types.push_back(token_type::byte);
  }
  d.scores.assign(d.tokens.size(), 0.0f);
  const std::string alphabet = " abcd";
  std::map<std::string, bool> seen;
  for (const char c : alphabet) seen[std::string(1, c)] = true;
  while (seen.size() < 60) {
    std::string t;
    for (std::size_t k = 0, len = 2 + rng.below(4); k < len; ++k) t += alphabet[rng.below(5)];
    seen[t] = true;
  }
  for (const auto& entry : seen) {
    d.tokens.push_back(entry.first);
    d.types.push_back(token_type::normal);
    d.scores.push_back(-static_cast<float>(rng.below(12)));
  }
  d.bos_id = 1;
  d.eos_id = 2;
  d.unk_id = 0;
  d.add_space_prefix = true;
  d.escape_spaces = false;  // spaces stay ' ', as in llama2.c
  return d;
}

/// GPT-2-style BPE written plainly: per pre-token, start from the byte
/// alphabet characters, repeatedly merge the adjacent pair of lowest rank
/// (leftmost on ties), then look the strings up.
ids naive_bpe(const vocab_data& d, const std::string& text) {
  std::map<std::pair<std::string, std::string>, std::size_t> rank;
  for (std::size_t r = 0; r < d.merges.size(); ++r) rank.emplace(d.merges[r], r);
  std::map<std::string, int> lookup;
  for (std::size_t i = 0; i < d.tokens.size(); ++i)
    lookup.emplace(d.tokens[i], static_cast<int>(i));
  ids out;
  for (const std::string_view piece : detail::pretokenizer(d.pre).split_views(text)) {
    std::vector<std::string> symbols;
    for (const char c : piece) symbols.push_back(detail::to_byte_alphabet(std::string(1, c)));
    for (;;) {
      std::size_t best = symbols.size();
      std::size_t best_rank = SIZE_MAX;
      for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        const auto it = rank.find({symbols[i], symbols[i + 1]});
        if (it != rank.end() && it->second < best_rank) {
          best_rank = it->second;
          best = i;
        }
      }
      if (best == symbols.size()) break;
      symbols[best] += symbols[best + 1];
      symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    for (const std::string& s : symbols) out.push_back(lookup.at(s));
  }
  return out;
}

/// A small byte-level BPE vocabulary: the 256 alphabet characters, then
/// random merges of the tokens built over "Ġabcde" (Ġ is the space).
vocab_data random_bpe_vocab(splitmix64& rng) {
  vocab_data d;
  d.model = vocab_model::bpe;
  d.pre = "gpt2";
  for (int b = 0; b < 256; ++b)
    d.tokens.push_back(detail::to_byte_alphabet(std::string(1, static_cast<char>(b))));
  std::vector<std::string> words = {"\xC4\xA0", "a", "b", "c", "d", "e"};
  std::map<std::string, bool> is_token;
  for (const std::string& t : d.tokens) is_token[t] = true;
  std::map<std::pair<std::string, std::string>, bool> has_rule;
  for (int k = 0; k < 80; ++k) {
    const std::string& l = words[rng.below(words.size())];
    const std::string& r = words[rng.below(words.size())];
    if (has_rule[{l, r}] || l.size() + r.size() > 8) continue;
    has_rule[{l, r}] = true;
    d.merges.emplace_back(l, r);
    if (!is_token[l + r]) {
      is_token[l + r] = true;
      d.tokens.push_back(l + r);
      words.push_back(l + r);
    }
  }
  return d;
}

}  // namespace

TEST_CASE("SPM on random vocabularies: priority queue == llama2.c's rescan") {
  splitmix64 rng{2024};
  for (int v = 0; v < 20; ++v) {
    const vocab_data d = random_spm_vocab(rng);
    const tokenizer tok(d);
    for (int t = 0; t < 50; ++t) {
      std::string text;
      for (std::size_t k = 0, n = rng.below(40); k < n; ++k) text += " abcdd\xC3\xA9"[rng.below(7)];
      if (!detail::is_valid_utf8(text)) continue;  // the reference groups bytes like llama2.c
      CAPTURE(text);
      REQUIRE(tok.encode(text, true) == llama2c_encode_reference(d.tokens, d.scores, text, true));
    }
  }
}

TEST_CASE("BPE on random vocabularies: priority queue == naive rank-order merging") {
  splitmix64 rng{99};
  for (int v = 0; v < 20; ++v) {
    const vocab_data d = random_bpe_vocab(rng);
    const tokenizer tok(d);
    for (int t = 0; t < 50; ++t) {
      std::string text;
      for (std::size_t k = 0, n = rng.below(60); k < n; ++k) text += "abcde  e\n"[rng.below(9)];
      CAPTURE(text);
      REQUIRE(tok.encode(text, false) == naive_bpe(d, text));
      REQUIRE(tok.decode(tok.encode(text, false)) == text);
    }
  }
}

TEST_CASE("special tokens: parse_special splits them out, leftmost-longest") {
  splitmix64 rng{5};
  vocab_data d = random_spm_vocab(rng);
  const auto add = [&](const std::string& text, token_type type) {
    d.tokens.push_back(text);
    d.types.push_back(type);
    d.scores.push_back(0.0f);
    return static_cast<int>(d.tokens.size()) - 1;
  };
  const int a = add("<a>", token_type::user_defined);
  const int ab = add("<a><b>", token_type::user_defined);
  const int b = add("<b>", token_type::control);
  const tokenizer tok(d);
  const auto plain = [&](const std::string& s, bool prefix) {
    // Reference: the reference encoder on one fragment; after a special
    // token the fragment gets the space prefix again (llama.cpp's rule).
    ids r = llama2c_encode_reference(d.tokens, d.scores, s, false);
    if (!prefix) r.erase(r.begin());  // drop the dummy-prefix token
    return r;
  };
  const auto cat = [](std::initializer_list<ids> parts) {
    ids out;
    for (const ids& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  CHECK(tok.encode("ab<a><b>cd<a>d<b>", false, true) ==
        cat({plain("ab", true), {ab}, plain("cd", true), {a}, plain("d", true), {b}}));
  CHECK(tok.encode("<b><a>", true, true) == ids{1, b, a});
  // Without parse_special, user-defined texts are still cut out (llama.cpp);
  // control texts are not.
  CHECK(tok.encode("ab<a><b>cd", false, false) ==
        cat({plain("ab", true), {ab}, plain("cd", true)}));
  for (const int id : tok.encode("ab<b>", false, false)) CHECK(id != b);
  // User-defined tokens decode to their text; the space prefix encode put
  // after them is dropped again, so the round trip holds.
  CHECK(tok.decode(tok.encode("ab<a>cd", false, true)) == "ab<a>cd");
}

TEST_CASE("literal tokens: llama.cpp's partition order, longest text first") {
  const auto cut = [](std::vector<std::pair<std::string, int>> texts, std::string_view s) {
    std::vector<std::array<std::size_t, 3>> out;  // offset, length, id
    for (const detail::literal_match& m :
         detail::partition_literals(s, detail::special_matcher(std::move(texts))))
      out.push_back({m.offset, m.length, static_cast<std::size_t>(m.id)});
    return out;
  };
  using cuts = std::vector<std::array<std::size_t, 3>>;
  // Longest first, not leftmost-longest: "bcd" wins over the earlier "ab".
  CHECK(cut({{"ab", 1}, {"bcd", 2}}, "abcd") == cuts{{1, 3, 2}});
  // Each text claims its occurrences left to right, without overlaps.
  CHECK(cut({{"aa", 4}}, "aaaaa") == cuts{{0, 2, 4}, {2, 2, 4}});
  // Equal lengths: the lower id first.
  CHECK(cut({{"ab", 5}, {"ba", 3}}, "aba") == cuts{{1, 2, 3}});
  // Shorter texts fill what the longer ones left.
  CHECK(cut({{"   ", 7}, {" ", 8}}, "     x ") == cuts{{0, 3, 7}, {3, 1, 8}, {4, 1, 8}, {6, 1, 8}});
  CHECK(cut({}, "abc").empty());
  CHECK(cut({{"zz", 1}}, "abc").empty());
  // Runs of 1..31 spaces as texts and 1 MB of spaces: 31-space pieces and
  // one space left over, without listing all 31 million occurrences.
  std::vector<std::pair<std::string, int>> runs;
  for (int n = 1; n <= 31; ++n) runs.emplace_back(std::string(static_cast<std::size_t>(n), ' '), n);
  const auto t0 = std::chrono::steady_clock::now();
  const cuts spaces = cut(runs, std::string(1 << 20, ' '));
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 20.0);
  REQUIRE(spaces.size() == (1 << 20) / 31 + 1);
  CHECK(spaces.back() == std::array<std::size_t, 3>{(1 << 20) - 1, 1, 1});
}

namespace {

/// llama.cpp's tokenizer_st_partition written plainly: texts longest first
/// (equal lengths: lower id first); each splits every raw fragment at its
/// occurrences, left to right.
std::vector<std::array<std::size_t, 3>> reference_partition(
    std::vector<std::pair<std::string, int>> texts, const std::string& s) {
  std::stable_sort(texts.begin(), texts.end(), [](const auto& a, const auto& b) {
    return a.first.size() != b.first.size() ? a.first.size() > b.first.size() : a.second < b.second;
  });
  struct fragment {
    std::size_t offset, length;
    int id;  // -1: raw text
  };
  std::vector<fragment> fragments = {{0, s.size(), -1}};
  for (const auto& [t, id] : texts) {
    std::vector<fragment> next;
    for (const fragment& f : fragments) {
      if (f.id >= 0) {
        next.push_back(f);
        continue;
      }
      std::size_t start = f.offset;
      const std::size_t end = f.offset + f.length;
      for (std::size_t m = s.find(t, start); m != std::string::npos && m + t.size() <= end;
           m = s.find(t, start)) {
        if (m > start) next.push_back({start, m - start, -1});
        next.push_back({m, t.size(), id});
        start = m + t.size();
      }
      if (end > start) next.push_back({start, end - start, -1});
    }
    fragments.swap(next);
  }
  std::vector<std::array<std::size_t, 3>> out;
  for (const fragment& f : fragments)
    if (f.id >= 0) out.push_back({f.offset, f.length, static_cast<std::size_t>(f.id)});
  return out;
}

}  // namespace

TEST_CASE("literal tokens: the partition equals llama.cpp's loop written plainly") {
  splitmix64 rng{31};
  for (int v = 0; v < 200; ++v) {
    std::vector<std::pair<std::string, int>> texts;
    for (std::size_t k = 0, n = 1 + rng.below(6); k < n; ++k) {
      std::string t;
      for (std::size_t c = 0, len = 1 + rng.below(4); c < len; ++c) t += "ab "[rng.below(3)];
      bool dup = false;
      for (const auto& e : texts) dup = dup || e.first == t;
      if (!dup) texts.emplace_back(t, static_cast<int>(rng.below(50)) * 10 + static_cast<int>(k));
    }
    const detail::special_matcher matcher(texts);
    for (int t = 0; t < 20; ++t) {
      std::string s;
      for (std::size_t c = 0, len = rng.below(30); c < len; ++c) s += "ab "[rng.below(3)];
      CAPTURE(s);
      std::vector<std::array<std::size_t, 3>> got;
      for (const detail::literal_match& m : detail::partition_literals(s, matcher))
        got.push_back({m.offset, m.length, static_cast<std::size_t>(m.id)});
      REQUIRE(got == reference_partition(texts, s));
    }
  }
}

TEST_CASE("special tokens in the real vocabularies") {
  if (!shared_data::have({spm_path, gpt2_path})) return;
  const tokenizer& spm = load(spm_path);
  const tokenizer& bpe = load(gpt2_path);
  const auto cat = [](ids a, const ids& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  CHECK(bpe.encode("a<|endoftext|>b", false, true) ==
        cat(cat(bpe.encode("a", false), {50256}), bpe.encode("b", false)));
  for (const int id : bpe.encode("a<|endoftext|>b", false, false)) CHECK(id != 50256);
  CHECK(spm.encode("<s>Hello</s>", false, true) == cat(cat({1}, spm.encode("Hello", false)), {2}));
  CHECK(spm.encode("Hi<s>", false, true) == cat(spm.encode("Hi", false), {1}));
  CHECK(spm.encode("<s>", false, false) != ids{1});
}

TEST_CASE("decode: byte tokens, control tokens, bad ids, pieces") {
  if (!shared_data::have({spm_path, gpt2_path})) return;
  const tokenizer& spm = load(spm_path);
  const tokenizer& bpe = load(gpt2_path);
  // 你 = E4 BD A0: three byte tokens (<0xNN> has id NN + 3 in this vocabulary).
  CHECK(spm.text(0xE4 + 3) == "<0xE4>");
  CHECK(spm.decode({0xE4 + 3, 0xBD + 3, 0xA0 + 3}) == "\xE4\xBD\xA0");
  CHECK(spm.decode({0xE4 + 3}) == "\xEF\xBF\xBD");  // a lone lead byte
  CHECK(spm.piece(0xE4 + 3) == "\xE4");
  CHECK(spm.decode({1}).empty());
  CHECK(spm.piece(1) == "<s>");
  CHECK(spm.type(1) == token_type::control);
  CHECK(spm.type(0xE4 + 3) == token_type::byte);
  const ids hello = spm.encode("Hello", true);
  CHECK(spm.piece(hello[1]) == " Hello");
  CHECK(spm.decode(hello) == "Hello");
  CHECK(spm.decode({hello[1], hello[1]}) == "Hello Hello");  // only the first space is the prefix
  CHECK(bpe.piece(bpe.encode(" world", false).at(0)) == " world");
  CHECK_THROWS_WITH_AS(spm.decode({1, 32000}), doctest::Contains("32000"), shiftrope::error);
  CHECK_THROWS_WITH_AS(spm.decode({1, 5, -1}), doctest::Contains("position 2"), shiftrope::error);
  CHECK_THROWS_AS(bpe.piece(50257), shiftrope::error);
  CHECK_THROWS_AS(bpe.type(-7), shiftrope::error);
}

TEST_CASE("accessors: sizes, special ids, end of generation, defaults") {
  if (!shared_data::have({spm_path, gpt2_path})) return;
  const tokenizer& spm = load(spm_path);
  const tokenizer& bpe = load(gpt2_path);
  CHECK(spm.n_vocab() == 32000);
  CHECK(bpe.n_vocab() == 50257);
  CHECK(spm.model() == vocab_model::spm);
  CHECK(bpe.model() == vocab_model::bpe);
  CHECK((spm.bos() == 1 && spm.eos() == 2 && spm.unk() == 0 && spm.pad() == -1));
  CHECK((bpe.bos() == 50256 && bpe.eos() == 50256 && bpe.unk() == -1));
  CHECK(spm.is_eog(2));
  CHECK_FALSE(spm.is_eog(1));
  CHECK(bpe.is_eog(50256));
  CHECK_FALSE(bpe.is_eog(0));
  CHECK(spm.add_bos_default());        // from the file
  CHECK_FALSE(bpe.add_bos_default());  // gpt2 default (no key in the file)
  CHECK(spm.data().add_space_prefix);  // SPM default (no key in the file)
  CHECK(bpe.data().pre == "gpt-2");
  CHECK(spm.encode("x", true).front() == 1);
}

namespace {

/// A tiny valid BPE vocabulary: the byte alphabet plus "ab" from "a b".
vocab_data tiny_bpe() {
  vocab_data d;
  d.model = vocab_model::bpe;
  for (int b = 0; b < 256; ++b)
    d.tokens.push_back(detail::to_byte_alphabet(std::string(1, static_cast<char>(b))));
  d.tokens.push_back("ab");
  d.merges = {{"a", "b"}};
  return d;
}

void check_invalid(const vocab_data& d, const std::string& needle) {
  CAPTURE(needle);
  CHECK_THROWS_WITH_AS(d.validate(), doctest::Contains(needle.c_str()), shiftrope::error);
  CHECK_THROWS_WITH_AS(tokenizer{d}, doctest::Contains(needle.c_str()), shiftrope::error);
}

}  // namespace

TEST_CASE("malformed vocabularies raise shiftrope::error naming field and value") {
  REQUIRE_NOTHROW(tiny_bpe().validate());
  vocab_data d = tiny_bpe();
  d.tokens.clear();
  check_invalid(d, "vocab_data.tokens: empty");
  d = tiny_bpe();
  d.merges.clear();
  check_invalid(d, "vocab_data.merges: empty");
  d = tiny_bpe();
  d.merges.emplace_back("a", "zzz");
  check_invalid(d, "vocab_data.merges[1]: 'a zzz': its right part");
  d = tiny_bpe();
  d.merges.emplace_back("b", "a");  // both tokens, but "ba" is not
  check_invalid(d, "'ba' is not a token");
  d = tiny_bpe();
  d.bos_id = -2;
  check_invalid(d, "vocab_data.bos_id: -2");
  d = tiny_bpe();
  d.eos_id = 257;
  check_invalid(d, "vocab_data.eos_id: 257");
  d = tiny_bpe();
  d.unk_id = 1000;
  check_invalid(d, "vocab_data.unk_id: 1000");
  d = tiny_bpe();
  d.scores = {1.0f, 2.0f};
  check_invalid(d, "vocab_data.scores: size 2");
  d = tiny_bpe();
  d.types.assign(10, token_type::normal);
  check_invalid(d, "vocab_data.types: size 10");
  d = tiny_bpe();
  d.types.assign(d.tokens.size(), token_type::normal);
  d.types[3] = static_cast<token_type>(9);
  check_invalid(d, "vocab_data.types[3]: 9");
  d = tiny_bpe();
  d.tokens.push_back("ab");
  check_invalid(d, "vocab_data.tokens[257]: 'ab' duplicates tokens[256]");
  d = tiny_bpe();
  d.pre = "mystery";
  check_invalid(d, "mystery");
  d = tiny_bpe();
  d.add_bos = true;
  check_invalid(d, "vocab_data.add_bos");
  d = tiny_bpe();
  d.scores.assign(d.tokens.size(), 0.0f);
  d.scores[5] = std::nanf("");
  check_invalid(d, "vocab_data.scores[5]: NaN");
  vocab_data spm;
  spm.tokens = {"<unk>", "x"};
  spm.types = {token_type::byte, token_type::normal};
  check_invalid(spm, "vocab_data.types[0]: byte token '<unk>'");
  llama2c_vocab small;
  small.pieces = {"<unk>", "a"};
  small.scores = {0.0f, 0.0f};
  CHECK_THROWS_WITH_AS(tokenizer::from_llama2c(small), doctest::Contains("eos_id: 2"),
                       shiftrope::error);
  // encode with add_bos on a vocabulary without BOS.
  CHECK_THROWS_WITH_AS(tokenizer(tiny_bpe()).encode("ab", true), doctest::Contains("BOS"),
                       shiftrope::error);
  CHECK(tokenizer(tiny_bpe()).encode("ab", false) == ids{256});
}

namespace {

/// A GGUF file in memory with a tokenizer; `edit` changes the entries.
template <class Edit>
gguf_file tokenizer_gguf(const std::string& model, Edit edit) {
  gguf_writer w;
  w.add_string("general.architecture", "test");
  w.add_string("tokenizer.ggml.model", model);
  edit(w);
  return gguf_file::from_bytes(w.to_bytes(), "mem.gguf");
}

std::vector<std::string> tiny_tokens() {
  return tiny_bpe().tokens;
}

}  // namespace

TEST_CASE("GGUF loader: keys, defaults and errors naming file, key and value") {
  const auto with_tokens = [](gguf_writer& w) {
    w.add_string_array("tokenizer.ggml.tokens", tiny_tokens());
  };
  const auto with_merges = [&](gguf_writer& w) {
    with_tokens(w);
    w.add_string_array("tokenizer.ggml.merges", std::vector<std::string>{"a b"});
  };
  const tokenizer ok = tokenizer::from_gguf(tokenizer_gguf("gpt2", with_merges));
  CHECK(ok.encode("ab", false) == ids{256});
  CHECK(ok.data().pre == "default");  // tokenizer.ggml.pre absent
  CHECK(ok.bos() == -1);
  CHECK_THROWS_WITH_AS(
      tokenizer::from_gguf(tokenizer_gguf("bert", with_merges)),
      doctest::Contains("tokenizer.ggml.model: unsupported tokenizer model 'bert'"),
      shiftrope::error);
  CHECK_THROWS_WITH_AS(tokenizer::from_gguf(tokenizer_gguf("gpt2", with_tokens)),
                       doctest::Contains("mem.gguf: tokenizer.ggml.merges: missing"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(tokenizer::from_gguf(tokenizer_gguf("gpt2",
                                                           [&](gguf_writer& w) {
                                                             with_tokens(w);
                                                             w.add_string_array(
                                                                 "tokenizer.ggml.merges",
                                                                 std::vector<std::string>{"ab"});
                                                           })),
                       doctest::Contains("tokenizer.ggml.merges[0]: 'ab'"), shiftrope::error);
  CHECK_THROWS_WITH_AS(tokenizer::from_gguf(tokenizer_gguf("gpt2",
                                                           [&](gguf_writer& w) {
                                                             with_merges(w);
                                                             w.add_string("tokenizer.ggml.pre",
                                                                          "unheard-of");
                                                           })),
                       doctest::Contains("unheard-of"), shiftrope::error);
  CHECK_THROWS_WITH_AS(
      tokenizer::from_gguf(tokenizer_gguf("gpt2",
                                          [&](gguf_writer& w) {
                                            with_merges(w);
                                            w.add_uint32("tokenizer.ggml.bos_token_id", 999);
                                          })),
      doctest::Contains("tokenizer.ggml.bos_token_id: 999"), shiftrope::error);
  CHECK_THROWS_WITH_AS(tokenizer::from_gguf(tokenizer_gguf("gpt2",
                                                           [&](gguf_writer& w) {
                                                             with_merges(w);
                                                             std::vector<std::int32_t> t(257, 1);
                                                             t[7] = 12;
                                                             w.add_array(
                                                                 "tokenizer.ggml.token_type", t);
                                                           })),
                       doctest::Contains("tokenizer.ggml.token_type[7]: 12"), shiftrope::error);
  CHECK_THROWS_WITH_AS(tokenizer::from_gguf(tokenizer_gguf("gpt2",
                                                           [&](gguf_writer& w) {
                                                             with_merges(w);
                                                             w.add_array("tokenizer.ggml.scores",
                                                                         std::vector<float>(9));
                                                           })),
                       doctest::Contains("tokenizer.ggml.scores: 9 entries for 257 tokens"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(tokenizer::from_gguf(tokenizer_gguf("llama", [](gguf_writer&) {})),
                       doctest::Contains("tokenizer.ggml.tokens"), shiftrope::error);
  // 0xFFFFFFFF is how converters write "no such token" (stories260K.gguf's padding id).
  const tokenizer none = tokenizer::from_gguf(tokenizer_gguf("gpt2", [&](gguf_writer& w) {
    with_merges(w);
    w.add_uint32("tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
    w.add_uint32("tokenizer.ggml.eos_token_id", 256);
  }));
  CHECK(none.pad() == -1);
  CHECK(none.eos() == 256);
  CHECK(none.is_eog(256));
}

// A byte-level BPE vocabulary written by hand: the 256 byte-alphabet
// characters (id = byte), then "He" 256, "ll" 257, "Hell" 258, "Hello" 259,
// "ĠHello" 260 by merges, and the user-defined token "   " (three spaces,
// id 261, written as raw text like the user-defined tokens of real files).
TEST_CASE("user-defined tokens are cut out before pre-tokenization (hand-made GGUF)") {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b)
    tokens.push_back(detail::to_byte_alphabet(std::string(1, static_cast<char>(b))));
  for (const char* t : {"He", "ll", "Hell", "Hello", "\xC4\xA0Hello", "   "}) tokens.push_back(t);
  std::vector<std::int32_t> types(tokens.size(), 1);
  types[261] = 4;
  const std::vector<std::string> merges = {"H e", "l l", "He ll", "Hell o", "\xC4\xA0 Hello"};
  const auto vocab = [&](bool user_defined) {
    return tokenizer::from_gguf(tokenizer_gguf("gpt2", [&](gguf_writer& w) {
      w.add_string("tokenizer.ggml.pre", "gpt-2");
      w.add_string_array("tokenizer.ggml.tokens", tokens);
      w.add_string_array("tokenizer.ggml.merges", merges);
      if (user_defined) w.add_array("tokenizer.ggml.token_type", types);
    }));
  };
  const tokenizer with = vocab(true);
  const tokenizer without = vocab(false);  // "   " is then an ordinary (unreachable) token
  REQUIRE(with.type(261) == token_type::user_defined);
  // GPT-2's regex alone splits "   Hello" into "  ", " Hello".
  CHECK(without.encode("   Hello", false) == ids{32, 32, 260});
  for (const bool parse_special : {false, true}) {
    CAPTURE(parse_special);
    CHECK(with.encode("   Hello", false, parse_special) == ids{261, 259});
    CHECK(with.encode("    Hello", false, parse_special) == ids{261, 260});
    CHECK(with.encode("Hello      Hello", false, parse_special) == ids{259, 261, 261, 259});
    CHECK(with.encode("Hello  Hello", false, parse_special) == ids{259, 32, 260});
    CHECK(with.encode("a   b", false, parse_special) == ids{97, 261, 98});
  }
  CHECK(with.piece(261) == "   ");
  CHECK(with.decode(with.encode("x   Hello   ", false)) == "x   Hello   ");
}

TEST_CASE("GGUF loader: per-name defaults of llama.cpp (BOS, whole-token words)") {
  for (const char* pre : {"llama-bpe", "llama3", "falcon3", "tekken", "chameleon", "gpt-2"}) {
    CAPTURE(pre);
    const tokenizer t = tokenizer::from_gguf(tokenizer_gguf("gpt2", [&](gguf_writer& w) {
      w.add_string_array("tokenizer.ggml.tokens", tiny_tokens());
      w.add_string_array("tokenizer.ggml.merges", std::vector<std::string>{"a b"});
      w.add_string("tokenizer.ggml.pre", pre);
      w.add_uint32("tokenizer.ggml.bos_token_id", 0);
    }));
    const std::string p = pre;
    CHECK(t.add_bos_default() == (p != "gpt-2"));
    CHECK(t.data().ignore_merges == (p != "gpt-2" && p != "chameleon"));
  }
}

TEST_CASE("GGUF loader: SPM defaults and tokenizer.ggml.add_space_prefix") {
  const auto spm_entries = [](bool prefix_key, bool prefix) {
    return [=](gguf_writer& w) {
      w.add_string_array("tokenizer.ggml.tokens",
                         std::vector<std::string>{"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a",
                                                  "\xE2\x96\x81"
                                                  "a"});
      w.add_array("tokenizer.ggml.scores", std::vector<float>{0, 0, 0, -1, -2, -3});
      w.add_array("tokenizer.ggml.token_type", std::vector<std::int32_t>{2, 3, 3, 1, 1, 1});
      if (prefix_key) w.add_bool("tokenizer.ggml.add_space_prefix", prefix);
    };
  };
  const tokenizer dflt = tokenizer::from_gguf(tokenizer_gguf("llama", spm_entries(false, false)));
  CHECK((dflt.bos() == 1 && dflt.eos() == 2 && dflt.unk() == 0));  // llama.cpp's SPM defaults
  CHECK(dflt.add_bos_default());
  CHECK(dflt.encode("a a", true) == ids{1, 5, 5});
  const tokenizer off = tokenizer::from_gguf(tokenizer_gguf("llama", spm_entries(true, false)));
  CHECK(off.encode("a a", false) == ids{4, 5});
  CHECK(off.decode({4, 5}) == "a a");
  // No byte tokens and a character outside the vocabulary: the unknown token.
  CHECK(dflt.encode("b", false) == ids{3, 0});
}

TEST_CASE("ill-formed UTF-8 never crashes, the bytes survive encoding") {
  splitmix64 rng{1234};
  if (!shared_data::have({spm_path, gpt2_path, tok512_path})) return;
  for (const std::string& path : {spm_path, gpt2_path, tok512_path}) {
    CAPTURE(path);
    const tokenizer& tok = load(path);
    for (int trial = 0; trial < 300; ++trial) {
      std::string bytes(rng.below(64), '\0');
      for (char& c : bytes) c = static_cast<char>(rng.next() & 0xFF);
      CAPTURE(bytes);
      ids got;
      REQUIRE_NOTHROW(got = tok.encode(bytes, true, trial % 2 == 0));
      for (const int id : got) REQUIRE((id >= 0 && id < tok.n_vocab()));
      if (bytes.find("\xE2\x96\x81") != std::string::npos) continue;  // SPM: '▁' is ' '
      const bool has_special = trial % 2 == 0 && bytes.find('<') != std::string::npos;
      if (!has_special) CHECK(tok.decode(got) == detail::repair_utf8(bytes));
    }
  }
}

TEST_CASE("no quadratic blow-up: 1 MB without spaces (SPM), a 100 KB word (BPE)") {
  if (!shared_data::have({spm_path, gpt2_path})) return;
  // Quadratic merging would need ~10^12 steps here; linearithmic takes well
  // under a second. The bound is loose so that sanitizer builds pass.
  constexpr double max_seconds = 20.0;
  const auto timed = [&](const tokenizer& tok, const std::string& text) {
    const auto t0 = std::chrono::steady_clock::now();
    const ids got = tok.encode(text, false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(s < max_seconds);
    CHECK(tok.decode(got) == text);
    return got.size();
  };
  CHECK(timed(load(spm_path), std::string(1 << 20, 'a')) > 0);
  std::string word;
  splitmix64 rng{8};
  for (int i = 0; i < 100000; ++i) word += static_cast<char>('a' + rng.below(26));
  CHECK(timed(load(gpt2_path), word) > 0);
  CHECK(timed(load(spm_path), word) > 0);
}

TEST_CASE("SPM: cutting before space runs is allowed only when no token spans such a cut") {
  const std::string sp = "\xE2\x96\x81";  // ▁
  CHECK(detail::spm_can_split_at_spaces({sp + "a", sp + sp, "ab", sp + sp + "x"}, sp));
  CHECK_FALSE(detail::spm_can_split_at_spaces({sp + "a", "a" + sp + "b"}, sp));
  CHECK_FALSE(detail::spm_can_split_at_spaces({"x" + sp}, sp));
  CHECK(detail::spm_can_split_at_spaces({" a", "  ", "ab"}, " "));
  CHECK_FALSE(detail::spm_can_split_at_spaces({"a b"}, " "));
  // A vocabulary with a token across a space run ("a b") is encoded whole:
  // its result must still equal llama2.c's (the random vocabularies above
  // hold such tokens; this one does for sure).
  vocab_data d;
  d.tokens = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) {
    static const char* hex = "0123456789ABCDEF";
    d.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
  }
  for (const char* t : {" ", "a", "b", " a", " b", "a b", " a b"}) d.tokens.emplace_back(t);
  d.scores.assign(d.tokens.size(), 0.0f);
  d.bos_id = 1;
  d.add_space_prefix = true;
  d.escape_spaces = false;
  const tokenizer tok(d);
  for (const std::string s : {"a b", "b a b", "a ba b", "aa b"})
    CHECK(tok.encode(s, true) == llama2c_encode_reference(d.tokens, d.scores, s, true));
  // " a b": " a" and " b" merge, then " a b" (cut before " b", it could not).
  CHECK(tok.encode("a b", false) == ids{265});
}

TEST_CASE("shiftrope-tokenize: ids, pieces and exit code 2 on bad input") {
  const std::string bin = std::string(SHIFTROPE_BIN_DIR) + "/shiftrope-tokenize";
  if (!shared_data::have({bin, tok512_path})) return;
  const auto run = [&](const std::string& args, const std::string& input, int& status) {
    const std::string in_path = std::string(SHIFTROPE_BIN_DIR) + "/tokenize_test_input.txt";
    std::ofstream(in_path, std::ios::binary) << input;
    const std::string cmd = bin + " " + args + " < " + in_path + " 2>/dev/null";
    std::FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int raw = pclose(p);
    status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return out;
  };
  int status = -1;
  CHECK(run("-m " + tok512_path + " --vocab-size 512 --bos --ids", "Once upon a time", status) ==
        "1 403 407 261 378\n");
  CHECK(status == 0);
  CHECK(run("-m " + tok512_path + " --vocab-size 512", "a\n", status) ==
        "261\t\" a\"\n13\t\"\\n\"\n");
  CHECK(status == 0);
  run("-m " + tok512_path, "x", status);  // --vocab-size missing
  CHECK(status == 2);
  run("-m " + tok512_path + " --vocab-size 511", "x", status);  // wrong count
  CHECK(status == 2);
  run("-m /nonexistent/file.gguf", "x", status);
  CHECK(status == 2);
  run("--bogus", "x", status);
  CHECK(status == 2);
}
