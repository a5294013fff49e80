// fuzz/gguf.cpp - libFuzzer entry point: the GGUF reader, its accessors, the writer round trip and
// the GGUF tokenizer loader (gguf_target.hpp).
#include "gguf_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return shiftrope_fuzz::run_one(shiftrope_fuzz::gguf_input, data, size);
}
