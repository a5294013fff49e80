// examples/eval/train_stream.hpp - replays tools/train's training stream
// (data.py's PackedStream) draw for draw and keeps what the position
// frequency needs: the length of every packed document, and the distance
// from its needle's key to its answer's key. Nothing is tokenized: the
// stream is bytes, so lengths are string lengths.
//
// One sequence of seq_len + 1 tokens (tools/train/README.md, "Training
// stream"): uniform() < drill_fraction makes it a repeat drill (drill
// documents until it is full; no passkey document); otherwise whole
// documents are packed in order, and the first one that does not fit is
// kept for the next sequence while a filler fragment fills the rest.
// A document: doc_len = FIXED + b, b = int(-mean ln(1 - u)) redrawn while
// b > seq_len - FIXED; then make_document: key, cast, sentences while they
// fit in doc_len - FIXED, needle index below(n + 1).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "filler.hpp"

namespace eval {

struct train_stream_params {
  std::uint64_t seed = 1;         ///< train.py --seed
  std::int64_t seq_len = 512;     ///< train.py --seq-len (L)
  double mean_filler = 128;       ///< train.py --mean-filler
  double drill_fraction = 0.25;   ///< train.py --drill-fraction
  std::int64_t sequences = 9644;  ///< steps × batch (the shipped run: 2,411 × 4)
};

struct train_stream_stats {
  std::vector<std::int64_t> doc_lengths;       ///< tokens of each packed document, BOS to EOS
  std::vector<std::int64_t> needle_distances;  ///< needle key's first digit to the answer's
  std::int64_t drill_sequences = 0;
};

namespace detail {

// data.py's strings (the fixed part of a document).
inline constexpr const char* kInstruction =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it.";
inline constexpr const char* kQuestion = " What is the pass key? The pass key is";
inline constexpr std::int64_t kNeedleLen =
    59;  // " The pass key is K. Remember it. K is the pass key."
inline constexpr std::int64_t kNeedleKeyAt = 17;  // len(" The pass key is ")
inline constexpr std::int64_t kAnswerLen = 7;     // " K."

inline std::int64_t fixed_len() {
  return 1 + static_cast<std::int64_t>(std::strlen(kInstruction)) + kNeedleLen +
         static_cast<std::int64_t>(std::strlen(kQuestion)) + kAnswerLen + 1;
}

// data.py's uniform(): the top 53 bits.
inline double uniform(splitmix64& rng) {
  return static_cast<double>(rng.next() >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace detail

/// The documents of the first p.sequences sequences of the stream.
/// Throws nothing; p.seq_len must be >= the fixed part (197) + 1.
inline train_stream_stats replay_train_stream(const train_stream_params& p) {
  splitmix64 rng{p.seed};
  const std::int64_t fixed = detail::fixed_len(), n = p.seq_len + 1;
  const auto question_len = static_cast<std::int64_t>(std::strlen(detail::kQuestion));
  struct document {
    std::int64_t length = 0, distance = 0;
  };
  const auto make_document = [&] {
    std::int64_t b = 0;
    do b = static_cast<std::int64_t>(-p.mean_filler * std::log(1.0 - detail::uniform(rng)));
    while (b > p.seq_len - fixed);
    (void)rng.below(90000);  // the key
    filler_source source(filler_kind::grammar, rng);
    std::vector<std::int64_t> parts;  // " " + sentence, bytes
    std::int64_t used = 0;
    for (;;) {
      const auto s = static_cast<std::int64_t>(source.next(rng).size()) + 1;
      if (used + s > b) break;
      parts.push_back(s);
      used += s;
    }
    const auto index = static_cast<std::size_t>(rng.below(parts.size() + 1));
    std::int64_t after = 0;  // filler bytes between the needle and the question
    for (std::size_t i = index; i < parts.size(); ++i) after += parts[i];
    // answer key - needle key = rest of the needle + filler after + question + " "
    return document{fixed + used,
                    detail::kNeedleLen - detail::kNeedleKeyAt + after + question_len + 1};
  };
  const auto word_len = [](std::size_t i) {  // data.py's ADJECTIVES + NOUNS + PLACES + VERBS
    const char* const* lists[4] = {filler_source::adjectives(), filler_source::nouns(),
                                   filler_source::place_words(), filler_source::verbs()};
    return static_cast<std::int64_t>(std::strlen(lists[i / 8][i % 8]));
  };
  train_stream_stats out;
  bool pending = false;
  document next;
  for (std::int64_t s = 0; s < p.sequences; ++s) {
    std::int64_t len = 0;
    if (p.drill_fraction > 0.0 && detail::uniform(rng) < p.drill_fraction) {
      ++out.drill_sequences;
      while (len < n) {  // BOS + seg × 3, seg = " " + words joined by " " + "."
        const auto words = static_cast<std::int64_t>(2 + rng.below(7));
        std::int64_t seg = 1 + (words - 1) + 1;
        for (std::int64_t w = 0; w < words; ++w) {
          if (rng.below(2) == 0) {
            (void)rng.below(90000);
            seg += 5;
          } else {
            seg += word_len(static_cast<std::size_t>(rng.below(32)));
          }
        }
        len += 1 + 3 * seg;
      }
      continue;
    }
    while (len < n) {
      if (!pending) next = make_document();
      pending = false;
      if (len + next.length > n) {
        pending = true;
        const std::int64_t rest = n - len;  // filler fragment: BOS + sentences, cut
        filler_source source(filler_kind::grammar, rng);
        for (std::int64_t got = 1; got < rest;)
          got += static_cast<std::int64_t>(source.next(rng).size()) + 1;
        break;
      }
      len += next.length;
      out.doc_lengths.push_back(next.length);
      out.needle_distances.push_back(next.distance);
    }
  }
  return out;
}

}  // namespace eval
