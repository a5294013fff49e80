// shiftrope/position_map.hpp - training-free position remappings (plain
// scalar math, no SIMD, no threads).
//
// A remap turns the relative distance d = m - n between a query at position m
// and a key at position n (causal: n <= m) into the position the score sees.
//
//   identity_remap:  f(d) = d                         (plain RoPE)
//   string_remap:    f(d) = d           if d < S      (STRING, An et al. 2025)
//                    f(d) = d - S + W   if d >= S
//   self_extend_remap: p(m, n) = d below the neighbour window W_n, grouped
//                    floor(m/G) - floor(n/G) + W_n - floor(W_n/G) beyond it
//                    (Self-Extend; needs keys at floor(n/G), see below)
//
// Keys are rotated once, at their own position n, when they enter the KV
// cache. A remap whose f(d) = p - n for a query position p that is constant
// over a run of keys can therefore be applied by rotating the *query* at p:
// this is the "segment form" the attention kernel consumes. STRING has two
// segments per query row: keys [0, m-S] seen from a query rotated at m-S+W,
// keys (m-S, m] from a query rotated at m.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <shiftrope/error.hpp>
#include <string>
#include <variant>
#include <vector>

namespace shiftrope {

/// Largest position (and sequence length) any part of the library accepts:
/// 2^40, far beyond any model, small enough that sums of positions and
/// products with small factors stay exact in int64 and double.
inline constexpr std::int64_t max_positions = std::int64_t{1} << 40;

/// A run of keys [begin, end) scored by a query rotated at query_pos, so each
/// key n in it sees the relative position query_pos - n.
struct key_segment {
  std::int64_t begin = 0;      ///< first key position
  std::int64_t end = 0;        ///< one past the last key position
  std::int64_t query_pos = 0;  ///< position the query is rotated at
};

/// Most segments any remap here produces for one query row.
inline constexpr int max_key_segments = 2;

/// Plain RoPE: every key is seen at its true distance.
struct identity_remap {
  /// f(d) = d.
  [[nodiscard]] std::int64_t operator()(std::int64_t d) const noexcept { return d; }

  /// Segments of the keys [0, m] of a query at m; returns how many (0 or 1).
  int segments(std::int64_t m, key_segment* out) const noexcept {
    if (m < 0) return 0;
    out[0] = {0, m + 1, m};
    return 1;
  }

  void validate() const noexcept {}
};

/// STRING: distances d >= shift are seen at d - shift + window.
struct string_remap {
  /// Paper defaults: S = floor(0.33 * L), W = 128.
  static constexpr double default_ratio = 0.33;
  static constexpr std::int64_t default_window = 128;

  std::int64_t shift = 0;   ///< S: the first distance that is shifted (S >= 1)
  std::int64_t window = 0;  ///< W: where distance S lands (0 <= W < S)
  /// The reference implementation's prefill counts the key at distance
  /// exactly S twice (once at S, once at W). Off: each key counted once, as
  /// the formula and the reference decode path do. On only to match
  /// published numbers.
  bool duplicate_boundary_key = false;

  /// f(d) for d >= 0.
  [[nodiscard]] std::int64_t operator()(std::int64_t d) const noexcept {
    return d < shift ? d : d - shift + window;
  }

  /// Segments of the keys [0, m] of a query at m; returns how many (0..2).
  /// Far keys [0, m-S] come first (query at m-S+W), then near keys (m-S, m].
  int segments(std::int64_t m, key_segment* out) const noexcept {
    if (m < 0) return 0;
    const std::int64_t far_end = std::min(m - shift + 1, m + 1);  // keys n <= m - S
    int count = 0;
    if (far_end > 0) out[count++] = {0, far_end, m - shift + window};
    const std::int64_t near_begin = duplicate_boundary_key ? std::max<std::int64_t>(far_end - 1, 0)
                                                           : std::max<std::int64_t>(far_end, 0);
    out[count++] = {near_begin, m + 1, m};
    return count;
  }

  /// Throws shiftrope::error unless 1 <= S and 0 <= W < S.
  void validate() const {
    if (shift < 1) fail("string_remap: shift (S) must be >= 1, got ", shift);
    if (window < 0) fail("string_remap: window (W) must be >= 0, got ", window);
    if (window >= shift)
      fail("string_remap: window (W) must be < shift (S), got W = ", window, ", S = ", shift);
  }

  /// Also checks S < train_len (the remap would do nothing otherwise).
  void validate(std::int64_t train_len) const {
    validate();
    if (train_len < 2) fail("string_remap: train_len (L) must be >= 2, got ", train_len);
    if (shift >= train_len)
      fail("string_remap: shift (S) must be < train_len (L), got S = ", shift, ", L = ", train_len);
  }

  /// How a user states STRING's setting for a training length L: S
  /// directly, or as a ratio of L (neither: the paper's 0.33), and W
  /// (absent: default_window_for(S)).
  struct setting {
    std::optional<std::int64_t> shift;   ///< S, 1 <= S < L
    std::optional<double> ratio;         ///< S = floor(ratio * L), 0 < ratio < 1
    std::optional<std::int64_t> window;  ///< W, 0 <= W < S
  };

  /// S for training length L: `shift` when given, else floor(ratio * L)
  /// (ratio defaulting to the paper's 0.33). Throws shiftrope::error naming
  /// "train_len (L)", "ratio" or "shift (S)" and the value (both shift and
  /// ratio given: an error too).
  static std::int64_t shift_for(std::int64_t train_len, std::optional<std::int64_t> shift,
                                std::optional<double> ratio) {
    if (train_len < 2 || train_len > max_positions)
      fail("string_remap: train_len (L) must be in [2, 2^40], got ", train_len);
    if (shift && ratio)
      fail("string_remap: shift (S) and ratio cannot be combined (S = ", *shift,
           ", ratio = ", *ratio, ")");
    if (shift) {
      if (*shift < 1) fail("string_remap: shift (S) must be >= 1, got ", *shift);
      if (*shift >= train_len)
        fail("string_remap: shift (S) must be < train_len (L), got S = ", *shift,
             ", L = ", train_len);
      return *shift;
    }
    const double x = ratio.value_or(default_ratio);
    if (!(x > 0.0 && x < 1.0)) fail("string_remap: ratio must be in (0, 1), got ", x);
    const auto s = static_cast<std::int64_t>(std::floor(x * static_cast<double>(train_len)));
    if (s < 1)
      fail("string_remap: train_len (L) = ", train_len, " is too small for ratio ", x,
           ": shift (S) = floor(ratio * L) = 0, but S must be >= 1");
    return s;
  }

  /// The paper's W = 128, or the largest valid W, S - 1, when 128 >= S.
  [[nodiscard]] static constexpr std::int64_t default_window_for(std::int64_t shift) noexcept {
    return std::min(default_window, shift - 1);
  }

  /// The remap for training length L and a setting, validated against L:
  /// the one rule every program uses to turn flags into S and W.
  static string_remap resolve(std::int64_t train_len, const setting& s) {
    string_remap r;
    r.shift = shift_for(train_len, s.shift, s.ratio);
    r.window = s.window.value_or(default_window_for(r.shift));
    r.validate(train_len);
    return r;
  }

  /// S = floor(ratio * L) and the given W, validated against L.
  static string_remap from_ratio(std::int64_t train_len, double ratio = default_ratio,
                                 std::int64_t window = default_window) {
    return resolve(train_len, {std::nullopt, ratio, window});
  }

  /// The paper's setting for a training length L: S = floor(0.33 L) and
  /// W = default_window_for(S) (so S = 3 gives W = 2).
  static string_remap paper_default(std::int64_t train_len) { return resolve(train_len, {}); }
};

/// Self-Extend (Jin et al. 2024, "LLM Maybe LongLM"): keys within the
/// neighbour window keep their true distance; farther keys are seen at
/// grouped positions,
///
///   p(m, n) = m - n                                     if m - n < W_n
///   p(m, n) = floor(m/G) - floor(n/G) + W_n - floor(W_n/G)   otherwise.
///
/// Unlike identity_remap and string_remap this is not a function of the
/// distance d = m - n alone, and a far key is seen at floor(n/G), not at
/// its own position n: keys rotated at n (the ordinary KV cache) do not
/// suffice. Attention therefore reads far keys from a second cache whose
/// keys are rotated at floor(n/G) (attention_self_extend.hpp), with the
/// query rotated at far_query_pos(m); near keys come from the ordinary cache
/// with the query at m. It is kept out of the run-time `remap` variant, whose
/// kernels assume keys at their own positions.
struct self_extend_remap {
  std::int64_t group = 1;            ///< G: far positions are integer-divided by G (G >= 1)
  std::int64_t neighbor_window = 1;  ///< W_n: distances d < W_n keep d (W_n >= 1)

  /// The keys of a query row at m, split where the grouped positions start.
  struct split {
    std::int64_t far_end = 0;        ///< far keys are [0, far_end) (read from the grouped cache)
    std::int64_t far_query_pos = 0;  ///< the query's position against far keys
  };

  /// p(m, n) for 0 <= n <= m.
  [[nodiscard]] std::int64_t operator()(std::int64_t m, std::int64_t n) const noexcept {
    if (m - n < neighbor_window) return m - n;
    return m / group - n / group + neighbor_window - neighbor_window / group;
  }

  /// floor(n/G): where the grouped cache rotates key n.
  [[nodiscard]] std::int64_t grouped_key_pos(std::int64_t n) const noexcept { return n / group; }

  /// Far keys n <= m - W_n (none while m < W_n). When there are far keys,
  /// the far query position floor(m/G) + W_n - floor(W_n/G) does not exceed
  /// m (x - floor(x/G) grows with x and m >= W_n), so a RoPE table covering
  /// m covers it.
  [[nodiscard]] split split_at(std::int64_t m) const noexcept {
    split s;
    s.far_end = std::max<std::int64_t>(m - neighbor_window + 1, 0);
    s.far_query_pos = m / group + neighbor_window - neighbor_window / group;
    return s;
  }

  /// Throws shiftrope::error unless G >= 1 and W_n >= 1 (and both <= 2^40).
  void validate() const {
    if (group < 1 || group > max_positions)
      fail("self_extend_remap: group (G) must be in [1, 2^40], got ", group);
    if (neighbor_window < 1 || neighbor_window > max_positions)
      fail("self_extend_remap: neighbor_window (W_n) must be in [1, 2^40], got ", neighbor_window);
  }
};

[[nodiscard]] inline std::int64_t relative_position(const self_extend_remap& r, std::int64_t m,
                                                    std::int64_t n) noexcept {
  return r(m, n);
}

/// Largest position a causal sequence of `length` tokens sees under
/// Self-Extend: W_n - 1 from the neighbours (or length - 1 when shorter) and
/// floor(m/G) + W_n - floor(W_n/G) for the key 0 of the last row m.
[[nodiscard]] inline std::int64_t max_position(const self_extend_remap& r,
                                               std::int64_t length) noexcept {
  if (length <= 0) return 0;
  const std::int64_t m = length - 1;
  const std::int64_t near = std::min(m, r.neighbor_window - 1);
  return m < r.neighbor_window ? near : std::max(near, r(m, 0));
}

/// "self-extend(G=4,Wn=64)".
[[nodiscard]] inline std::string describe(const self_extend_remap& r) {
  return detail::concat("self-extend(G=", r.group, ",Wn=", r.neighbor_window, ")");
}

/// A remap chosen at run time (model, command line). The attention kernel
/// dispatches on it once per call, not per element.
using remap = std::variant<identity_remap, string_remap>;

/// Relative position f(m - n) a score sees for query m and key n (n <= m).
template <class Remap>
[[nodiscard]] std::int64_t relative_position(const Remap& r, std::int64_t m,
                                             std::int64_t n) noexcept {
  return r(m - n);
}

[[nodiscard]] inline std::int64_t relative_position(const remap& r, std::int64_t m,
                                                    std::int64_t n) noexcept {
  return std::visit([&](const auto& x) { return x(m - n); }, r);
}

/// Largest position any score of a causal sequence of `length` tokens sees:
/// length - 1 for RoPE; for STRING max(S - 1, length - 1 - S + W) once
/// length > S (f is not monotone: positions W..S-1 are used twice), and
/// length - 1 while length <= S. With duplicate_boundary_key the key at
/// distance S is also scored at S itself, so S - 1 becomes S. 0 for an empty
/// sequence.
[[nodiscard]] inline std::int64_t max_position(const identity_remap&,
                                               std::int64_t length) noexcept {
  return std::max<std::int64_t>(length - 1, 0);
}

[[nodiscard]] inline std::int64_t max_position(const string_remap& r,
                                               std::int64_t length) noexcept {
  if (length <= r.shift) return std::max<std::int64_t>(length - 1, 0);
  const std::int64_t near_max = r.duplicate_boundary_key ? r.shift : r.shift - 1;
  return std::max(near_max, length - 1 - r.shift + r.window);
}

[[nodiscard]] inline std::int64_t max_position(const remap& r, std::int64_t length) noexcept {
  return std::visit([&](const auto& x) { return max_position(x, length); }, r);
}

/// Validates a run-time remap (throws shiftrope::error naming the field).
inline void validate(const remap& r) {
  std::visit([](const auto& x) { x.validate(); }, r);
}

/// Segments of the keys [0, m] for a run-time remap; returns how many.
inline int key_segments(const remap& r, std::int64_t m, key_segment* out) noexcept {
  return std::visit([&](const auto& x) { return x.segments(m, out); }, r);
}

/// Short human-readable description, e.g. "rope" or "string(S=168,W=128)".
[[nodiscard]] inline std::string describe(const remap& r) {
  if (const auto* s = std::get_if<string_remap>(&r))
    return detail::concat("string(S=", s->shift, ",W=", s->window,
                          s->duplicate_boundary_key ? ",dup" : "", ")");
  return "rope";
}

/// The materialized relative-position matrix for inspection: row-major
/// [length × length], entry (m, n) = f(m - n) for n <= m and -1 above the
/// diagonal. Refuses lengths above max_length (the matrix is quadratic).
template <class Remap>
[[nodiscard]] std::vector<std::int64_t> position_matrix(const Remap& r, std::int64_t length,
                                                        std::int64_t max_length = 8192) {
  if (length < 0 || length > max_length)
    fail("position_matrix: length must be in [0, ", max_length, "], got ", length);
  std::vector<std::int64_t> out(static_cast<std::size_t>(length * length), -1);
  for (std::int64_t m = 0; m < length; ++m)
    for (std::int64_t n = 0; n <= m; ++n)
      out[static_cast<std::size_t>(m * length + n)] = relative_position(r, m, n);
  return out;
}

}  // namespace shiftrope
