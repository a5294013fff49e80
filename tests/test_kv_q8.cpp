// Tests of the q8_0 KV cache (kv_q8.hpp, kv_cache.hpp's q8_0 storage, the
// attention kernel reading q8_0 blocks in place, the forward pass on it).
//
// References written plainly here: a block quantizer's defining properties
// (|x - d·q| <= d/2 with d the stored f16 scale), a dequantize-then-attend
// reference in double (every key dequantized by hand as d·q, each query
// rotated by its remapped position, a full softmax), and the exact float64
// logits of the quantized fixture model (../shared/models/quant).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <shiftrope/attention.hpp>
#include <shiftrope/kv_cache.hpp>
#include <shiftrope/kv_q8.hpp>
#include <shiftrope/model.hpp>
#include <string>
#include <vector>

#include "model_test_util.hpp"
#include "shared_data.hpp"

using namespace shiftrope;

namespace {

// Fixed-seed generator (splitmix64), identical on every platform.
struct test_rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0; }  // [-1, 1)
};

// The kernel against the double reference: float logits of size ~ 2 carry
// ~1e-6 relative error, the float cos/sin tables ~1e-7; outputs are convex
// combinations of values in [-1, 1].
constexpr double kTolAbs = 5e-5;
// Decode against the prefill row, 1 thread against 2: summation order only.
constexpr double kTolSame = 2e-5;

// One q8_0 attention problem: K and V in q8_0 (quants + scales), queries.
struct q8_problem {
  int n_heads = 8, n_kv_heads = 2, head_dim = 64;
  std::int64_t length = 150;  // keys; not a multiple of the 64-key tile
  std::vector<std::int8_t> kq, vq;
  std::vector<f16> ks, vs;
  std::vector<float> q;  // [length × n_heads × head_dim]

  explicit q8_problem(int hd, std::uint64_t seed = 7) : head_dim(hd) {
    test_rng g{seed};
    const std::size_t n = static_cast<std::size_t>(length) * n_kv_heads * head_dim;
    std::vector<float> k(n), v(n);
    // Blocks of different magnitudes, so scales differ from block to block.
    for (std::size_t i = 0; i < n; ++i) {
      const double mag = 0.25 + static_cast<double>((i / kv_q8_block) % 5);
      k[i] = static_cast<float>(mag * g.uniform());
      v[i] = static_cast<float>(mag * g.uniform());
    }
    kq.resize(n);
    vq.resize(n);
    ks.resize(n / kv_q8_block);
    vs.resize(n / kv_q8_block);
    quantize_kv_q8(k.data(), kq.data(), ks.data(), n);
    quantize_kv_q8(v.data(), vq.data(), vs.data(), n);
    q.resize(static_cast<std::size_t>(length) * n_heads * head_dim);
    for (float& x : q) x = static_cast<float>(g.uniform());
  }
  [[nodiscard]] kv_cache_view<std::int8_t> view() const {
    return kv_cache_view<std::int8_t>::head_major(kq.data(), vq.data(), length, head_dim, length)
        .with_scales(ks.data(), vs.data());
  }
  [[nodiscard]] attention_params params(int threads) const {
    attention_params p;
    p.n_heads = n_heads;
    p.n_kv_heads = n_kv_heads;
    p.head_dim = head_dim;
    p.n_threads = threads;
    return p;
  }
  /// Element e of K (or V) as the reference reads it: d·q, by hand.
  [[nodiscard]] double key(std::size_t e) const {
    return static_cast<double>(to_float(ks[e / 32])) * kq[e];
  }
  [[nodiscard]] double value(std::size_t e) const {
    return static_cast<double>(to_float(vs[e / 32])) * vq[e];
  }
};

// Reference: output row (m, h) in double. Query rotated by its position p
// (interleaved planes, theta_i = 10000^(-2i/D)) and dotted with the stored
// (already rotated) dequantized key n; STRING's far keys (m - n >= S) see
// the query at m - S + W, the others at m.
std::vector<double> reference_row(const q8_problem& pr, const float* q, std::int64_t m, int h,
                                  bool string, std::int64_t S, std::int64_t W) {
  const int D = pr.head_dim;
  const int g = h / (pr.n_heads / pr.n_kv_heads);
  const auto rotated = [&](std::int64_t pos) {
    std::vector<double> r(static_cast<std::size_t>(D));
    for (int i = 0; i < D / 2; ++i) {
      const double theta = std::pow(10000.0, -2.0 * i / D) * static_cast<double>(pos);
      const double a = q[2 * i], b = q[2 * i + 1];
      r[static_cast<std::size_t>(2 * i)] = a * std::cos(theta) - b * std::sin(theta);
      r[static_cast<std::size_t>(2 * i + 1)] = b * std::cos(theta) + a * std::sin(theta);
    }
    return r;
  };
  const std::vector<double> near = rotated(m), far = rotated(m - S + W);
  const double c = 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<double> logit(static_cast<std::size_t>(m + 1));
  double mx = -std::numeric_limits<double>::infinity();
  for (std::int64_t n = 0; n <= m; ++n) {
    const std::vector<double>& qr = string && m - n >= S ? far : near;
    const std::size_t base = (static_cast<std::size_t>(g) * static_cast<std::size_t>(pr.length) +
                              static_cast<std::size_t>(n)) *
                             static_cast<std::size_t>(D);
    double dot = 0;
    for (int i = 0; i < D; ++i) dot += qr[static_cast<std::size_t>(i)] * pr.key(base + i);
    logit[static_cast<std::size_t>(n)] = c * dot;
    mx = std::max(mx, c * dot);
  }
  std::vector<double> out(static_cast<std::size_t>(D), 0.0);
  double sum = 0;
  for (std::int64_t n = 0; n <= m; ++n) {
    const double w = std::exp(logit[static_cast<std::size_t>(n)] - mx);
    sum += w;
    const std::size_t base = (static_cast<std::size_t>(g) * static_cast<std::size_t>(pr.length) +
                              static_cast<std::size_t>(n)) *
                             static_cast<std::size_t>(D);
    for (int i = 0; i < D; ++i) out[static_cast<std::size_t>(i)] += w * pr.value(base + i);
  }
  for (double& x : out) x /= sum;
  return out;
}

// Plain RoPE over the whole head (interleaved planes, base 10000), the
// table the reference rotates by.
rope_table<float> table_for(int head_dim, std::int64_t n_pos) {
  rope_config cfg;
  cfg.head_dim = head_dim;
  return rope_table<float>(cfg, n_pos);
}

}  // namespace

TEST_CASE("kv_q8: a quantized block reads back within half a step of its scale") {
  test_rng g{3};
  for (double mag : {1e-3, 0.5, 7.0, 3000.0}) {
    CAPTURE(mag);
    float x[32];
    for (float& v : x) v = static_cast<float>(mag * g.uniform());
    x[9] = static_cast<float>(-mag);  // the block's largest magnitude
    std::int8_t q[32];
    f16 d;
    quantize_kv_q8_block(x, q, &d);
    const double ds = to_float(d);
    CHECK(ds == doctest::Approx(mag / 127.0).epsilon(1e-3));  // f16 rounding of amax / 127
    CHECK(std::abs(static_cast<int>(q[9])) >= 126);
    float y[32];
    dequantize_kv_q8(q, &d, y, 32);
    for (int i = 0; i < 32; ++i) {
      CHECK(y[i] == static_cast<float>(ds * q[i]));  // value = d·q
      CHECK(std::fabs(static_cast<double>(y[i]) - x[i]) <= ds * 0.5 + 1e-12 * mag);
    }
  }
  SUBCASE("an all-zero block: scale 0, quants 0") {
    float x[32] = {};
    std::int8_t q[32];
    f16 d;
    quantize_kv_q8_block(x, q, &d);
    CHECK(to_float(d) == 0.0f);
    CHECK(std::all_of(q, q + 32, [](std::int8_t v) { return v == 0; }));
  }
}

TEST_CASE("kv_q8: a block holding NaN or Inf reads back as NaN (defined, no UB)") {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    CAPTURE(bad);
    float x[64];
    for (int i = 0; i < 64; ++i) x[i] = 0.01f * static_cast<float>(i);
    x[40] = bad;  // in the second block
    std::int8_t q[64];
    f16 d[2];
    quantize_kv_q8(x, q, d, 64);
    CHECK(std::isnan(to_float(d[1])));
    CHECK(std::all_of(q + 32, q + 64, [](std::int8_t v) { return v == 0; }));
    float y[64];
    dequantize_kv_q8(q, d, y, 64);
    CHECK(std::all_of(y + 32, y + 64, [](float v) { return std::isnan(v); }));
    for (int i = 0; i < 32; ++i)  // the first block is unaffected
      CHECK(std::fabs(y[i] - x[i]) <= to_float(d[0]) * 0.5f + 1e-7f);
  }
  SUBCASE("a finite block beyond f16's range saturates") {
    float x[32] = {};
    x[0] = 1e9f;
    x[1] = -5e8f;
    std::int8_t q[32];
    f16 d;
    quantize_kv_q8_block(x, q, &d);
    CHECK(to_float(d) == 65504.0f);
    CHECK(q[0] == 127);
    CHECK(q[1] == -127);
  }
}

TEST_CASE("kv_q8: the kernel on q8_0 blocks equals dequantize-then-attend (prefill, decode)") {
  for (int head_dim : {64, 96}) {
    const q8_problem pr(head_dim);
    const std::int64_t L = pr.length;
    const rope_table<float> table = table_for(head_dim, L);
    const std::size_t row = static_cast<std::size_t>(pr.n_heads) * head_dim;
    for (bool string : {false, true}) {
      const std::int64_t S = 40, W = 8;
      const remap positions = string ? remap{string_remap{S, W}} : remap{identity_remap{}};
      std::vector<float> prefill1;
      for (int threads : {1, 2}) {
        CAPTURE(head_dim);
        CAPTURE(string);
        CAPTURE(threads);
        std::vector<float> out(static_cast<std::size_t>(L) * row);
        attention<float, std::int8_t>(pr.params(threads), positions, table, pr.q.data(), 0, L,
                                      pr.view(), out.data());
        double worst = 0;
        for (std::int64_t m = 0; m < L; m += 7)
          for (int h = 0; h < pr.n_heads; ++h) {
            const float* qr = pr.q.data() + static_cast<std::size_t>(m) * row +
                              static_cast<std::size_t>(h) * head_dim;
            const std::vector<double> want = reference_row(pr, qr, m, h, string, S, W);
            const float* got = out.data() + static_cast<std::size_t>(m) * row +
                               static_cast<std::size_t>(h) * head_dim;
            for (int i = 0; i < head_dim; ++i)
              worst = std::max(worst, std::fabs(got[i] - want[static_cast<std::size_t>(i)]));
          }
        CHECK(worst <= kTolAbs);
        // One-token decode of the last position equals the prefill's last row.
        std::vector<float> dec(row);
        attention<float, std::int8_t>(pr.params(threads), positions, table,
                                      pr.q.data() + static_cast<std::size_t>(L - 1) * row, L - 1, 1,
                                      pr.view(), dec.data());
        double dworst = 0;
        for (std::size_t i = 0; i < row; ++i)
          dworst = std::max(dworst, static_cast<double>(std::fabs(
                                        dec[i] - out[static_cast<std::size_t>(L - 1) * row + i])));
        CHECK(dworst <= kTolSame);
        if (threads == 1) {
          prefill1 = out;
        } else {  // 2 threads against 1
          double tworst = 0;
          for (std::size_t i = 0; i < out.size(); ++i)
            tworst = std::max(tworst, static_cast<double>(std::fabs(out[i] - prefill1[i])));
          CHECK(tworst <= kTolSame);
        }
      }
    }
  }
}

TEST_CASE("kv_q8: a NaN key block reaches exactly the rows that see it") {
  q8_problem pr(64);
  const std::int64_t L = pr.length, bad = 70;  // key 70 of KV head 0 gets a NaN scale
  pr.ks[static_cast<std::size_t>(bad) * 64 / 32] = to_f16(std::numeric_limits<float>::quiet_NaN());
  const rope_table<float> table = table_for(64, L);
  const std::size_t row = static_cast<std::size_t>(pr.n_heads) * 64;
  std::vector<float> out(static_cast<std::size_t>(L) * row);
  attention<float, std::int8_t>(pr.params(2), identity_remap{}, table, pr.q.data(), 0, L, pr.view(),
                                out.data());
  for (std::int64_t m : {std::int64_t{0}, bad - 1, bad, L - 1})
    for (int h = 0; h < pr.n_heads; ++h) {
      CAPTURE(m);
      CAPTURE(h);
      const float* got =
          out.data() + static_cast<std::size_t>(m) * row + static_cast<std::size_t>(h) * 64;
      const bool sees = m >= bad && h / 4 == 0;  // GQA: heads 0-3 read KV head 0
      if (sees) {
        CHECK(std::all_of(got, got + 64, [](float v) { return std::isnan(v); }));
      } else {
        const std::vector<double> want = reference_row(
            pr, pr.q.data() + static_cast<std::size_t>(m) * row + static_cast<std::size_t>(h) * 64,
            m, h, false, 0, 0);
        for (int i = 0; i < 64; ++i)
          CHECK(std::fabs(got[i] - want[static_cast<std::size_t>(i)]) <= kTolAbs);
      }
    }
}

TEST_CASE("kv_q8: head_dim not a multiple of 32 is refused, naming head_dim and q8_0") {
  using model_test::error_of;
  kv_cache_params p{2, 2, 48, 64, kv_type::q8_0};
  const std::string e = error_of([&] { p.validate(); });
  CHECK(e.find("head_dim = 48") != std::string::npos);
  CHECK(e.find("q8_0") != std::string::npos);
  CHECK(error_of([&] { const kv_cache c(p); }) == e);
  // The kernel refuses such a view too.
  std::vector<std::int8_t> k(48 * 4), v(48 * 4);
  std::vector<f16> s(48 * 4 / 32 + 1);
  std::vector<float> q(48), out(48);
  attention_params ap;
  ap.n_heads = ap.n_kv_heads = 1;
  ap.head_dim = 48;
  const rope_table<float> table = table_for(48, 4);
  const auto view = kv_cache_view<std::int8_t>::head_major(k.data(), v.data(), 4, 48, 4)
                        .with_scales(s.data(), s.data());
  const std::string ek = error_of([&] {
    attention<float, std::int8_t>(ap, identity_remap{}, table, q.data(), 3, 1, view, out.data());
  });
  CHECK(ek.find("head_dim = 48") != std::string::npos);
  CHECK(ek.find("q8_0") != std::string::npos);
  // Missing scales are refused by name.
  const auto no_scales = kv_cache_view<std::int8_t>::head_major(k.data(), v.data(), 2, 96, 2);
  ap.head_dim = 96;
  std::vector<float> q96(96), o96(96);
  const rope_table<float> t96 = table_for(96, 2);
  CHECK(error_of([&] {
          attention<float, std::int8_t>(ap, identity_remap{}, t96, q96.data(), 1, 1, no_scales,
                                        o96.data());
        }).find("k_scale") != std::string::npos);
}

TEST_CASE("kv_q8: the cache holds 34/64 of f16's bytes and names the type") {
  kv_cache_params p{3, 4, 64, 1000, kv_type::f16};
  const std::uint64_t f16_bytes = p.bytes();
  p.type = kv_type::q8_0;
  CHECK(p.bytes() * 64 == f16_bytes * 34);
  CHECK(parse_kv_type("q8_0") == kv_type::q8_0);
  CHECK(std::string(kv_type_name(kv_type::q8_0)) == "q8_0");
  const kv_cache c(p);
  CHECK(c.bytes() == p.bytes());
  CHECK(std::holds_alternative<kv_storage<std::int8_t>>(c.typed()));
  // Overflow is reported, not wrapped.
  p.n_ctx = std::int64_t{1} << 62;
  CHECK(p.bytes() == ~std::uint64_t{0});
}

TEST_CASE("kv_q8: the fixture model with a q8_0 cache against the exact logits") {
  using namespace model_test;
  const std::string dir = shared_data::path("models/quant/");
  if (!have({dir + "qllama.tokens", dir + "qllama-F32.gguf", dir + "qllama-F32.rope.logits.f32",
             dir + "qllama-F32.string-S40-W8.logits.f32"}))
    return;
  const std::vector<int> tokens = read_tokens(dir + "qllama.tokens");
  REQUIRE(tokens.size() == 128);
  const model m = model::open(dir + "qllama-F32.gguf");
  const int n_vocab = m.config().n_vocab;
  for (bool string : {false, true}) {
    CAPTURE(string);
    session_params sp;
    sp.kv = kv_type::q8_0;
    if (string) sp.position_remap = string_remap{40, 8};
    session s(m, sp);
    const std::vector<float> got = s.forward(tokens, 0, logits_rows::all);
    const std::vector<float> want = read_f32(
        dir + (string ? "qllama-F32.string-S40-W8.logits.f32" : "qllama-F32.rope.logits.f32"));
    REQUIRE(got.size() == want.size());
    double max_abs = 0, sum_abs = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
      max_abs = std::max(max_abs, d);
      sum_abs += d;
    }
    const double mean_abs = sum_abs / static_cast<double>(got.size());
    const logit_diff diff = compare_logits(got, want, n_vocab);
    const double agreement = 1.0 - diff.argmax_mismatches / 128.0;
    MESSAGE("q8_0 KV, ", std::string(string ? "STRING S=40 W=8" : "RoPE"), ": max ", max_abs,
            ", mean ", mean_abs, ", argmax agreement ", agreement);
    CHECK(max_abs <= 0.5);
    CHECK(mean_abs <= 0.07);
    CHECK(agreement >= 0.97);
    // The quantization is what moves the logits: an f32 cache is exact.
    session_params sf = sp;
    sf.kv = kv_type::f32;
    session exact(m, sf);
    CHECK(compare_logits(exact.forward(tokens, 0, logits_rows::all), want, n_vocab).max_abs <=
          golden_tolerance);
    // Decoding one token at a time gives the prefill rows:
    session dec(m, sp);
    double worst = 0;
    for (std::size_t i = 0; i < 48; ++i) {
      const std::vector<float> r = dec.forward({tokens[i]}, static_cast<std::int64_t>(i));
      for (int v = 0; v < n_vocab; ++v)
        worst = std::max(
            worst, static_cast<double>(std::fabs(
                       r[static_cast<std::size_t>(v)] -
                       got[i * static_cast<std::size_t>(n_vocab) + static_cast<std::size_t>(v)])));
    }
    // Decoding computes k and v by matrix-vector products, prefill by matrix
    // products: they differ in the last float bits, and a value that close to
    // a rounding midpoint lands on the neighbouring quant (one step, ~1% of
    // the block's largest value). With an f32 cache the two agree within
    // 1e-4; with q8_0 such flips move the logits by about 0.01.
    CHECK(worst <= 0.05);
  }
}

TEST_CASE("kv_q8: Self-Extend refuses a q8_0 cache by name") {
  session_params sp;
  sp.kv = kv_type::q8_0;
  sp.self_extend = self_extend_remap{4, 16};
  const std::string e = model_test::error_of([&] { sp.validate(); });
  CHECK(e.find("self_extend") != std::string::npos);
  CHECK(e.find("q8_0") != std::string::npos);
}
