// shiftrope.hpp - the umbrella header: everything shiftrope offers (target
// shiftrope::shiftrope). The core alone, without file readers, tokenizers
// or PCRE2, is <shiftrope/core.hpp> (target shiftrope::core).
#pragma once

#include <shiftrope/core.hpp>
#include <shiftrope/ggml_type.hpp>
#include <shiftrope/gguf.hpp>
#include <shiftrope/gguf_value.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/load_mode.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/model_config.hpp>
#include <shiftrope/model_weights.hpp>
#include <shiftrope/tokenizer.hpp>
