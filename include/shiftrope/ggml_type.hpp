// shiftrope/ggml_type.hpp - the tensor element types of GGUF files (ggml's
// type ids): names, block sizes and byte sizes, so that a reader can validate
// any tensor's size and name the types it cannot compute with.
//
// A row of ne[0] elements of a block type is ne[0] / block_size blocks of
// type_size bytes each; ne[0] must be a whole number of blocks.
#pragma once

#include <cstdint>
#include <string>

namespace shiftrope {

/// ggml tensor type ids, as stored in GGUF tensor infos (uint32).
/// Ids 4 and 5 (Q4_2, Q4_3) were removed before GGUF existed and are unknown
/// here; 31-33 and 36-38 (repacked layouts) were removed later but have
/// well-defined sizes, so old files with them still validate.
enum class ggml_type : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  q4_0_4_4 = 31,
  q4_0_4_8 = 32,
  q4_0_8_8 = 33,
  tq1_0 = 34,
  tq2_0 = 35,
  iq4_nl_4_4 = 36,
  iq4_nl_4_8 = 37,
  iq4_nl_8_8 = 38,
  mxfp4 = 39,
};

/// Size facts of one ggml type.
struct ggml_type_traits {
  const char* name = nullptr;    // upper-case name as ggml prints it ("Q4_K"); null if unknown
  std::uint32_t block_size = 0;  // elements per block (1 for plain types)
  std::uint32_t type_size = 0;   // bytes per block
};

/// Traits of type id `id`; {nullptr, 0, 0} for an unknown id.
inline ggml_type_traits ggml_type_info(std::uint32_t id) noexcept {
  // Block layouts (bytes): Q4_0 = f16 d + 16 nibble bytes; Q8_0 = f16 d + 32 int8;
  // K-quants use 256-element super-blocks.
  static constexpr ggml_type_traits table[] = {
      {"F32", 1, 4},          {"F16", 1, 2},          {"Q4_0", 32, 18},       {"Q4_1", 32, 20},
      {nullptr, 0, 0},        {nullptr, 0, 0},        {"Q5_0", 32, 22},       {"Q5_1", 32, 24},
      {"Q8_0", 32, 34},       {"Q8_1", 32, 36},       {"Q2_K", 256, 84},      {"Q3_K", 256, 110},
      {"Q4_K", 256, 144},     {"Q5_K", 256, 176},     {"Q6_K", 256, 210},     {"Q8_K", 256, 292},
      {"IQ2_XXS", 256, 66},   {"IQ2_XS", 256, 74},    {"IQ3_XXS", 256, 98},   {"IQ1_S", 256, 50},
      {"IQ4_NL", 32, 18},     {"IQ3_S", 256, 110},    {"IQ2_S", 256, 82},     {"IQ4_XS", 256, 136},
      {"I8", 1, 1},           {"I16", 1, 2},          {"I32", 1, 4},          {"I64", 1, 8},
      {"F64", 1, 8},          {"IQ1_M", 256, 56},     {"BF16", 1, 2},         {"Q4_0_4_4", 32, 18},
      {"Q4_0_4_8", 32, 18},   {"Q4_0_8_8", 32, 18},   {"TQ1_0", 256, 54},     {"TQ2_0", 256, 66},
      {"IQ4_NL_4_4", 32, 18}, {"IQ4_NL_4_8", 32, 18}, {"IQ4_NL_8_8", 32, 18}, {"MXFP4", 32, 17},
  };
  constexpr std::uint32_t n = sizeof(table) / sizeof(table[0]);
  return id < n ? table[id] : ggml_type_traits{};
}

inline ggml_type_traits ggml_type_info(ggml_type t) noexcept {
  return ggml_type_info(static_cast<std::uint32_t>(t));
}

/// True when `id` names a type whose size is known.
inline bool ggml_type_known(std::uint32_t id) noexcept {
  return ggml_type_info(id).name != nullptr;
}

/// "Q4_K" for a known type, "type <id>" otherwise.
inline std::string ggml_type_name(ggml_type t) {
  const ggml_type_traits info = ggml_type_info(t);
  return info.name ? std::string(info.name)
                   : "type " + std::to_string(static_cast<std::uint32_t>(t));
}

/// Bytes of a row of n elements of type t; 0 when t is unknown, n is not a
/// whole number of blocks, or the size overflows uint64 (callers that accept
/// n == 0 must tell the cases apart themselves).
inline std::uint64_t ggml_row_bytes(ggml_type t, std::uint64_t n) noexcept {
  const ggml_type_traits info = ggml_type_info(t);
  if (info.name == nullptr || n % info.block_size != 0) return 0;
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(n / info.block_size, std::uint64_t{info.type_size}, &bytes)) return 0;
  return bytes;
}

}  // namespace shiftrope

