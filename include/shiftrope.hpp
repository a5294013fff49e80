// shiftrope.hpp - the umbrella header: everything shiftrope offers.
#pragma once

#include "shiftrope/attention.hpp"
#include "shiftrope/error.hpp"
#include "shiftrope/ggml_type.hpp"
#include "shiftrope/gguf.hpp"
#include "shiftrope/gguf_writer.hpp"
#include "shiftrope/kv_cache.hpp"
#include "shiftrope/llama2c.hpp"
#include "shiftrope/matmul.hpp"
#include "shiftrope/model.hpp"
#include "shiftrope/model_config.hpp"
#include "shiftrope/model_weights.hpp"
#include "shiftrope/numeric.hpp"
#include "shiftrope/position_map.hpp"
#include "shiftrope/rope.hpp"
#include "shiftrope/sampler.hpp"
#include "shiftrope/tokenizer.hpp"
