// fuzz/common.hpp - what every fuzz target shares: the property check that
// turns a broken invariant into a finding, and the driver that accepts
// shiftrope::error (the documented answer to bad input) and nothing else.
//
// A target is `void f(const std::uint8_t* data, std::size_t size)`. It may
// throw shiftrope::error (expected: the input was rejected); any other
// exception, a crash, a sanitizer report, a timeout or an out-of-memory is a
// finding. The same functions are replayed by tests/test_fuzz_regressions.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <shiftrope/error.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shiftrope_fuzz {

/// A broken invariant: deliberately not a shiftrope::error, so that the
/// driver lets it escape (libFuzzer reports it as a crash, doctest as a failure).
class property_violation : public std::logic_error {
 public:
  explicit property_violation(const std::string& what) : std::logic_error(what) {}
};

/// Throws property_violation("<what>") unless cond holds.
inline void expect(bool cond, const char* what) {
  if (!cond) throw property_violation(std::string("fuzz property violated: ") + what);
}

/// Runs one input; shiftrope::error is swallowed, everything else escapes.
template <class Target>
int run_one(Target&& target, const std::uint8_t* data, std::size_t size) {
  try {
    target(data, size);
  } catch (const shiftrope::error&) {
    // the input was rejected with the documented exception: fine
  }
  return 0;
}

/// Runs f(), swallowing shiftrope::error; true when f returned normally.
template <class F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const shiftrope::error&) {
    return false;
  }
}

/// The input as a string of bytes.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
  return size == 0 ? std::string_view()
                   : std::string_view(reinterpret_cast<const char*>(data), size);
}

/// Reads a little-endian unsigned value of n <= 8 bytes at p (bytes past the
/// end count as 0), then advances p.
inline std::uint64_t take_le(const std::uint8_t*& p, const std::uint8_t* end, int n) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t b = p < end ? *p++ : 0;
    v |= b << (8 * i);
  }
  return v;
}

}  // namespace shiftrope_fuzz
