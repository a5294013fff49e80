// Hostile inputs beyond malformed files: vocabularies crafted against the
// token index and the special-token matcher; a model session fed bad token
// ids, empty input, gaps, prompts longer than its context, STRING's S, W and
// L at their edges, thread counts of 0 and 1'000'000, and non-finite
// weights; ill-formed UTF-8 and empty prompts through the tokenizers.
// Everything must end in a result or shiftrope::error, in bounded time.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <shiftrope/detail/text/special_match.hpp>
#include <shiftrope/detail/text/utf8.hpp>
#include <shiftrope/detail/text/vocab_index.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../fuzz/tokenizer_target.hpp"
#include "shared_data.hpp"

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

// ---- the model at its edges ----------------------------------------------

namespace {

/// Fixed-seed weights in [-0.5, 0.5) (xorshift64).
struct weight_source {
  std::uint64_t x = 0x2545F4914F6CDD1Dull;
  float next() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<float>(static_cast<double>(x >> 11) / 9007199254740992.0 - 0.5);
  }
};

constexpr int tiny_embd = 32, tiny_ff = 48, tiny_vocab = 40, tiny_layers = 2;
constexpr int tiny_q = 32, tiny_kv = 16;  // 2 heads of 16, 1 KV head (GQA)
constexpr std::int64_t tiny_train_len = 32;

/// A tiny llama model (F32), written with gguf_writer. `poison(name, values)`
/// may change a tensor's values before it is written.
template <class Poison>
model tiny_model(Poison&& poison) {
  gguf_writer w;
  const std::string a = "llama";
  w.add_string("general.architecture", a);
  w.add_uint32(a + ".embedding_length", tiny_embd);
  w.add_uint32(a + ".block_count", tiny_layers);
  w.add_uint32(a + ".feed_forward_length", tiny_ff);
  w.add_uint32(a + ".attention.head_count", 2);
  w.add_uint32(a + ".attention.head_count_kv", 1);
  w.add_float32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_uint32(a + ".context_length", static_cast<std::uint32_t>(tiny_train_len));
  weight_source src;
  const auto tensor = [&](const std::string& name, std::uint64_t cols, std::uint64_t rows,
                          bool norm) {
    std::vector<float> v(static_cast<std::size_t>(cols * rows));
    for (float& x : v) x = norm ? 1.0f : src.next();
    poison(name, v);
    w.add_tensor_f32(
        name, rows == 1 ? std::vector<std::uint64_t>{cols} : std::vector<std::uint64_t>{cols, rows},
        v);
  };
  tensor("token_embd.weight", tiny_embd, tiny_vocab, false);
  tensor("output_norm.weight", tiny_embd, 1, true);
  for (int l = 0; l < tiny_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    tensor(p + "attn_norm.weight", tiny_embd, 1, true);
    tensor(p + "attn_q.weight", tiny_embd, tiny_q, false);
    tensor(p + "attn_k.weight", tiny_embd, tiny_kv, false);
    tensor(p + "attn_v.weight", tiny_embd, tiny_kv, false);
    tensor(p + "attn_output.weight", tiny_q, tiny_embd, false);
    tensor(p + "ffn_norm.weight", tiny_embd, 1, true);
    tensor(p + "ffn_gate.weight", tiny_embd, tiny_ff, false);
    tensor(p + "ffn_up.weight", tiny_embd, tiny_ff, false);
    tensor(p + "ffn_down.weight", tiny_ff, tiny_embd, false);
  }
  return model::from_gguf(gguf_file::from_bytes(w.to_bytes(), "tiny.gguf"));
}

model tiny_model() {
  return tiny_model([](const std::string&, std::vector<float>&) {});
}

session_params one_thread(std::int64_t n_ctx) {
  session_params p;
  p.n_ctx = n_ctx;
  p.n_threads = 1;
  return p;
}

std::vector<int> some_tokens(std::size_t n) {
  std::vector<int> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<int>((7 * i + 3) % tiny_vocab);
  return t;
}

bool all_finite(const std::vector<float>& v) {
  for (const float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  return "(no error)";
}

// Same tokens through two sessions that must agree up to float rounding
// (thread splits change summation order in reductions).
constexpr float logit_rel_tol = 1e-5f;
constexpr float logit_abs_tol = 1e-5f;

bool close(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(a[i] - b[i]) <= logit_abs_tol + logit_rel_tol * std::fabs(b[i]))) return false;
  return true;
}

}  // namespace

TEST_CASE("session: bad token ids, empty input, gaps and overlong prompts are refused") {
  const model m = tiny_model();
  session s(m, one_thread(8));
  const std::vector<float> clean = s.forward(some_tokens(3), 0);
  CHECK(error_of([&] { (void)s.forward(std::vector<int>{}, 0); }).find("no tokens") !=
        std::string::npos);
  CHECK(error_of([&] {
          (void)s.forward({1, tiny_vocab}, 0);
        }).find("token id 40 at index 1") != std::string::npos);
  CHECK(error_of([&] { (void)s.forward({-1}, 0); }).find("token id -1") != std::string::npos);
  CHECK(error_of([&] { (void)s.forward({INT32_MIN}, 0); }).find("token id -2147483648") !=
        std::string::npos);
  // Nine tokens into a context of eight, or positions past it.
  CHECK(error_of([&] { (void)s.forward(some_tokens(9), 0); }).find("n_ctx") != std::string::npos);
  CHECK(error_of([&] { (void)s.forward(some_tokens(1), 8); }) != "(no error)");
  // A gap: start_pos beyond the positions already filled.
  s.reset();
  CHECK(error_of([&] { (void)s.forward(some_tokens(1), 1); }).find("start_pos = 1") !=
        std::string::npos);
  // Refused calls leave the session usable and unchanged.
  CHECK(s.forward(some_tokens(3), 0) == clean);
  CHECK(s.n_past() == 3);
}

TEST_CASE("session: STRING shift, window and training length at their edges") {
  const model m = tiny_model();
  const std::int64_t L = tiny_train_len;
  const std::vector<int> tokens = some_tokens(static_cast<std::size_t>(L));
  session_params p = one_thread(L);
  const std::vector<float> rope = session(m, p).forward(tokens, 0, logits_rows::all);
  REQUIRE(all_finite(rope));
  struct edge {
    std::int64_t shift, window;
  };
  // S = 1 (W = 0), W = S - 1, S = L - 1 (the largest), and a middle case.
  for (const edge e : {edge{1, 0}, edge{5, 4}, edge{L - 1, L - 2}, edge{L - 1, 0}, edge{16, 3}}) {
    CAPTURE(e.shift);
    CAPTURE(e.window);
    p.position_remap = string_remap{e.shift, e.window};
    session s(m, p);
    const std::vector<float> out = s.forward(tokens, 0, logits_rows::all);
    CHECK(all_finite(out));
    // Rows m < S see only distances d <= m < S, which STRING leaves alone:
    // they equal RoPE's rows.
    const auto rows = static_cast<std::size_t>(e.shift);
    const auto n = static_cast<std::size_t>(tiny_vocab);
    CHECK(close(std::vector<float>(out.begin(), out.begin() + static_cast<long>(rows * n)),
                std::vector<float>(rope.begin(), rope.begin() + static_cast<long>(rows * n))));
    if (e.shift < L - 1) {  // and later rows see remapped far keys: they differ
      CHECK(!close(out, rope));
    }
  }
  // Refused, naming the field: S = L, W = S, W < 0, S = 0, huge S, huge L.
  const auto refuses = [&](std::int64_t shift, std::int64_t window, std::int64_t train_len,
                           const char* field) {
    session_params q = one_thread(L);
    q.position_remap = string_remap{shift, window};
    q.train_len = train_len;
    CAPTURE(shift);
    CAPTURE(window);
    CAPTURE(train_len);
    CHECK(error_of([&] { session s(m, q); }).find(field) != std::string::npos);
  };
  refuses(L, 0, 0, "shift (S) must be < train_len (L), got S = 32, L = 32");
  refuses(5, 5, 0, "window (W) must be < shift (S)");
  refuses(5, -1, 0, "window (W) must be >= 0");
  refuses(0, 0, 0, "shift (S) must be >= 1");
  refuses(std::int64_t{1} << 62, 0, 0, "shift (S)");
  refuses(std::int64_t{1} << 62, 0, std::int64_t{1} << 62, "train_len");
  refuses(3, 1, -1, "train_len");
}

TEST_CASE("session: context sizes and KV caps at their edges") {
  const model m = tiny_model();
  // The largest n_ctx allowed, with the default 64 GiB cap: refused before
  // any allocation (2^30 positions × 2 layers × 16 × 2 × 4 bytes = 256 GiB).
  session_params p = one_thread(std::int64_t{1} << 30);
  CHECK(error_of([&] { session s(m, p); }).find("above the cap") != std::string::npos);
  p.n_ctx = (std::int64_t{1} << 30) + 1;
  CHECK(error_of([&] { session s(m, p); }).find("n_ctx") != std::string::npos);
  p.n_ctx = -1;
  CHECK(error_of([&] { session s(m, p); }).find("n_ctx") != std::string::npos);
  // n_ctx = 1: one position, then full.
  session one(m, one_thread(1));
  CHECK(one.forward({3}, 0).size() == static_cast<std::size_t>(tiny_vocab));
  CHECK(error_of([&] { (void)one.forward({3}, 1); }) != "(no error)");
  // max_batch 1 and 65536 (clamped to n_ctx) give the same logits as the default.
  const std::vector<int> tokens = some_tokens(20);
  const std::vector<float> ref = session(m, one_thread(20)).forward(tokens, 0, logits_rows::all);
  for (const int batch : {1, 65536}) {
    session_params q = one_thread(20);
    q.max_batch = batch;
    CHECK(close(session(m, q).forward(tokens, 0, logits_rows::all), ref));
  }
  session_params bad = one_thread(20);
  bad.max_batch = 0;
  CHECK(error_of([&] { session s(m, bad); }).find("max_batch") != std::string::npos);
}

TEST_CASE("session: thread counts 0 and 1'000'000 (clamped) agree with 1 thread") {
  const model m = tiny_model();
  const std::vector<int> tokens = some_tokens(12);
  const std::vector<float> ref = session(m, one_thread(16)).forward(tokens, 0, logits_rows::all);
  for (const int threads : {0, -5, 3, 1000000}) {
    CAPTURE(threads);
    session_params p = one_thread(16);
    p.n_threads = threads;
    session s(m, p);
    CHECK(close(s.forward(tokens, 0, logits_rows::all), ref));
    CHECK(close(s.forward({5}, 12), session(m, one_thread(16))
                                        .forward(
                                            [&] {
                                              std::vector<int> t = tokens;
                                              t.push_back(5);
                                              return t;
                                            }(),
                                            0)));
  }
}

namespace {

/// Non-finite values per logit row: (NaN count, infinity count).
std::vector<std::pair<int, int>> non_finite_rows(const std::vector<float>& logits) {
  std::vector<std::pair<int, int>> rows;
  for (std::size_t r = 0; r * tiny_vocab < logits.size(); ++r) {
    std::pair<int, int> c{0, 0};
    for (std::size_t j = 0; j < static_cast<std::size_t>(tiny_vocab); ++j) {
      const float x = logits[r * tiny_vocab + j];
      c.first += std::isnan(x) ? 1 : 0;
      c.second += std::isinf(x) ? 1 : 0;
    }
    rows.push_back(c);
  }
  return rows;
}

bool same_bits(const float* a, const float* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

}  // namespace

// What the forward pass does with non-finite weights, as the code stands:
// NaN and infinity propagate (nothing clamps or checks them), and the result
// is deterministic: the same bits on every run and for 1 and 2 threads.
// One non-finite element of a layer matrix or norm makes every logit of
// every row non-finite (it reaches every position through attention or the
// residual stream of its own position).
TEST_CASE("session: NaN and Inf in weights propagate, deterministically") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<int> tokens = {3, 10, 7, 17, 24};
  struct poison_case {
    const char* tensor;
    std::size_t index;
    float value;
  };
  for (const poison_case pc :
       {poison_case{"blk.0.attn_q.weight", 0, nan}, poison_case{"blk.1.attn_k.weight", 5, inf},
        poison_case{"blk.0.attn_v.weight", 0, -inf}, poison_case{"blk.0.ffn_down.weight", 3, nan},
        poison_case{"blk.1.attn_norm.weight", 2, nan}, poison_case{"output_norm.weight", 0, inf}}) {
    CAPTURE(pc.tensor);
    CAPTURE(pc.value);
    const model m = tiny_model([&](const std::string& name, std::vector<float>& v) {
      if (name == pc.tensor) v[pc.index] = pc.value;
    });
    session_params p = one_thread(8);
    const std::vector<float> a = session(m, p).forward(tokens, 0, logits_rows::all);
    const std::vector<float> b = session(m, p).forward(tokens, 0, logits_rows::all);
    p.n_threads = 2;
    const std::vector<float> c = session(m, p).forward(tokens, 0, logits_rows::all);
    CHECK(same_bits(a.data(), b.data(), a.size()));
    CHECK(non_finite_rows(c) == non_finite_rows(a));
    for (const auto& [nans, infs] : non_finite_rows(a)) CHECK(nans + infs == tiny_vocab);
  }
}

// A non-finite token embedding row (some real vocabularies carry NaN rows
// for unused tokens) with the classifier tied to the embedding: that token's
// logit is NaN at every position, and every position from the token on is
// all NaN. Positions before it are untouched when it comes in a later chunk.
TEST_CASE("session: a NaN embedding row poisons its own and later positions only") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<int> tokens = {3, 10, 7, 17, 24};  // token 7 at position 2
  const model m = tiny_model([&](const std::string& name, std::vector<float>& v) {
    if (name == "token_embd.weight") v[7 * tiny_embd] = nan;
  });
  const model clean = tiny_model();
  session_params p = one_thread(8);
  p.max_batch = 1;  // token by token: the decode path
  const std::vector<float> out = session(m, p).forward(tokens, 0, logits_rows::all);
  const std::vector<float> ref = session(clean, p).forward(tokens, 0, logits_rows::all);
  const std::size_t n = static_cast<std::size_t>(tiny_vocab);
  for (std::size_t r = 0; r < 2; ++r) {
    CHECK(std::isnan(out[r * n + 7]));
    CHECK(same_bits(&out[r * n], &ref[r * n], 7));
    CHECK(same_bits(&out[r * n + 8], &ref[r * n + 8], n - 8));
  }
  for (std::size_t r = 2; r < tokens.size(); ++r)
    CHECK(non_finite_rows(out)[r] == std::pair<int, int>{tiny_vocab, 0});
}

// The same NaN row within one prefill chunk: the attention kernel's tiles
// hold keys past a query's causal limit, and weighting their values by 0
// would still give NaN (0 · NaN); they are skipped, so rows 0 and 1 equal
// the token-by-token run (decode above) up to rounding.
TEST_CASE("session: a NaN later in the same prefill chunk leaves earlier rows alone") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<int> tokens = {3, 10, 7, 17, 24};
  const model m = tiny_model([&](const std::string& name, std::vector<float>& v) {
    if (name == "token_embd.weight") v[7 * tiny_embd] = nan;
  });
  session_params p = one_thread(8);
  p.max_batch = 1;
  const std::vector<float> decode = session(m, p).forward(tokens, 0, logits_rows::all);
  p.max_batch = 5;
  const std::vector<float> prefill = session(m, p).forward(tokens, 0, logits_rows::all);
  const std::size_t n = static_cast<std::size_t>(tiny_vocab);
  CHECK(non_finite_rows(prefill)[0] == std::pair<int, int>{1, 0});
  // Row 0 but the NaN logit of token 7: as in decode, up to rounding (GEMM vs GEMV).
  std::vector<float> got(prefill.begin(), prefill.begin() + static_cast<long>(n));
  std::vector<float> want(decode.begin(), decode.begin() + static_cast<long>(n));
  got.erase(got.begin() + 7);
  want.erase(want.begin() + 7);
  CHECK(close(got, want));
}

// Contexts beyond the training length are allowed (n_ctx is the caller's
// choice). Plain RoPE then scores distances it never saw in training, up to
// N - 1. STRING's largest distance is N - 1 - S + W: it stays inside the
// trained range only while N <= L + S - W; past that it extrapolates too,
// by less than RoPE. Either way the logits stay finite and rows m < S,
// which see only distances below S, are RoPE's.
TEST_CASE("session: contexts beyond the training length, with and without STRING") {
  const model m = tiny_model();
  const std::int64_t L = tiny_train_len, N = 3 * L, S = 16, W = 4;
  const std::vector<int> tokens = some_tokens(static_cast<std::size_t>(N));
  session_params p = one_thread(N);
  const std::vector<float> rope = session(m, p).forward(tokens, 0, logits_rows::all);
  p.position_remap = string_remap{S, W};
  session s(m, p);
  CHECK(s.train_len() == L);
  const std::vector<float> str = s.forward(tokens, 0, logits_rows::all);
  REQUIRE(rope.size() == static_cast<std::size_t>(N * tiny_vocab));
  REQUIRE(str.size() == rope.size());
  for (const auto& [nans, infs] : non_finite_rows(rope)) CHECK(nans + infs == 0);
  for (const auto& [nans, infs] : non_finite_rows(str)) CHECK(nans + infs == 0);
  const auto row = [](const std::vector<float>& v, std::int64_t r) {
    const auto n = static_cast<std::ptrdiff_t>(tiny_vocab);
    return std::vector<float>(v.begin() + r * n, v.begin() + (r + 1) * n);
  };
  for (std::int64_t r = 0; r < S; ++r) CHECK(close(row(str, r), row(rope, r)));
  CHECK_FALSE(close(row(str, N - 1), row(rope, N - 1)));
  // The distances each method uses at the last position.
  CHECK(max_position(remap{identity_remap{}}, N) == N - 1);
  CHECK(max_position(remap{string_remap{S, W}}, N) == N - 1 - S + W);
  CHECK(max_position(remap{string_remap{S, W}}, L + S - W) == L - 1);
}

// ---- prompts that are not UTF-8 --------------------------------------------

namespace {

/// U+FFFD, the replacement character, UTF-8 encoded.
const std::string fffd = "\xEF\xBF\xBD";

/// Ill-formed inputs and their decoded text, written by hand from Unicode's
/// "U+FFFD per maximal subpart" rule (Unicode 15, §3.9, Table 3-8).
struct ill_formed_case {
  std::string input;
  std::string decoded;
};

std::vector<ill_formed_case> ill_formed_cases() {
  return {
      {"\xFF", fffd},                                   // never a lead byte
      {"a\xC3", "a" + fffd},                            // truncated 2-byte
      {"\xE2\x82", fffd},                               // truncated 3-byte: one subpart
      {"x\x80y", "x" + fffd + "y"},                     // lone continuation
      {"\xC0\xAF", fffd + fffd},                        // overlong '/'
      {"\xED\xA0\x80", fffd + fffd + fffd},             // surrogate U+D800
      {"\xF0\x80\x80\x80", fffd + fffd + fffd + fffd},  // overlong 4-byte
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // above U+10FFFF
      {"\xE2\x96", fffd},                               // half of U+2581
      {"ok\xF0\x9F\x98", "ok" + fffd},                  // emoji cut short
      {std::string("\0\x01\x7F", 3), std::string("\0\x01\x7F", 3)},  // control bytes are valid
  };
}

void check_prompts(const tokenizer& tok, const char* name) {
  CAPTURE(std::string(name));
  CHECK(tok.encode("", false).empty());
  if (tok.bos() >= 0) CHECK(tok.encode("", true) == std::vector<int>{tok.bos()});
  CHECK(tok.decode({}).empty());
  for (const bool special : {false, true}) {
    for (const ill_formed_case& c : ill_formed_cases()) {
      CAPTURE(c.input);
      const std::vector<int> ids = tok.encode(c.input, false, special);
      for (const int id : ids) CHECK((id >= 0 && id < tok.n_vocab()));
      CHECK(tok.decode(ids) == c.decoded);
    }
  }
}

}  // namespace

TEST_CASE("tokenizers: empty and ill-formed UTF-8 prompts") {
  check_prompts(tokenizer(shiftrope_fuzz::small_spm_vocab()), "built-in SPM");
  check_prompts(tokenizer(shiftrope_fuzz::small_bpe_vocab()), "built-in BPE");
}

TEST_CASE("tokenizers: empty and ill-formed UTF-8 prompts (llama.cpp vocabularies)") {
  const std::string spm = shared_data::path("vocab/ggml-vocab-llama-spm.gguf");
  const std::string gpt2 = shared_data::path("vocab/ggml-vocab-gpt-2.gguf");
  if (!shared_data::have({spm, gpt2})) return;
  check_prompts(tokenizer::from_gguf(gguf_file::open(spm)), "llama-spm");
  check_prompts(tokenizer::from_gguf(gguf_file::open(gpt2)), "gpt-2");
}
