// Tests of attention.hpp against a naive reference written plainly here:
// every score is materialised by rotating the UN-rotated query by the
// remapped relative position f(m - n) (angles from theta_i = base^(-2i/D),
// computed in double in this file, not from the library's tables or
// segments) against the UN-rotated key, then a full softmax and a weighted
// sum, all in double. The kernel instead gets keys rotated at their own
// positions and exploits <R(m')q, R(n)k> = <R(m'-n)q, k>; the reference
// does not.
//
// The keys the reference uses are exactly the cache's (rounded) keys,
// rotated back by -n in double, so f16/bf16 storage adds no reference
// error: tolerances depend on the compute type only.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <shiftrope/attention.hpp>
#include <string>
#include <vector>

using shiftrope::attention_params;
using shiftrope::bf16;
using shiftrope::f16;
using shiftrope::identity_remap;
using shiftrope::kv_cache_view;
using shiftrope::remap;
using shiftrope::rope_pairing;
using shiftrope::string_remap;

namespace {

// Named tolerances (combined: |got - want| <= abs + rel·|want|). Outputs are
// convex combinations of values in [-1, 1].
struct tolerance {
  double abs_tol, rel_tol;
};
// double: the kernel's only error is rounding in double (tables, FMAs, exp).
constexpr tolerance kTolDouble{1e-11, 1e-11};
// float: logits of |q||k|/sqrt(D) ~ 5 carry ~1e-6 relative error; exp and the
// float cos/sin tables add ~1e-7; the outputs move by a few 1e-6.
constexpr tolerance kTolFloat{3e-5, 3e-5};
// Two kernel runs of the same problem (different tiling or threads): only
// summation order differs.
constexpr tolerance kTolSameFloat{1e-5, 1e-5};
constexpr tolerance kTolSameDouble{1e-12, 1e-12};

template <class Acc>
constexpr tolerance ref_tol() {
  return std::is_same_v<Acc, double> ? kTolDouble : kTolFloat;
}
template <class Acc>
constexpr tolerance same_tol() {
  return std::is_same_v<Acc, double> ? kTolSameDouble : kTolSameFloat;
}

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

/// Counts elements outside the tolerance; reports the first one.
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

/// One problem: shapes, remap and how the kernel is called.
struct problem {
  int n_heads = 4;
  int n_kv_heads = 2;
  int head_dim = 64;
  int rotary_dim = 0;        // 0 = head_dim; dimensions past it are not rotated
  std::int64_t length = 17;  // positions 0 .. length-1 (all are queries in a prefill)
  remap positions = identity_remap{};
  rope_pairing pairing = rope_pairing::interleaved;
  double base = 10000.0;
  double softmax_scale = 0.0;  // 0 = 1/sqrt(head_dim)
  double logit_scale = 1.0;
  int n_threads = 2;
  bool position_major = false;  // cache layout [n_ctx × n_kv_heads × D] instead of head-major
  std::uint64_t seed = 1;
  // > 0: large logits (make_inputs): the lowest-frequency rotary plane adds
  // about peak·(2n/(L-1) - 1) to every logit of key n, so logits run from
  // -peak (key 0) to +peak and each row's largest are its last few keys.
  double logit_peak = 0.0;
  // > 0: keys at distance m - n >= sliding_window are masked out.
  std::int64_t sliding_window = 0;
};

std::string describe(const problem& p) {
  return "H=" + std::to_string(p.n_heads) + "/" + std::to_string(p.n_kv_heads) +
         " D=" + std::to_string(p.head_dim) + " L=" + std::to_string(p.length) + " " +
         shiftrope::describe(p.positions) +
         (p.pairing == rope_pairing::half_split ? " half_split" : " interleaved") +
         " threads=" + std::to_string(p.n_threads) +
         (p.logit_peak > 0 ? " logit_peak=" + std::to_string(p.logit_peak) : "") +
         (p.sliding_window > 0 ? " sliding_window=" + std::to_string(p.sliding_window) : "");
}

/// The factor every logit <R q, k> is multiplied by.
double logit_factor(const problem& p) {
  return (p.softmax_scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(p.head_dim))
                                 : p.softmax_scale) *
         p.logit_scale;
}

/// The test's own RoPE in double: cos/sin of p·theta_i for p in [-P, P],
/// theta_i = base^(-2i/R) over the first R = rotary dimensions.
struct test_rope {
  int d = 0, planes = 0;
  std::int64_t max_p = 0;
  rope_pairing pairing = rope_pairing::interleaved;
  std::vector<double> c, s;  // [(2P+1) × planes]
  test_rope(int head_dim, double base, rope_pairing pr, std::int64_t max_pos, int rotary = 0)
      : d(rotary ? rotary : head_dim), planes(d / 2), max_p(max_pos), pairing(pr) {
    c.resize(static_cast<std::size_t>(2 * max_p + 1) * planes);
    s.resize(c.size());
    for (std::int64_t p = -max_p; p <= max_p; ++p)
      for (int i = 0; i < planes; ++i) {
        const double theta = std::pow(base, -2.0 * i / d);
        c[static_cast<std::size_t>(p + max_p) * planes + i] =
            std::cos(static_cast<double>(p) * theta);
        s[static_cast<std::size_t>(p + max_p) * planes + i] =
            std::sin(static_cast<double>(p) * theta);
      }
  }
  /// y = R(p) x (x and y of head_dim values; past the rotary part y = x).
  void rotate(const double* x, std::int64_t p, double* y, int head_dim) const {
    for (int i = d; i < head_dim; ++i) y[i] = x[i];
    rotate(x, p, y);
  }
  /// y = R(p) x on the rotary part only.
  void rotate(const double* x, std::int64_t p, double* y) const {
    const double* cp = &c[static_cast<std::size_t>(p + max_p) * planes];
    const double* sp = &s[static_cast<std::size_t>(p + max_p) * planes];
    for (int i = 0; i < planes; ++i) {
      const int a = pairing == rope_pairing::interleaved ? 2 * i : i;
      const int b = pairing == rope_pairing::interleaved ? 2 * i + 1 : i + planes;
      y[a] = x[a] * cp[i] - x[b] * sp[i];
      y[b] = x[b] * cp[i] + x[a] * sp[i];
    }
  }
};

/// Relative positions a (query m, key n) pair is scored at, written from the
/// formula: RoPE {d}; STRING {d} below S, {d - S + W} from S on; with the
/// reference-prefill duplicate, the key at d = S counts at both S and W.
std::vector<std::int64_t> scored_positions(const remap& r, std::int64_t d) {
  if (const auto* s = std::get_if<string_remap>(&r)) {
    if (d < s->shift) return {d};
    if (d == s->shift && s->duplicate_boundary_key) return {d, s->window};
    return {d - s->shift + s->window};
  }
  return {d};
}

/// Inputs: queries, the cache the kernel reads, and the un-rotated keys and
/// values the reference reads (the cache's own values, rotated back).
template <class KV>
struct inputs {
  std::vector<double> q;        // [L × H × D] un-rotated
  std::vector<KV> k, v;         // cache, layout per problem
  std::vector<double> k_plain;  // [L × Hkv × D] = R(-n) · cache key n
  std::vector<double> v_plain;  // [L × Hkv × D] = cache value n
  kv_cache_view<KV> view;
};

template <class KV>
inputs<KV> make_inputs(const problem& p, const test_rope& rope) {
  splitmix64 g{p.seed};
  inputs<KV> in;
  const std::size_t L = static_cast<std::size_t>(p.length),
                    D = static_cast<std::size_t>(p.head_dim);
  const std::size_t H = static_cast<std::size_t>(p.n_heads),
                    G = static_cast<std::size_t>(p.n_kv_heads);
  in.q.resize(L * H * D);
  for (double& x : in.q) x = g.uniform();
  // Large logits: the last rotary plane (a, b) of every query is
  // (peak / factor, 0) and that of key n is (ramp(n), 0) before rotation, so
  // the pair adds peak·ramp(n)·cos(theta·f(m - n)) to logit (m, n). That
  // plane turns slowest (theta = base^(-(R-2)/R), 1.3e-4 for R = 64: the
  // cosine stays above 0.98 over 1100 positions); the other dimensions keep
  // their random values and add about ±0.3.
  const int plane = rope.planes - 1;
  const bool interleaved = p.pairing == rope_pairing::interleaved;
  const std::size_t pa = static_cast<std::size_t>(interleaved ? 2 * plane : plane);
  const std::size_t pb =
      static_cast<std::size_t>(interleaved ? 2 * plane + 1 : plane + rope.planes);
  const auto ramp = [&](std::size_t n) {
    return L > 1 ? 2.0 * static_cast<double>(n) / static_cast<double>(L - 1) - 1.0 : 1.0;
  };
  if (p.logit_peak > 0)
    for (std::size_t r = 0; r < L * H; ++r) {
      in.q[r * D + pa] = p.logit_peak / logit_factor(p);
      in.q[r * D + pb] = 0.0;
    }
  in.k.resize(L * G * D);
  in.v.resize(L * G * D);
  in.k_plain.resize(L * G * D);
  in.v_plain.resize(L * G * D);
  std::vector<double> raw(D), rot(D), back(D);
  for (std::size_t n = 0; n < L; ++n)
    for (std::size_t h = 0; h < G; ++h) {
      const std::size_t at = p.position_major ? (n * G + h) * D : (h * L + n) * D;
      for (std::size_t i = 0; i < D; ++i) raw[i] = g.uniform();
      if (p.logit_peak > 0) {
        raw[pa] = ramp(n);
        raw[pb] = 0.0;
      }
      rope.rotate(raw.data(), static_cast<std::int64_t>(n), rot.data(), p.head_dim);
      for (std::size_t i = 0; i < D; ++i) in.k[at + i] = shiftrope::convert<KV>(rot[i]);
      for (std::size_t i = 0; i < D; ++i) rot[i] = shiftrope::convert<double>(in.k[at + i]);
      rope.rotate(rot.data(), -static_cast<std::int64_t>(n), back.data(), p.head_dim);
      for (std::size_t i = 0; i < D; ++i) {
        in.k_plain[(n * G + h) * D + i] = back[i];
        in.v[at + i] = shiftrope::convert<KV>(g.uniform());
        in.v_plain[(n * G + h) * D + i] = shiftrope::convert<double>(in.v[at + i]);
      }
    }
  in.view = p.position_major ? kv_cache_view<KV>::position_major(in.k.data(), in.v.data(),
                                                                 p.n_kv_heads, p.head_dim, p.length)
                             : kv_cache_view<KV>::head_major(in.k.data(), in.v.data(), p.length,
                                                             p.head_dim, p.length);
  return in;
}

/// What the softmax subtracts from each logit before exp: the row's largest
/// logit (the reference), nothing, or the largest of the first key tile only
/// (an online softmax that never updates its running maximum). The last two
/// are wrong and exist to show which inputs catch them.
enum class softmax_shift { row_max, none, first_tile_max };
constexpr std::int64_t kKernelTileKeys = 64;  // keys per K/V tile in the kernel

/// The logits of query row m, head h, in double: one per scored (key,
/// relative position) pair, with the key each belongs to.
template <class KV>
void row_logits(const problem& p, const test_rope& rope, const inputs<KV>& in, std::int64_t m,
                int h, std::vector<double>& scores, std::vector<std::int64_t>& key_of) {
  const int H = p.n_heads, D = p.head_dim, G = p.n_kv_heads, kvh = h / (H / G);
  const double c = logit_factor(p);
  const double* q = &in.q[(static_cast<std::size_t>(m) * H + h) * D];
  std::vector<double> qr(static_cast<std::size_t>(D));
  scores.clear();
  key_of.clear();
  for (std::int64_t n = 0; n <= m; ++n) {
    // The sliding window masks by the true distance, whatever the remap.
    if (p.sliding_window > 0 && m - n >= p.sliding_window) continue;
    for (std::int64_t pos : scored_positions(p.positions, m - n)) {
      rope.rotate(q, pos, qr.data(), D);
      const double* k = &in.k_plain[(static_cast<std::size_t>(n) * G + kvh) * D];
      double dot = 0;
      for (int i = 0; i < D; ++i) dot += qr[i] * k[i];
      scores.push_back(c * dot);
      key_of.push_back(n);
    }
  }
}

/// The naive reference: rows [first_row, L) of a full causal prefill, in
/// double (earlier rows are left 0). E (double for the reference) is the type
/// the exponentials, their sum and the weighted values are computed in.
template <class E = double, class KV>
std::vector<double> reference(const problem& p, const test_rope& rope, const inputs<KV>& in,
                              std::int64_t first_row = 0,
                              softmax_shift shift = softmax_shift::row_max) {
  const int H = p.n_heads, D = p.head_dim, G = p.n_kv_heads, group = H / G;
  std::vector<double> out(static_cast<std::size_t>(p.length) * H * D, 0.0);
  std::vector<double> scores;
  std::vector<E> acc(static_cast<std::size_t>(D));
  std::vector<std::int64_t> key_of;
  for (std::int64_t m = first_row; m < p.length; ++m)
    for (int h = 0; h < H; ++h) {
      const int kvh = h / group;
      row_logits(p, rope, in, m, h, scores, key_of);
      double mx = 0.0;
      if (shift == softmax_shift::row_max) mx = *std::max_element(scores.begin(), scores.end());
      if (shift == softmax_shift::first_tile_max) {
        mx = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < scores.size(); ++j)
          if (key_of[j] < kKernelTileKeys) mx = std::max(mx, scores[j]);
      }
      E sum = 0;
      std::fill(acc.begin(), acc.end(), E(0));
      for (std::size_t j = 0; j < scores.size(); ++j) {
        const E e = std::exp(static_cast<E>(scores[j] - mx));
        sum += e;
        const double* v = &in.v_plain[(static_cast<std::size_t>(key_of[j]) * G + kvh) * D];
        for (int i = 0; i < D; ++i) acc[i] += e * static_cast<E>(v[i]);
      }
      double* o = &out[(static_cast<std::size_t>(m) * H + h) * D];
      for (int i = 0; i < D; ++i) o[i] = static_cast<double>(acc[i] / sum);
    }
  return out;
}

attention_params params_of(const problem& p) {
  attention_params a;
  a.n_heads = p.n_heads;
  a.n_kv_heads = p.n_kv_heads;
  a.head_dim = p.head_dim;
  a.softmax_scale = p.softmax_scale;
  a.logit_scale = p.logit_scale;
  a.n_threads = p.n_threads;
  a.sliding_window = p.sliding_window;
  return a;
}

template <class Acc>
shiftrope::rope_table<Acc> table_of(const problem& p) {
  shiftrope::rope_config cfg;
  cfg.head_dim = p.head_dim;
  cfg.rotary_dim = p.rotary_dim;
  cfg.base = p.base;
  cfg.pairing = p.pairing;
  return shiftrope::rope_table<Acc>(cfg, p.length);
}

constexpr double kGuard = 1234.5;  // written after every output buffer
constexpr std::size_t kGuardCount = 17;

/// Runs the kernel on query rows [t0, t0 + n) (positions t0 ..) into
/// out rows [t0, t0 + n); checks the guard elements after the call's output.
template <class Acc, class KV>
void run_rows(const problem& p, const inputs<KV>& in, const shiftrope::rope_table<Acc>& table,
              std::int64_t t0, std::int64_t n, std::vector<Acc>& out, int n_threads) {
  const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
  std::vector<Acc> q(static_cast<std::size_t>(n) * row);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = static_cast<Acc>(in.q[t0 * row + i]);
  std::vector<Acc> o(static_cast<std::size_t>(n) * row + kGuardCount, Acc(kGuard));
  attention_params a = params_of(p);
  a.n_threads = n_threads;
  kv_cache_view<KV> view = in.view;
  view.n_pos = t0 + n;  // the kernel may read only what is filled
  shiftrope::attention(a, p.positions, table, q.data(), t0, n, view, o.data());
  for (std::size_t i = 0; i < kGuardCount; ++i)
    REQUIRE(o[static_cast<std::size_t>(n) * row + i] == Acc(kGuard));
  std::copy(o.begin(), o.begin() + static_cast<std::ptrdiff_t>(n * row), out.begin() + t0 * row);
}

/// Full prefill of problem p in Acc/KV against the reference.
template <class Acc, class KV>
void check_prefill(const problem& p) {
  CAPTURE(describe(p));
  const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
  const inputs<KV> in = make_inputs<KV>(p, rope);
  const std::vector<double> want = reference(p, rope, in);
  const auto table = table_of<Acc>(p);
  std::vector<Acc> got(want.size());
  run_rows(p, in, table, 0, p.length, got, p.n_threads);
  std::string first;
  CHECK_MESSAGE(count_mismatches(got.data(), want.data(), want.size(), ref_tol<Acc>(), &first) == 0,
                first);
}

/// The last position decoded alone (one query token against the full cache)
/// against the reference's last row.
template <class Acc, class KV>
void check_decode(const problem& p) {
  CAPTURE(describe(p));
  const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
  const inputs<KV> in = make_inputs<KV>(p, rope);
  const std::int64_t N = p.length - 1;
  const std::vector<double> want = reference(p, rope, in, N);
  const auto table = table_of<Acc>(p);
  std::vector<Acc> got(want.size());
  run_rows(p, in, table, N, 1, got, p.n_threads);
  const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
  std::string first;
  CHECK_MESSAGE(count_mismatches(got.data() + N * row, want.data() + N * row, row, ref_tol<Acc>(),
                                 &first) == 0,
                first);
}

std::vector<remap> string_sweep(std::int64_t L) {
  std::vector<remap> r;
  r.push_back(identity_remap{});
  r.push_back(string_remap{1, 0});                                 // S = 1
  r.push_back(string_remap{std::max<std::int64_t>(L / 3, 1), 0});  // W = 0
  if (L / 3 > 2) r.push_back(string_remap{L / 3, std::min<std::int64_t>(L / 3 - 1, 5)});
  if (L > 2) r.push_back(string_remap{L - 1, 1});  // S = L - 1
  r.push_back(string_remap{L + 3, 2});             // L < S
  if (L > 1) r.push_back(string_remap{L, L - 1});  // L = S
  if (L > 2) r.push_back(string_remap{L - 1, 0});  // L = S + 1
  return r;
}

}  // namespace

TEST_CASE("the mismatch counter reports a value outside the tolerance") {
  const double want[3] = {1.0, -2.0, 0.5};
  const float ok[3] = {1.0f, -2.0f, 0.5f};
  const float bad[3] = {1.0f, -2.0f, 0.5001f};
  CHECK(count_mismatches(ok, want, 3, kTolFloat) == 0);
  CHECK(count_mismatches(bad, want, 3, kTolFloat) == 1);
  const double nan_val[1] = {std::numeric_limits<double>::quiet_NaN()};
  CHECK(count_mismatches(nan_val, want, 1, kTolDouble) == 1);
}

TEST_CASE("remaps and lengths against the naive reference (double)") {
  for (std::int64_t L : {1, 2, 17, 129, 517}) {
    for (const remap& r : string_sweep(L)) {
      if (L == 517 && std::holds_alternative<string_remap>(r) &&
          std::get<string_remap>(r).shift != L / 3)
        continue;  // the long length checks the typical STRING setting and RoPE only
      problem p;
      p.length = L;
      p.positions = r;
      p.head_dim = L == 517 ? 16 : 24;
      check_prefill<double, double>(p);
    }
  }
}

TEST_CASE("remaps and lengths against the naive reference (float)") {
  for (std::int64_t L : {1, 2, 17, 129, 517}) {
    for (const remap& r : string_sweep(L)) {
      if (L == 517 && std::holds_alternative<string_remap>(r) &&
          std::get<string_remap>(r).shift != L / 3)
        continue;
      problem p;
      p.length = L;
      p.positions = r;
      p.head_dim = 32;
      p.n_heads = 2;
      p.n_kv_heads = 1;
      check_prefill<float, float>(p);
    }
  }
}

TEST_CASE_TEMPLATE("head_dim sweep", Acc, float, double) {
  for (int d : {8, 64, 72, 80, 128}) {
    problem p;
    p.head_dim = d;
    p.length = 150;
    p.positions = string_remap{40, 7};
    p.n_heads = 4;
    p.n_kv_heads = 1;
    check_prefill<Acc, Acc>(p);
  }
}

TEST_CASE_TEMPLATE("rotary_dim < head_dim: the rest of each head is not rotated", Acc, float,
                   double) {
  for (rope_pairing pr : {rope_pairing::interleaved, rope_pairing::half_split}) {
    problem p;
    p.head_dim = 40;
    p.rotary_dim = 24;
    p.length = 130;
    p.pairing = pr;
    p.positions = string_remap{45, 6};
    check_prefill<Acc, Acc>(p);
  }
}

TEST_CASE_TEMPLATE("GQA ratios and pairings", Acc, float, double) {
  for (int ratio : {1, 2, 4, 8, 16}) {
    for (rope_pairing pr : {rope_pairing::interleaved, rope_pairing::half_split}) {
      problem p;
      p.n_kv_heads = 2;
      p.n_heads = 2 * ratio;
      p.head_dim = 32;
      p.length = 70;
      p.pairing = pr;
      p.positions = string_remap{23, 4};
      p.seed = static_cast<std::uint64_t>(ratio);
      check_prefill<Acc, Acc>(p);
    }
  }
}

TEST_CASE_TEMPLATE("MQA with more query heads than one work item holds", Acc, float, double) {
  problem p;
  p.n_heads = 200;  // groups of 200 heads on one KV head are split into head blocks
  p.n_kv_heads = 1;
  p.head_dim = 8;
  p.length = 21;
  p.positions = string_remap{7, 2};
  check_prefill<Acc, Acc>(p);
  p.n_kv_heads = 2;
  p.positions = identity_remap{};
  check_prefill<Acc, bf16>(p);
}

TEST_CASE_TEMPLATE("KV storage types (double compute)", KV, float, double, f16, bf16) {
  problem p;
  p.length = 140;
  p.head_dim = 40;
  p.positions = string_remap{50, 8};
  check_prefill<double, KV>(p);
  p.n_heads = 8;
  p.n_kv_heads = 8;
  p.positions = identity_remap{};
  p.position_major = true;
  check_prefill<double, KV>(p);
}

TEST_CASE_TEMPLATE("KV storage types when decoding", KV, float, double, f16, bf16) {
  for (int d : {40, 64}) {  // 64: rows of whole registers, read in place; 40: converted copies
    problem p;
    p.length = 300;
    p.head_dim = d;
    p.n_heads = 8;
    p.n_kv_heads = 2;
    p.positions = string_remap{100, 8};
    check_decode<float, KV>(p);
    check_decode<double, KV>(p);
    p.n_kv_heads = 8;
    p.positions = identity_remap{};
    check_decode<float, KV>(p);
  }
}

TEST_CASE_TEMPLATE("KV storage types (float compute)", KV, float, double, f16, bf16) {
  problem p;
  p.length = 140;
  p.head_dim = 48;
  p.positions = string_remap{50, 8};
  check_prefill<float, KV>(p);
  p.n_heads = 8;
  p.n_kv_heads = 8;
  p.head_dim = 64;  // float K/V rows used in place, no conversion
  p.position_major = true;
  check_prefill<float, KV>(p);
}

TEST_CASE_TEMPLATE("sliding window: prefill and decode against the reference", Acc, float, double) {
  // Windows below, at and above STRING's S and W, below and above the
  // kernel's key tile, one of 1 (each row sees itself only) and one longer
  // than the sequence (no key masked).
  for (std::int64_t window : {1, 5, 8, 30, 41, 70, 200, 400}) {
    for (const remap& r : {remap{identity_remap{}}, remap{string_remap{40, 8}}}) {
      for (int threads : {1, 3}) {
        problem p;
        p.length = 213;
        p.head_dim = 40;
        p.n_heads = 4;
        p.n_kv_heads = 2;
        p.positions = r;
        p.sliding_window = window;
        p.n_threads = threads;
        p.pairing = rope_pairing::half_split;
        check_prefill<Acc, Acc>(p);
        check_decode<Acc, Acc>(p);
      }
    }
  }
}

TEST_CASE("sliding window when decoding splits the keys over threads, f16 cache") {
  for (std::int64_t window : {3, 64, 100, 2047}) {
    for (const remap& r : {remap{identity_remap{}}, remap{string_remap{300, 16}}}) {
      problem p;
      p.length = 1500;
      p.head_dim = 32;
      p.n_heads = 4;
      p.n_kv_heads = 4;
      p.positions = r;
      p.sliding_window = window;
      p.n_threads = 4;
      check_decode<float, f16>(p);
    }
  }
}

TEST_CASE("keys outside the sliding window contribute nothing, even NaN ones") {
  // Keys before the window of every row of a call are not read at all: a
  // NaN there (which a weight of 0 would not cancel) leaves the rows alone.
  problem p;
  p.length = 150;
  p.head_dim = 16;
  p.sliding_window = 20;
  p.positions = string_remap{10, 2};
  const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
  inputs<float> in = make_inputs<float>(p, rope);
  const std::vector<double> want = reference(p, rope, in);
  const std::size_t kv_row = static_cast<std::size_t>(p.head_dim);
  for (std::int64_t n = 0; n < 60; ++n)  // keys 0..59: outside every window of rows >= 80
    for (int g = 0; g < p.n_kv_heads; ++g) {
      float* k = in.k.data() + g * in.view.head_stride + static_cast<std::size_t>(n) * kv_row;
      float* v = in.v.data() + g * in.view.head_stride + static_cast<std::size_t>(n) * kv_row;
      k[0] = std::numeric_limits<float>::quiet_NaN();
      v[0] = std::numeric_limits<float>::quiet_NaN();
    }
  const auto table = table_of<float>(p);
  std::vector<float> got(want.size());
  run_rows(p, in, table, 80, p.length - 80, got, 2);
  const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
  std::string first;
  CHECK_MESSAGE(count_mismatches(got.data() + 80 * row, want.data() + 80 * row,
                                 (p.length - 80) * row, kTolFloat, &first) == 0,
                first);
}

TEST_CASE("softmax_scale and logit_scale multiply every logit") {
  problem p;
  p.length = 60;
  p.positions = string_remap{20, 3};
  p.softmax_scale = 0.3;
  p.logit_scale = 1.1434;  // STRING's attention factor squared
  check_prefill<double, double>(p);
  check_prefill<float, float>(p);
}

namespace {

// Logit peaks beyond exp's range in each compute type: exp(x) overflows
// float from x = 88.8 and double from x = 709.8. On these inputs a softmax
// that does not subtract the row's maximum, or that keeps the maximum of the
// first key tile while the row's largest logit sits in its last tile, gives
// inf/NaN; the usual inputs (logits of about ±0.3) cannot tell.
template <class Acc>
constexpr double large_logit_peak() {
  return std::is_same_v<Acc, double> ? 800.0 : 100.0;
}

}  // namespace

TEST_CASE("large-logit inputs: their logits, and a softmax without the maximum fails on them") {
  problem p;
  p.length = 300;  // 5 key tiles
  p.head_dim = 64;
  p.n_heads = 2;
  p.n_kv_heads = 1;
  p.positions = string_remap{100, 8};
  const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
  const std::size_t n = static_cast<std::size_t>(p.length) * p.n_heads * p.head_dim;
  {
    // The usual inputs: every variant passes, the float ones included.
    const inputs<float> in = make_inputs<float>(p, rope);
    const std::vector<double> want = reference(p, rope, in);
    for (const softmax_shift s : {softmax_shift::none, softmax_shift::first_tile_max}) {
      CHECK(count_mismatches(reference<float>(p, rope, in, 0, s).data(), want.data(), n,
                             kTolFloat) == 0);
      CHECK(count_mismatches(reference<double>(p, rope, in, 0, s).data(), want.data(), n,
                             kTolDouble) == 0);
    }
  }
  for (const double peak : {100.0, 800.0}) {
    CAPTURE(peak);
    p.logit_peak = peak;
    const inputs<float> in = make_inputs<float>(p, rope);
    // The construction: the last row's logits reach ±peak, its largest is in
    // the last tile, and the first tile's are all below -peak/2.
    std::vector<double> scores;
    std::vector<std::int64_t> key_of;
    for (int h = 0; h < p.n_heads; ++h) {
      row_logits(p, rope, in, p.length - 1, h, scores, key_of);
      const std::size_t top =
          static_cast<std::size_t>(std::max_element(scores.begin(), scores.end()) - scores.begin());
      CHECK(key_of[top] >= (p.length - 1) / kKernelTileKeys * kKernelTileKeys);
      CHECK(scores[top] > 0.95 * peak);
      CHECK(*std::min_element(scores.begin(), scores.end()) < -0.95 * peak);
      for (std::size_t j = 0; j < scores.size(); ++j)
        if (key_of[j] < kKernelTileKeys) REQUIRE(scores[j] < -0.5 * peak);
    }
    const std::vector<double> want = reference(p, rope, in);
    if (peak == 100.0) {
      // float arithmetic is not the problem: with the maximum it passes.
      CHECK(count_mismatches(reference<float>(p, rope, in).data(), want.data(), n, kTolFloat) == 0);
      for (const softmax_shift s : {softmax_shift::none, softmax_shift::first_tile_max})
        CHECK(count_mismatches(reference<float>(p, rope, in, 0, s).data(), want.data(), n,
                               kTolFloat) > 0);
    } else {
      for (const softmax_shift s : {softmax_shift::none, softmax_shift::first_tile_max})
        CHECK(count_mismatches(reference<double>(p, rope, in, 0, s).data(), want.data(), n,
                               kTolDouble) > 0);
    }
  }
}

TEST_CASE_TEMPLATE("large logits, largest in each row's last key tile: prefill and decode", Acc,
                   float, double) {
  for (const std::int64_t L : {150, 300})
    for (const remap& r : {remap{identity_remap{}}, remap{string_remap{L / 3, 8}}})
      for (const rope_pairing pr : {rope_pairing::interleaved, rope_pairing::half_split}) {
        problem p;
        p.length = L;
        p.positions = r;
        p.pairing = pr;
        p.head_dim = 64;
        p.n_heads = 4;
        p.n_kv_heads = 2;
        p.logit_peak = large_logit_peak<Acc>();
        check_prefill<Acc, Acc>(p);
        check_decode<Acc, Acc>(p);
        check_prefill<Acc, f16>(p);
        check_decode<Acc, f16>(p);
      }
}

TEST_CASE_TEMPLATE("large logits when decoding splits the keys over threads", Acc, float, double) {
  for (const remap& r : {remap{identity_remap{}}, remap{string_remap{367, 128}}})
    for (const int threads : {1, 2, 3}) {
      problem p;
      p.length = 1100;
      p.n_heads = 4;
      p.n_kv_heads = 1;  // one KV head: decoding splits the keys across threads
      p.head_dim = 64;
      p.positions = r;
      p.n_threads = threads;
      p.logit_peak = large_logit_peak<Acc>();
      check_decode<Acc, Acc>(p);
    }
}

TEST_CASE("duplicate_boundary_key: the key at distance S enters the softmax twice") {
  for (std::int64_t S : {1, 3, 40}) {
    problem p;
    p.length = 130;
    string_remap r{S, S == 1 ? 0 : 2};
    r.duplicate_boundary_key = true;
    p.positions = r;
    p.head_dim = 32;
    check_prefill<double, double>(p);
    check_prefill<float, f16>(p);
    // The duplicate changes the result: the formula's output differs.
    const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
    const inputs<double> in = make_inputs<double>(p, rope);
    const std::vector<double> dup = reference(p, rope, in);
    p.positions = string_remap{S, r.window};
    const std::vector<double> once = reference(p, rope, in);
    CHECK(count_mismatches(dup.data(), once.data(), dup.size(), kTolFloat) > 0);
  }
}

TEST_CASE_TEMPLATE("decode after a prefill of N equals row N of a prefill of N + 1", Acc, float,
                   double) {
  for (int ratio : {1, 4, 8, 16}) {
    problem p;
    p.n_kv_heads = 1;  // one KV head: decoding splits the keys across threads
    p.n_heads = ratio;
    p.head_dim = 64;
    p.length = 1100;
    p.positions = string_remap{367, 128};
    p.seed = 7 + static_cast<std::uint64_t>(ratio);
    CAPTURE(describe(p));
    const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
    const inputs<Acc> in = make_inputs<Acc>(p, rope);
    const auto table = table_of<Acc>(p);
    const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
    const std::int64_t N = p.length - 1;
    std::vector<Acc> one_shot(static_cast<std::size_t>(p.length) * row);
    run_rows(p, in, table, 0, p.length, one_shot, 2);
    // The prefill of the first N tokens only filled the cache, which the
    // decoding step reads as given: it sees positions [0, N].
    std::vector<Acc> stepped(one_shot.size());
    for (int threads : {1, 2, 3}) {
      run_rows(p, in, table, N, 1, stepped, threads);
      CHECK(count_mismatches(stepped.data() + N * row, one_shot.data() + N * row, row,
                             same_tol<Acc>()) == 0);
    }
    const std::vector<double> want = reference(p, rope, in, N);  // row N only
    CHECK(count_mismatches(stepped.data() + N * row, want.data() + N * row, row, ref_tol<Acc>()) ==
          0);
  }
}

TEST_CASE_TEMPLATE("chunked prefill equals one call, and 1, 2 and 3 threads agree", Acc, float,
                   double) {
  problem p;
  p.length = 400;
  p.head_dim = 72;
  p.n_heads = 6;
  p.n_kv_heads = 2;
  p.positions = string_remap{130, 16};
  const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
  const inputs<Acc> in = make_inputs<Acc>(p, rope);
  const auto table = table_of<Acc>(p);
  const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
  std::vector<Acc> one(static_cast<std::size_t>(p.length) * row);
  run_rows(p, in, table, 0, p.length, one, 1);
  const std::vector<double> want = reference(p, rope, in);
  CHECK(count_mismatches(one.data(), want.data(), want.size(), ref_tol<Acc>()) == 0);
  for (int threads : {2, 3}) {
    std::vector<Acc> again(one.size());
    run_rows(p, in, table, 0, p.length, again, threads);
    CHECK(count_mismatches(again.data(), one.data(), one.size(), same_tol<Acc>()) == 0);
  }
  std::vector<Acc> chunked(one.size());
  const std::int64_t cuts[] = {0, 1, 37, 131, 132, 300, 400};
  for (std::size_t c = 0; c + 1 < std::size(cuts); ++c)
    run_rows(p, in, table, cuts[c], cuts[c + 1] - cuts[c], chunked, 2);
  CHECK(count_mismatches(chunked.data(), one.data(), one.size(), same_tol<Acc>()) == 0);
}

namespace {

/// Writes NaN and +Inf into the cache's key and value rows at positions
/// [first, length) of every KV head: the value row at `first` all +Inf, and
/// one element of each key and value row from there on, NaN and +Inf
/// alternating between positions. The reference's k_plain/v_plain stay clean.
template <class KV>
void poison_from(const problem& p, inputs<KV>& in, std::int64_t first) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::size_t L = static_cast<std::size_t>(p.length),
                    D = static_cast<std::size_t>(p.head_dim);
  const std::size_t G = static_cast<std::size_t>(p.n_kv_heads);
  for (std::size_t n = static_cast<std::size_t>(first); n < L; ++n)
    for (std::size_t h = 0; h < G; ++h) {
      const std::size_t at = p.position_major ? (n * G + h) * D : (h * L + n) * D;
      const bool odd = n % 2 != 0;
      if (n == static_cast<std::size_t>(first))
        for (std::size_t i = 0; i < D; ++i) in.v[at + i] = shiftrope::convert<KV>(inf);
      in.v[at + n % D] = shiftrope::convert<KV>(odd ? inf : nan);
      in.k[at + (3 * n + 1) % D] = shiftrope::convert<KV>(odd ? nan : inf);
    }
}

bool all_non_finite(const float* x, std::size_t n) {
  return std::none_of(x, x + n, [](float a) { return std::isfinite(a); });
}
bool all_non_finite(const double* x, std::size_t n) {
  return std::none_of(x, x + n, [](double a) { return std::isfinite(a); });
}

/// A cache whose positions from `first` on hold NaN/+Inf keys and values:
/// rows before `first` of a prefill must equal the naive reference of the
/// problem cut at `first` (which never reads those positions), in one call
/// and when the rows around `first` come as a short chunk of their own (the
/// few-rows path); rows from `first` on see an all-+Inf value row, so every
/// output value there is +Inf or NaN.
template <class Acc, class KV>
void check_poisoned(const problem& p, std::int64_t first) {
  CAPTURE(describe(p));
  CAPTURE(first);
  const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
  inputs<KV> in = make_inputs<KV>(p, rope);
  problem cut = p;
  cut.length = first;
  const std::vector<double> want = reference(cut, rope, in);
  poison_from(p, in, first);
  const auto table = table_of<Acc>(p);
  const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
  std::vector<Acc> got(static_cast<std::size_t>(p.length) * row);
  run_rows(p, in, table, 0, p.length, got, p.n_threads);
  std::string msg;
  CHECK_MESSAGE(count_mismatches(got.data(), want.data(), want.size(), ref_tol<Acc>(), &msg) == 0,
                msg);
  for (std::int64_t m = first; m < p.length; ++m)
    CHECK(all_non_finite(got.data() + static_cast<std::size_t>(m) * row, row));
  std::vector<Acc> chunk(got.size());
  run_rows(p, in, table, first - 1, 2, chunk, p.n_threads);  // rows first - 1 and first
  const std::size_t at = static_cast<std::size_t>(first - 1) * row;
  CHECK_MESSAGE(
      count_mismatches(chunk.data() + at, want.data() + at, row, ref_tol<Acc>(), &msg) == 0, msg);
  CHECK(all_non_finite(chunk.data() + at + row, row));
}

}  // namespace

// Keys past a row's causal limit share the row's tiles (the diagonal cuts
// them): their values must contribute nothing, not 0 · value (0 · NaN and
// 0 · Inf are NaN). MHA puts 4 positions in a P·V micro-tile, GQA 4 one;
// head_dim 64 reads f32 values in place, 72 through the converted copy.
TEST_CASE_TEMPLATE("NaN and +Inf in later keys and values leave earlier rows of a prefill alone",
                   KV, float, f16) {
  for (const std::int64_t L : {17, 129})
    for (const int threads : {1, 2})
      for (const auto& [h, g] : {std::pair{4, 4}, std::pair{8, 2}})
        for (const int d : {64, 72})
          for (const remap& r : {remap{identity_remap{}}, remap{string_remap{L / 3, 2}}}) {
            problem p;
            p.length = L;
            p.n_threads = threads;
            p.n_heads = h;
            p.n_kv_heads = g;
            p.head_dim = d;
            p.positions = r;
            check_poisoned<float, KV>(p, L / 2 + 3);
            check_poisoned<double, KV>(p, L / 2 + 3);
          }
}

TEST_CASE("out may be q: each row's query is read before its output is written") {
  problem p;
  p.length = 1100;  // long enough for decoding to split the key axis over 2 threads
  p.n_heads = 4;
  p.n_kv_heads = 1;
  p.positions = string_remap{366, 9};
  const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
  const inputs<float> in = make_inputs<float>(p, rope);
  const auto table = table_of<float>(p);
  const std::vector<double> want = reference(p, rope, in);
  std::vector<float> q(in.q.begin(), in.q.end());
  shiftrope::attention(params_of(p), p.positions, table, q.data(), 0, p.length, in.view, q.data());
  CHECK(count_mismatches(q.data(), want.data(), want.size(), kTolFloat) == 0);
  // Decoding (partial results of the key chunks merged into out = q).
  const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
  std::vector<float> last(in.q.end() - static_cast<std::ptrdiff_t>(row), in.q.end());
  shiftrope::attention(params_of(p), p.positions, table, last.data(), p.length - 1, 1, in.view,
                       last.data());
  CHECK(count_mismatches(last.data(), want.data() + want.size() - row, row, kTolFloat) == 0);
}

TEST_CASE("n_tokens = 0 is a no-op") {
  problem p;
  const auto table = table_of<float>(p);
  std::vector<float> q(8), out(8, 3.0f), k(8), v(8);
  const auto view = kv_cache_view<float>::head_major(k.data(), v.data(), 0, p.head_dim, 0);
  shiftrope::attention(params_of(p), p.positions, table, q.data(), 0, 0, view, out.data());
  CHECK(std::all_of(out.begin(), out.end(), [](float x) { return x == 3.0f; }));
  CHECK(shiftrope::attention_scratch_bytes<float>(params_of(p), 5, 0) == 0);
}

TEST_CASE("scratch: the size query and a caller-owned buffer") {
  problem p;
  p.length = 90;
  p.positions = string_remap{30, 4};
  const test_rope rope(p.head_dim, p.base, p.pairing, p.length, p.rotary_dim);
  const inputs<float> in = make_inputs<float>(p, rope);
  const auto table = table_of<float>(p);
  const std::size_t row = static_cast<std::size_t>(p.n_heads) * p.head_dim;
  std::vector<float> q(in.q.begin(), in.q.end()), out(p.length * row);
  const attention_params a = params_of(p);
  const std::size_t bytes = shiftrope::attention_scratch_bytes<float>(a, 0, p.length);
  CHECK(bytes > 0);
  std::vector<unsigned char> scratch(bytes + 3);
  // A misaligned buffer of exactly the size asked for is enough.
  shiftrope::attention(a, p.positions, table, q.data(), 0, p.length, in.view, out.data(),
                       scratch.data() + 3, bytes);
  const std::vector<double> want = reference(p, rope, in);
  CHECK(count_mismatches(out.data(), want.data(), want.size(), kTolFloat) == 0);
  CHECK_THROWS_WITH_AS(shiftrope::attention(a, p.positions, table, q.data(), 0, p.length, in.view,
                                            out.data(), scratch.data(), bytes - 1),
                       doctest::Contains("scratch_bytes"), shiftrope::error);
  // The scratch does not grow with the square of the length.
  attention_params big = a;
  big.n_threads = 2;
  const std::size_t b1 = shiftrope::attention_scratch_bytes<float>(big, 0, 4096);
  const std::size_t b2 = shiftrope::attention_scratch_bytes<float>(big, 0, 32768);
  CHECK(b2 <= b1);
}

TEST_CASE("invalid parameters raise shiftrope::error naming the field") {
  problem p;
  p.length = 8;
  const auto table = table_of<float>(p);
  std::vector<float> q(static_cast<std::size_t>(p.length) * p.n_heads * p.head_dim), out(q.size());
  std::vector<float> k(static_cast<std::size_t>(p.length) * p.n_kv_heads * p.head_dim), v(k.size());
  const auto view =
      kv_cache_view<float>::head_major(k.data(), v.data(), p.length, p.head_dim, p.length);
  const auto expect = [&](attention_params a, const char* field, std::int64_t start = 0,
                          std::int64_t n = 4, kv_cache_view<float> vw = {},
                          remap r = identity_remap{}) {
    if (!vw.k) vw = view;
    CAPTURE(field);
    CHECK_THROWS_WITH_AS(shiftrope::attention(a, r, table, q.data(), start, n, vw, out.data()),
                         doctest::Contains(field), shiftrope::error);
  };
  const attention_params good = params_of(p);
  attention_params a = good;
  a.n_heads = 0;
  expect(a, "n_heads");
  a = good;
  a.n_kv_heads = 0;
  expect(a, "n_kv_heads");
  a = good;
  a.n_kv_heads = 3;
  expect(a, "n_kv_heads");
  a = good;
  a.head_dim = 0;
  expect(a, "head_dim");
  a = good;
  a.head_dim = 32;  // differs from the table's
  expect(a, "head_dim");
  a = good;
  a.softmax_scale = -1;
  expect(a, "softmax_scale");
  a = good;
  a.logit_scale = 0;
  expect(a, "logit_scale");
  a = good;
  a.logit_scale = std::numeric_limits<double>::infinity();
  expect(a, "logit_scale");
  a = good;
  a.sliding_window = -1;
  expect(a, "sliding_window");
  expect(good, "start_pos", -1);
  expect(good, "n_tokens", 0, -2);
  expect(good, "rope table", 6, 4);  // positions up to 9, table has 8
  auto short_view = view;
  short_view.n_pos = 3;
  expect(good, "n_pos", 0, 4, short_view);
  auto bad_stride = view;
  bad_stride.pos_stride = 1;
  expect(good, "pos_stride", 0, 4, bad_stride);
  expect(good, "shift", 0, 4, {}, string_remap{0, 0});
  expect(good, "window", 0, 4, {}, string_remap{4, 4});
  // Nothing was written by the refused calls.
  CHECK(std::all_of(out.begin(), out.end(), [](float x) { return x == 0.0f; }));
}
