// examples/eval/frequency.hpp - the paper's position-frequency analysis
// (An et al., ICLR 2025, §2): how often each relative distance is trained,
// and which distances a remap uses at inference.
//
//   trained(d) = Σ_documents max(len - d, 0)       pairs (i, j), i - j = d,
//                                                  inside one document
//   full-length sequences of L: trained(d) = N (L - d)
//   inference on one causal sequence of L tokens under a remap f:
//     pairs(p) = Σ_{d < L, f(d) = p} (L - d)       (Σ_p pairs(p) = L (L + 1) / 2)
//   share below c: Σ_{p : trained(p) < c} pairs(p) / Σ_p pairs(p)
//
// A document longer than L is cut into pieces of L (and a remainder), as
// packing cuts it: no pair spans more than L - 1.
#pragma once

#include <algorithm>
#include <cstdint>
#include <shiftrope/position_map.hpp>
#include <vector>

namespace eval {

/// trained(d) for d in [0, L) over documents of the given lengths (>= 1).
[[nodiscard]] inline std::vector<std::uint64_t> trained_pairs(
    const std::vector<std::int64_t>& doc_lengths, std::int64_t train_len) {
  const auto L = static_cast<std::size_t>(train_len);
  // longer[d] = pieces of length > d; trained(d) = trained(d + 1) + longer[d]
  // (each piece of length > d has exactly one more pair at d than at d + 1).
  std::vector<std::uint64_t> at_length(L + 1, 0);  // pieces of exactly length ℓ, ℓ <= L
  for (const std::int64_t len : doc_lengths) {
    at_length[L] += static_cast<std::uint64_t>(len / train_len);
    at_length[static_cast<std::size_t>(len % train_len)] += 1;
  }
  std::vector<std::uint64_t> out(L, 0);
  std::uint64_t longer = 0, running = 0;
  for (std::size_t d = L; d-- > 0;) {
    longer += at_length[d + 1];
    running += longer;
    out[d] = running;
  }
  return out;
}

/// trained(d) for n_sequences full-length sequences: n (L - d).
[[nodiscard]] inline std::vector<std::uint64_t> trained_pairs_full(std::int64_t train_len,
                                                                   std::uint64_t n_sequences) {
  std::vector<std::uint64_t> out(static_cast<std::size_t>(train_len));
  for (std::size_t d = 0; d < out.size(); ++d)
    out[d] = n_sequences * (static_cast<std::uint64_t>(train_len) - d);
  return out;
}

/// pairs(p) for p in [0, L): the causal pairs of a sequence of L tokens
/// that a remap scores at position p.
[[nodiscard]] inline std::vector<std::uint64_t> inference_pairs(const shiftrope::remap& map,
                                                                std::int64_t length) {
  std::vector<std::uint64_t> out(static_cast<std::size_t>(length), 0);
  for (std::int64_t d = 0; d < length; ++d)
    out[static_cast<std::size_t>(shiftrope::relative_position(map, d, 0))] +=
        static_cast<std::uint64_t>(length - d);
  return out;
}

/// The share of inference pairs scored at positions trained fewer than
/// `below` times (positions beyond `trained` count as never trained).
[[nodiscard]] inline double share_below(const std::vector<std::uint64_t>& pairs,
                                        const std::vector<std::uint64_t>& trained,
                                        std::uint64_t below) {
  std::uint64_t total = 0, rare = 0;
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    total += pairs[p];
    if ((p < trained.size() ? trained[p] : 0) < below) rare += pairs[p];
  }
  return total ? static_cast<double>(rare) / static_cast<double>(total) : 0.0;
}

/// The smallest distance from which on every trained count is < below
/// (trained is non-increasing); trained.size() when none is.
[[nodiscard]] inline std::size_t first_rare_distance(const std::vector<std::uint64_t>& trained,
                                                     std::uint64_t below) {
  std::size_t d = trained.size();
  while (d > 0 && trained[d - 1] < below) --d;
  return d;
}

}  // namespace eval
