// shiftrope/core.hpp - the umbrella header of the core: STRING's position
// maps, RoPE tables, the attention kernels, the matrix products, the KV
// cache and the samplers. Needs xsimd (and OpenMP for threads), nothing
// else: no file readers, no tokenizers, no PCRE2 (target shiftrope::core).
#pragma once

#include <shiftrope/attention.hpp>
#include <shiftrope/attention_self_extend.hpp>
#include <shiftrope/error.hpp>
#include <shiftrope/kv_cache.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/rope.hpp>
#include <shiftrope/sampler.hpp>
