// Tests of Self-Extend: self_extend_remap (position_map.hpp) against the
// formula written out here, attention_self_extend against a naive reference
// (per (m, n) pair: the relative position from the formula, an explicit
// rotation of the UN-rotated query by it against the UN-rotated key, softmax
// and weighted sum, all in double), and the model's Self-Extend path
// (session_params::self_extend, session::set_positions) against identities:
// G = 1 and W_n >= length are plain RoPE, prefill = decode = chunked.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <shiftrope/attention.hpp>
#include <shiftrope/attention_self_extend.hpp>
#include <shiftrope/model.hpp>
#include <string>
#include <vector>

#include "model_test_util.hpp"

using shiftrope::attention_params;
using shiftrope::bf16;
using shiftrope::f16;
using shiftrope::kv_cache_view;
using shiftrope::rope_pairing;
using shiftrope::self_extend_remap;

namespace {

// Combined tolerances |got - want| <= abs + rel·|want|; outputs are convex
// combinations of values in [-1, 1].
struct tolerance {
  double abs_tol, rel_tol;
};
// double compute: rounding of the tables, dots and exp only.
constexpr tolerance kTolDouble{1e-11, 1e-11};
// float compute: logits ~5 with ~1e-6 relative error, float cos/sin tables.
constexpr tolerance kTolFloat{3e-5, 3e-5};
// Two runs of the kernel that differ only in summation order (threads, chunks).
constexpr tolerance kTolSameFloat{1e-5, 1e-5};
// Model logits, two float computations of the same quantity by different
// kernels (the fused one and this one): logits are O(10).
constexpr double kLogitTol = 2e-3;
// A KV cache in f16 against the f32 goldens: test_model.cpp measured 0.022
// on these logits; about 2x headroom.
constexpr double kKvF16Tol = 5e-2;

template <class Acc>
constexpr tolerance ref_tol() {
  return std::is_same_v<Acc, double> ? kTolDouble : kTolFloat;
}

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

template <class A, class B>
std::size_t count_mismatches(const A* got, const B* want, std::size_t n, tolerance tol,
                             std::string* first = nullptr) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (!(std::fabs(g - w) <= tol.abs_tol + tol.rel_tol * std::fabs(w))) {
      if (bad == 0 && first)
        *first = "index " + std::to_string(i) + ": got " + std::to_string(g) + ", want " +
                 std::to_string(w);
      ++bad;
    }
  }
  return bad;
}

// Self-Extend's relative position, from the formula of the Self-Extend
// paper (STRING_FACTS §5), with floor division written for n, m >= 0.
std::int64_t formula(std::int64_t m, std::int64_t n, std::int64_t g, std::int64_t wn) {
  const std::int64_t d = m - n;
  if (d < wn) return d;
  return m / g - n / g + wn - wn / g;
}

struct problem {
  int n_heads = 4;
  int n_kv_heads = 2;
  int head_dim = 20;
  std::int64_t length = 37;
  std::int64_t group = 4;
  std::int64_t window = 8;  // W_n
  rope_pairing pairing = rope_pairing::interleaved;
  double logit_scale = 1.0;
  int n_threads = 2;
  std::uint64_t seed = 7;
  // > 0: large logits (make_inputs): the slowest rotary plane adds about
  // peak·(2n/(L-1) - 1) to every logit of key n, from -peak (key 0) to +peak,
  // so each row's largest logits are its last few keys.
  double logit_peak = 0.0;
};

std::string describe(const problem& p) {
  return "H=" + std::to_string(p.n_heads) + "/" + std::to_string(p.n_kv_heads) +
         " D=" + std::to_string(p.head_dim) + " L=" + std::to_string(p.length) +
         " G=" + std::to_string(p.group) + " Wn=" + std::to_string(p.window) +
         (p.pairing == rope_pairing::half_split ? " half_split" : " interleaved");
}

// The test's own RoPE in double: y = R(p) x with theta_i = 10000^(-2i/D).
void rotate(const double* x, std::int64_t p, double* y, int d, rope_pairing pairing) {
  const int planes = d / 2;
  for (int i = 0; i < planes; ++i) {
    const double angle = static_cast<double>(p) * std::pow(10000.0, -2.0 * i / d);
    const int a = pairing == rope_pairing::interleaved ? 2 * i : i;
    const int b = pairing == rope_pairing::interleaved ? 2 * i + 1 : i + planes;
    y[a] = x[a] * std::cos(angle) - x[b] * std::sin(angle);
    y[b] = x[b] * std::cos(angle) + x[a] * std::sin(angle);
  }
}

// Queries, the two key caches the kernel reads (head-major), values, and the
// un-rotated keys the reference reads: each cache's stored (rounded) key
// rotated back by its own position, so storage rounding adds no reference
// error.
template <class KV>
struct inputs {
  std::vector<double> q;                  // [L × H × D] un-rotated
  std::vector<KV> k, kg, v;               // [Hkv × L × D]: rotated at n, at floor(n/G), values
  std::vector<double> k_near, k_far, vd;  // [L × Hkv × D]
};

template <class KV>
inputs<KV> make_inputs(const problem& p) {
  splitmix64 g{p.seed};
  const auto L = static_cast<std::size_t>(p.length), D = static_cast<std::size_t>(p.head_dim);
  const auto H = static_cast<std::size_t>(p.n_heads), G = static_cast<std::size_t>(p.n_kv_heads);
  inputs<KV> in;
  in.q.resize(L * H * D);
  for (double& x : in.q) x = g.uniform();
  // Large logits: the last plane (a, b) of each query is (peak / factor, 0),
  // that of key n (ramp(n), 0) before rotation; it turns by at most 0.04 rad
  // over 300 positions (theta = 10000^(-(D-2)/D)), the other dimensions add
  // about ±0.3.
  const std::size_t plane = D / 2 - 1;
  const std::size_t pa = p.pairing == rope_pairing::interleaved ? 2 * plane : plane,
                    pb = p.pairing == rope_pairing::interleaved ? 2 * plane + 1 : plane + D / 2;
  const double factor = p.logit_scale / std::sqrt(static_cast<double>(D));
  if (p.logit_peak > 0)
    for (std::size_t r = 0; r < L * H; ++r) {
      in.q[r * D + pa] = p.logit_peak / factor;
      in.q[r * D + pb] = 0.0;
    }
  in.k.resize(L * G * D);
  in.kg.resize(in.k.size());
  in.v.resize(in.k.size());
  in.k_near.resize(in.k.size());
  in.k_far.resize(in.k.size());
  in.vd.resize(in.k.size());
  std::vector<double> raw(D), rot(D), back(D);
  const auto store = [&](std::vector<KV>& cache, std::vector<double>& plain, std::size_t at,
                         std::size_t plain_at, std::int64_t pos) {
    rotate(raw.data(), pos, rot.data(), p.head_dim, p.pairing);
    for (std::size_t i = 0; i < D; ++i) cache[at + i] = shiftrope::convert<KV>(rot[i]);
    for (std::size_t i = 0; i < D; ++i) rot[i] = shiftrope::convert<double>(cache[at + i]);
    rotate(rot.data(), -pos, back.data(), p.head_dim, p.pairing);
    std::copy(back.begin(), back.end(), plain.begin() + static_cast<std::ptrdiff_t>(plain_at));
  };
  for (std::size_t n = 0; n < L; ++n)
    for (std::size_t h = 0; h < G; ++h) {
      const std::size_t at = (h * L + n) * D, plain_at = (n * G + h) * D;
      for (std::size_t i = 0; i < D; ++i) raw[i] = g.uniform();
      if (p.logit_peak > 0) {
        raw[pa] = L > 1 ? 2.0 * static_cast<double>(n) / static_cast<double>(L - 1) - 1.0 : 1.0;
        raw[pb] = 0.0;
      }
      store(in.k, in.k_near, at, plain_at, static_cast<std::int64_t>(n));
      store(in.kg, in.k_far, at, plain_at, static_cast<std::int64_t>(n) / p.group);
      for (std::size_t i = 0; i < D; ++i) {
        in.v[at + i] = shiftrope::convert<KV>(g.uniform());
        in.vd[plain_at + i] = shiftrope::convert<double>(in.v[at + i]);
      }
    }
  return in;
}

// Rows [0, L) of a causal prefill in double, one (m, n) pair at a time.
template <class KV>
std::vector<double> reference(const problem& p, const inputs<KV>& in) {
  const int H = p.n_heads, D = p.head_dim, G = p.n_kv_heads;
  const double c = p.logit_scale / std::sqrt(static_cast<double>(D));
  std::vector<double> out(static_cast<std::size_t>(p.length) * H * D);
  std::vector<double> qr(static_cast<std::size_t>(D)), scores, acc(static_cast<std::size_t>(D));
  for (std::int64_t m = 0; m < p.length; ++m)
    for (int h = 0; h < H; ++h) {
      const double* q = &in.q[(static_cast<std::size_t>(m) * H + h) * D];
      const int kvh = h / (H / G);
      scores.assign(static_cast<std::size_t>(m + 1), 0.0);
      for (std::int64_t n = 0; n <= m; ++n) {
        const bool near = m - n < p.window;  // which stored copy the pair reads
        const double* k =
            &(near ? in.k_near : in.k_far)[(static_cast<std::size_t>(n) * G + kvh) * D];
        rotate(q, formula(m, n, p.group, p.window), qr.data(), D, p.pairing);
        double dot = 0;
        for (int i = 0; i < D; ++i) dot += qr[static_cast<std::size_t>(i)] * k[i];
        scores[static_cast<std::size_t>(n)] = c * dot;
      }
      const double mx = *std::max_element(scores.begin(), scores.end());
      double sum = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::int64_t n = 0; n <= m; ++n) {
        const double e = std::exp(scores[static_cast<std::size_t>(n)] - mx);
        sum += e;
        const double* v = &in.vd[(static_cast<std::size_t>(n) * G + kvh) * D];
        for (int i = 0; i < D; ++i) acc[static_cast<std::size_t>(i)] += e * v[i];
      }
      for (int i = 0; i < D; ++i)
        out[(static_cast<std::size_t>(m) * H + h) * D + i] = acc[static_cast<std::size_t>(i)] / sum;
    }
  return out;
}

constexpr double kGuard = 1234.5;  // written after every output buffer
constexpr std::size_t kGuardCount = 17;

// Runs the kernel on rows [t0, t0 + n) into out; checks the guard elements.
template <class Acc, class KV>
void run_rows(const problem& p, const inputs<KV>& in, std::int64_t t0, std::int64_t n,
              std::vector<Acc>& out, int n_threads) {
  shiftrope::rope_config cfg;
  cfg.head_dim = p.head_dim;
  cfg.pairing = p.pairing;
  const shiftrope::rope_table<Acc> table(cfg, p.length);
  const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
  std::vector<Acc> q(static_cast<std::size_t>(n) * row);
  for (std::size_t i = 0; i < q.size(); ++i)
    q[i] = static_cast<Acc>(in.q[static_cast<std::size_t>(t0) * row + i]);
  std::vector<Acc> o(static_cast<std::size_t>(n) * row + kGuardCount, Acc(kGuard));
  attention_params a;
  a.n_heads = p.n_heads;
  a.n_kv_heads = p.n_kv_heads;
  a.head_dim = p.head_dim;
  a.logit_scale = p.logit_scale;
  a.n_threads = n_threads;
  const auto view =
      kv_cache_view<KV>::head_major(in.k.data(), in.v.data(), p.length, p.head_dim, t0 + n);
  shiftrope::attention_self_extend(a, self_extend_remap{p.group, p.window}, table, q.data(), t0, n,
                                   view, in.kg.data(), o.data());
  for (std::size_t i = 0; i < kGuardCount; ++i)
    REQUIRE(o[static_cast<std::size_t>(n) * row + i] == Acc(kGuard));
  std::copy(o.begin(), o.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(n) * row),
            out.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(t0) * row));
}

template <class Acc, class KV>
void check_prefill(const problem& p) {
  CAPTURE(describe(p));
  const inputs<KV> in = make_inputs<KV>(p);
  const std::vector<double> want = reference(p, in);
  std::vector<Acc> got(want.size());
  run_rows(p, in, 0, p.length, got, p.n_threads);
  std::string first;
  CHECK_MESSAGE(count_mismatches(got.data(), want.data(), want.size(), ref_tol<Acc>(), &first) == 0,
                first);
}

}  // namespace

TEST_CASE("the mismatch counter reports a value outside the tolerance") {
  const double want[2] = {1.0, -0.5};
  const float bad[2] = {1.0f, -0.5002f};
  CHECK(count_mismatches(want, want, 2, kTolDouble) == 0);
  CHECK(count_mismatches(bad, want, 2, kTolFloat) == 1);
}

TEST_CASE("self_extend_remap: hand-computed rows, the split, max_position, validation") {
  // G = 2, W_n = 3: row m = 7 by hand: d < 3 keeps d (n = 5, 6, 7 -> 2, 1, 0);
  // n <= 4 sees floor(7/2) - floor(n/2) + 3 - floor(3/2) = 5 - floor(n/2).
  const self_extend_remap r{2, 3};
  const std::int64_t row7[8] = {5, 5, 4, 4, 3, 2, 1, 0};
  for (std::int64_t n = 0; n <= 7; ++n) CHECK(r(7, n) == row7[n]);
  CHECK(shiftrope::relative_position(r, 7, 2) == 4);
  // Every (m, n) up to 300 for several (G, W_n): the operator, the split and
  // the grouped key position agree with the formula.
  for (const std::int64_t g : {1, 2, 3, 4, 7, 16})
    for (const std::int64_t wn : {1, 2, 5, 8, 64}) {
      const self_extend_remap s{g, wn};
      std::int64_t seen_max = 0;
      for (std::int64_t m = 0; m < 300; ++m) {
        const auto sp = s.split_at(m);
        if (sp.far_end > 0) CHECK(sp.far_query_pos <= m);  // the table covering m covers it
        for (std::int64_t n = 0; n <= m; ++n) {
          const std::int64_t want = formula(m, n, g, wn);
          REQUIRE(s(m, n) == want);
          seen_max = std::max(seen_max, want);
          if (n < sp.far_end)
            REQUIRE(sp.far_query_pos - s.grouped_key_pos(n) == want);
          else
            REQUIRE(m - n == want);
        }
        CHECK(shiftrope::max_position(s, m + 1) == seen_max);
      }
    }
  const auto matrix = shiftrope::position_matrix(r, 8);
  CHECK(std::vector<std::int64_t>(matrix.begin() + 56, matrix.end()) ==
        std::vector<std::int64_t>(row7, row7 + 8));
  CHECK(shiftrope::describe(r) == "self-extend(G=2,Wn=3)");
  const auto message = [](self_extend_remap s) {
    try {
      s.validate();
    } catch (const shiftrope::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({0, 4}).find("group (G) must be in [1, 2^40], got 0") != std::string::npos);
  CHECK(message({2, 0}).find("neighbor_window (W_n) must be in [1, 2^40], got 0") !=
        std::string::npos);
  CHECK(message({2, -5}).find("got -5") != std::string::npos);
  CHECK(message({2, 4}) == "no error");
}

TEST_CASE("attention_self_extend against the naive reference (double)") {
  for (const std::int64_t length : {1, 5, 8, 9, 37, 130})
    for (const std::int64_t g : {1, 2, 3, 4})
      for (const std::int64_t wn : {1, 4, 8, 200}) {
        problem p;
        p.length = length;
        p.group = g;
        p.window = wn;
        check_prefill<double, double>(p);
      }
}

TEST_CASE_TEMPLATE("head dims, GQA ratios, pairings", Acc, float, double) {
  const int shapes[][3] = {{4, 2, 8}, {8, 1, 20}, {3, 3, 64}, {6, 2, 130}, {2, 1, 2}};
  for (const auto& s : shapes)
    for (const rope_pairing pr : {rope_pairing::interleaved, rope_pairing::half_split}) {
      problem p;
      p.n_heads = s[0];
      p.n_kv_heads = s[1];
      p.head_dim = s[2];
      p.pairing = pr;
      p.length = 71;
      p.group = 3;
      p.window = 10;
      p.logit_scale = 1.3;
      check_prefill<Acc, float>(p);
    }
}

TEST_CASE_TEMPLATE("KV storage types (float compute)", KV, float, f16, bf16) {
  problem p;
  p.length = 150;  // > 2 score blocks of 64 keys, far and near parts both long
  p.group = 5;
  p.window = 70;
  check_prefill<float, KV>(p);
}

// exp overflows float from 88.8 and double from 709.8: with these peaks a
// softmax that does not subtract the row's maximum, or keeps the first
// block's, gives inf/NaN (test_attention.cpp shows it on the same inputs).
TEST_CASE_TEMPLATE("large logits, largest in each row's last key block: prefill and decode", Acc,
                   float, double) {
  for (const std::int64_t L : {150, 300})
    for (const std::int64_t wn : {16, 100}) {  // far part holds the first block; both parts long
      problem p;
      p.length = L;
      p.group = 4;
      p.window = wn;
      p.head_dim = 64;
      p.logit_peak = std::is_same_v<Acc, double> ? 800.0 : 100.0;
      check_prefill<Acc, Acc>(p);
      check_prefill<Acc, f16>(p);
      const inputs<Acc> in = make_inputs<Acc>(p);
      const std::vector<double> want = reference(p, in);
      const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
      const std::int64_t N = L - 1;
      for (const int threads : {1, 2}) {
        std::vector<Acc> got(want.size());
        run_rows(p, in, N, 1, got, threads);
        std::string first;
        CHECK_MESSAGE(count_mismatches(got.data() + N * row, want.data() + N * row, row,
                                       ref_tol<Acc>(), &first) == 0,
                      first);
      }
    }
}

TEST_CASE("decode after a prefill, chunked prefill and 1, 2, 3 threads agree") {
  problem p;
  p.length = 90;
  p.group = 4;
  p.window = 16;
  const inputs<float> in = make_inputs<float>(p);
  const std::vector<double> want = reference(p, in);
  std::vector<float> whole(want.size()), pieces(want.size()), one(want.size());
  run_rows(p, in, 0, p.length, whole, 2);
  run_rows(p, in, 0, 33, pieces, 3);  // a prefill of 33, a chunk of 40, then decode steps
  run_rows(p, in, 33, 40, pieces, 2);
  for (std::int64_t t = 73; t < p.length; ++t) run_rows(p, in, t, 1, pieces, 1);
  run_rows(p, in, 0, p.length, one, 1);
  std::string first;
  CHECK_MESSAGE(
      count_mismatches(pieces.data(), whole.data(), whole.size(), kTolSameFloat, &first) == 0,
      first);
  CHECK_MESSAGE(
      count_mismatches(one.data(), whole.data(), whole.size(), kTolSameFloat, &first) == 0, first);
  CHECK_MESSAGE(count_mismatches(whole.data(), want.data(), want.size(), kTolFloat, &first) == 0,
                first);
}

TEST_CASE("G = 1 and W_n >= length equal the fused RoPE kernel") {
  problem p;
  p.length = 77;
  const inputs<float> in = make_inputs<float>(p);
  shiftrope::rope_config cfg;
  cfg.head_dim = p.head_dim;
  const shiftrope::rope_table<float> table(cfg, p.length);
  std::vector<float> q(in.q.begin(), in.q.end());
  std::vector<float> rope(q.size()), got(q.size());
  attention_params a;
  a.n_heads = p.n_heads;
  a.n_kv_heads = p.n_kv_heads;
  a.head_dim = p.head_dim;
  const auto view =
      kv_cache_view<float>::head_major(in.k.data(), in.v.data(), p.length, p.head_dim, p.length);
  shiftrope::attention(a, shiftrope::identity_remap{}, table, q.data(), 0, p.length, view,
                       rope.data());
  for (const self_extend_remap r : {self_extend_remap{1, 3}, self_extend_remap{4, 77}}) {
    CAPTURE(shiftrope::describe(r));
    // G = 1 reads far keys rotated at floor(n/1) = n: hand the kernel the
    // ordinary cache as the grouped one.
    shiftrope::attention_self_extend(a, r, table, q.data(), 0, p.length, view, in.k.data(),
                                     got.data());
    std::string first;
    CHECK_MESSAGE(
        count_mismatches(got.data(), rope.data(), rope.size(), kTolSameFloat, &first) == 0, first);
  }
}

TEST_CASE("attention_self_extend: invalid input raises shiftrope::error naming it") {
  problem p;
  const inputs<float> in = make_inputs<float>(p);
  shiftrope::rope_config cfg;
  cfg.head_dim = p.head_dim;
  const shiftrope::rope_table<float> table(cfg, p.length);
  std::vector<float> q(in.q.begin(), in.q.end()), out(q.size());
  attention_params a;
  a.n_heads = p.n_heads;
  a.n_kv_heads = p.n_kv_heads;
  a.head_dim = p.head_dim;
  const auto view =
      kv_cache_view<float>::head_major(in.k.data(), in.v.data(), p.length, p.head_dim, p.length);
  const auto message = [&](self_extend_remap r, std::int64_t start, std::int64_t n, const float* kg,
                           const shiftrope::rope_table<float>& t) {
    try {
      shiftrope::attention_self_extend(a, r, t, q.data(), start, n, view, kg, out.data());
    } catch (const shiftrope::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const self_extend_remap ok{2, 4};
  CHECK(message({0, 4}, 0, 5, in.kg.data(), table).find("group (G)") != std::string::npos);
  CHECK(message(ok, 0, 5, nullptr, table).find("grouped_k must not be null") != std::string::npos);
  const shiftrope::rope_table<float> long_table(cfg, 64);
  CHECK(message(ok, 30, 10, in.kg.data(), long_table).find("n_pos (37) must cover") !=
        std::string::npos);
  const shiftrope::rope_table<float> short_table(cfg, 10);
  CHECK(message(ok, 0, 20, in.kg.data(), short_table).find("rope table covers 10 positions") !=
        std::string::npos);
  CHECK(message(ok, -1, 1, in.kg.data(), table).find("start_pos") != std::string::npos);
  CHECK(message(ok, 0, 0, in.kg.data(), table) == "no error");
}

// ---- the model's Self-Extend path (stories260K) ----

namespace {

std::vector<float> teacher_forced(const shiftrope::model& m, const shiftrope::session_params& p,
                                  const std::vector<int>& tokens, std::size_t prefill) {
  shiftrope::session s(m, p);
  const std::size_t nv = static_cast<std::size_t>(m.config().n_vocab);
  std::vector<float> out(tokens.size() * nv);
  const std::vector<int> head(tokens.begin(),
                              tokens.begin() + static_cast<std::ptrdiff_t>(prefill));
  s.forward(head.data(), head.size(), 0, out.data(), shiftrope::logits_rows::all);
  for (std::size_t t = prefill; t < tokens.size(); ++t)
    s.forward(&tokens[t], 1, static_cast<std::int64_t>(t), out.data() + t * nv);
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d;
}

}  // namespace

TEST_CASE("model: Self-Extend with G = 1 or W_n >= length is plain RoPE, prefill = decode") {
  const std::string bin = model_test::shared("stories260K.bin");
  const std::string tokens_file = model_test::shared("golden/story64.tokens");
  const std::string golden = model_test::shared("golden/story64.rope.logits.f32");
  if (!model_test::have({bin, tokens_file, golden})) return;
  const shiftrope::model m = shiftrope::model::open(bin);
  const std::vector<int> tokens = model_test::read_tokens(tokens_file);
  const std::vector<float> rope = model_test::read_f32(golden);
  shiftrope::session_params p;
  p.n_ctx = 64;
  for (const self_extend_remap r : {self_extend_remap{1, 5}, self_extend_remap{3, 64}}) {
    CAPTURE(shiftrope::describe(r));
    p.self_extend = r;
    CHECK(max_abs_diff(teacher_forced(m, p, tokens, tokens.size()), rope) <=
          model_test::golden_tolerance);
  }
  // A real grouping: 40 tokens of prefill then decode steps equal one
  // teacher-forced prefill (grouped keys stored the same way on both paths),
  // and the result differs from RoPE (the far keys moved).
  p.self_extend = self_extend_remap{4, 8};
  p.max_batch = 16;  // the prefill also runs in chunks
  const std::vector<float> whole = teacher_forced(m, p, tokens, tokens.size());
  const std::vector<float> mixed = teacher_forced(m, p, tokens, 40);
  CHECK(max_abs_diff(whole, mixed) <= kLogitTol);
  CHECK(max_abs_diff(whole, rope) > 0.05);
}

TEST_CASE("model: set_positions switches RoPE, STRING and Self-Extend on one session") {
  const std::string bin = model_test::shared("stories260K.bin");
  const std::string tokens_file = model_test::shared("golden/story64.tokens");
  const std::string rope_file = model_test::shared("golden/story64.rope.logits.f32");
  const std::string string_file = model_test::shared("golden/story64.string-S16-W4.logits.f32");
  if (!model_test::have({bin, tokens_file, rope_file, string_file})) return;
  const shiftrope::model m = shiftrope::model::open(bin);
  const std::vector<int> tokens = model_test::read_tokens(tokens_file);
  shiftrope::session_params p;
  p.n_ctx = 64;
  p.kv = shiftrope::kv_type::f16;  // the grouped cache follows the cache's type
  p.self_extend = self_extend_remap{4, 8};
  const std::vector<float> fresh_se = teacher_forced(m, p, tokens, tokens.size());
  p.self_extend.reset();
  shiftrope::session s(m, p);
  const auto all = [&] { return s.forward(tokens, 0, shiftrope::logits_rows::all); };
  s.set_positions(shiftrope::string_remap{16, 4}, std::nullopt, 1.0);
  CHECK(s.n_past() == 0);
  CHECK(max_abs_diff(all(), model_test::read_f32(string_file)) <= kKvF16Tol);  // f16 cache
  s.set_positions(shiftrope::identity_remap{}, self_extend_remap{4, 8}, 1.0);
  CHECK(max_abs_diff(all(), fresh_se) <= kLogitTol);
  s.set_positions(shiftrope::identity_remap{}, std::nullopt, 1.0);
  CHECK(max_abs_diff(all(), model_test::read_f32(rope_file)) <= kKvF16Tol);
  // Bad combinations are refused with the field named, and leave the session usable.
  const auto message = [&](const shiftrope::remap& r, std::optional<self_extend_remap> se) {
    try {
      s.set_positions(r, se, 1.0);
    } catch (const shiftrope::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message(shiftrope::string_remap{16, 4}, self_extend_remap{2, 4})
            .find("self_extend cannot be combined with position_remap = string(S=16,W=4)") !=
        std::string::npos);
  CHECK(message(shiftrope::identity_remap{}, self_extend_remap{0, 4}).find("self_extend: ") !=
        std::string::npos);
  CHECK(message(shiftrope::string_remap{600, 8}, std::nullopt).find("train_len") !=
        std::string::npos);
  CHECK(max_abs_diff(all(), model_test::read_f32(rope_file)) <= kKvF16Tol);
}
