// Tests of one-token attention (decoding, attention.hpp with n_tokens = 1)
// against a naive reference written plainly here, in double: the query is
// rotated by the test's own RoPE (theta_i = base^(-2i/D), cos/sin computed
// here) at the position the STRING formula gives for each key,
//   d = m - n,  query position m if d < S, m - S + W otherwise,
// dotted with the cache's stored key n (already rotated at n, read back
// exactly: f32, f16, or q8_0 scale × quant), then a full softmax and a
// weighted sum of the stored values. Caches in f32, f16 and q8_0; GQA
// groups 1, 2, 4, 8; head sizes 32, 64, 128 (and 48, 40: 40 is not a
// multiple of the register width); lengths that are not multiples of any
// block; 1 and 2 threads; logits of magnitude up to ~100.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <shiftrope/attention.hpp>
#include <shiftrope/kv_q8.hpp>
#include <string>
#include <type_traits>
#include <vector>

using shiftrope::attention_params;
using shiftrope::f16;
using shiftrope::identity_remap;
using shiftrope::kv_cache_view;
using shiftrope::remap;
using shiftrope::string_remap;

namespace {

// Combined tolerance |got - want| <= abs + rel·|want|; outputs are convex
// combinations of values in [-1, 1]. Float logits of magnitude ~100 carry
// ~1e-5 absolute error, which moves the weights by about as much.
constexpr double kAbsTol = 5e-5, kRelTol = 5e-5;
// Decode against the prefill's row: both in float, summed in other orders.
constexpr double kSameTol = 2e-5;

// Fixed-seed generator (splitmix64), identical on every platform.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0; }  // [-1, 1)
};

struct decode_case {
  int n_heads = 4, n_kv_heads = 2, head_dim = 64;
  std::int64_t length = 100;  // cache positions 0 .. length-1; the query is at length - 1
  remap positions = identity_remap{};
  int n_threads = 1;
  double q_scale = 1.0;  // queries uniform in [-q_scale, q_scale)
  double softmax_scale = 0.0;
  std::int64_t sliding_window = 0;
  bool position_major = false;
  std::uint64_t seed = 1;
};

std::string describe(const decode_case& c) {
  return "H=" + std::to_string(c.n_heads) + "/" + std::to_string(c.n_kv_heads) +
         " D=" + std::to_string(c.head_dim) + " L=" + std::to_string(c.length) + " " +
         shiftrope::describe(c.positions) + " threads=" + std::to_string(c.n_threads) +
         " q_scale=" + std::to_string(c.q_scale) +
         (c.sliding_window ? " window=" + std::to_string(c.sliding_window) : "") +
         (c.position_major ? " position_major" : "");
}

/// y = R(p) x in double, interleaved pairing over all of x's D values.
void rotate(const double* x, std::int64_t p, double* y, int d, double base) {
  for (int i = 0; i < d / 2; ++i) {
    const double a = static_cast<double>(p) * std::pow(base, -2.0 * i / d);
    const double c = std::cos(a), s = std::sin(a);
    y[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
    y[2 * i + 1] = x[2 * i + 1] * c + x[2 * i] * s;
  }
}

constexpr double kBase = 10000.0;

/// A cache of KV (float, f16, or std::int8_t = q8_0) and the values it
/// stores, read back in double.
template <class KV>
struct cache {
  std::vector<KV> k, v;
  std::vector<f16> ks, vs;       // q8_0 scales
  std::vector<double> k_d, v_d;  // stored values, [kv head][n][D]
  kv_cache_view<KV> view;
  std::size_t at(const decode_case& c, std::int64_t n, int h) const {
    const std::size_t D = static_cast<std::size_t>(c.head_dim);
    return c.position_major ? (static_cast<std::size_t>(n) * c.n_kv_heads + h) * D
                            : (static_cast<std::size_t>(h) * c.length + n) * D;
  }
};

template <class KV>
cache<KV> make_cache(const decode_case& c, splitmix64& g) {
  const std::size_t D = static_cast<std::size_t>(c.head_dim);
  const std::size_t total = static_cast<std::size_t>(c.length) * c.n_kv_heads * D;
  cache<KV> ch;
  std::vector<float> kf(total), vf(total);
  std::vector<double> raw(D), rot(D);
  for (std::int64_t n = 0; n < c.length; ++n)
    for (int h = 0; h < c.n_kv_heads; ++h) {
      const std::size_t a = ch.at(c, n, h);
      for (double& x : raw) x = g.uniform();
      rotate(raw.data(), n, rot.data(), c.head_dim, kBase);  // keys enter rotated at n
      for (std::size_t i = 0; i < D; ++i) {
        kf[a + i] = static_cast<float>(rot[i]);
        vf[a + i] = static_cast<float>(g.uniform());
      }
    }
  ch.k_d.resize(total);
  ch.v_d.resize(total);
  if constexpr (std::is_same_v<KV, std::int8_t>) {
    ch.k.resize(total);
    ch.v.resize(total);
    ch.ks.resize(total / 32);
    ch.vs.resize(total / 32);
    shiftrope::quantize_kv_q8(kf.data(), ch.k.data(), ch.ks.data(), total);
    shiftrope::quantize_kv_q8(vf.data(), ch.v.data(), ch.vs.data(), total);
    for (std::size_t i = 0; i < total; ++i) {
      ch.k_d[i] = static_cast<double>(shiftrope::to_float(ch.ks[i / 32])) * ch.k[i];
      ch.v_d[i] = static_cast<double>(shiftrope::to_float(ch.vs[i / 32])) * ch.v[i];
    }
  } else {
    for (std::size_t i = 0; i < total; ++i) {
      ch.k.push_back(shiftrope::convert<KV>(kf[i]));
      ch.v.push_back(shiftrope::convert<KV>(vf[i]));
      ch.k_d[i] = shiftrope::convert<double>(ch.k[i]);
      ch.v_d[i] = shiftrope::convert<double>(ch.v[i]);
    }
  }
  ch.view = c.position_major ? kv_cache_view<KV>::position_major(ch.k.data(), ch.v.data(),
                                                                 c.n_kv_heads, c.head_dim, c.length)
                             : kv_cache_view<KV>::head_major(ch.k.data(), ch.v.data(), c.length,
                                                             c.head_dim, c.length);
  if constexpr (std::is_same_v<KV, std::int8_t>)
    ch.view = ch.view.with_scales(ch.ks.data(), ch.vs.data());
  return ch;
}

/// The query position a key at distance d is scored with (the formula).
std::int64_t query_pos(const remap& r, std::int64_t m, std::int64_t d) {
  if (const auto* s = std::get_if<string_remap>(&r))
    if (d >= s->shift) return m - s->shift + s->window;
  return m;
}

/// The naive reference for the query at m = length - 1 (all heads), in
/// double; max_logit receives the largest |logit| seen.
template <class KV>
std::vector<double> reference(const decode_case& c, const std::vector<double>& q,
                              const cache<KV>& ch, double& max_logit) {
  const int D = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const std::int64_t m = c.length - 1;
  const double scale =
      c.softmax_scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(D)) : c.softmax_scale;
  std::vector<double> out(static_cast<std::size_t>(c.n_heads) * D);
  std::vector<double> qr(static_cast<std::size_t>(D)), logits;
  max_logit = 0;
  for (int h = 0; h < c.n_heads; ++h) {
    const int kvh = h / group;
    logits.assign(static_cast<std::size_t>(m + 1), -std::numeric_limits<double>::infinity());
    for (std::int64_t n = 0; n <= m; ++n) {
      if (c.sliding_window > 0 && m - n >= c.sliding_window) continue;
      rotate(&q[static_cast<std::size_t>(h) * D], query_pos(c.positions, m, m - n), qr.data(), D,
             kBase);
      double dot = 0;
      for (int i = 0; i < D; ++i) dot += qr[i] * ch.k_d[ch.at(c, n, kvh) + i];
      logits[static_cast<std::size_t>(n)] = scale * dot;
      max_logit = std::max(max_logit, std::fabs(scale * dot));
    }
    const double mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    double* o = &out[static_cast<std::size_t>(h) * D];
    for (std::int64_t n = 0; n <= m; ++n) {
      const double e = std::exp(logits[static_cast<std::size_t>(n)] - mx);
      sum += e;
      for (int i = 0; i < D; ++i) o[i] += e * ch.v_d[ch.at(c, n, kvh) + i];
    }
    for (int i = 0; i < D; ++i) o[i] /= sum;
  }
  return out;
}

attention_params params_of(const decode_case& c) {
  attention_params a;
  a.n_heads = c.n_heads;
  a.n_kv_heads = c.n_kv_heads;
  a.head_dim = c.head_dim;
  a.softmax_scale = c.softmax_scale;
  a.n_threads = c.n_threads;
  a.sliding_window = c.sliding_window;
  return a;
}

shiftrope::rope_table<float> table_of(const decode_case& c) {
  shiftrope::rope_config cfg;
  cfg.head_dim = c.head_dim;
  cfg.base = kBase;
  cfg.pairing = shiftrope::rope_pairing::interleaved;
  return shiftrope::rope_table<float>(cfg, c.length);
}

constexpr float kGuard = 1234.5f;  // written after the output
constexpr std::size_t kGuardCount = 17;

/// Decodes the query at length - 1 and checks it against the reference;
/// returns the reference's largest |logit|.
template <class KV>
double check_decode(const decode_case& c) {
  CAPTURE(describe(c));
  splitmix64 g{c.seed};
  const cache<KV> ch = make_cache<KV>(c, g);
  const std::size_t row = static_cast<std::size_t>(c.n_heads) * c.head_dim;
  std::vector<double> q(row);
  for (double& x : q) x = c.q_scale * g.uniform();
  double max_logit = 0;
  const std::vector<double> want = reference(c, q, ch, max_logit);
  std::vector<float> qf(q.begin(), q.end());
  std::vector<float> out(row + kGuardCount, kGuard);
  const auto table = table_of(c);
  shiftrope::attention(params_of(c), c.positions, table, qf.data(), c.length - 1, 1, ch.view,
                       out.data());
  std::size_t bad = 0;
  std::string first;
  for (std::size_t i = 0; i < row; ++i)
    if (!(std::fabs(out[i] - want[i]) <= kAbsTol + kRelTol * std::fabs(want[i]))) {
      if (bad++ == 0)
        first = "index " + std::to_string(i) + ": got " + std::to_string(out[i]) + ", want " +
                std::to_string(want[i]);
    }
  CHECK_MESSAGE(bad == 0, first);
  for (std::size_t i = 0; i < kGuardCount; ++i) REQUIRE(out[row + i] == kGuard);
  return max_logit;
}

/// Remaps for a query at m = L - 1: plain RoPE and STRING with the query
/// beyond S (so both a far and a near run occur) where L allows.
std::vector<remap> remaps_for(std::int64_t L) {
  std::vector<remap> r{identity_remap{}};
  if (L > 3) r.push_back(string_remap{L / 3, std::min<std::int64_t>(L / 3 - 1, 128)});
  if (L > 40) r.push_back(string_remap{L - 33, 5});  // far run of 33 keys: a ragged block
  return r;
}

}  // namespace

TEST_CASE_TEMPLATE("decode against the naive reference: GQA, head sizes, lengths, threads", KV,
                   float, f16, std::int8_t) {
  for (int d : {32, 64, 128})
    for (int group : {1, 2, 4, 8})
      for (std::int64_t L : {1, 2, 31, 33, 100, 1000, 2999})
        for (const remap& r : remaps_for(L))
          for (int threads : {1, 2}) {
            if (d == 128 && L == 2999 && group != 4) continue;  // keep the sweep short
            decode_case c;
            c.head_dim = d;
            c.n_kv_heads = 2;
            c.n_heads = 2 * group;
            c.length = L;
            c.positions = r;
            c.n_threads = threads;
            c.seed = static_cast<std::uint64_t>(d * 1000 + group * 100 + L + threads);
            check_decode<KV>(c);
          }
}

TEST_CASE_TEMPLATE("decode with large logits: the running maximum matters", KV, float, f16,
                   std::int8_t) {
  for (std::int64_t L : {700, 2048 + 17})
    for (int threads : {1, 2}) {
      decode_case c;
      c.head_dim = 64;
      c.n_heads = 8;
      c.n_kv_heads = 2;
      c.length = L;
      c.positions = string_remap{L / 3, 64};
      c.n_threads = threads;
      c.softmax_scale = 1.0;
      c.q_scale = 12.0;  // logits of standard deviation ~32, largest ~100-130 (checked below)
      const double max_logit = check_decode<KV>(c);
      // e^89 overflows float: without the running maximum subtracted the
      // outputs would be NaN.
      CHECK(max_logit > 89.0);
      CHECK(max_logit < 250.0);
    }
}

TEST_CASE_TEMPLATE("decode with a sliding window, and a position-major cache", KV, float, f16,
                   std::int8_t) {
  for (std::int64_t w : {1, 50, 700, 5000})
    for (int threads : {1, 2}) {
      decode_case c;
      c.head_dim = 64;
      c.n_heads = 8;
      c.n_kv_heads = 2;
      c.length = 1500;
      c.positions = string_remap{600, 100};
      c.sliding_window = w;
      c.n_threads = threads;
      check_decode<KV>(c);
      c.positions = identity_remap{};
      check_decode<KV>(c);
    }
  decode_case c;
  c.head_dim = 64;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.length = 999;
  c.positions = string_remap{300, 20};
  c.position_major = true;
  c.n_threads = 2;
  check_decode<KV>(c);
}

TEST_CASE_TEMPLATE("decode with head sizes the fast path does not take, or takes unusually", KV,
                   float, f16) {
  for (int d :
       {40, 48, 16})  // 40: not a multiple of 16 (general path); 48, 16: odd register counts
    for (int threads : {1, 2}) {
      decode_case c;
      c.head_dim = d;
      c.n_heads = 6;
      c.n_kv_heads = 2;
      c.length = 1300;
      c.positions = string_remap{400, 10};
      c.n_threads = threads;
      check_decode<KV>(c);
    }
}

TEST_CASE("decode with a GQA group of 5 (passes of 4 and 1 heads) and of 16") {
  for (int group : {5, 16}) {
    decode_case c;
    c.head_dim = 64;
    c.n_heads = 2 * group;
    c.n_kv_heads = 2;
    c.length = 1111;
    c.positions = string_remap{500, 30};
    c.n_threads = 2;
    check_decode<float>(c);
    check_decode<f16>(c);
  }
}

TEST_CASE_TEMPLATE("decode at position N equals row N of a prefill of N + 1", KV, float, f16,
                   std::int8_t) {
  for (std::int64_t L : {65, 1025})
    for (int threads : {1, 2}) {
      decode_case c;
      c.head_dim = 64;
      c.n_heads = 8;
      c.n_kv_heads = 2;
      c.length = L;
      c.positions = string_remap{L / 3, 16};
      c.n_threads = threads;
      CAPTURE(describe(c));
      splitmix64 g{c.seed};
      const cache<KV> ch = make_cache<KV>(c, g);
      const std::size_t row = static_cast<std::size_t>(c.n_heads) * c.head_dim;
      std::vector<float> q(row * static_cast<std::size_t>(L));
      for (float& x : q) x = static_cast<float>(g.uniform());
      const auto table = table_of(c);
      std::vector<float> prefill(q.size()), decode(row);
      shiftrope::attention(params_of(c), c.positions, table, q.data(), 0, L, ch.view,
                           prefill.data());
      shiftrope::attention(params_of(c), c.positions, table, q.data() + (L - 1) * row, L - 1, 1,
                           ch.view, decode.data());
      std::size_t bad = 0;
      for (std::size_t i = 0; i < row; ++i)
        bad += !(std::fabs(decode[i] - prefill[(L - 1) * row + i]) <= kSameTol);
      CHECK(bad == 0);
    }
}

TEST_CASE("the decode tolerance check rejects a wrong output") {
  // The comparison must be able to fail: an all-zero output is far from
  // the reference.
  decode_case c;
  c.length = 50;
  splitmix64 g{c.seed};
  const cache<float> ch = make_cache<float>(c, g);
  std::vector<double> q(static_cast<std::size_t>(c.n_heads) * c.head_dim);
  for (double& x : q) x = g.uniform();
  double max_logit = 0;
  const std::vector<double> want = reference(c, q, ch, max_logit);
  std::size_t bad = 0;
  for (double w : want) bad += !(std::fabs(0.0 - w) <= kAbsTol + kRelTol * std::fabs(w));
  CHECK(bad > want.size() / 2);
}
