// Malformed GGUF inputs: every one must raise shiftrope::error naming the
// field (never crash, hang or allocate without bound). Inputs are mutations
// of the hand-made valid file of gguf_hand.hpp at recorded field offsets,
// every truncation of it, random byte corruptions, and files on disk.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <shiftrope/gguf.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <string>
#include <vector>

#include "gguf_hand.hpp"

using namespace shiftrope;
using gguf_test::check_rejects;
using gguf_test::patch_u32;
using gguf_test::patch_u64;

namespace {

const gguf_test::builder& valid() {
  static const gguf_test::builder b = gguf_test::small_file();
  return b;
}

std::vector<std::uint8_t> with_u32(const char* field, std::uint32_t v) {
  std::vector<std::uint8_t> b = valid().bytes;
  patch_u32(b, valid().at.at(field), v);
  return b;
}

std::vector<std::uint8_t> with_u64(const char* field, std::uint64_t v, std::size_t plus = 0) {
  std::vector<std::uint8_t> b = valid().bytes;
  patch_u64(b, valid().at.at(field) + plus, v);
  return b;
}

}  // namespace

TEST_CASE("gguf hostile: the unmodified file parses") {
  CHECK_NOTHROW(gguf_file::from_bytes(valid().bytes, "valid.gguf"));
}

TEST_CASE("gguf hostile: header") {
  std::vector<std::uint8_t> b = valid().bytes;
  b[0] = 'X';
  check_rejects(b, {"bad magic", "58 47 55 46"});
  check_rejects(with_u32("version", 1), {"version 1 is not supported"});
  check_rejects(with_u32("version", 4), {"version 4 is not supported"});
  check_rejects(with_u32("version", 0x03000000u), {"version 50331648", "big-endian"});
  check_rejects(with_u64("tensor_count", 1ull << 63),
                {"tensor_count 9223372036854775808", "max_tensors"});
  check_rejects(with_u64("tensor_count", 1000), {"tensor_count 1000", "need at least"});
  check_rejects(with_u64("kv_count", 1ull << 40), {"metadata_kv_count 1099511627776", "max_kv"});
  check_rejects(with_u64("kv_count", 60000), {"metadata_kv_count 60000", "need at least"});
  gguf_limits tight;
  tight.max_tensors = 1;
  check_rejects(valid().bytes, {"tensor_count 2", "max_tensors = 1"}, tight);
  gguf_limits zero;
  zero.max_kv = 0;
  CHECK_THROWS_WITH_AS(gguf_file::from_bytes(valid().bytes, "x", zero),
                       doctest::Contains("gguf_limits: max_kv"), shiftrope::error);
}

TEST_CASE("gguf hostile: metadata entries") {
  check_rejects(with_u64("align.keylen", 1ull << 62),
                {"metadata entry 0", "key length 4611686018427387904", "max_string_length"});
  check_rejects(with_u64("align.keylen", 1000), {"metadata entry 0", "truncated", "key"});
  check_rejects(with_u64("align.keylen", 0), {"metadata entry 0", "empty key"});
  check_rejects(with_u64("arch.strlen", 1ull << 62),
                {"'general.architecture'", "string length 4611686018427387904"});
  check_rejects(with_u32("flag.type", 13), {"'flag'", "value type 13 is unknown"});
  check_rejects(with_u32("tok.elemtype", 9), {"'tok'", "arrays of arrays"});
  check_rejects(with_u32("tok.elemtype", 77), {"'tok'", "array element type 77"});
  check_rejects(with_u64("tok.count", 1ull << 40),
                {"'tok'", "array length 1099511627776", "max_array_length"});
  check_rejects(with_u64("tok.count", 1 << 20), {"'tok'", "array length 1048576", "bytes"});
  check_rejects(with_u64("ints.count", 1 << 20), {"'ints'", "truncated", "array elements"});
  std::vector<std::uint8_t> b = valid().bytes;
  b[valid().at.at("flag.value")] = 2;
  check_rejects(b, {"'flag'", "bool value 2"});
  // Rename "flag" to "ints": a duplicate key.
  b = valid().bytes;
  const std::size_t flag_key = valid().at.at("flag.key") + 8;
  for (int i = 0; i < 4; ++i) b[flag_key + i] = static_cast<std::uint8_t>("ints"[i]);
  check_rejects(b, {"'ints'", "duplicate key"});
}

TEST_CASE("gguf hostile: general.alignment") {
  check_rejects(with_u32("align.value", 0), {"general.alignment 0 is not a power of two"});
  check_rejects(with_u32("align.value", 3), {"general.alignment 3 is not a power of two"});
  check_rejects(with_u32("align.value", 1u << 20), {"general.alignment 1048576", "max_alignment"});
  check_rejects(with_u32("align.type", 5), {"general.alignment must be uint32", "int32"});
  // A larger alignment moves the data section: the tensors no longer fit.
  check_rejects(with_u32("align.value", 256), {"tensor 't1'", "offset 64 is not a multiple"});
}

TEST_CASE("gguf hostile: tensor infos") {
  check_rejects(with_u64("t0.namelen", 1ull << 62),
                {"tensor info 0", "tensor name length 4611686018427387904"});
  check_rejects(with_u64("t0.namelen", 0), {"tensor info 0", "empty tensor name"});
  std::vector<std::uint8_t> b = valid().bytes;
  b[valid().at.at("t1.name") + 9] = '0';  // "t1" -> "t0"
  check_rejects(b, {"tensor 't0'", "duplicate tensor name"});
  check_rejects(with_u32("t0.ndims", 0), {"tensor 't0'", "n_dims 0 is out of range"});
  check_rejects(with_u32("t0.ndims", 5), {"tensor 't0'", "n_dims 5 is out of range"});
  check_rejects(with_u32("t0.ndims", 0xffffffffu), {"n_dims 4294967295"});
  check_rejects(with_u64("t0.dim1", 0), {"tensor 't0'", "dims[1] = 0"});
  check_rejects(with_u64("t0.dim0", 1ull << 63), {"dims[0] = 9223372036854775808"});
  b = with_u64("t0.dim0", 1ull << 40);
  patch_u64(b, valid().at.at("t0.dim1"), 1ull << 40);
  check_rejects(b, {"tensor 't0'", "element count overflows at dims[1]"});
  // 2^31 × 2^31 F64 elements: the count fits, the byte size (2^65) does not.
  b = with_u64("t0.dim0", 1ull << 31);
  patch_u64(b, valid().at.at("t0.dim1"), 1ull << 31);
  patch_u32(b, valid().at.at("t0.type"), 28);
  check_rejects(b, {"tensor 't0'", "byte size overflows", "F64"});
  check_rejects(with_u32("t0.type", 99), {"tensor 't0'", "ggml type 99 is unknown"});
  check_rejects(with_u32("t0.type", 4), {"ggml type 4 is unknown"});
  check_rejects(with_u32("t0.type", 8),
                {"tensor 't0'", "row length dims[0] = 4", "Q8_0 block size 32"});
  check_rejects(with_u64("t1.offset", 65), {"tensor 't1'", "offset 65 is not a multiple of"});
  check_rejects(with_u64("t1.offset", 1ull << 40),
                {"tensor 't1'", "offset 1099511627776", "outside the data section"});
  check_rejects(with_u64("t1.offset", 0xffffffffffffffe0ull), {"outside the data section"});
  check_rejects(with_u64("t1.offset", 32), {"tensor 't1'", "overlaps tensor 't0'"});
  check_rejects(with_u64("t1.offset", 0), {"overlaps"});
  // F32 [4, 3] claims 48 bytes; as F64 it needs 96 and runs into t1.
  check_rejects(with_u32("t0.type", 28), {"overlaps"});
  // t1 as F32 [32] needs 128 bytes: past the end of the file.
  check_rejects(with_u32("t1.type", 0), {"tensor 't1'", "outside the data section"});
}

TEST_CASE("gguf hostile: without caps, counts are still bounded by the bytes left") {
  gguf_limits open_limits;
  open_limits.max_tensors = open_limits.max_kv = open_limits.max_string_length =
      open_limits.max_array_length = ~std::uint64_t{0};
  open_limits.max_dims = open_limits.max_alignment = ~std::uint32_t{0};
  check_rejects(with_u64("tensor_count", 1ull << 63), {"tensor_count", "bytes remain"},
                open_limits);
  check_rejects(with_u64("kv_count", ~0ull), {"metadata_kv_count", "bytes remain"}, open_limits);
  // 2^62 four-byte elements: the byte count 2^64 wraps to 0 if multiplied.
  check_rejects(with_u64("ints.count", 1ull << 62), {"'ints'", "truncated", "array elements"},
                open_limits);
  check_rejects(with_u64("tok.count", 1ull << 62), {"'tok'", "8 bytes per string"}, open_limits);
  check_rejects(with_u64("arch.strlen", ~0ull), {"'general.architecture'", "truncated"},
                open_limits);
  check_rejects(with_u32("t0.ndims", ~0u), {"tensor 't0'", "truncated while reading dims"},
                open_limits);
}

TEST_CASE("gguf hostile: every truncation of a valid file is refused") {
  const std::vector<std::uint8_t>& full = valid().bytes;
  int refused = 0;
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    std::string message;
    try {
      gguf_file::from_bytes(std::vector<std::uint8_t>(full.begin(), full.begin() + n), "cut.gguf");
    } catch (const shiftrope::error& e) {
      message = e.what();
    }
    // The counts no longer fit the bytes left, or a read runs out, or (inside
    // the data section) a tensor does not fit.
    const bool named = message.find("need at least") != std::string::npos ||
                       message.find("truncated while reading") != std::string::npos ||
                       message.find("outside the data section") != std::string::npos;
    CHECK(named);
    refused += named;
  }
  CHECK(refused == static_cast<int>(full.size()));
  check_rejects({}, {"truncated while reading magic"});
  check_rejects(std::vector<std::uint8_t>(full.begin(), full.begin() + 10),
                {"truncated while reading tensor_count", "at offset 8"});
}

TEST_CASE("gguf hostile: random corruption never crashes") {
  // splitmix64, fixed seed: 1-4 random bytes of the valid file set to random values.
  std::uint64_t state = 2024;
  const auto next = [&state] {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  int accepted = 0, refused = 0, other = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::vector<std::uint8_t> b = valid().bytes;
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < flips; ++k) b[next() % b.size()] = static_cast<std::uint8_t>(next());
    try {
      const gguf_file f = gguf_file::from_bytes(std::move(b), "fuzz.gguf");
      // Touch every byte a view claims (ASan checks the bounds).
      unsigned sum = 0;
      for (const gguf_tensor& t : f.tensors())
        for (std::uint64_t i = 0; i < t.n_bytes; ++i) sum += t.data[i];
      for (const gguf_kv& kv : f.metadata())
        sum += static_cast<unsigned>(kv.value.to_display().size());
      accepted += 1 + static_cast<int>(sum & 0);
    } catch (const shiftrope::error&) {
      ++refused;
    } catch (...) {
      ++other;
    }
  }
  MESSAGE("random corruption: ", accepted, " accepted, ", refused, " refused");
  CHECK(other == 0);
  CHECK(refused > 0);
}

TEST_CASE("gguf hostile: files on disk (mmap path)") {
  const std::string dir = SHIFTROPE_BIN_DIR;
  const auto write = [](const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!bytes.empty()) REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
    std::fclose(f);
  };
  struct hostile_file {
    const char* name;
    std::vector<std::uint8_t> bytes;
    const char* fragment;
  };
  std::vector<std::uint8_t> bad_magic = valid().bytes;
  bad_magic[3] = '!';
  const std::vector<hostile_file> files = {
      {"empty.gguf", {}, "truncated while reading magic"},
      {"bad_magic.gguf", bad_magic, "bad magic"},
      {"version1.gguf", with_u32("version", 1), "version 1"},
      {"huge_tensor_count.gguf", with_u64("tensor_count", 1ull << 63), "tensor_count"},
      {"huge_string.gguf", with_u64("arch.strlen", 1ull << 62), "string length"},
      {"offset_past_end.gguf", with_u64("t1.offset", 1ull << 40), "outside the data section"},
      {"misaligned_offset.gguf", with_u64("t1.offset", 36), "not a multiple"},
      {"overflowing_dims.gguf",
       [] {
         auto b = with_u64("t0.dim0", 1ull << 40);
         patch_u64(b, valid().at.at("t0.dim1"), 1ull << 40);
         return b;
       }(),
       "element count overflows"},
      {"alignment3.gguf", with_u32("align.value", 3), "general.alignment 3"},
      {"truncated.gguf", {valid().bytes.begin(), valid().bytes.end() - 1}, "outside"},
  };
  for (const hostile_file& h : files) {
    const std::string path = dir + "/hostile_" + h.name;
    CAPTURE(path);
    write(path, h.bytes);
    std::string message;
    try {
      gguf_file::open(path);
    } catch (const shiftrope::error& e) {
      message = e.what();
    }
    CHECK(message.find("'" + path + "'") != std::string::npos);
    CHECK(message.find(h.fragment) != std::string::npos);
    std::remove(path.c_str());
  }
}
