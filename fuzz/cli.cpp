// fuzz/cli.cpp - libFuzzer entry point: the example programs' flag parsers
// (cli_target.hpp).
#include "cli_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return shiftrope_fuzz::run_one(shiftrope_fuzz::cli_input, data, size);
}
