// shiftrope/sampler.hpp - picks the next token from a row of logits: greedy,
// temperature, top-k, top-p (nucleus), with a seeded generator of our own so
// that a seed gives the same tokens on every platform and standard library.
//
// Semantics (llama2.c's, plus top-k applied before top-p as llama.cpp does):
//   temperature == 0     -> argmax (the lowest id among equal maxima)
//   otherwise            p_i = softmax(logits / temperature)
//   top_k in [1, n)      keep the k most probable ids (ties: lower id first),
//                        renormalize
//   top_p in (0, 1)      keep the shortest prefix of the ids sorted by
//                        probability whose mass exceeds top_p (the id that
//                        crosses top_p is kept), renormalize
//   draw                 r uniform in [0, kept mass): the first kept id whose
//                        cumulative probability exceeds r
// std only: no SIMD, no threads (one row per token is cheap next to a forward pass).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <shiftrope/error.hpp>
#include <utility>
#include <vector>

namespace shiftrope {

/// splitmix64 (Steele, Lea, Flood 2014): one step of the seed sequence. Used
/// to spread a user seed over the generator state.
[[nodiscard]] inline std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// xorshift64* (Vigna 2016): small, fast, and the same bits everywhere.
class sampler_rng {
 public:
  explicit sampler_rng(std::uint64_t seed = 0) noexcept { reseed(seed); }

  void reseed(std::uint64_t seed) noexcept {
    std::uint64_t s = seed;
    state_ = splitmix64(s);
    if (state_ == 0) state_ = 0x9e3779b97f4a7c15ull;  // xorshift must never hold 0
  }

  [[nodiscard]] std::uint64_t next_u64() noexcept {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dull;
  }

  /// Uniform in [0, 1) with 53 random bits.
  [[nodiscard]] double next_unit() noexcept {
    return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  }

 private:
  std::uint64_t state_ = 0;
};

struct sampler_params {
  double temperature = 1.0;  ///< logits are divided by it; 0 = greedy (argmax)
  int top_k = 0;             ///< keep the k most probable ids; 0 (or >= n_vocab) = all
  double top_p = 1.0;        ///< nucleus mass in (0, 1); 1 = off
  std::uint64_t seed = 0;    ///< generator seed: the same seed gives the same draws

  /// Throws shiftrope::error naming the field and value.
  void validate() const {
    if (!(temperature >= 0.0) || !std::isfinite(temperature))
      fail("sampler_params: temperature must be a finite number >= 0, got ", temperature);
    if (top_k < 0) fail("sampler_params: top_k must be >= 0, got ", top_k);
    if (!(top_p > 0.0 && top_p <= 1.0))
      fail("sampler_params: top_p must be in (0, 1], got ", top_p);
  }
};

/// One candidate after filtering: an id and its (renormalized) probability.
struct token_prob {
  int id = 0;
  double prob = 0.0;
};

/// The lowest id among the largest finite-or-infinite logits (NaN never
/// wins); 0 for an empty or all-NaN row.
[[nodiscard]] inline int argmax(const float* logits, int n_vocab) noexcept {
  int best = 0;
  float best_value = -std::numeric_limits<float>::infinity();
  bool found = false;
  for (int i = 0; i < n_vocab; ++i) {
    const float v = logits[i];
    if (std::isnan(v)) continue;
    if (!found || v > best_value) {
      best = i;
      best_value = v;
      found = true;
    }
  }
  return best;
}

/// A sampler for rows of n_vocab logits. Holds its scratch (no allocation
/// per token) and its generator state: sample() is deterministic given the
/// seed and the sequence of rows.
class sampler {
 public:
  sampler(int n_vocab, const sampler_params& params) : params_(params), rng_(params.seed) {
    params_.validate();
    if (n_vocab <= 0) fail("sampler: n_vocab must be > 0, got ", n_vocab);
    n_vocab_ = n_vocab;
    scratch_.resize(static_cast<std::size_t>(n_vocab));
  }

  [[nodiscard]] const sampler_params& params() const noexcept { return params_; }
  [[nodiscard]] int n_vocab() const noexcept { return n_vocab_; }

  /// The next token for one row of logits [n_vocab].
  [[nodiscard]] int sample(const float* logits) noexcept {
    if (params_.temperature == 0.0) return argmax(logits, n_vocab_);
    const std::size_t n = candidates_into(logits);
    double mass = 0.0;
    for (std::size_t i = 0; i < n; ++i) mass += scratch_[i].prob;
    const double r = rng_.next_unit() * mass;
    double cdf = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      cdf += scratch_[i].prob;
      if (r < cdf) return scratch_[i].id;
    }
    return scratch_[n - 1].id;  // rounding: r landed on the total
  }

  /// The ids sample() may return for this row, with their renormalized
  /// probabilities (for inspection and tests; greedy gives the argmax alone).
  [[nodiscard]] std::vector<token_prob> candidates(const float* logits) {
    if (params_.temperature == 0.0) return {{argmax(logits, n_vocab_), 1.0}};
    const std::size_t n = candidates_into(logits);
    double mass = 0.0;
    for (std::size_t i = 0; i < n; ++i) mass += scratch_[i].prob;
    std::vector<token_prob> out(scratch_.begin(),
                                scratch_.begin() + static_cast<std::ptrdiff_t>(n));
    for (token_prob& c : out) c.prob /= mass;
    return out;
  }

 private:
  // Most probable first; equal probabilities: lower id first (deterministic).
  static bool more_probable(const token_prob& a, const token_prob& b) noexcept {
    return a.prob > b.prob || (a.prob == b.prob && a.id < b.id);
  }

  // Fills scratch_[0, n) with the kept candidates (unnormalized probabilities
  // of the softmax) and returns n >= 1.
  std::size_t candidates_into(const float* logits) noexcept {
    const std::size_t n_vocab = static_cast<std::size_t>(n_vocab_);
    // softmax(logits / T) in double: the max is subtracted first, so exp never overflows.
    const double inv_t = 1.0 / params_.temperature;
    double max_logit = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n_vocab; ++i)
      if (!std::isnan(logits[i])) max_logit = std::max(max_logit, static_cast<double>(logits[i]));
    if (!std::isfinite(max_logit)) {  // all NaN or a +inf logit: fall back to the argmax
      scratch_[0] = {argmax(logits, n_vocab_), 1.0};
      return 1;
    }
    double total = 0.0;
    for (std::size_t i = 0; i < n_vocab; ++i) {
      const double z = std::isnan(logits[i]) ? 0.0 : std::exp((logits[i] - max_logit) * inv_t);
      scratch_[i] = {static_cast<int>(i), z};
      total += z;
    }
    for (std::size_t i = 0; i < n_vocab; ++i) scratch_[i].prob /= total;

    std::size_t n = n_vocab;
    const bool use_k = params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < n_vocab;
    const bool use_p = params_.top_p < 1.0;
    if (!use_k && !use_p) return n;  // the whole distribution, in id order
    if (use_k) {
      n = static_cast<std::size_t>(params_.top_k);
      std::partial_sort(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(n),
                        scratch_.end(), more_probable);
    } else {
      // Only ids with p >= (1 - top_p) / (n - 1) can be in the nucleus: the
      // others together hold less than 1 - top_p. Sorting just those keeps
      // large vocabularies cheap.
      const double cutoff =
          (1.0 - params_.top_p) / static_cast<double>(n_vocab - 1 + (n_vocab == 1));
      const auto mid = std::partition(scratch_.begin(), scratch_.end(),
                                      [&](const token_prob& c) { return c.prob >= cutoff; });
      n = static_cast<std::size_t>(mid - scratch_.begin());
      if (n == 0) n = n_vocab;  // cannot happen (the max is >= 1/n_vocab); stay safe
      std::sort(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(n), more_probable);
    }
    if (use_p) {
      // top_p of the mass top-k kept (renormalization); without top-k the
      // whole distribution counts (mass 1), the pruned ids included.
      double mass = 1.0;
      if (use_k) {
        mass = 0.0;
        for (std::size_t i = 0; i < n; ++i) mass += scratch_[i].prob;
      }
      const double target = params_.top_p * mass;
      double cum = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        cum += scratch_[i].prob;
        if (cum > target) {
          n = i + 1;
          break;
        }
      }
    }
    return n;
  }

  sampler_params params_;
  sampler_rng rng_;
  int n_vocab_ = 0;
  std::vector<token_prob> scratch_;  // [n_vocab] candidates, reused every call
};

}  // namespace shiftrope
