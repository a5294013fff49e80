// examples/eval/stats.hpp - intervals for accuracies measured on a finite
// number of prompts, and the effective length read from them.
//
//   Wilson score interval (Wilson 1927) for k successes in n trials, p = k/n,
//   z = 1.959964 (95%):
//     centre = (p + z^2 / 2n) / (1 + z^2 / n)
//     half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
//   Unlike p +- z sqrt(p (1 - p) / n) it stays inside [0, 1] and does not
//   collapse to a point at p = 0 or 1, which small cells hit often.
//
//   Difference of two proportions p1 - p2 (Newcombe 1998, "Interval
//   estimation for the difference between independent proportions", method
//   10, the hybrid score interval), from the Wilson intervals [l1, u1] and
//   [l2, u2]:
//     lower = (p1 - p2) - sqrt((p1 - l1)^2 + (u2 - p2)^2)
//     upper = (p1 - p2) + sqrt((u1 - p1)^2 + (p2 - l2)^2)
//   It assumes independent samples. Two methods scored on the same prompts
//   are paired; treating them as independent ignores the positive
//   correlation between them, so the interval is wider than a paired one
//   (conservative), never narrower.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace eval {

/// The 97.5% quantile of the standard normal: two-sided 95% intervals.
inline constexpr double z95 = 1.959963984540054;

/// An estimate with its interval.
struct interval {
  double value = 0;  ///< the point estimate (k / n, or p1 - p2)
  double lo = 0;
  double hi = 0;
};

/// Wilson score interval of k successes in n trials (0 <= k <= n). n = 0
/// says nothing: value 0, interval [0, 1].
[[nodiscard]] inline interval wilson(std::int64_t k, std::int64_t n, double z = z95) noexcept {
  if (n <= 0) return {0.0, 0.0, 1.0};
  const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double centre = (p + z2 / (2.0 * nn)) / denom;
  const double half = z / denom * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
  // At k = 0 (k = n) the lower (upper) end is exactly 0 (1); computed, it
  // can land a rounding error away, on the wrong side of p.
  return {p, k <= 0 ? 0.0 : std::fmax(0.0, centre - half),
          k >= n ? 1.0 : std::fmin(1.0, centre + half)};
}

/// Newcombe's hybrid score interval of p1 - p2 (k1 of n1 against k2 of n2).
[[nodiscard]] inline interval newcombe_difference(std::int64_t k1, std::int64_t n1, std::int64_t k2,
                                                  std::int64_t n2, double z = z95) noexcept {
  const interval a = wilson(k1, n1, z), b = wilson(k2, n2, z);
  const double d = a.value - b.value;
  const double below = std::hypot(a.value - a.lo, b.hi - b.value);
  const double above = std::hypot(a.hi - a.value, b.value - b.lo);
  return {d, d - below, d + above};
}

/// The effective length: the longest of `lengths` whose accuracy, and that
/// of every shorter length, is >= threshold; -1 when the shortest already
/// falls below. accuracy[i] belongs to lengths[i]; any order.
[[nodiscard]] inline std::int64_t effective_length(const std::vector<std::int64_t>& lengths,
                                                   const std::vector<double>& accuracy,
                                                   double threshold) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < lengths.size() && i < accuracy.size(); ++i) order.push_back(i);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return lengths[a] < lengths[b]; });
  std::int64_t best = -1;
  for (const std::size_t i : order) {
    if (accuracy[i] < threshold) break;
    best = lengths[i];
  }
  return best;
}

}  // namespace eval
