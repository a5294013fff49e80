// fuzz/tokenizer_bpe.cpp - libFuzzer entry point: encode and decode with the
// GPT-2 byte-level BPE vocabulary (ggml-vocab-gpt-2.gguf) (tokenizer_target.hpp).
#include "tokenizer_target.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)shiftrope_fuzz::bpe_tokenizer();  // load the vocabulary before the first input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return shiftrope_fuzz::run_one(shiftrope_fuzz::tokenizer_bpe_input, data, size);
}
