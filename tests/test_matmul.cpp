// Tests of matmul.hpp: GEMV / GEMM for f32, f16, bf16 and Q8_0 weights
// against a naive double-precision reference written here, thread-count
// independence, strides and guard elements, weight_view validation, and
// Q8_0 quantization against hand-worked blocks and its error bound.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/matmul.hpp>
#include <string>
#include <type_traits>
#include <vector>

using namespace shiftrope;

namespace {

// --- data -------------------------------------------------------------------

/// splitmix64: a fixed, library-independent stream of pseudo-random bits.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [-1, 1).
  float uniform() { return static_cast<float>(next() >> 40) / 8388608.0f - 1.0f; }
};

/// A weight matrix in one storage type plus its exact values as doubles.
struct test_weights {
  std::vector<unsigned char> bytes;  // [n_out × row_bytes]
  std::vector<double> value;         // [n_out × n_in]: the exact stored weights
  weight_view view;
};

/// Random weights of the given type; the reference values are decoded here,
/// element by element, with numeric.hpp's scalar conversions (and d * q for
/// Q8_0, with q and d drawn directly rather than through quantize_q8_0).
test_weights make_weights(weight_type type, std::size_t n_out, std::size_t n_in,
                          std::uint64_t seed) {
  splitmix64 rng{seed};
  test_weights w;
  w.view = weight_view{nullptr, type, n_out, n_in};
  w.bytes.resize(n_out * w.view.row_bytes());
  w.value.resize(n_out * n_in);
  for (std::size_t o = 0; o < n_out; ++o) {
    unsigned char* row = w.bytes.data() + o * w.view.row_bytes();
    if (type == weight_type::q8_0) {
      for (std::size_t b = 0; b < n_in / 32; ++b) {
        q8_0_block blk;
        blk.d = to_f16(0.001f + 0.01f * std::fabs(rng.uniform()));
        for (int i = 0; i < 32; ++i) {
          blk.qs[i] = static_cast<std::int8_t>(static_cast<int>(rng.next() % 255) - 127);
          w.value[o * n_in + b * 32 + i] = static_cast<double>(to_float(blk.d)) * blk.qs[i];
        }
        std::memcpy(row + b * sizeof blk, &blk, sizeof blk);
      }
      continue;
    }
    for (std::size_t i = 0; i < n_in; ++i) {
      const float v = rng.uniform();
      double exact = v;
      if (type == weight_type::f32) {
        std::memcpy(row + 4 * i, &v, 4);
      } else if (type == weight_type::f16) {
        const f16 h = to_f16(v);
        std::memcpy(row + 2 * i, &h, 2);
        exact = to_float(h);
      } else {
        const bf16 h = to_bf16(v);
        std::memcpy(row + 2 * i, &h, 2);
        exact = to_float(h);
      }
      w.value[o * n_in + i] = exact;
    }
  }
  w.view.data = w.bytes.data();
  return w;
}

/// X: [n_tokens × stride] with the first n_in of each row random and the
/// padding set to a huge value that would show up if a kernel read it.
std::vector<float> make_activations(std::size_t n_tokens, std::size_t n_in, std::size_t stride,
                                    std::uint64_t seed) {
  splitmix64 rng{seed};
  std::vector<float> x(n_tokens * stride, 1e30f);
  for (std::size_t t = 0; t < n_tokens; ++t)
    for (std::size_t i = 0; i < n_in; ++i) x[t * stride + i] = rng.uniform();
  return x;
}

// --- reference and comparison -----------------------------------------------

/// The reference product in double, and the condition sum |x * w| per output
/// (what float rounding scales with).
struct reference {
  std::vector<double> y, magnitude;  // [n_tokens × n_out]
};

reference naive_matmul(const test_weights& w, const std::vector<float>& x, std::size_t x_stride,
                       std::size_t n_tokens) {
  const std::size_t n_out = w.view.n_out, n_in = w.view.n_in;
  reference r;
  r.y.assign(n_tokens * n_out, 0.0);
  r.magnitude.assign(n_tokens * n_out, 0.0);
  for (std::size_t t = 0; t < n_tokens; ++t)
    for (std::size_t o = 0; o < n_out; ++o)
      for (std::size_t i = 0; i < n_in; ++i) {
        const double p = static_cast<double>(x[t * x_stride + i]) * w.value[o * n_in + i];
        r.y[t * n_out + o] += p;
        r.magnitude[t * n_out + o] += std::fabs(p);
      }
  return r;
}

/// Tolerances relative to sum |x * w|: float accumulation over the lanes and
/// chains of the kernels rounds at most ~(n / 64 + log2 64) times per
/// element, far below these for n <= 640. Q8_0's GEMV sums each block before
/// scaling it: one more rounding per block, hence a looser bound.
constexpr double tol_rel_f32 = 1e-5, tol_rel_f16 = 1e-5, tol_rel_bf16 = 1e-5, tol_rel_q8_0 = 2e-5;
constexpr double tol_abs = 1e-6;

double tolerance_rel(weight_type t) {
  switch (t) {
    case weight_type::f32:
      return tol_rel_f32;
    case weight_type::f16:
      return tol_rel_f16;
    case weight_type::bf16:
      return tol_rel_bf16;
    case weight_type::q8_0:
      return tol_rel_q8_0;
    default:  // the other block types are tested in test_quant.cpp
      break;
  }
  return 0.0;
}

/// Y sentinel: written before the call, must survive in every element the
/// kernel must not touch (row padding and the guard after the buffer).
constexpr float sentinel = -7.25e20f;
constexpr std::size_t guard = 37;

/// Counts mismatches of y [n_tokens × y_stride] (+ guard) against r, and
/// returns a description of the first.
std::size_t count_mismatches(const std::vector<float>& y, std::size_t y_stride, const reference& r,
                             std::size_t n_tokens, std::size_t n_out, weight_type type,
                             std::string& first) {
  std::size_t bad = 0;
  auto note = [&](const std::string& what) {
    if (bad++ == 0) first = what;
  };
  for (std::size_t t = 0; t < n_tokens; ++t)
    for (std::size_t o = 0; o < y_stride; ++o) {
      const float got = y[t * y_stride + o];
      if (o >= n_out) {
        if (got != sentinel) note("padding overwritten at t=" + std::to_string(t));
        continue;
      }
      const double want = r.y[t * n_out + o];
      const double tol = tolerance_rel(type) * r.magnitude[t * n_out + o] + tol_abs;
      if (!(std::fabs(got - want) <= tol))
        note("t=" + std::to_string(t) + " o=" + std::to_string(o) + " got " + std::to_string(got) +
             " want " + std::to_string(want));
    }
  for (std::size_t g = 0; g < guard; ++g)
    if (y[n_tokens * y_stride + g] != sentinel) note("guard element overwritten");
  return bad;
}

/// Runs matmul into a fresh sentinel-filled buffer [n_tokens × y_stride + guard].
std::vector<float> run(const test_weights& w, const std::vector<float>& x, std::size_t x_stride,
                       std::size_t y_stride, std::size_t n_tokens, int threads) {
  std::vector<float> y(n_tokens * y_stride + guard, sentinel);
  matmul(w.view, x.data(), x_stride, y.data(), y_stride, n_tokens, threads);
  return y;
}

const weight_type all_types[] = {weight_type::f32, weight_type::f16, weight_type::bf16,
                                 weight_type::q8_0};

/// Checks one shape and type: reference match with 1 thread, then bitwise
/// identical results with 2 and 3 threads.
void check_shape(weight_type type, std::size_t n_out, std::size_t n_in, std::size_t n_tokens,
                 std::uint64_t seed) {
  CAPTURE(weight_type_name(type));
  CAPTURE(n_out);
  CAPTURE(n_in);
  CAPTURE(n_tokens);
  const test_weights w = make_weights(type, n_out, n_in, seed);
  const std::size_t x_stride = n_in + 3, y_stride = n_out + 5;
  const std::vector<float> x = make_activations(n_tokens, n_in, x_stride, seed ^ 0x5eedu);
  const reference r = naive_matmul(w, x, x_stride, n_tokens);
  const std::vector<float> y1 = run(w, x, x_stride, y_stride, n_tokens, 1);
  std::string first;
  const std::size_t bad = count_mismatches(y1, y_stride, r, n_tokens, n_out, type, first);
  CHECK_MESSAGE(bad == 0, bad, " mismatches; first: ", first);
  for (int threads : {2, 3}) {
    const std::vector<float> yt = run(w, x, x_stride, y_stride, n_tokens, threads);
    CHECK_MESSAGE(std::memcmp(y1.data(), yt.data(), y1.size() * sizeof(float)) == 0,
                  "results with ", threads, " threads differ from 1 thread");
  }
}

/// Expects `f` to throw shiftrope::error whose message contains `part`.
template <class F>
void check_error(F&& f, const std::string& part) {
  try {
    f();
    FAIL("no exception; expected one mentioning '", part, "'");
  } catch (const error& e) {
    CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, "message: ", e.what());
  }
}

}  // namespace

TEST_CASE("matmul: the comparison helper reports a wrong result") {
  // A result that is off by a lot, and one with an overwritten guard, must
  // both be caught: otherwise every reference test below could pass vacuously.
  const test_weights w = make_weights(weight_type::f32, 3, 7, 1);
  const std::vector<float> x = make_activations(2, 7, 7, 2);
  const reference r = naive_matmul(w, x, 7, 2);
  std::vector<float> y = run(w, x, 7, 4, 2, 1);
  std::string first;
  REQUIRE(count_mismatches(y, 4, r, 2, 3, weight_type::f32, first) == 0);
  y[4 + 1] += 1e-3f;
  CHECK(count_mismatches(y, 4, r, 2, 3, weight_type::f32, first) == 1);
  y[4 + 1] -= 1e-3f;
  y[2 * 4] = 0.0f;  // first guard element
  CHECK(count_mismatches(y, 4, r, 2, 3, weight_type::f32, first) == 1);
}

TEST_CASE("matmul: float-type weights against the naive reference") {
  std::uint64_t seed = 100;
  for (weight_type type : {weight_type::f32, weight_type::f16, weight_type::bf16})
    for (std::size_t n_out : {1, 3, 17, 65})
      for (std::size_t n_in : {1, 7, 33, 100, 513})
        for (std::size_t n_tokens : {1, 2, 5, 13, 64})
          check_shape(type, n_out, n_in, n_tokens, ++seed);
}

TEST_CASE("matmul: q8_0 weights against the naive reference") {
  std::uint64_t seed = 200;
  for (std::size_t n_out : {1, 3, 17, 65})
    for (std::size_t n_in : {32, 96, 544})
      for (std::size_t n_tokens : {1, 2, 5, 13, 64})
        check_shape(weight_type::q8_0, n_out, n_in, n_tokens, ++seed);
}

TEST_CASE("matmul: shapes spanning several packed panels and depth blocks") {
  // n_out beyond one packed panel (256 rows with AVX-512), n_in beyond one
  // depth block (256), tokens not a multiple of the micro tile.
  std::uint64_t seed = 300;
  for (weight_type type : all_types) {
    check_shape(type, 300, 608, 23, ++seed);
    check_shape(type, 515, 288, 7, ++seed);
    check_shape(type, 130, 800, 1, ++seed);
    check_shape(type, 21, 4128, 1, ++seed);  // x over 16 KiB: the GEMV groups rows
    check_shape(type, 9, 4128, 6, ++seed);
  }
}

TEST_CASE("matmul: matvec equals matmul with one token") {
  for (weight_type type : all_types) {
    const test_weights w = make_weights(type, 41, 160, 7);
    const std::vector<float> x = make_activations(1, 160, 160, 8);
    const reference r = naive_matmul(w, x, 160, 1);
    std::vector<float> y(41 + guard, sentinel);
    matvec(w.view, x.data(), y.data(), 2);
    std::string first;
    CHECK_MESSAGE(count_mismatches(y, 41, r, 1, 41, type, first) == 0, first);
  }
}

TEST_CASE("matmul: inside a caller's parallel region (nested: runs on one thread)") {
  // Nested regions get one thread: the product must still be complete.
  const test_weights w = make_weights(weight_type::f16, 70, 96, 11);
  const std::vector<float> x = make_activations(9, 96, 96, 12);
  const reference r = naive_matmul(w, x, 96, 9);
  std::vector<float> y[2] = {std::vector<float>(9 * 70 + guard, sentinel),
                             std::vector<float>(9 * 70 + guard, sentinel)};
  detail::parallel_region(
      2, [&](int tid, int) { matmul(w.view, x.data(), 96, y[tid].data(), 70, 9, 2); });
  for (int i = 0; i < 2; ++i) {
    std::string first;
    CHECK_MESSAGE(count_mismatches(y[i], 70, r, 9, 70, weight_type::f16, first) == 0, first);
  }
}

TEST_CASE("matmul: GEMV row grouping does not change a result (groups of 4 and 8 vs 1, bitwise)") {
  // The GEMV picks the row grouping by the size of x: results must agree
  // bit for bit, as each row's arithmetic is the same.
  namespace mi = detail::matmul_impl;
  for (weight_type type : all_types) {
    for (std::size_t n_in : {32, 96, 544}) {
      if (type != weight_type::q8_0 && n_in == 32) continue;
      const std::size_t n_out = 23;  // groups and a tail
      const test_weights w = make_weights(type, n_out, n_in, 77 + n_in);
      const std::vector<float> x = make_activations(1, n_in, n_in, 78);
      std::vector<float> y1(n_out), y4(n_out), y8(n_out);
      auto run_all = [&](auto* wt) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(wt)>>;
        mi::gemv_grouped<T, 1>(wt, n_out, n_in, x.data(), y1.data(), 1);
        mi::gemv_grouped<T, 4>(wt, n_out, n_in, x.data(), y4.data(), 2);
        mi::gemv_grouped<T, 8>(wt, n_out, n_in, x.data(), y8.data(), 3);
      };
      visit_weight_type(type, [&](auto tag) { run_all(static_cast<decltype(tag)>(w.view.data)); });
      CAPTURE(weight_type_name(type));
      CAPTURE(n_in);
      CHECK(std::memcmp(y1.data(), y4.data(), n_out * sizeof(float)) == 0);
      CHECK(std::memcmp(y1.data(), y8.data(), n_out * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("weight_view::validate names the field") {
  float data[64] = {};
  const weight_view ok{data, weight_type::f32, 2, 32};
  CHECK_NOTHROW(ok.validate());
  CHECK(ok.row_bytes() == 128);
  CHECK(weight_view{data, weight_type::q8_0, 2, 64}.row_bytes() == 68);
  CHECK(weight_view{data, weight_type::f16, 2, 5}.row_bytes() == 10);
  check_error([&] { weight_view{nullptr, weight_type::f32, 2, 32}.validate(); }, "data is null");
  check_error([&] { weight_view{data, weight_type::f32, 0, 32}.validate(); }, "n_out = 0");
  check_error([&] { weight_view{data, weight_type::bf16, 2, 0}.validate(); }, "n_in = 0");
  check_error(
      [&] {
        weight_view{data, weight_type::q8_0, 2, 48}.validate();
      },
      "n_in = 48 is not a multiple of 32");
  check_error(
      [&] {
        weight_view{reinterpret_cast<const unsigned char*>(data) + 1, weight_type::f16, 1, 8}
            .validate();
      },
      "not aligned");
  check_error(
      [&] {
        weight_view{data, weight_type::f32, std::size_t(1) << 62, 64}.validate();
      },
      "overflows");
}

TEST_CASE("quantize_q8_0: hand-worked blocks") {
  SUBCASE("max |x| = 127: d = 1, q = x rounded half away from zero") {
    float x[32] = {127.0f, -127.0f, 0.4f, 0.5f, -0.5f, 1.49f, 2.5f, -2.5f, 3.0f, -100.2f};
    q8_0_block b;
    quantize_q8_0(x, &b, 32);
    CHECK(b.d.bits == 0x3c00);  // 1.0 in f16
    const int want[10] = {127, -127, 0, 1, -1, 1, 3, -3, 3, -100};
    for (int i = 0; i < 10; ++i) CHECK(b.qs[i] == want[i]);
    for (int i = 10; i < 32; ++i) CHECK(b.qs[i] == 0);
  }
  SUBCASE("max |x| = 63.5: d = 0.5, q = 2x rounded") {
    float x[32] = {};
    x[0] = -63.5f;
    x[1] = 0.25f;   // 0.5 -> 1
    x[2] = -0.75f;  // -1.5 -> -2
    x[3] = 10.0f;   // 20
    q8_0_block b;
    quantize_q8_0(x, &b, 32);
    CHECK(b.d.bits == 0x3800);  // 0.5 in f16
    CHECK(b.qs[0] == -127);
    CHECK(b.qs[1] == 1);
    CHECK(b.qs[2] == -2);
    CHECK(b.qs[3] == 20);
  }
  SUBCASE("all zero: d = 0, q = 0") {
    float x[64] = {};
    q8_0_block b[2];
    b[1].qs[5] = 9;
    quantize_q8_0(x, b, 64);
    for (const q8_0_block& blk : b) {
      CHECK(blk.d.bits == 0);
      for (int i = 0; i < 32; ++i) CHECK(blk.qs[i] == 0);
    }
  }
}

TEST_CASE("quantize_q8_0: dequantized error bound on random blocks") {
  // q is computed with the float d, the stored scale is f16(d): the error is
  // at most d/2 (rounding to the integer grid) + 127 |f16(d) - d| (the
  // stored scale's own rounding), plus float rounding of x * (1/d).
  constexpr double slack_rel = 1e-5;  // of d: x * id carries a few float roundings
  splitmix64 rng{42};
  constexpr std::size_t n_blocks = 200;
  std::vector<float> x(n_blocks * 32);
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const float scale = std::ldexp(1.0f, static_cast<int>(rng.next() % 20) - 10);
    for (int i = 0; i < 32; ++i) x[b * 32 + i] = scale * rng.uniform();
  }
  std::vector<q8_0_block> q(n_blocks);
  quantize_q8_0(x.data(), q.data(), x.size());
  std::vector<float> back(x.size());
  dequantize_q8_0(q.data(), back.data(), n_blocks);
  std::size_t bad = 0, exact_scale_blocks = 0;
  for (std::size_t b = 0; b < n_blocks; ++b) {
    double amax = 0;
    for (int i = 0; i < 32; ++i)
      amax = std::max(amax, std::fabs(static_cast<double>(x[b * 32 + i])));
    const double d = static_cast<float>(amax / 127.0), d16 = to_float(q[b].d);
    if (d == d16) ++exact_scale_blocks;
    const double bound = 0.5 * d + 127.0 * std::fabs(d16 - d) + slack_rel * d;
    bool has_full_scale = false;
    for (int i = 0; i < 32; ++i) {
      const double xi = x[b * 32 + i];
      if (back[b * 32 + i] != static_cast<float>(d16 * q[b].qs[i])) ++bad;  // dequantize = d * q
      if (std::fabs(back[b * 32 + i] - xi) > bound) ++bad;
      if (std::abs(q[b].qs[i]) == 127) has_full_scale = true;
    }
    if (!has_full_scale) ++bad;  // the largest |x| maps to +-127
  }
  CHECK(bad == 0);
  MESSAGE(exact_scale_blocks, " of ", n_blocks, " blocks had an exactly representable d");
}

TEST_CASE("quantize_q8_0: bad input names the problem") {
  std::vector<float> x(64, 1.0f);
  std::vector<q8_0_block> q(2);
  check_error([&] { quantize_q8_0(x.data(), q.data(), 33); }, "n = 33 is not a multiple of 32");
  x[40] = std::nanf("");
  check_error([&] { quantize_q8_0(x.data(), q.data(), 64); }, "src[40]");
  x[40] = 1e7f;
  check_error([&] { quantize_q8_0(x.data(), q.data(), 64); }, "overflows f16");
}
