// examples/eval/sweep.hpp - runs a passkey / needles sweep on one model:
// lengths × trials × methods × depths, greedy decoding, scoring, results.
//
// Order and reuse: for each length and trial the prompts of every depth are
// built once (same filler and keys, the needle moved) and fed to each method
// in turn: one session, switched with method::apply (KV cache reset). Within
// a method, consecutive depths share the prompt up to the earlier needle:
// the session rewinds to the first differing token and feeds only the rest
// (session::forward with start_pos < n_past), which saves about half the
// prefill of a depth sweep. reuse_prefix = false feeds every prompt whole.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <shiftrope/model.hpp>
#include <string>
#include <vector>

#include "codec.hpp"
#include "methods.hpp"
#include "prompt.hpp"
#include "score.hpp"

namespace eval {

struct sweep_config {
  std::vector<std::int64_t> lengths;  ///< targets (tokens; doc_len bytes for fit train)
  std::vector<double> depths;         ///< needle depths in [0, 1]
  int trials = 1;                     ///< prompts per (length, depth)
  std::vector<method> methods;
  bool reuse_prefix = true;  ///< feed only what differs from the previous prompt
};

/// One scored generation.
struct record {
  std::size_t method = 0, length_index = 0, depth_index = 0;
  const prompt* p = nullptr;
  std::vector<int> generated;
  std::string output;    ///< generated text
  int found = 0;         ///< keys found (needles) or 1/0 (passkey)
  double score = 0;      ///< passkey: 1 or 0; needles: found / 4
  std::int64_t fed = 0;  ///< prompt tokens fed (after prefix reuse)
  double ms = 0;         ///< prefill + generation
};

/// Accumulated scores: [method × length × depth] cells.
struct sweep_results {
  struct cell {
    double score = 0;       ///< Σ score
    int at_least_half = 0;  ///< cases with >= half of the keys (needles: 2 of 4)
    int count = 0;
    std::int64_t tokens = 0;  ///< Σ prompt tokens
  };
  std::size_t n_lengths = 0, n_depths = 0;
  std::vector<cell> cells;

  sweep_results(std::size_t methods, std::size_t lengths, std::size_t depths)
      : n_lengths(lengths), n_depths(depths), cells(methods * lengths * depths) {}
  cell& at(std::size_t m, std::size_t l, std::size_t d) {
    return cells[(m * n_lengths + l) * n_depths + d];
  }
  const cell& at(std::size_t m, std::size_t l, std::size_t d) const {
    return cells[(m * n_lengths + l) * n_depths + d];
  }
  /// Sum of the cells of method m over lengths [l0, l1) and depths [d0, d1).
  cell sum(std::size_t m, std::size_t l0, std::size_t l1, std::size_t d0, std::size_t d1) const {
    cell s;
    for (std::size_t l = l0; l < l1; ++l)
      for (std::size_t d = d0; d < d1; ++d) {
        const cell& c = at(m, l, d);
        s.score += c.score;
        s.at_least_half += c.at_least_half;
        s.count += c.count;
        s.tokens += c.tokens;
      }
    return s;
  }
};

/// Index of the largest logit (the lowest id among equal maxima).
inline int argmax(const float* logits, int n) noexcept {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

/// Progress on stderr: every second at most, with an ETA from the work done.
class progress {
 public:
  explicit progress(double total_units, bool quiet) : total_(total_units), quiet_(quiet) {}
  void advance(double units, const std::string& what) {
    done_ += units;
    const double s = seconds();
    if (quiet_ || (s - last_ < 1.0 && done_ < total_)) return;
    last_ = s;
    const double eta = done_ > 0 ? s * (total_ - done_) / done_ : 0.0;
    std::fprintf(stderr, "[%5.1f%%] %s, %.1f s elapsed, ETA %.0f s\n",
                 100.0 * done_ / std::max(total_, 1.0), what.c_str(), s, eta);
  }
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  double total_ = 0, done_ = 0, last_ = -1e9;
  bool quiet_ = false;
};

/// Feeds p.tokens[start, end) after rewinding to start, then decodes up to
/// p.n_gen tokens greedily (stopping at an end token); returns them.
inline std::vector<int> run_prompt(shiftrope::session& s, const text_codec& codec, const prompt& p,
                                   std::int64_t start, std::vector<float>& logits) {
  const auto n = static_cast<std::int64_t>(p.tokens.size());
  start = std::min(start, n - 1);  // at least one token, for the last row's logits
  s.forward(p.tokens.data() + start, static_cast<std::size_t>(n - start), start, logits.data());
  std::vector<int> out;
  const int n_vocab = s.config().n_vocab;
  for (int i = 0; i < p.n_gen; ++i) {
    const int next = argmax(logits.data(), n_vocab);
    if (codec.is_end(next)) break;
    out.push_back(next);
    if (i + 1 == p.n_gen) break;
    s.forward(&out.back(), 1, s.n_past(), logits.data());
  }
  return out;
}

/// Tokens two prompts share from the start.
inline std::int64_t common_prefix(const std::vector<int>& a, const std::vector<int>& b) noexcept {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return static_cast<std::int64_t>(i);
}

/// Scores one generation into r (passkey or needles rule).
inline void score(record& r, const text_codec& codec) {
  r.output = codec.decode(r.generated);
  if (r.p->keys.size() == 1) {
    r.found = passkey_correct(r.output, r.p->keys[0]) ? 1 : 0;
  } else {
    r.found = keys_found(r.output, r.p->keys);
  }
  r.score = static_cast<double>(r.found) / static_cast<double>(r.p->keys.size());
}

/// Runs the sweep; calls on_record for every scored generation (in run
/// order) and returns the accumulated results. Prompts that do not fit the
/// session's context throw shiftrope::error (the caller checks lengths
/// against --ctx first).
inline sweep_results run_sweep(shiftrope::session& s, const text_codec& codec,
                               prompt_builder& builder, const sweep_config& cfg, bool quiet,
                               const std::function<void(const record&)>& on_record) {
  sweep_results res(cfg.methods.size(), cfg.lengths.size(), cfg.depths.size());
  double total = 0;
  for (const std::int64_t l : cfg.lengths)
    total += static_cast<double>(l) * static_cast<double>(cfg.depths.size() * cfg.methods.size()) *
             cfg.trials;
  progress prog(total, quiet);
  std::vector<float> logits(static_cast<std::size_t>(s.config().n_vocab));
  const bool train_fit = builder.options().fit == fit_mode::train;
  for (std::size_t li = 0; li < cfg.lengths.size(); ++li) {
    std::vector<prompt> all;  // [trial][depth] (exact) / [depth][trial] (train)
    if (train_fit) all = builder.build_train_documents(cfg.lengths[li], cfg.depths, cfg.trials);
    for (int t = 0; t < cfg.trials; ++t) {
      std::vector<const prompt*> prompts;  // this trial's, one per depth
      if (!train_fit) {
        std::vector<prompt> built = builder.build(t, cfg.lengths[li], cfg.depths);
        all = std::move(built);
        for (const prompt& p : all) prompts.push_back(&p);
      } else {
        for (std::size_t d = 0; d < cfg.depths.size(); ++d)
          prompts.push_back(
              &all[d * static_cast<std::size_t>(cfg.trials) + static_cast<std::size_t>(t)]);
      }
      for (std::size_t mi = 0; mi < cfg.methods.size(); ++mi) {
        cfg.methods[mi].apply(s);
        const prompt* previous = nullptr;
        for (std::size_t di = 0; di < prompts.size(); ++di) {
          const prompt& p = *prompts[di];
          const auto t0 = std::chrono::steady_clock::now();
          const std::int64_t start =
              cfg.reuse_prefix && previous ? common_prefix(previous->tokens, p.tokens) : 0;
          record r;
          r.method = mi;
          r.length_index = li;
          r.depth_index = di;
          r.p = &p;
          r.generated = run_prompt(s, codec, p, start, logits);
          r.fed = static_cast<std::int64_t>(p.tokens.size()) - start;
          r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count();
          score(r, codec);
          previous = &p;
          sweep_results::cell& c = res.at(mi, li, di);
          c.score += r.score;
          c.at_least_half += 2 * r.found >= static_cast<int>(p.keys.size()) ? 1 : 0;
          c.count += 1;
          c.tokens += static_cast<std::int64_t>(p.tokens.size());
          on_record(r);
          prog.advance(static_cast<double>(cfg.lengths[li]),
                       "length " + std::to_string(cfg.lengths[li]) + " trial " +
                           std::to_string(t + 1) + "/" + std::to_string(cfg.trials) + " " +
                           cfg.methods[mi].label);
        }
      }
    }
  }
  return res;
}

}  // namespace eval
