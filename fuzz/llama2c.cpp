// fuzz/llama2c.cpp - libFuzzer entry point: the llama2.c checkpoint and tokenizer.bin readers
// (llama2c_target.hpp).
#include "llama2c_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return shiftrope_fuzz::run_one(shiftrope_fuzz::llama2c_input, data, size);
}
