// examples/eval/perplexity.hpp - teacher-forced negative log-likelihood of a
// token sequence under a position method: windows of n_ctx tokens, each fed
// in chunks, every row's log-softmax taken in double, NLLs bucketed by the
// position of the predicted token.
//
// A window of n_ctx tokens gives n_ctx - 1 predictions: the logits after
// positions 0..p predict the token at p + 1 (p + 1 in [1, n_ctx)). Bucket k
// of B holds the predicted positions q with floor(q·B / n_ctx) = k, i.e.
// equal slices of the context (bucket 0 lacks position 0, which no token
// predicts).
#pragma once

#include <cmath>
#include <cstdint>
#include <shiftrope/error.hpp>
#include <shiftrope/model.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace eval {

/// -log softmax(logits)[target] in double: log Σ_j e^(x_j - max) + max - x_target.
inline double token_nll(const float* logits, int n_vocab, int target) noexcept {
  double mx = logits[0];
  for (int j = 1; j < n_vocab; ++j) mx = std::max(mx, static_cast<double>(logits[j]));
  double sum = 0;
  for (int j = 0; j < n_vocab; ++j) sum += std::exp(static_cast<double>(logits[j]) - mx);
  return std::log(sum) + mx - static_cast<double>(logits[target]);
}

/// NLL sums per position bucket.
struct nll_buckets {
  std::int64_t n_ctx = 0;
  std::vector<double> sum;          ///< [buckets] Σ NLL
  std::vector<std::int64_t> count;  ///< [buckets] predictions

  nll_buckets(std::int64_t ctx, int buckets)
      : n_ctx(ctx), sum(static_cast<std::size_t>(buckets)), count(sum.size()) {}
  [[nodiscard]] std::size_t bucket_of(std::int64_t pos) const noexcept {
    return static_cast<std::size_t>(pos * static_cast<std::int64_t>(sum.size()) / n_ctx);
  }
  /// First predicted position of bucket k (bucket k is [begin(k), begin(k + 1))).
  [[nodiscard]] std::int64_t begin(std::size_t k) const noexcept {
    const auto b = static_cast<std::int64_t>(sum.size());
    return std::max<std::int64_t>(1, (static_cast<std::int64_t>(k) * n_ctx + b - 1) / b);
  }
  void add(std::int64_t pos, double nll) noexcept {
    sum[bucket_of(pos)] += nll;
    count[bucket_of(pos)] += 1;
  }
  [[nodiscard]] double total() const noexcept {
    double s = 0;
    for (const double x : sum) s += x;
    return s;
  }
  [[nodiscard]] std::int64_t total_count() const noexcept {
    std::int64_t n = 0;
    for (const std::int64_t c : count) n += c;
    return n;
  }
};

/// Feeds one window (a fresh sequence: positions 0..size-1) in chunks of
/// `batch` tokens with every row's logits, and adds each prediction's NLL.
/// logits: scratch, resized to [batch × n_vocab].
inline void window_nll(shiftrope::session& s, const std::vector<int>& window, std::size_t batch,
                       nll_buckets& acc, std::vector<float>& logits) {
  const int n_vocab = s.config().n_vocab;
  const auto nv = static_cast<std::size_t>(n_vocab);
  logits.resize(batch * nv);
  for (std::size_t c = 0; c < window.size(); c += batch) {
    const std::size_t n = std::min(batch, window.size() - c);
    s.forward(window.data() + c, n, static_cast<std::int64_t>(c), logits.data(),
              shiftrope::logits_rows::all);
    for (std::size_t i = 0; i < n && c + i + 1 < window.size(); ++i)
      acc.add(static_cast<std::int64_t>(c + i + 1),
              token_nll(logits.data() + i * nv, n_vocab, window[c + i + 1]));
  }
}

/// Token ids from text "1, 2 3\n4" (commas and whitespace separate; each id
/// in [0, n_vocab)). Throws shiftrope::error naming `name`, the index and
/// the text of a bad entry.
inline std::vector<int> parse_token_list(std::string_view text, int n_vocab,
                                         const std::string& name) {
  std::vector<int> ids;
  std::size_t i = 0;
  const auto sep = [](char c) {
    return c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '\r';
  };
  while (i < text.size()) {
    if (sep(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && !sep(text[j])) ++j;
    const std::string_view item = text.substr(i, j - i);
    long long v = -1;
    bool ok = item.size() <= 10;
    for (const char c : item) ok = ok && c >= '0' && c <= '9';
    if (ok) v = std::stoll(std::string(item));
    if (!ok || v >= n_vocab)
      shiftrope::fail(name, ": token ", ids.size(), " is '", std::string(item.substr(0, 32)),
                      "', not an id in [0, ", n_vocab, ")");
    ids.push_back(static_cast<int>(v));
    i = j;
  }
  return ids;
}

}  // namespace eval
