// Tests of examples/eval/frequency.hpp and train_stream.hpp: trained pair
// counts against N (L - d) and hand counts, inference pairs of RoPE and
// STRING against the paper's toy matrix counted by hand and against a
// brute-force count over all (m, n), the share below a threshold, and the
// replay of tools/train's stream against the statistics train.py recorded
// for the shipped model (models/train_stats.json, written by the Python
// training run: a peer program).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../examples/eval/frequency.hpp"
#include "../examples/eval/train_stream.hpp"
#include "eval_test_util.hpp"

using u64 = std::uint64_t;

TEST_CASE("trained pairs: full-length sequences give N (L - d)") {
  for (const std::int64_t L : {1, 2, 9, 512}) {
    for (const u64 n : {u64{1}, u64{3}, u64{9644}}) {
      const std::vector<u64> t = eval::trained_pairs_full(L, n);
      REQUIRE(t.size() == static_cast<std::size_t>(L));
      for (std::int64_t d = 0; d < L; ++d)
        CHECK(t[static_cast<std::size_t>(d)] == n * static_cast<u64>(L - d));
    }
    // The same through the document path: N documents of length L.
    const std::vector<u64> docs = eval::trained_pairs(std::vector<std::int64_t>(3, L), L);
    for (std::int64_t d = 0; d < L; ++d)
      CHECK(docs[static_cast<std::size_t>(d)] == 3 * static_cast<u64>(L - d));
  }
}

TEST_CASE("trained pairs: a small document mix counted by hand") {
  // Documents of 3, 5 and 2 tokens, L = 6. Pairs (i, j), i - j = d, inside one:
  //   d = 0: 3 + 5 + 2 = 10; d = 1: 2 + 4 + 1 = 7; d = 2: 1 + 3 = 4;
  //   d = 3: 2; d = 4: 1; d = 5: 0.
  CHECK(eval::trained_pairs({3, 5, 2}, 6) == std::vector<u64>{10, 7, 4, 2, 1, 0});
  // A 7-token document with L = 4 is cut into 4 + 3 tokens:
  //   d = 0: 4 + 3; d = 1: 3 + 2; d = 2: 2 + 1; d = 3: 1 + 0.
  CHECK(eval::trained_pairs({7}, 4) == std::vector<u64>{7, 5, 3, 1});
  CHECK(eval::trained_pairs({8}, 4) == std::vector<u64>{8, 6, 4, 2});
  CHECK(eval::trained_pairs({1}, 3) == std::vector<u64>{1, 0, 0});
}

TEST_CASE("trained pairs: brute force over every pair of every document") {
  const std::vector<std::int64_t> docs{200, 1, 37, 64, 63, 65, 130, 17, 129};
  const std::int64_t L = 64;
  std::vector<u64> want(L, 0);
  for (const std::int64_t len : docs)
    for (std::int64_t start = 0; start < len; start += L) {  // pieces of at most L
      const std::int64_t piece = std::min(L, len - start);
      for (std::int64_t i = 0; i < piece; ++i)
        for (std::int64_t j = 0; j <= i; ++j) ++want[static_cast<std::size_t>(i - j)];
    }
  CHECK(eval::trained_pairs(docs, L) == want);
}

TEST_CASE("inference pairs: RoPE and STRING on the paper's toy example") {
  // L = 9: a causal sequence has 9 - d pairs at distance d (45 in all).
  CHECK(eval::inference_pairs(shiftrope::identity_remap{}, 9) ==
        std::vector<u64>{9, 8, 7, 6, 5, 4, 3, 2, 1});
  // STRING S = 3, W = 0 (Figure 5 b), counted in its matrix: position 0 on
  // the diagonal (9) and at d = 3 (6): 15; 1: d = 1, 4: 8 + 5; 2: d = 2, 5:
  // 7 + 4; 3: d = 6 (3); 4: d = 7 (2); 5: d = 8 (1).
  shiftrope::string_remap s;
  s.shift = 3;
  s.window = 0;
  CHECK(eval::inference_pairs(s, 9) == std::vector<u64>{15, 13, 11, 3, 2, 1, 0, 0, 0});
  // S = 256, W = 64, L = 512, brute force over (m, n) with f written here.
  s.shift = 256;
  s.window = 64;
  std::vector<u64> want(512, 0);
  for (std::int64_t m = 0; m < 512; ++m)
    for (std::int64_t n = 0; n <= m; ++n) {
      const std::int64_t d = m - n;
      ++want[static_cast<std::size_t>(d < 256 ? d : d - 256 + 64)];
    }
  CHECK(eval::inference_pairs(s, 512) == want);
}

TEST_CASE("share below a count and the first rare distance") {
  const std::vector<u64> trained{10, 7, 4, 2, 1, 0};
  const std::vector<u64> rope = eval::inference_pairs(shiftrope::identity_remap{}, 6);  // 6..1
  // Rare below 4: distances 3, 4, 5 -> pairs 3 + 2 + 1 = 6 of 21.
  CHECK(eval::share_below(rope, trained, 4) == doctest::Approx(6.0 / 21.0));
  CHECK(eval::first_rare_distance(trained, 4) == 3);
  CHECK(eval::share_below(rope, trained, 1) == doctest::Approx(1.0 / 21.0));
  CHECK(eval::share_below(rope, trained, 11) == doctest::Approx(1.0));
  CHECK(eval::first_rare_distance(trained, 0) == 6);  // nothing is below 0
  // Positions beyond the trained range count as never trained.
  CHECK(eval::share_below({1, 1, 1, 1}, {5, 5}, 1) == doctest::Approx(0.5));
}

TEST_CASE("train stream: the replay equals train.py's own statistics (models/train_stats.json)") {
  const std::string text = eval_test::slurp(SHIFTROPE_SOURCE_DIR "/models/train_stats.json");
  eval_test::json stats;
  eval_test::json_parser parser(text);
  REQUIRE_MESSAGE(parser.parse(stats), parser.error());
  const auto number = [&](const char* key) {
    const eval_test::json* v = stats.get(key);
    REQUIRE(v != nullptr);
    return static_cast<std::int64_t>(v->n);
  };
  eval::train_stream_params p;        // the shipped run: seed 1, L = 512, mean 128, drills 0.25
  p.sequences = number("steps") * 4;  // batch 4
  const eval::train_stream_stats s = eval::replay_train_stream(p);
  CHECK(static_cast<std::int64_t>(s.doc_lengths.size()) == number("documents_seen"));
  CHECK(s.drill_sequences == number("drill_sequences_seen"));
  // f(i) = Σ_docs max(len - i, 0) at every 16th i, as train.py wrote it.
  const eval_test::json* f = stats.get("in_document_position_frequency_every_16");
  REQUIRE(f != nullptr);
  const std::vector<u64> trained = eval::trained_pairs(s.doc_lengths, 512);
  REQUIRE(f->a.size() == 33);  // i = 0, 16, ..., 512
  for (std::size_t k = 0; k < 32; ++k) {
    CAPTURE(k);
    CHECK(trained[16 * k] == static_cast<u64>(f->a[k].n));
  }
  CHECK(f->a[32].n == 0);  // no document reaches 513 tokens
  // The needle-to-answer distances, in train.py's bins of 16.
  const eval_test::json* h = stats.get("needle_distance_histogram");
  REQUIRE(h != nullptr);
  const eval_test::json* counts = h->get("counts");
  REQUIRE(counts != nullptr);
  std::vector<double> bins(counts->a.size(), 0);
  for (const std::int64_t d : s.needle_distances)
    bins[std::min<std::size_t>(static_cast<std::size_t>(d / 16), bins.size() - 1)] += 1;
  for (std::size_t b = 0; b < bins.size(); ++b) CHECK(bins[b] == counts->a[b].n);
  // Every document fits a sequence and holds the 197-token fixed part.
  for (const std::int64_t len : s.doc_lengths) {
    CHECK(len >= 197);
    CHECK(len <= 512);
  }
}
