// Tests of position_map.hpp: the paper's toy example written out literally,
// properties of the STRING map and of its segment form over many random
// (L, S, W), the constructors from a ratio / the paper's defaults, and every
// validation error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <shiftrope/position_map.hpp>
#include <string>
#include <vector>

using shiftrope::identity_remap;
using shiftrope::key_segment;
using shiftrope::string_remap;

namespace {

// Fixed-seed generator (splitmix64), identical on every platform.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform integer in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }
};

string_remap make_string(std::int64_t shift, std::int64_t window, bool dup = false) {
  string_remap r;
  r.shift = shift;
  r.window = window;
  r.duplicate_boundary_key = dup;
  return r;
}

// Row-major [L × L] from rows of the lower triangle; -1 above the diagonal.
std::vector<std::int64_t> from_rows(const std::vector<std::vector<std::int64_t>>& rows) {
  const std::size_t length = rows.size();
  std::vector<std::int64_t> out(length * length, -1);
  for (std::size_t m = 0; m < length; ++m) {
    REQUIRE(rows[m].size() == m + 1);
    for (std::size_t n = 0; n <= m; ++n) out[m * length + n] = rows[m][n];
  }
  return out;
}

// The STRING formula as the paper states it (Eq. 4 as a function of d).
std::int64_t string_formula(std::int64_t d, std::int64_t shift, std::int64_t window) {
  if (d < shift) return d;
  return d - shift + window;
}

}  // namespace

TEST_CASE("toy example of the paper (Figure 5, L = 9, S = 3)") {
  SUBCASE("W = 0: panel (b)") {
    const std::vector<std::int64_t> want = from_rows({
        {0},
        {1, 0},
        {2, 1, 0},
        {0, 2, 1, 0},
        {1, 0, 2, 1, 0},
        {2, 1, 0, 2, 1, 0},
        {3, 2, 1, 0, 2, 1, 0},
        {4, 3, 2, 1, 0, 2, 1, 0},
        {5, 4, 3, 2, 1, 0, 2, 1, 0},
    });
    CHECK(shiftrope::position_matrix(make_string(3, 0), 9) == want);
    CHECK(shiftrope::max_position(make_string(3, 0), 9) == 5);
  }
  SUBCASE("W = 2: panel (c) with W = 2") {
    const std::vector<std::int64_t> want = from_rows({
        {0},
        {1, 0},
        {2, 1, 0},
        {2, 2, 1, 0},
        {3, 2, 2, 1, 0},
        {4, 3, 2, 2, 1, 0},
        {5, 4, 3, 2, 2, 1, 0},
        {6, 5, 4, 3, 2, 2, 1, 0},
        {7, 6, 5, 4, 3, 2, 2, 1, 0},
    });
    CHECK(shiftrope::position_matrix(make_string(3, 2), 9) == want);
    CHECK(shiftrope::max_position(make_string(3, 2), 9) == 7);
  }
  SUBCASE("plain RoPE: panel (a)") {
    const std::vector<std::int64_t> want = from_rows({
        {0},
        {1, 0},
        {2, 1, 0},
        {3, 2, 1, 0},
        {4, 3, 2, 1, 0},
        {5, 4, 3, 2, 1, 0},
        {6, 5, 4, 3, 2, 1, 0},
        {7, 6, 5, 4, 3, 2, 1, 0},
        {8, 7, 6, 5, 4, 3, 2, 1, 0},
    });
    CHECK(shiftrope::position_matrix(identity_remap{}, 9) == want);
    CHECK(shiftrope::position_matrix(shiftrope::remap{identity_remap{}}, 9) == want);
    CHECK(shiftrope::max_position(identity_remap{}, 9) == 8);
  }
  SUBCASE("a mismatching literal is caught") {
    std::vector<std::int64_t> want = shiftrope::position_matrix(make_string(3, 0), 9);
    want[8 * 9 + 5] = 3;  // the figure's 0 at (8, 5) replaced by the unshifted 3
    CHECK(shiftrope::position_matrix(make_string(3, 0), 9) != want);
  }
}

TEST_CASE("STRING map: identity below S, shift from S on, max over the matrix") {
  splitmix64 rng{0x5eed0101};
  for (int trial = 0; trial < 300; ++trial) {
    const std::int64_t length = rng.between(2, 160);
    const std::int64_t shift = rng.between(1, length - 1);
    const std::int64_t window = rng.between(0, shift - 1);
    const string_remap r = make_string(shift, window);
    INFO("L ", length, " S ", shift, " W ", window);
    REQUIRE_NOTHROW(r.validate(length));
    const std::vector<std::int64_t> mat = shiftrope::position_matrix(r, length);
    REQUIRE(mat.size() == static_cast<std::size_t>(length * length));
    bool ok = true;
    for (std::int64_t m = 0; m < length; ++m) {
      for (std::int64_t n = 0; n < length; ++n) {
        const std::int64_t got = mat[static_cast<std::size_t>(m * length + n)];
        const std::int64_t d = m - n;
        const std::int64_t want = n > m ? -1 : (d < shift ? d : d - shift + window);
        ok = ok && got == want;
        ok = ok && (n > m || got == shiftrope::relative_position(r, m, n));
      }
    }
    CHECK(ok);
    // max_position(len) equals the largest entry of the leading len × len
    // block, for every prefix length.
    for (std::int64_t len = 0; len <= length; ++len) {
      std::int64_t want = 0;
      for (std::int64_t m = 0; m < len; ++m)
        for (std::int64_t n = 0; n <= m; ++n)
          want = std::max(want, mat[static_cast<std::size_t>(m * length + n)]);
      if (shiftrope::max_position(r, len) != want) {
        INFO("prefix ", len);
        CHECK(shiftrope::max_position(r, len) == want);
      }
    }
    // The far tail [L - S + W, L) is never seen once L > S ... unless the
    // near part already reaches it (S - 1 >= L - S + W).
    CHECK(shiftrope::max_position(r, length) == std::max(shift - 1, length - 1 - shift + window));
  }
}

TEST_CASE("segments: every key once, in order, reproducing f(m - n)") {
  splitmix64 rng{0x5eed0102};
  for (int trial = 0; trial < 400; ++trial) {
    const bool dup = trial % 2 == 1;
    const std::int64_t length = rng.between(2, 120);
    const std::int64_t shift = rng.between(1, length - 1);
    const std::int64_t window = rng.between(0, shift - 1);
    const string_remap r = make_string(shift, window, dup);
    INFO("L ", length, " S ", shift, " W ", window, " dup ", dup);
    std::int64_t max_seen = 0;
    bool ok = true;
    for (std::int64_t m = 0; m < length; ++m) {
      key_segment seg[shiftrope::max_key_segments];
      const int count = r.segments(m, seg);
      ok = ok && count >= 1 && count <= shiftrope::max_key_segments;
      // Expected: two segments exactly when a far key exists (m >= S).
      ok = ok && count == (m >= shift ? 2 : 1);
      std::vector<int> times_seen(static_cast<std::size_t>(m + 1), 0);
      for (int s = 0; s < count; ++s) {
        ok = ok && seg[s].begin < seg[s].end;  // non-empty
        ok = ok && seg[s].begin >= 0 && seg[s].end <= m + 1;
        if (s > 0) ok = ok && seg[s].begin >= seg[s - 1].end - (dup ? 1 : 0);  // in order
        for (std::int64_t n = seg[s].begin; n < seg[s].end; ++n) {
          times_seen[static_cast<std::size_t>(n)] += 1;
          const std::int64_t pos = seg[s].query_pos - n;
          max_seen = std::max(max_seen, pos);
          const bool duplicate_copy = dup && s == count - 1 && m - n == shift;
          // The duplicated boundary key is scored at its true distance S in
          // the near segment, at f(S) = W in the far one.
          ok = ok && pos == (duplicate_copy ? shift : string_formula(m - n, shift, window));
        }
      }
      for (std::int64_t n = 0; n <= m; ++n) {
        const int want = (dup && m - n == shift) ? 2 : 1;
        ok = ok && times_seen[static_cast<std::size_t>(n)] == want;
      }
    }
    CHECK(ok);
    CHECK(max_seen == shiftrope::max_position(r, length));
  }
}

TEST_CASE("segments: long contexts, sampled keys") {
  // Llama 3.1 sizes: the segment form agrees with the formula without any matrix.
  const string_remap r = string_remap::paper_default(131072);
  splitmix64 rng{0x5eed0103};
  for (int trial = 0; trial < 2000; ++trial) {
    const std::int64_t m = rng.between(0, (std::int64_t{1} << 40));
    const std::int64_t n = rng.between(0, m);
    key_segment seg[shiftrope::max_key_segments];
    const int count = r.segments(m, seg);
    int hits = 0;
    for (int s = 0; s < count; ++s) {
      if (n < seg[s].begin || n >= seg[s].end) continue;
      ++hits;
      CHECK(seg[s].query_pos - n == string_formula(m - n, r.shift, r.window));
    }
    CHECK(hits == 1);
  }
  // Fact sheet: Llama 3.1 (L = 131072, S = 43253, W = 128) sees at most 87946.
  CHECK(shiftrope::max_position(r, 131072) == 87946);
}

TEST_CASE("identity remap and the run-time variant") {
  const identity_remap id;
  key_segment seg[shiftrope::max_key_segments];
  CHECK(id.segments(-1, seg) == 0);
  REQUIRE(id.segments(7, seg) == 1);
  CHECK(seg[0].begin == 0);
  CHECK(seg[0].end == 8);
  CHECK(seg[0].query_pos == 7);
  CHECK(shiftrope::max_position(id, 0) == 0);
  CHECK(shiftrope::max_position(id, 1) == 0);
  CHECK(shiftrope::max_position(id, 100) == 99);

  const string_remap s = make_string(5, 2);
  CHECK(s.segments(-1, seg) == 0);
  const shiftrope::remap rs{s}, ri{id};
  for (std::int64_t m = 0; m < 20; ++m) {
    for (std::int64_t n = 0; n <= m; ++n) {
      CHECK(shiftrope::relative_position(rs, m, n) == string_formula(m - n, 5, 2));
      CHECK(shiftrope::relative_position(ri, m, n) == m - n);
    }
    key_segment a[shiftrope::max_key_segments], b[shiftrope::max_key_segments];
    const int na = shiftrope::key_segments(rs, m, a);
    REQUIRE(na == s.segments(m, b));
    for (int i = 0; i < na; ++i) {
      CHECK(a[i].begin == b[i].begin);
      CHECK(a[i].end == b[i].end);
      CHECK(a[i].query_pos == b[i].query_pos);
    }
  }
  CHECK(shiftrope::max_position(rs, 20) == std::max<std::int64_t>(4, 19 - 5 + 2));
  CHECK(shiftrope::max_position(ri, 20) == 19);
  CHECK(shiftrope::describe(ri) == "rope");
  CHECK(shiftrope::describe(rs) == "string(S=5,W=2)");
  CHECK(shiftrope::describe(shiftrope::remap{make_string(5, 2, true)}) == "string(S=5,W=2,dup)");
  CHECK_NOTHROW(shiftrope::validate(rs));
  CHECK_NOTHROW(shiftrope::validate(ri));
  CHECK_THROWS_AS(shiftrope::validate(shiftrope::remap{make_string(2, 2)}), shiftrope::error);
}

TEST_CASE("max_position: short sequences and the duplicated boundary key") {
  const string_remap r = make_string(10, 3);
  for (std::int64_t len = 0; len <= 10; ++len)
    CHECK(shiftrope::max_position(r, len) == std::max<std::int64_t>(len - 1, 0));
  CHECK(shiftrope::max_position(r, 11) == 9);    // S - 1 beats L - 1 - S + W = 3
  CHECK(shiftrope::max_position(r, 100) == 92);  // 99 - 10 + 3
  const string_remap d = make_string(10, 3, true);
  CHECK(shiftrope::max_position(d, 10) == 9);   // no key at distance S yet
  CHECK(shiftrope::max_position(d, 11) == 10);  // the key at distance S, scored at S
  CHECK(shiftrope::max_position(d, 100) == 92);
}

TEST_CASE("from_ratio and paper_default") {
  SUBCASE("from_ratio: S = floor(ratio L)") {
    splitmix64 rng{0x5eed0104};
    for (int trial = 0; trial < 500; ++trial) {
      const std::int64_t length = rng.between(8, 1 << 20);
      const double ratio = 0.05 + 0.9 * static_cast<double>(rng.between(0, 1000)) / 1000.0;
      const auto shift = static_cast<std::int64_t>(std::floor(ratio * static_cast<double>(length)));
      if (shift < 2) continue;
      const std::int64_t window = rng.between(0, shift - 1);
      const string_remap r = string_remap::from_ratio(length, ratio, window);
      CHECK(r.shift == shift);
      CHECK(r.window == window);
      CHECK_FALSE(r.duplicate_boundary_key);
    }
    // Fact sheet: int(0.33 * 131072) = 43253, W = 128.
    const string_remap llama31 = string_remap::from_ratio(131072);
    CHECK(llama31.shift == 43253);
    CHECK(llama31.window == 128);
    CHECK(string_remap::from_ratio(9, 0.34, 1).shift == 3);
    CHECK(string_remap::from_ratio(9, 0.5, 0).shift == 4);
  }
  SUBCASE("paper_default: W = 128, or S - 1 when S <= 128") {
    const auto check = [](std::int64_t length, std::int64_t shift, std::int64_t window) {
      const string_remap r = string_remap::paper_default(length);
      INFO("L ", length);
      CHECK(r.shift == shift);
      CHECK(r.window == window);
    };
    check(512, 168, 128);
    check(100, 33, 32);
    check(9, 2, 1);
    check(4, 1, 0);
    check(131072, 43253, 128);
    check(390, 128, 127);  // floor(128.7) = 128: 128 is not < S, so S - 1
    check(391, 129, 128);
    check(2048, 675, 128);
  }
}

// ---- validation ----

namespace {

// The message of the shiftrope::error that f throws, or "<no error>".
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const shiftrope::error& e) {
    return e.what();
  }
  return "<no error>";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void check_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string msg = error_of(f);
  INFO("message: ", msg);
  CHECK(msg != "<no error>");
  for (const std::string& p : parts) CHECK(contains(msg, p));
}

}  // namespace

TEST_CASE("error_of reports a missing error") {
  CHECK(error_of([] {}) == "<no error>");
  CHECK(error_of([] { shiftrope::fail("S ", 3); }) == "S 3");
}

TEST_CASE("validation: string_remap fields") {
  check_error([] { make_string(0, 0).validate(); }, {"string_remap", "shift", "0"});
  check_error([] { make_string(-4, 0).validate(); }, {"shift", "-4"});
  check_error([] { make_string(5, -1).validate(); }, {"window", "-1"});
  check_error([] { make_string(5, 5).validate(); }, {"window", "W = 5", "S = 5"});
  check_error([] { make_string(5, 9).validate(); }, {"window", "9"});
  check_error([] { make_string(9, 2).validate(9); }, {"shift", "train_len", "S = 9", "L = 9"});
  check_error([] { make_string(12, 2).validate(9); }, {"shift", "12"});
  check_error([] { make_string(1, 0).validate(1); }, {"train_len", "1"});
  CHECK(error_of([] { make_string(8, 7).validate(9); }) == "<no error>");
}

TEST_CASE("validation: from_ratio and paper_default") {
  for (const double bad : {0.0, 1.0, -0.5, 1.5, std::numeric_limits<double>::quiet_NaN()})
    check_error([&] { (void)string_remap::from_ratio(1000, bad, 16); }, {"ratio"});
  check_error([] { (void)string_remap::from_ratio(1, 0.5, 0); }, {"train_len", "1"});
  check_error([] { (void)string_remap::from_ratio(-7, 0.5, 0); }, {"train_len", "-7"});
  check_error([] { (void)string_remap::from_ratio(std::int64_t{1} << 41, 0.5, 0); }, {"train_len"});
  // floor(0.33 * 2) = 0: the length is too small for the ratio.
  check_error([] { (void)string_remap::from_ratio(2, 0.33, 0); }, {"train_len", "2", "shift"});
  // Default W = 128 does not fit under S = 2.
  check_error([] { (void)string_remap::from_ratio(9); }, {"window", "128"});
  check_error([] { (void)string_remap::from_ratio(1000, 0.1, -1); }, {"window", "-1"});
  check_error([] { (void)string_remap::paper_default(3); }, {"train_len", "3", "too small"});
  check_error([] { (void)string_remap::paper_default(2); }, {"train_len", "2"});
  check_error([] { (void)string_remap::paper_default(1); }, {"train_len", "1"});
  check_error([] { (void)string_remap::paper_default(0); }, {"train_len", "0"});
}

TEST_CASE("validation: position_matrix refuses huge or negative lengths") {
  check_error([] { (void)shiftrope::position_matrix(identity_remap{}, -1); }, {"length", "-1"});
  check_error([] { (void)shiftrope::position_matrix(identity_remap{}, 8193); },
              {"length", "8192", "8193"});
  check_error([] { (void)shiftrope::position_matrix(make_string(3, 1), std::int64_t{1} << 40); },
              {"length"});
  check_error([] { (void)shiftrope::position_matrix(make_string(3, 1), 100, 50); },
              {"length", "50", "100"});
  CHECK(shiftrope::position_matrix(identity_remap{}, 0).empty());
  CHECK(shiftrope::position_matrix(identity_remap{}, 1) == std::vector<std::int64_t>{0});
}
