// shiftrope/error.hpp - the library's exception type and internal assertion.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace shiftrope {

/// Thrown for bad input from outside: files, flags, parameters. The message
/// names the file or struct, the field and the offending value.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {

template <class... Parts>
[[nodiscard]] std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line) noexcept {
  std::fprintf(stderr, "shiftrope: internal assertion failed: %s (%s:%d)\n", expr, file, line);
  std::abort();
}

}  // namespace detail

/// Throws shiftrope::error with the parts streamed together.
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw error(detail::concat(std::forward<Parts>(parts)...));
}

}  // namespace shiftrope

// Internal invariants only (never input validation). Overridable, like FMT_ASSERT.
#ifndef SHIFTROPE_ASSERT
#ifdef NDEBUG
#define SHIFTROPE_ASSERT(cond) ((void)0)
#else
#define SHIFTROPE_ASSERT(cond) \
  ((cond) ? (void)0 : ::shiftrope::detail::assert_fail(#cond, __FILE__, __LINE__))
#endif
#endif
