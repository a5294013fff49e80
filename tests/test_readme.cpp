// The README's code snippet is a copy of a compiled example: this test keeps
// the copy from going stale.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace {
std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("README carries examples/minimal.cpp verbatim") {
  const std::string readme = read_text(SHIFTROPE_SOURCE_DIR "/README.md");
  const std::string example = read_text(SHIFTROPE_SOURCE_DIR "/examples/minimal.cpp");
  REQUIRE(example.size() > 100);
  CHECK_MESSAGE(readme.find("```cpp\n" + example + "```") != std::string::npos,
                "README.md's C++ snippet differs from examples/minimal.cpp: copy the file again");
}

TEST_CASE("the helper reports a missing snippet") {
  // The check above must be able to fail: a snippet with one changed
  // character is not found.
  const std::string readme = read_text(SHIFTROPE_SOURCE_DIR "/README.md");
  std::string example = read_text(SHIFTROPE_SOURCE_DIR "/examples/minimal.cpp");
  example[example.size() / 2] ^= 0x20;
  CHECK(readme.find("```cpp\n" + example + "```") == std::string::npos);
}
