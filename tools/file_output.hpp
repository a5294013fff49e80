// tools/file_output.hpp - writing an output file so that readers never see
// a partial one: the body writes PATH.partial, which is renamed to PATH on
// success and removed on failure. Not part of the library.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <shiftrope/error.hpp>
#include <string>

namespace shiftrope::tools {

/// Calls body(PATH + ".partial"), then renames that file to `path`. Any
/// exception of body removes the partial file and passes through; a failed
/// rename throws shiftrope::error naming both paths.
template <class Body>
void write_file_atomically(const std::string& path, Body&& body) {
  const std::string tmp = path + ".partial";
  try {
    body(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail("cannot rename '", tmp, "' to '", path, "': ", std::strerror(e));
  }
}

}  // namespace shiftrope::tools
