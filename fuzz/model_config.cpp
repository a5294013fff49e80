// fuzz/model_config.cpp - libFuzzer entry point: model configuration, weight
// views and a short forward pass from GGUF bytes (model_config_target.hpp).
#include "model_config_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return shiftrope_fuzz::run_one(shiftrope_fuzz::model_config_input, data, size);
}
