// Tests of examples/eval/stats.hpp: the Wilson interval against the roots of
// its defining quadratic (solved here) and against published values, the
// Newcombe difference interval against published values and its defining
// formula, and the effective length.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "../examples/eval/stats.hpp"

namespace {

constexpr double kZ = 1.959963984540054;
constexpr double kTight = 1e-12;   // same formula, other algebra: rounding only
constexpr double kTable = 0.6e-4;  // published values are rounded to 4 decimals

// The Wilson interval is the set of pi with (p - pi)^2 <= z^2 pi (1 - pi) / n:
// the roots of (1 + z^2/n) pi^2 - (2p + z^2/n) pi + p^2 = 0.
std::pair<double, double> quadratic_roots(double k, double n) {
  const double p = k / n, z2 = kZ * kZ;
  const double a = 1 + z2 / n, b = -(2 * p + z2 / n), c = p * p;
  const double disc = std::sqrt(b * b - 4 * a * c);
  return {(-b - disc) / (2 * a), (-b + disc) / (2 * a)};
}

}  // namespace

TEST_CASE("wilson: the roots of the score quadratic") {
  struct cell {
    int k, n;
  };
  for (const cell c : {cell{0, 1}, cell{1, 1}, cell{0, 20}, cell{1, 29}, cell{15, 148},
                       cell{81, 263}, cell{148, 220}, cell{196, 220}, cell{220, 220}}) {
    CAPTURE(c.k);
    CAPTURE(c.n);
    const auto [lo, hi] = quadratic_roots(c.k, c.n);
    const eval::interval w = eval::wilson(c.k, c.n);
    CHECK(w.value == doctest::Approx(static_cast<double>(c.k) / c.n).epsilon(kTight));
    CHECK(std::fabs(w.lo - std::max(0.0, lo)) <= kTight);
    CHECK(std::fabs(w.hi - std::min(1.0, hi)) <= kTight);
    CHECK(w.lo <= w.value);
    CHECK(w.value <= w.hi);
    CHECK(w.lo >= 0.0);
    CHECK(w.hi <= 1.0);
  }
}

TEST_CASE("wilson: published values (Newcombe 1998, single proportion, method 3)") {
  struct row {
    int k, n;
    double lo, hi;
  };
  for (const row r : {row{81, 263, 0.2553, 0.3662}, row{15, 148, 0.0624, 0.1605},
                      row{0, 20, 0.0, 0.1611}, row{1, 29, 0.0061, 0.1718}}) {
    CAPTURE(r.k);
    const eval::interval w = eval::wilson(r.k, r.n);
    CHECK(std::fabs(w.lo - r.lo) <= kTable);
    CHECK(std::fabs(w.hi - r.hi) <= kTable);
  }
  const eval::interval none = eval::wilson(0, 0);  // no trials: no information
  CHECK(none.lo == 0.0);
  CHECK(none.hi == 1.0);
}

TEST_CASE("newcombe: published values (Newcombe 1998, difference, method 10)") {
  struct row {
    int k1, n1, k2, n2;
    double d, lo, hi;
  };
  for (const row r :
       {row{56, 70, 48, 80, 0.2000, 0.0524, 0.3339}, row{9, 10, 3, 10, 0.6000, 0.1705, 0.8090},
        row{5, 56, 0, 29, 0.0893, -0.0381, 0.1926}}) {
    CAPTURE(r.k1);
    const eval::interval d = eval::newcombe_difference(r.k1, r.n1, r.k2, r.n2);
    CHECK(std::fabs(d.value - r.d) <= kTable);
    CHECK(std::fabs(d.lo - r.lo) <= kTable);
    CHECK(std::fabs(d.hi - r.hi) <= kTable);
  }
}

TEST_CASE("newcombe: the hybrid formula from the two Wilson intervals, and symmetry") {
  // The demo's cells at L = 512: 196/220 (STRING) against 148/220 (RoPE).
  const auto [l1, u1] = quadratic_roots(196, 220);
  const auto [l2, u2] = quadratic_roots(148, 220);
  const double p1 = 196.0 / 220, p2 = 148.0 / 220;
  const double lo = (p1 - p2) - std::sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
  const double hi = (p1 - p2) + std::sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
  const eval::interval d = eval::newcombe_difference(196, 220, 148, 220);
  CHECK(std::fabs(d.lo - lo) <= kTight);
  CHECK(std::fabs(d.hi - hi) <= kTight);
  CHECK(d.lo > 0);  // this difference is outside the noise
  // Swapping the groups mirrors the interval.
  const eval::interval m = eval::newcombe_difference(148, 220, 196, 220);
  CHECK(std::fabs(m.lo + d.hi) <= kTight);
  CHECK(std::fabs(m.hi + d.lo) <= kTight);
  // Equal proportions: an interval around 0.
  const eval::interval same = eval::newcombe_difference(211, 220, 211, 220);
  CHECK(same.value == 0.0);
  CHECK(same.lo < 0.0);
  CHECK(same.hi > 0.0);
  CHECK(std::fabs(same.lo + same.hi) <= kTight);
}

TEST_CASE("effective length: the longest length with every shorter one at the threshold") {
  const std::vector<std::int64_t> lengths{256, 320, 384, 448, 512};
  CHECK(eval::effective_length(lengths, {0.96, 0.93, 0.89, 0.77, 0.67}, 0.8) == 384);
  CHECK(eval::effective_length(lengths, {0.96, 0.92, 0.89, 0.83, 0.89}, 0.8) == 512);
  CHECK(eval::effective_length(lengths, {0.96, 0.70, 0.89, 0.90, 0.90}, 0.8) == 256);  // "stays"
  CHECK(eval::effective_length(lengths, {0.79, 0.90, 0.90, 0.90, 0.90}, 0.8) == -1);
  CHECK(eval::effective_length(lengths, {0.80, 0.80, 0.80, 0.80, 0.80}, 0.8) == 512);  // >=
  // Any order of lengths.
  CHECK(eval::effective_length({512, 256, 384}, {0.5, 0.9, 0.85}, 0.8) == 384);
}
