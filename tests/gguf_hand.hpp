// Test helpers for the GGUF tests: a byte builder written plainly from the
// format description (independent of gguf_writer), a small hand-made valid
// file whose field offsets are recorded for targeted mutation, and helpers
// to check that parsing fails with a message naming the field.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <shiftrope/error.hpp>
#include <shiftrope/gguf.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace gguf_test {

/// Appends little-endian fields; remembers named offsets.
struct builder {
  std::vector<std::uint8_t> bytes;
  std::map<std::string, std::size_t> at;  // field name -> offset of its first byte

  void mark(const std::string& field) { at[field] = bytes.size(); }
  void u8(std::uint8_t v) { bytes.push_back(v); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void f32(float v) {
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    u32(u);
  }
  void str(std::string_view s) {
    u64(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void pad_to(std::size_t alignment) {
    while (bytes.size() % alignment) bytes.push_back(0);
  }
};

inline void patch_u32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void patch_u64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.at(at + i) = static_cast<std::uint8_t>(v >> (8 * i));
}

/// Values of the small file's F32 tensor t0 [ne0 = 4, ne1 = 3]: 0.5·i − 2.
inline float t0_value(int i) {
  return 0.5f * static_cast<float>(i) - 2.0f;
}
/// The Q8_0 block of tensor t1 [32]: d = 0.25 (f16 0x3400), qs[i] = i − 16.
inline std::int8_t t1_q(int i) {
  return static_cast<std::int8_t>(i - 16);
}

/// A small valid GGUF v3 file, written field by field:
///   kv: general.alignment u32 32, general.architecture "llama", tok [string] {"a", "bc"},
///       ints [int32] {1, -2, 3}, flag bool true
///   tensors: t0 F32 [4, 3] at 0, t1 Q8_0 [32] at 64.
inline builder small_file() {
  builder b;
  b.mark("magic");
  b.bytes.insert(b.bytes.end(), {'G', 'G', 'U', 'F'});
  b.mark("version");
  b.u32(3);
  b.mark("tensor_count");
  b.u64(2);
  b.mark("kv_count");
  b.u64(5);
  b.mark("align.keylen");
  b.str("general.alignment");
  b.mark("align.type");
  b.u32(4);
  b.mark("align.value");
  b.u32(32);
  b.str("general.architecture");
  b.u32(8);
  b.mark("arch.strlen");
  b.str("llama");
  b.str("tok");
  b.u32(9);
  b.mark("tok.elemtype");
  b.u32(8);
  b.mark("tok.count");
  b.u64(2);
  b.mark("tok.str0len");
  b.str("a");
  b.str("bc");
  b.mark("ints.key");
  b.str("ints");
  b.u32(9);
  b.u32(5);
  b.mark("ints.count");
  b.u64(3);
  for (std::int32_t v : {1, -2, 3}) b.u32(static_cast<std::uint32_t>(v));
  b.mark("flag.key");
  b.str("flag");
  b.mark("flag.type");
  b.u32(7);
  b.mark("flag.value");
  b.u8(1);
  // tensor infos
  b.mark("t0.namelen");
  b.str("t0");
  b.mark("t0.ndims");
  b.u32(2);
  b.mark("t0.dim0");
  b.u64(4);
  b.mark("t0.dim1");
  b.u64(3);
  b.mark("t0.type");
  b.u32(0);
  b.mark("t0.offset");
  b.u64(0);
  b.mark("t1.name");
  b.str("t1");
  b.u32(1);
  b.u64(32);
  b.mark("t1.type");
  b.u32(8);
  b.mark("t1.offset");
  b.u64(64);
  b.pad_to(32);
  b.mark("data");
  for (int i = 0; i < 12; ++i) b.f32(t0_value(i));
  b.pad_to(32);
  b.u8(0x00);  // f16 0.25 = 0x3400, little-endian
  b.u8(0x34);
  for (int i = 0; i < 32; ++i) b.u8(static_cast<std::uint8_t>(t1_q(i)));
  return b;
}

/// Parsing `bytes` must throw shiftrope::error whose message contains every
/// fragment in `needles` (and the file name).
inline void check_rejects(std::vector<std::uint8_t> bytes, std::vector<std::string> needles,
                          const shiftrope::gguf_limits& limits = {}) {
  const std::string name = "hostile.gguf";
  std::string message;
  bool threw = false;
  try {
    shiftrope::gguf_file::from_bytes(std::move(bytes), name, limits);
  } catch (const shiftrope::error& e) {
    threw = true;
    message = e.what();
  }
  INFO("message: ", message);
  REQUIRE(threw);
  CHECK(message.find(name) != std::string::npos);
  for (const std::string& n : needles) {
    INFO("expected fragment: ", n);
    CHECK(message.find(n) != std::string::npos);
  }
}

}  // namespace gguf_test
