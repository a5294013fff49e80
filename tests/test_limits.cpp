// Caps and memory while loading untrusted files. Every count a file declares
// is checked against a cap (gguf_limits, llama2c_vocab_limits, model_limits)
// before anything is allocated for it; here each cap is hit exactly, and
// the heap used while loading is measured for the shapes that cost the most
// bytes of memory per byte of file (many tiny entries, tensors, tokens).
//
// The heap is measured by replacing the global operator new/delete of this
// test program (a size header in front of each block): peak live bytes
// during the call, above what was live before it.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <shiftrope/gguf.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <vector>

namespace {

std::atomic<std::size_t> g_live{0};  // bytes allocated through operator new, not yet freed
std::atomic<std::size_t> g_peak{0};  // largest g_live since the last reset

constexpr std::size_t header = alignof(std::max_align_t);  // keeps blocks aligned

void* tracked_alloc(std::size_t n) {
  void* raw = std::malloc(n + header);
  if (raw == nullptr) throw std::bad_alloc();
  *static_cast<std::size_t*>(raw) = n;
  const std::size_t now = g_live.fetch_add(n) + n;
  std::size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return static_cast<char*>(raw) + header;
}

void tracked_free(void* p) noexcept {
  if (p == nullptr) return;
  void* raw = static_cast<char*>(p) - header;
  g_live.fetch_sub(*static_cast<std::size_t*>(raw));
  std::free(raw);
}

/// Peak heap bytes used by f() above what was live when it started.
template <class F>
std::size_t peak_heap_of(F&& f) {
  const std::size_t base = g_live.load();
  g_peak.store(base);
  f();
  return g_peak.load() - base;
}

}  // namespace

void* operator new(std::size_t n) {
  return tracked_alloc(n);
}
void* operator new[](std::size_t n) {
  return tracked_alloc(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return tracked_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return tracked_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept {
  tracked_free(p);
}
void operator delete[](void* p) noexcept {
  tracked_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  tracked_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  tracked_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  tracked_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  tracked_free(p);
}

using namespace shiftrope;

namespace {

// The bound the readers keep (documented in gguf.hpp and llama2c.hpp):
// heap while loading <= memory_factor × file bytes + memory_constant.
// Measured worst shapes below: about 9× (GGUF entries), 10× (tensor infos),
// 9× (GGUF vocabulary → tokenizer); the bound leaves headroom.
constexpr double memory_factor = 16.0;
constexpr std::size_t memory_constant = std::size_t{1} << 20;

void put_u32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<std::uint8_t>& b, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

/// A GGUF v3 header.
std::vector<std::uint8_t> gguf_header(std::uint64_t n_tensors, std::uint64_t n_kv) {
  std::vector<std::uint8_t> b = {'G', 'G', 'U', 'F'};
  put_u32(b, 3);
  put_u64(b, n_tensors);
  put_u64(b, n_kv);
  return b;
}

/// A short distinct key for entry i ("k" + base-36 digits).
std::string short_name(std::size_t i) {
  std::string s = "k";
  do {
    s += "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36];
    i /= 36;
  } while (i);
  return s;
}

void check_bound(const char* what, std::size_t peak, std::size_t file_bytes) {
  const double ratio = static_cast<double>(peak) / static_cast<double>(file_bytes);
  MESSAGE(std::string(what), ": file ", file_bytes, " bytes, peak heap ", peak, " bytes (", ratio,
          "x)");
  CHECK(static_cast<double>(peak) <=
        memory_factor * static_cast<double>(file_bytes) + static_cast<double>(memory_constant));
}

}  // namespace

TEST_CASE("limits: the allocation tracker sees allocations (the measurement can fail)") {
  const std::size_t peak = peak_heap_of([] { std::vector<char> v(5 << 20); });
  CHECK(peak >= (5u << 20));
  CHECK(peak < (6u << 20));
}

TEST_CASE("limits: gguf caps are checked at their exact values") {
  // metadata_kv_count = max_kv + 1 with plenty of bytes: refused by the cap,
  // not by the bytes.
  gguf_limits lim;
  lim.max_kv = 3;
  lim.max_tensors = 2;
  lim.max_array_length = 4;
  lim.max_string_length = 5;
  gguf_writer w;
  w.add_string("abcde", "12345");                  // key and value of 5 bytes
  w.add_array<std::int32_t>("arr", {1, 2, 3, 4});  // 4 elements
  w.add_string_array("strs", std::vector<std::string>{"a", "b", "c", "d"});
  const std::vector<float> x = {1, 2};
  w.add_tensor_f32("t1", {2}, x);
  w.add_tensor_f32("t2", {2}, x);
  CHECK_NOTHROW(gguf_file::from_bytes(w.to_bytes(), "at-caps.gguf", lim));
  const auto rejects = [&](gguf_limits l, const char* field) {
    CHECK_THROWS_WITH_AS(gguf_file::from_bytes(w.to_bytes(), "over-caps.gguf", l),
                         doctest::Contains(field), error);
  };
  gguf_limits l = lim;
  l.max_kv = 2;
  rejects(l, "max_kv = 2");
  l = lim;
  l.max_tensors = 1;
  rejects(l, "max_tensors = 1");
  l = lim;
  l.max_array_length = 3;
  rejects(l, "max_array_length = 3");
  l = lim;
  l.max_string_length = 4;
  rejects(l, "max_string_length = 4");
  l = lim;
  l.max_dims = 1;
  gguf_writer w2;
  w2.add_tensor_f32("m", {1, 2}, x);
  CHECK_THROWS_WITH_AS(gguf_file::from_bytes(w2.to_bytes(), "dims.gguf", l),
                       doctest::Contains("n_dims 2 is out of range (1..1)"), error);
}

TEST_CASE("limits: GGUF with the most entries the caps allow stays within the memory bound") {
  SUBCASE("65536 minimal metadata entries (uint8 values)") {
    std::vector<std::uint8_t> b = gguf_header(0, 65536);
    for (std::size_t i = 0; i < 65536; ++i) {
      const std::string key = short_name(i);
      put_u64(b, key.size());
      b.insert(b.end(), key.begin(), key.end());
      put_u32(b, 0);  // uint8
      b.push_back(1);
    }
    const std::size_t n = b.size();
    const std::size_t peak = peak_heap_of([&] {
      const gguf_file f = gguf_file::from_bytes(std::move(b), "entries.gguf");
      CHECK(f.metadata().size() == 65536);
    });
    check_bound("65536 entries", peak, n);
  }
  SUBCASE("65536 tensor infos of one F32 element") {
    std::vector<std::uint8_t> b = gguf_header(65536, 1);
    put_u64(b, 17);
    b.insert(b.end(),
             {'g', 'e', 'n', 'e', 'r', 'a', 'l', '.', 'a', 'l', 'i', 'g', 'n', 'm', 'e', 'n', 't'});
    put_u32(b, 4);  // uint32
    put_u32(b, 4);  // alignment 4: data packed
    for (std::size_t i = 0; i < 65536; ++i) {
      const std::string name = short_name(i);
      put_u64(b, name.size());
      b.insert(b.end(), name.begin(), name.end());
      put_u32(b, 1);  // n_dims
      put_u64(b, 1);  // ne[0]
      put_u32(b, 0);  // F32
      put_u64(b, 4 * i);
    }
    while (b.size() % 4) b.push_back(0);
    b.resize(b.size() + 4 * 65536, 0);
    const std::size_t n = b.size();
    const std::size_t peak = peak_heap_of([&] {
      const gguf_file f = gguf_file::from_bytes(std::move(b), "tensors.gguf");
      CHECK(f.tensors().size() == 65536);
    });
    check_bound("65536 tensors", peak, n);
  }
  SUBCASE("an array of 2^20 empty strings") {
    std::vector<std::uint8_t> b = gguf_header(0, 1);
    put_u64(b, 1);
    b.push_back('a');
    put_u32(b, 9);  // array
    put_u32(b, 8);  // of string
    put_u64(b, 1 << 20);
    b.resize(b.size() + 8 * (std::size_t{1} << 20), 0);
    const std::size_t n = b.size();
    const std::size_t peak = peak_heap_of([&] {
      const gguf_file f = gguf_file::from_bytes(std::move(b), "strings.gguf");
      CHECK(f.array_size("a") == (1u << 20));
    });
    check_bound("2^20 empty strings", peak, n);
  }
}

TEST_CASE("limits: a vocabulary of 2^18 short tokens loads within the memory bound") {
  // 4-byte distinct tokens plus the 256 byte tokens (SPM), with scores and types.
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.emplace_back(name);
  }
  for (std::uint32_t i = 0; tokens.size() < (1u << 18); ++i)
    tokens.push_back(std::string{
        static_cast<char>('A' + i % 26), static_cast<char>('a' + i / 26 % 26),
        static_cast<char>('a' + i / 676 % 26), static_cast<char>('a' + i / 17576 % 26)});
  gguf_writer w;
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_array<float>("tokenizer.ggml.scores", std::vector<float>(tokens.size(), 0.0f));
  std::vector<std::int32_t> types(tokens.size(), 1);
  for (int b = 0; b < 256; ++b) types[static_cast<std::size_t>(b)] = 6;
  w.add_array<std::int32_t>("tokenizer.ggml.token_type", types);
  w.add_uint32("tokenizer.ggml.bos_token_id", 1);
  w.add_uint32("tokenizer.ggml.eos_token_id", 2);
  w.add_uint32("tokenizer.ggml.unknown_token_id", 0);
  std::vector<std::uint8_t> bytes = w.to_bytes();
  const std::size_t n = bytes.size();
  const std::size_t peak = peak_heap_of([&] {
    const gguf_file f = gguf_file::from_bytes(std::move(bytes), "vocab.gguf");
    const tokenizer tok = tokenizer::from_gguf(f);
    CHECK(tok.n_vocab() == (1 << 18));
  });
  check_bound("GGUF vocabulary of 2^18 tokens -> tokenizer", peak, n);
}

TEST_CASE("limits: llama2.c files") {
  SUBCASE("tokenizer.bin: vocab_size and max_token_length caps, memory") {
    std::vector<std::uint8_t> b;
    put_u32(b, 1);  // max_token_length
    const int vocab = 1 << 18;
    for (int i = 0; i < vocab; ++i) {
      put_u32(b, 0);  // score 0.0f
      put_u32(b, 0);  // empty piece
    }
    const std::size_t n = b.size();
    const std::size_t peak = peak_heap_of([&] {
      const llama2c_vocab v = parse_llama2c_vocab(b.data(), b.size(), "tok.bin", vocab);
      CHECK(v.pieces.size() == static_cast<std::size_t>(vocab));
    });
    check_bound("tokenizer.bin of 2^18 empty pieces", peak, n);
    llama2c_vocab_limits lim;
    lim.max_vocab_size = vocab - 1;
    CHECK_THROWS_WITH_AS(parse_llama2c_vocab(b.data(), b.size(), "tok.bin", vocab, lim),
                         doctest::Contains("vocab_size 262144 is out of range (1..262143)"), error);
    std::vector<std::uint8_t> longer = b;
    longer[0] = 0;
    longer[2] = 1;  // max_token_length 65536 = the cap: accepted
    CHECK_NOTHROW(parse_llama2c_vocab(longer.data(), longer.size(), "tok.bin", vocab));
    longer[0] = 1;  // 65537: refused before any token is read
    CHECK_THROWS_WITH_AS(parse_llama2c_vocab(longer.data(), longer.size(), "tok.bin", vocab),
                         doctest::Contains("max_token_length 65537 is out of range"), error);
  }
  SUBCASE("checkpoint: views only, no heap in proportion to the weights") {
    // dim 64, hidden 64, 1 layer, 2 heads, vocab 512, seq_len 8: ~0.4 MB of floats.
    const std::int32_t h[7] = {64, 64, 1, 2, 2, 512, 8};
    std::vector<std::uint8_t> b;
    for (const std::int32_t v : h) put_u32(b, static_cast<std::uint32_t>(v));
    const std::size_t floats = 512 * 64 + 2 * 64 + 4 * 64 * 64 + 3 * 64 * 64 + 64 + 8 * 32;
    b.resize(b.size() + 4 * floats, 0);
    std::size_t peak = 0;
    std::vector<std::uint8_t> copy = b;
    peak = peak_heap_of([&] {
      const llama2c_checkpoint ck = llama2c_checkpoint::from_bytes(std::move(copy), "ck.bin");
      CHECK(ck.config().vocab_size == 512);
    });
    MESSAGE("llama2.c checkpoint of ", b.size(), " bytes: peak heap ", peak, " bytes");
    CHECK(peak < 4096);
  }
}
