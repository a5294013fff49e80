// Golden data beside the project (SHIFTROPE_SHARED_DIR = <source>/../shared:
// the llama2.c stories, the STRING goldens, the real vocabularies) and how a
// test that cannot run says so.
//
// A test that needs shared files starts with
//   if (!shared_data::have({shared_data::path("models/tok512.bin")})) return;
// When a file is absent:
//   - SHIFTROPE_REQUIRE_SHARED=1 in the environment (CI): the test fails,
//     naming the missing path;
//   - otherwise the test stops and is reported as skipped: when the case
//     ends without a failure, the listener in main.cpp prints the line
//     "SHIFTROPE-SKIPPED: <reason>" on stdout, which tests/CMakeLists.txt
//     gives ctest as SKIP_REGULAR_EXPRESSION. A case that failed before it
//     stopped stays a failure (ctest lets a skip match override the exit
//     status, so the marker is never printed after a failure).
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace shared_data {

/// The line ctest recognises as "skipped" (kept equal to the
/// SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt).
inline constexpr const char* skip_marker = "SHIFTROPE-SKIPPED: ";

/// `rel` under the shared directory.
inline std::string path(const std::string& rel) {
  return std::string(SHIFTROPE_SHARED_DIR) + "/" + rel;
}

/// True when SHIFTROPE_REQUIRE_SHARED=1: absent shared data is a failure.
inline bool required() {
  const char* v = std::getenv("SHIFTROPE_REQUIRE_SHARED");
  return v != nullptr && std::string(v) == "1";
}

/// Why the running test case stopped early (empty: it did not). One per
/// program (an inline function's static), read and cleared by the listener.
inline std::string& pending_skip() {
  static std::string reason;
  return reason;
}

/// Marks the running test case as skipped for `reason`; the caller returns.
inline void skip(const std::string& reason) {
  if (pending_skip().empty()) pending_skip() = reason;
}

inline bool exists(const std::string& file) {
  return std::ifstream(file, std::ios::binary).good();
}

/// True when every file is there. Otherwise the first missing one fails the
/// test (SHIFTROPE_REQUIRE_SHARED=1) or marks it skipped; the caller returns.
inline bool have(const std::vector<std::string>& files) {
  for (const std::string& f : files) {
    if (exists(f)) continue;
    if (required()) {
      FAIL_CHECK("SHIFTROPE_REQUIRE_SHARED=1 but ", f, " is absent");
    } else {
      skip(f + " is absent (shared data not available)");
    }
    return false;
  }
  return true;
}

}  // namespace shared_data
