// Replays the inputs under tests/data/fuzz-regressions/<harness>/ through
// the fuzz targets (fuzz/<harness>_target.hpp): inputs that once crashed a
// reader, broke a property or ran out of bounds. Each must now give either
// success or shiftrope::error; anything else (another exception, a broken
// property) fails here, and a crash or sanitizer report fails the run.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../fuzz/cli_target.hpp"
#include "../fuzz/gguf_target.hpp"
#include "../fuzz/llama2c_target.hpp"
#include "../fuzz/model_config_target.hpp"
#include "../fuzz/tokenizer_target.hpp"

namespace fs = std::filesystem;

namespace {

using target_fn = void (*)(const std::uint8_t*, std::size_t);

/// Files of tests/data/fuzz-regressions/<harness>, sorted by name.
std::vector<fs::path> regression_files(const char* harness) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(SHIFTROPE_TEST_DATA_DIR) / "fuzz-regressions" / harness;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

/// "ok", "rejected: <message>" or "FAILED: <what escaped>".
std::string replay(target_fn target, const std::vector<std::uint8_t>& bytes) {
  try {
    target(bytes.data(), bytes.size());
    return "ok";
  } catch (const shiftrope::error& e) {
    return std::string("rejected: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("FAILED: ") + e.what();
  }
}

/// Replays every input of `harness`; the directory must hold at least one
/// (a case with nothing to replay would pass without checking anything).
void replay_all(const char* harness, target_fn target) {
  const std::vector<fs::path> files = regression_files(harness);
  INFO("tests/data/fuzz-regressions/", std::string(harness), " holds no input");
  REQUIRE(!files.empty());
  for (const fs::path& file : files) {
    const std::vector<std::uint8_t> bytes = shiftrope_fuzz::read_file_or_empty(file.string());
    const std::string result = replay(target, bytes);
    INFO(file.string(), ": ", result);
    CHECK(result.rfind("FAILED", 0) != 0);
  }
}

}  // namespace

// One case per harness that has regression inputs. Harnesses without any
// (model_config, llama2c, tokenizer_spm, tokenizer_bpe, cli) get a case
// when their first input is added; the next case keeps that from being
// forgotten.
TEST_CASE("fuzz regressions: gguf") {
  replay_all("gguf", shiftrope_fuzz::gguf_input);
}

TEST_CASE("fuzz regressions: every input directory is replayed by a case above") {
  const std::vector<std::string> replayed = {"gguf"};
  const fs::path root = fs::path(SHIFTROPE_TEST_DATA_DIR) / "fuzz-regressions";
  REQUIRE(fs::is_directory(root));
  for (const auto& e : fs::directory_iterator(root)) {
    if (!e.is_directory()) continue;
    const std::string name = e.path().filename().string();
    INFO("tests/data/fuzz-regressions/", name, " has no replaying test case");
    CHECK(std::find(replayed.begin(), replayed.end(), name) != replayed.end());
  }
}

TEST_CASE("fuzz targets: the driver swallows shiftrope::error and nothing else") {
  const std::uint8_t byte = 0;
  CHECK(shiftrope_fuzz::run_one([](const std::uint8_t*, std::size_t) { shiftrope::fail("bad"); },
                                &byte, 1) == 0);
  CHECK_THROWS_AS(
      shiftrope_fuzz::run_one(
          [](const std::uint8_t*, std::size_t) { shiftrope_fuzz::expect(false, "x"); }, &byte, 1),
      shiftrope_fuzz::property_violation);
  CHECK_THROWS_AS(
      shiftrope_fuzz::run_one(
          [](const std::uint8_t*, std::size_t) { throw std::out_of_range("x"); }, &byte, 1),
      std::out_of_range);
}

TEST_CASE("fuzz targets: known inputs give the documented answers") {
  // A GGUF file that is only a truncated header is rejected, not accepted.
  const std::vector<std::uint8_t> truncated = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
  CHECK(replay(shiftrope_fuzz::gguf_input, truncated).rfind("rejected: ", 0) == 0);
  // Decoding id -1 must be rejected (mode 3: raw int32 ids).
  const std::vector<std::uint8_t> bad_id = {3 << 2, 0xff, 0xff, 0xff, 0xff};
  CHECK(replay(shiftrope_fuzz::tokenizer_spm_input, bad_id) == "ok");  // the target checks it
  // A valid shiftrope-positions command line is accepted.
  const std::string args(
      "--length\0"
      "9\0--shift\0"
      "3",
      17);
  CHECK(replay(shiftrope_fuzz::cli_input, std::vector<std::uint8_t>(args.begin(), args.end())) ==
        "ok");
}
