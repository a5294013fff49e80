// fuzz/tokenizer_spm.cpp - libFuzzer entry point: encode and decode with the
// SentencePiece vocabulary (ggml-vocab-llama-spm.gguf) (tokenizer_target.hpp).
#include "tokenizer_target.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)shiftrope_fuzz::spm_tokenizer();  // load the vocabulary before the first input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return shiftrope_fuzz::run_one(shiftrope_fuzz::tokenizer_spm_input, data, size);
}
