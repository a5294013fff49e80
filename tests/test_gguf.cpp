// Tests of gguf.hpp and gguf_writer.hpp: a hand-made file (written field by
// field in gguf_hand.hpp, independent of the writer), the real files in
// ../shared (stories260K.gguf compared bit for bit with the llama2.c
// checkpoint, read here with plain stdio), and writer round trips.
// Malformed inputs are in test_gguf_hostile.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <shiftrope/gguf.hpp>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/load_mode.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/quant.hpp>
#include <string>
#include <vector>

#include "gguf_hand.hpp"
#include "shared_data.hpp"

using namespace shiftrope;

namespace {

const std::string shared_dir = SHIFTROPE_SHARED_DIR;

std::vector<std::uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::uint32_t float_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

// splitmix64: a fixed-seed generator identical everywhere.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) / 16777216.0f * 2.0f - 1.0f; }
};

}  // namespace

TEST_CASE("ggml types: names and sizes") {
  CHECK(ggml_type_name(ggml_type::q4_k) == "Q4_K");
  CHECK(ggml_type_name(ggml_type::bf16) == "BF16");
  CHECK(ggml_type_name(static_cast<ggml_type>(4)) == "type 4");
  CHECK(ggml_type_name(static_cast<ggml_type>(1000)) == "type 1000");
  // Block byte sizes recomputed from the block layouts: scale fields + packed quants.
  CHECK(ggml_row_bytes(ggml_type::f32, 7) == 28);
  CHECK(ggml_row_bytes(ggml_type::f16, 7) == 14);
  CHECK(ggml_row_bytes(ggml_type::bf16, 7) == 14);
  CHECK(ggml_row_bytes(ggml_type::q8_0, 64) == 2 * sizeof(q8_0_block));
  CHECK(ggml_row_bytes(ggml_type::q4_0, 32) == 2 + 32 / 2);
  CHECK(ggml_row_bytes(ggml_type::q4_1, 32) == 2 + 2 + 32 / 2);
  CHECK(ggml_row_bytes(ggml_type::q5_0, 32) == 2 + 4 + 32 / 2);
  CHECK(ggml_row_bytes(ggml_type::q5_1, 32) == 2 + 2 + 4 + 32 / 2);
  CHECK(ggml_row_bytes(ggml_type::q4_k, 512) == 2 * (2 + 2 + 12 + 256 / 2));
  CHECK(ggml_row_bytes(ggml_type::q6_k, 256) == 256 / 2 + 256 / 4 + 256 / 16 + 2);
  CHECK(ggml_row_bytes(ggml_type::q8_k, 256) == 4 + 256 + 2 * 256 / 16);
  CHECK(ggml_row_bytes(ggml_type::i64, 3) == 24);
  CHECK(ggml_row_bytes(ggml_type::f64, 3) == 24);
  CHECK(ggml_row_bytes(ggml_type::q8_0, 33) == 0);  // not a whole block
  CHECK(ggml_row_bytes(static_cast<ggml_type>(5), 32) == 0);
  CHECK(ggml_type_supported(ggml_type::q8_0));
  CHECK(ggml_type_supported(ggml_type::q4_k));
  CHECK_FALSE(ggml_type_supported(ggml_type::iq2_xxs));
}

TEST_CASE("gguf: hand-made file, every field") {
  const gguf_test::builder b = gguf_test::small_file();
  const gguf_file f = gguf_file::from_bytes(b.bytes, "small.gguf");
  CHECK(f.version() == 3);
  CHECK(f.name() == "small.gguf");
  CHECK(f.alignment() == 32);
  CHECK(f.data_start() == b.at.at("data"));
  CHECK(f.file_size() == b.bytes.size());
  REQUIRE(f.metadata().size() == 5);
  CHECK(f.metadata()[1].key == "general.architecture");
  CHECK(f.get_arch() == "llama");
  CHECK(f.get_uint("general.alignment") == 32);
  CHECK(f.get_string_array("tok") == std::vector<std::string_view>{"a", "bc"});
  CHECK(f.get_int_array("ints") == std::vector<std::int64_t>{1, -2, 3});
  CHECK(f.array_size("ints") == 3);
  CHECK(f.get_bool("flag"));
  CHECK(f.has("flag"));
  CHECK_FALSE(f.has("nope"));
  CHECK(f.find("nope") == nullptr);

  REQUIRE(f.tensors().size() == 2);
  const gguf_tensor& t0 = f.tensor("t0");
  CHECK(t0.type == ggml_type::f32);
  CHECK(t0.dims == std::vector<std::uint64_t>{4, 3});
  CHECK(t0.n_elements == 12);
  CHECK(t0.n_rows() == 3);
  CHECK(t0.n_bytes == 48);
  CHECK(t0.data == f.tensors()[0].data);
  for (int i = 0; i < 12; ++i) {
    float x;
    std::memcpy(&x, t0.data + 4 * i, 4);
    CHECK(x == gguf_test::t0_value(i));
  }
  const gguf_tensor* t1 = f.find_tensor("t1");
  REQUIRE(t1 != nullptr);
  CHECK(t1->type == ggml_type::q8_0);
  CHECK(t1->offset == 64);
  CHECK(t1->n_bytes == sizeof(q8_0_block));
  q8_0_block blk;
  std::memcpy(&blk, t1->data, sizeof blk);
  CHECK(to_float(blk.d) == 0.25f);
  for (int i = 0; i < 32; ++i) CHECK(blk.qs[i] == gguf_test::t1_q(i));
  CHECK(f.find_tensor("t2") == nullptr);
  // Version 2 has the same layout.
  std::vector<std::uint8_t> v2 = b.bytes;
  gguf_test::patch_u32(v2, b.at.at("version"), 2);
  CHECK(gguf_file::from_bytes(v2, "v2.gguf").version() == 2);
}

TEST_CASE("gguf: typed getters name the file, key, expected and actual type") {
  const gguf_file f = gguf_file::from_bytes(gguf_test::small_file().bytes, "small.gguf");
  const auto message = [&](auto&& call) -> std::string {
    try {
      call();
    } catch (const shiftrope::error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string m1 = message([&] { (void)f.get_uint("general.architecture"); });
  CHECK(m1.find("small.gguf") != std::string::npos);
  CHECK(m1.find("'general.architecture'") != std::string::npos);
  CHECK(m1.find("non-negative integer") != std::string::npos);
  CHECK(m1.find("string") != std::string::npos);
  const std::string m2 = message([&] { (void)f.get_string("missing.key"); });
  CHECK(m2.find("'missing.key' is missing") != std::string::npos);
  CHECK(message([&] { (void)f.get_float_array("ints"); }).find("array of int32") !=
        std::string::npos);
  CHECK(message([&] { (void)f.get_float("flag"); }).find("float32 or float64") !=
        std::string::npos);
  CHECK(message([&] {
          (void)f.get_string_array("general.architecture");
        }).find("array of string") != std::string::npos);
  CHECK(message([&] {
          (void)f.tensor("blk.9.attn_q.weight");
        }).find("tensor 'blk.9.attn_q.weight' is missing") != std::string::npos);
  CHECK(message([&] { (void)f.array_size("flag"); }).find("an array") != std::string::npos);
  // Defaults apply only to absent keys; a present key of the wrong type still throws.
  CHECK(f.get_uint_or("absent", 7) == 7);
  CHECK(f.get_string_or("absent", "x") == "x");
  CHECK(f.get_float_or("absent", 1.5) == 1.5);
  CHECK(f.get_bool_or("absent", false) == false);
  CHECK(f.get_int_or("absent", -3) == -3);
  CHECK(f.get_bool_or("flag", false) == true);
  CHECK_THROWS_AS((void)f.get_uint_or("general.architecture", 7), shiftrope::error);
  // Unsupported types are reported by name.
  gguf_writer w;
  const std::vector<std::uint8_t> iq2(ggml_row_bytes(ggml_type::iq2_xxs, 256) * 2);
  w.add_tensor("blk.0.attn_q.weight", ggml_type::iq2_xxs, {256, 2}, iq2.data(), iq2.size());
  const gguf_file g = gguf_file::from_bytes(w.to_bytes(), "iq2.gguf");
  CHECK(message([&] { g.require_supported(g.tensor("blk.0.attn_q.weight")); })
            .find("tensor 'blk.0.attn_q.weight' has type IQ2_XXS, which shiftrope does not "
                  "support") != std::string::npos);
  CHECK_NOTHROW(f.require_supported(f.tensor("t0")));
}

TEST_CASE("gguf: signed and unsigned integer conversions") {
  gguf_writer w;
  w.add_int8("neg", -5);
  w.add_uint64("huge", std::numeric_limits<std::uint64_t>::max());
  w.add_int64("min", std::numeric_limits<std::int64_t>::min());
  w.add_uint8("small", 200);
  w.add_array<std::uint64_t>("big_array", {1, std::numeric_limits<std::uint64_t>::max()});
  const gguf_file f = gguf_file::from_bytes(w.to_bytes(), "ints.gguf");
  CHECK(f.get_int("neg") == -5);
  CHECK_THROWS_AS((void)f.get_uint("neg"), shiftrope::error);  // negative
  CHECK(f.get_uint("huge") == std::numeric_limits<std::uint64_t>::max());
  CHECK_THROWS_AS((void)f.get_int("huge"), shiftrope::error);  // beyond int64
  CHECK(f.get_int("min") == std::numeric_limits<std::int64_t>::min());
  CHECK(f.get_uint("small") == 200);
  CHECK(f.get_int("small") == 200);
  try {
    (void)f.get_int_array("big_array");
    FAIL("an element beyond int64 must throw");
  } catch (const shiftrope::error& e) {
    CHECK(std::string(e.what()).find("element 1") != std::string::npos);
  }
}

TEST_CASE("gguf_writer: reproduces the hand-made file byte for byte") {
  gguf_writer w;
  w.set_alignment(32);
  w.add_string("general.architecture", "llama");
  w.add_string_array("tok", std::vector<std::string>{"a", "bc"});
  w.add_array<std::int32_t>("ints", {1, -2, 3});
  w.add_bool("flag", true);
  std::vector<float> t0(12);
  for (int i = 0; i < 12; ++i) t0[static_cast<std::size_t>(i)] = gguf_test::t0_value(i);
  w.add_tensor_f32("t0", {4, 3}, t0);
  q8_0_block blk;
  blk.d = to_f16(0.25f);
  for (int i = 0; i < 32; ++i) blk.qs[i] = gguf_test::t1_q(i);
  w.add_tensor("t1", ggml_type::q8_0, {32}, &blk, sizeof blk);
  CHECK(w.to_bytes() == gguf_test::small_file().bytes);
}

namespace {

// One entry of every value type, with edge values.
void add_every_type(gguf_writer& w) {
  w.add_uint8("u8", 255);
  w.add_int8("i8", -128);
  w.add_uint16("u16", 65535);
  w.add_int16("i16", -32768);
  w.add_uint32("u32", 4294967295u);
  w.add_int32("i32", std::numeric_limits<std::int32_t>::min());
  w.add_uint64("u64", 0x0123456789abcdefull);
  w.add_int64("i64", -0x0123456789abcdefll);
  w.add_float32("f32", -1.25e-7f);
  w.add_float64("f64", 3.141592653589793);
  w.add_bool("bool", false);
  w.add_string("str", std::string("caf\xc3\xa9 \0x", 8));
  w.add_string("empty_str", "");
  w.add_array<std::uint8_t>("a_u8", {0, 1, 255});
  w.add_array<std::int8_t>("a_i8", {-128, 0, 127});
  w.add_array<std::uint16_t>("a_u16", {7, 65535});
  w.add_array<std::int16_t>("a_i16", {-32768, 32767});
  w.add_array<std::uint32_t>("a_u32", {4294967295u});
  w.add_array<std::int32_t>("a_i32", {-1, 2, -3, 4, -5});
  w.add_array<std::uint64_t>("a_u64", {1ull << 63});
  w.add_array<std::int64_t>("a_i64", {std::numeric_limits<std::int64_t>::min(), 9});
  w.add_array<float>("a_f32", {1.5f, -0.0f, 3.0e38f});
  w.add_array<double>("a_f64", {1e-300, -2.5});
  w.add_bool_array("a_bool", {true, false, true});
  w.add_string_array("a_str", std::vector<std::string>{"", "\xe2\x96\x81the", "<0x0A>"});
  w.add_array<float>("a_empty", {});
}

void check_every_type(const gguf_file& f) {
  CHECK(f.get_uint("u8") == 255);
  CHECK(f.at("u8").type() == gguf_value_type::uint8);
  CHECK(f.get_int("i8") == -128);
  CHECK(f.at("i8").type() == gguf_value_type::int8);
  CHECK(f.get_uint("u16") == 65535);
  CHECK(f.get_int("i16") == -32768);
  CHECK(f.get_uint("u32") == 4294967295u);
  CHECK(f.get_int("i32") == std::numeric_limits<std::int32_t>::min());
  CHECK(f.get_uint("u64") == 0x0123456789abcdefull);
  CHECK(f.at("u64").type() == gguf_value_type::uint64);
  CHECK(f.get_int("i64") == -0x0123456789abcdefll);
  CHECK(f.at("f32").type() == gguf_value_type::float32);
  CHECK(float_bits(static_cast<float>(f.get_float("f32"))) == float_bits(-1.25e-7f));
  CHECK(f.get_float("f64") == 3.141592653589793);
  CHECK(f.at("bool").type() == gguf_value_type::boolean);
  CHECK(f.get_bool("bool") == false);
  CHECK(f.get_string("str") == std::string("caf\xc3\xa9 \0x", 8));
  CHECK(f.get_string("empty_str").empty());
  CHECK(f.get_int_array("a_u8") == std::vector<std::int64_t>{0, 1, 255});
  CHECK(f.at("a_u8").element_type() == gguf_value_type::uint8);
  CHECK(f.get_int_array("a_i8") == std::vector<std::int64_t>{-128, 0, 127});
  CHECK(f.get_int_array("a_u16") == std::vector<std::int64_t>{7, 65535});
  CHECK(f.get_int_array("a_i16") == std::vector<std::int64_t>{-32768, 32767});
  CHECK(f.get_int_array("a_u32") == std::vector<std::int64_t>{4294967295ll});
  CHECK(f.get_int_array("a_i32") == std::vector<std::int64_t>{-1, 2, -3, 4, -5});
  CHECK(f.at("a_u64").uint_at(0) == (1ull << 63));
  CHECK(f.get_int_array("a_i64") ==
        std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), 9});
  const std::vector<float> f32s = f.get_float_array("a_f32");
  REQUIRE(f32s.size() == 3);
  CHECK(f32s[0] == 1.5f);
  CHECK(float_bits(f32s[1]) == float_bits(-0.0f));
  CHECK(f32s[2] == 3.0e38f);
  CHECK(f.at("a_f64").double_at(0) == 1e-300);
  CHECK(f.at("a_f64").double_at(1) == -2.5);
  const gguf_value& bools = f.at("a_bool");
  CHECK(bools.element_type() == gguf_value_type::boolean);
  CHECK(bools.size() == 3);
  CHECK((bools.bool_at(0) == true && bools.bool_at(1) == false && bools.bool_at(2) == true));
  CHECK(f.get_string_array("a_str") ==
        std::vector<std::string_view>{"", "\xe2\x96\x81the", "<0x0A>"});
  CHECK(f.array_size("a_empty") == 0);
  CHECK(f.get_float_array("a_empty").empty());
}

}  // namespace

TEST_CASE("gguf_writer: round trip of every value type and F32/F16/BF16/Q8_0 tensors") {
  // Tensor contents from a fixed-seed generator; odd sizes.
  splitmix64 rng{42};
  std::vector<float> f32(5 * 3);
  for (float& x : f32) x = rng.uniform();
  std::vector<f16> h(7 * 1);
  for (f16& x : h) x = to_f16(rng.uniform());
  std::vector<bf16> b(3 * 2 * 2);
  for (bf16& x : b) x = to_bf16(rng.uniform());
  std::vector<q8_0_block> q(2 * 3);
  for (q8_0_block& blk : q) {
    blk.d = to_f16(rng.uniform());
    for (std::int8_t& v : blk.qs) v = static_cast<std::int8_t>(rng.next() & 0xff);
  }
  for (const std::uint32_t alignment : {0u, 32u, 64u, 1u, 8u, 4096u}) {
    CAPTURE(alignment);
    gguf_writer w;
    if (alignment) w.set_alignment(alignment);
    add_every_type(w);
    w.add_tensor_f32("f32", {5, 3}, f32);
    w.add_tensor("f16", ggml_type::f16, {7}, h.data(), h.size() * sizeof(f16));
    w.add_tensor("bf16", ggml_type::bf16, {3, 2, 2}, b.data(), b.size() * sizeof(bf16));
    w.add_tensor("q8_0", ggml_type::q8_0, {64, 3}, q.data(), q.size() * sizeof(q8_0_block));
    const std::vector<std::uint8_t> bytes = w.to_bytes();
    // Header fields read by hand: magic, version 3, tensor and kv counts.
    REQUIRE(bytes.size() > 24);
    CHECK(std::memcmp(bytes.data(), "GGUF", 4) == 0);
    std::uint32_t version;
    std::uint64_t n_tensors, n_kv;
    std::memcpy(&version, bytes.data() + 4, 4);
    std::memcpy(&n_tensors, bytes.data() + 8, 8);
    std::memcpy(&n_kv, bytes.data() + 16, 8);
    CHECK(version == 3);
    CHECK(n_tensors == 4);
    CHECK(n_kv == 26 + (alignment ? 1 : 0));

    const gguf_file f = gguf_file::from_bytes(bytes, "roundtrip.gguf");
    const std::uint32_t a = alignment ? alignment : 32;
    CHECK(f.alignment() == a);
    CHECK(f.data_start() % a == 0);
    check_every_type(f);
    for (const gguf_tensor& t : f.tensors()) {
      CHECK(t.offset % a == 0);
      // The view lies at data_start + offset of the bytes the writer produced.
      REQUIRE(f.data_start() + t.offset + t.n_bytes <= bytes.size());
      CHECK(std::memcmp(bytes.data() + f.data_start() + t.offset, t.data,
                        static_cast<std::size_t>(t.n_bytes)) == 0);
    }
    const gguf_tensor& tf = f.tensor("f32");
    CHECK(tf.dims == std::vector<std::uint64_t>{5, 3});
    CHECK(std::memcmp(tf.data, f32.data(), f32.size() * 4) == 0);
    const gguf_tensor& th = f.tensor("f16");
    CHECK(th.type == ggml_type::f16);
    CHECK(th.n_bytes == 14);
    CHECK(std::memcmp(th.data, h.data(), 14) == 0);
    const gguf_tensor& tb = f.tensor("bf16");
    CHECK(tb.type == ggml_type::bf16);
    CHECK(tb.dims == std::vector<std::uint64_t>{3, 2, 2});
    CHECK(std::memcmp(tb.data, b.data(), 24) == 0);
    const gguf_tensor& tq = f.tensor("q8_0");
    CHECK(tq.type == ggml_type::q8_0);
    CHECK(tq.n_bytes == 6 * 34);
    CHECK(std::memcmp(tq.data, q.data(), 6 * 34) == 0);
  }
}

TEST_CASE("gguf_writer: refuses bad input, naming the field") {
  gguf_writer w;
  w.add_uint32("k", 1);
  CHECK_THROWS_WITH_AS(w.add_uint32("k", 2), doctest::Contains("duplicate metadata key 'k'"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(w.add_string("", "x"), doctest::Contains("empty metadata key"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(w.add_uint32("general.alignment", 64), doctest::Contains("set_alignment"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(w.set_alignment(0), doctest::Contains("alignment 0"), shiftrope::error);
  CHECK_THROWS_WITH_AS(w.set_alignment(48), doctest::Contains("alignment 48"), shiftrope::error);
  const std::vector<float> x(12);
  CHECK_THROWS_WITH_AS(w.add_tensor_f32("t", {5, 3}, x), doctest::Contains("n_bytes 48"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(w.add_tensor_f32("t", {12, 0}, x), doctest::Contains("dims entry 0"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(w.add_tensor_f32("t", {1, 1, 1, 2, 6}, x), doctest::Contains("n_dims 5"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(w.add_tensor("t", ggml_type::q8_0, {33}, x.data(), 34),
                       doctest::Contains("row length 33"), shiftrope::error);
  CHECK_THROWS_WITH_AS(w.add_tensor("t", static_cast<ggml_type>(99), {1}, x.data(), 4),
                       doctest::Contains("type 99"), shiftrope::error);
  w.add_tensor_f32("t", {12}, x);
  CHECK_THROWS_WITH_AS(w.add_tensor_f32("t", {12}, x),
                       doctest::Contains("duplicate tensor name 't'"), shiftrope::error);
}

TEST_CASE("gguf: file API (open, missing file, write and reopen)") {
  const std::string path = std::string(SHIFTROPE_BIN_DIR) + "/test_gguf_roundtrip.gguf";
  gguf_writer w;
  w.set_alignment(64);
  w.add_string("general.architecture", "test");
  const std::vector<float> x = {1, 2, 3};
  w.add_tensor_f32("x", {3}, x);
  w.write(path);
  {
    gguf_file f = gguf_file::open(path);
    CHECK(f.name() == path);
    CHECK(f.alignment() == 64);
    const std::uint8_t* data = f.tensor("x").data;
    gguf_file moved = std::move(f);  // views survive a move
    CHECK(moved.tensor("x").data == data);
    CHECK(moved.get_arch() == "test");
    float y[3];
    std::memcpy(y, data, sizeof y);
    CHECK((y[0] == 1 && y[1] == 2 && y[2] == 3));
  }
  std::remove(path.c_str());
  const std::string missing = std::string(SHIFTROPE_BIN_DIR) + "/no/such/file.gguf";
  const std::string quoted = "'" + missing + "'";
  CHECK_THROWS_WITH_AS(gguf_file::open(missing), doctest::Contains(quoted.c_str()),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(gguf_file::open(SHIFTROPE_BIN_DIR), doctest::Contains("not a regular file"),
                       shiftrope::error);
  CHECK_THROWS_WITH_AS(w.write(missing), doctest::Contains("cannot create"), shiftrope::error);
}

TEST_CASE("gguf: stories260K.gguf metadata and tensors") {
  const std::string path = shared_dir + "/models/stories260K.gguf";
  if (!shared_data::have({path})) return;
  const gguf_file f = gguf_file::open(path);
  CHECK(f.version() == 3);
  CHECK(f.get_arch() == "llama");
  CHECK(f.get_uint("llama.context_length") == 2048);
  CHECK(f.get_uint("llama.embedding_length") == 64);
  CHECK(f.get_uint("llama.feed_forward_length") == 172);
  CHECK(f.get_uint("llama.block_count") == 5);
  CHECK(f.get_uint("llama.attention.head_count") == 8);
  CHECK(f.get_uint("llama.attention.head_count_kv") == 4);
  CHECK(f.get_uint("llama.rope.dimension_count") == 8);
  CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-5));
  CHECK(f.get_string("tokenizer.ggml.model") == "llama");
  CHECK(f.get_uint("tokenizer.ggml.bos_token_id") == 1);
  CHECK(f.get_uint("tokenizer.ggml.eos_token_id") == 2);
  const std::vector<std::string_view> tokens = f.get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens.size() == 512);
  CHECK(tokens[1] == "<s>");
  CHECK(tokens[2] == "</s>");
  CHECK(tokens[3] == "<0x00>");
  CHECK(f.get_float_array("tokenizer.ggml.scores").size() == 512);
  CHECK(f.get_int_array("tokenizer.ggml.token_type").size() == 512);

  // The tensor set, types and shapes of a 5-layer llama (ne[0] = input width).
  std::set<std::string> expected = {"token_embd.weight", "output_norm.weight", "output.weight"};
  const char* per_layer[] = {"attn_norm", "attn_q",   "attn_k",   "attn_v", "attn_output",
                             "ffn_norm",  "ffn_gate", "ffn_down", "ffn_up"};
  for (int l = 0; l < 5; ++l)
    for (const char* n : per_layer)
      expected.insert("blk." + std::to_string(l) + "." + n + ".weight");
  std::set<std::string> found;
  for (const gguf_tensor& t : f.tensors()) {
    found.insert(t.name);
    CHECK(t.type == ggml_type::f32);
  }
  CHECK(found == expected);
  using dims = std::vector<std::uint64_t>;
  CHECK(f.tensor("token_embd.weight").dims == dims{64, 512});
  CHECK(f.tensor("output.weight").dims == dims{64, 512});
  CHECK(f.tensor("output_norm.weight").dims == dims{64});
  CHECK(f.tensor("blk.3.attn_q.weight").dims == dims{64, 64});
  CHECK(f.tensor("blk.3.attn_k.weight").dims == dims{64, 32});
  CHECK(f.tensor("blk.3.attn_v.weight").dims == dims{64, 32});
  CHECK(f.tensor("blk.3.attn_output.weight").dims == dims{64, 64});
  CHECK(f.tensor("blk.3.ffn_gate.weight").dims == dims{64, 172});
  CHECK(f.tensor("blk.3.ffn_up.weight").dims == dims{64, 172});
  CHECK(f.tensor("blk.3.ffn_down.weight").dims == dims{172, 64});
  CHECK(f.tensor("blk.3.ffn_norm.weight").dims == dims{64});
}

TEST_CASE("gguf: stories260K.gguf tensors equal the llama2.c checkpoint bit for bit") {
  const std::string gguf_path = shared_dir + "/models/stories260K.gguf";
  const std::string bin_path = shared_dir + "/models/stories260K.bin";
  if (!shared_data::have({gguf_path, bin_path})) return;
  const gguf_file f = gguf_file::open(gguf_path);
  // The checkpoint read plainly: 7 int32, then float arrays in llama2.c order.
  const std::vector<std::uint8_t> bin = read_all(bin_path);
  std::int32_t h[7];
  REQUIRE(bin.size() >= sizeof h);
  std::memcpy(h, bin.data(), sizeof h);
  const std::size_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4];
  const std::size_t vocab = h[5], hs = dim / heads;
  REQUIRE((dim == 64 && hidden == 172 && layers == 5 && heads == 8 && kv_heads == 4));
  std::size_t at = 28;  // byte cursor into bin
  const auto take = [&](std::size_t floats) {
    const std::size_t start = at;
    at += 4 * floats;
    REQUIRE(at <= bin.size());
    return start;
  };
  const std::size_t emb = take(vocab * dim), rms_att = take(layers * dim);
  const std::size_t wq = take(layers * dim * dim), wk = take(layers * kv_heads * hs * dim);
  const std::size_t wv = take(layers * kv_heads * hs * dim), wo = take(layers * dim * dim);
  const std::size_t rms_ffn = take(layers * dim), w1 = take(layers * hidden * dim);
  const std::size_t w2 = take(layers * dim * hidden), w3 = take(layers * hidden * dim);
  const std::size_t rms_final = take(dim);
  take(2 * 512 * hs / 2);   // legacy RoPE tables (seq_len = 512)
  CHECK(at == bin.size());  // shared classifier: nothing follows

  std::size_t compared = 0;
  const auto same = [&](const std::string& name, std::size_t offset, std::size_t floats) {
    const gguf_tensor& t = f.tensor(name);
    INFO(name);
    REQUIRE(t.n_bytes == 4 * floats);
    CHECK(std::memcmp(t.data, bin.data() + offset, 4 * floats) == 0);
    compared += 1;
  };
  same("token_embd.weight", emb, vocab * dim);
  same("output.weight", emb, vocab * dim);  // the shared classifier
  same("output_norm.weight", rms_final, dim);
  const std::size_t kv = kv_heads * hs;
  for (std::size_t l = 0; l < layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    same(p + "attn_norm.weight", rms_att + 4 * l * dim, dim);
    same(p + "attn_q.weight", wq + 4 * l * dim * dim, dim * dim);
    same(p + "attn_k.weight", wk + 4 * l * kv * dim, kv * dim);
    same(p + "attn_v.weight", wv + 4 * l * kv * dim, kv * dim);
    same(p + "attn_output.weight", wo + 4 * l * dim * dim, dim * dim);
    same(p + "ffn_norm.weight", rms_ffn + 4 * l * dim, dim);
    same(p + "ffn_gate.weight", w1 + 4 * l * hidden * dim, hidden * dim);
    same(p + "ffn_down.weight", w2 + 4 * l * dim * hidden, dim * hidden);
    same(p + "ffn_up.weight", w3 + 4 * l * hidden * dim, hidden * dim);
  }
  CHECK(compared == f.tensors().size());
}

TEST_CASE("gguf: copying every entry and tensor of a real file round-trips") {
  const std::string path = shared_dir + "/models/stories260K.gguf";
  if (!shared_data::have({path})) return;
  const gguf_file f = gguf_file::open(path);
  gguf_writer w;
  for (const gguf_kv& kv : f.metadata()) w.add_value(kv.key, kv.value);
  for (const gguf_tensor& t : f.tensors())
    w.add_tensor(t.name, t.type, t.dims, t.data, static_cast<std::size_t>(t.n_bytes));
  const gguf_file g = gguf_file::from_bytes(w.to_bytes(), "copy.gguf");
  REQUIRE(g.metadata().size() == f.metadata().size());
  for (std::size_t i = 0; i < f.metadata().size(); ++i) {
    const gguf_kv& a = f.metadata()[i];
    const gguf_kv& b = g.metadata()[i];
    CHECK(a.key == b.key);
    CHECK(a.value.type() == b.value.type());
    CHECK(a.value.to_display(1u << 20) == b.value.to_display(1u << 20));
  }
  REQUIRE(g.tensors().size() == f.tensors().size());
  for (std::size_t i = 0; i < f.tensors().size(); ++i) {
    const gguf_tensor& a = f.tensors()[i];
    const gguf_tensor& b = g.tensors()[i];
    CHECK(a.name == b.name);
    CHECK(a.dims == b.dims);
    CHECK(std::memcmp(a.data, b.data, static_cast<std::size_t>(a.n_bytes)) == 0);
  }
}

TEST_CASE("gguf: qwen2-tiny.gguf and the vocabulary files (metadata)") {
  const std::string qwen = shared_dir + "/models/arch/qwen2-tiny.gguf";
  const std::string spm = shared_dir + "/vocab/ggml-vocab-llama-spm.gguf";
  const std::string gpt2 = shared_dir + "/vocab/ggml-vocab-gpt-2.gguf";
  if (!shared_data::have({qwen, spm, gpt2})) return;
  const gguf_file q = gguf_file::open(qwen);
  CHECK(q.get_arch() == "qwen2");
  CHECK(q.get_uint("qwen2.embedding_length") == 64);
  CHECK(q.get_uint("qwen2.block_count") == 2);
  CHECK(q.get_uint("qwen2.attention.head_count") == 4);
  CHECK(q.get_uint("qwen2.attention.head_count_kv") == 2);
  CHECK(q.get_uint("qwen2.feed_forward_length") == 160);
  CHECK(q.get_float("qwen2.rope.freq_base") == 1e6);
  CHECK(q.array_size("tokenizer.ggml.tokens") == 512);
  CHECK(q.tensor("blk.1.attn_q.bias").dims == std::vector<std::uint64_t>{64});
  CHECK(q.tensor("blk.1.attn_k.bias").dims == std::vector<std::uint64_t>{32});
  CHECK(q.tensor("blk.0.ffn_down.weight").dims == std::vector<std::uint64_t>{160, 64});
  CHECK(q.find_tensor("output.weight") == nullptr);  // tied to token_embd

  const gguf_file s = gguf_file::open(spm);
  CHECK(s.get_string("tokenizer.ggml.model") == "llama");
  const auto spm_tokens = s.get_string_array("tokenizer.ggml.tokens");
  REQUIRE(spm_tokens.size() == 32000);
  CHECK(spm_tokens[0] == "<unk>");
  CHECK(spm_tokens[13] == "<0x0A>");
  CHECK(s.get_float_array("tokenizer.ggml.scores").size() == 32000);
  CHECK(s.get_bool("tokenizer.ggml.add_bos_token") == true);
  CHECK(s.tensors().empty());

  const gguf_file g = gguf_file::open(gpt2);
  CHECK(g.get_string("tokenizer.ggml.model") == "gpt2");
  const auto gpt2_tokens = g.get_string_array("tokenizer.ggml.tokens");
  REQUIRE(gpt2_tokens.size() == 50257);
  CHECK(gpt2_tokens[0] == "!");
  CHECK(gpt2_tokens[50256] == "<|endoftext|>");
  CHECK(g.array_size("tokenizer.ggml.merges") == 50000);
  CHECK(g.get_string_array("tokenizer.ggml.merges")[0] == "\xc4\xa0 t");  // "Ġ t"
  CHECK(g.get_uint("tokenizer.ggml.eos_token_id") == 50256);
}

TEST_CASE("mapped_file: open, empty file, move, in-memory bytes") {
  const std::string path = std::string(SHIFTROPE_BIN_DIR) + "/test_gguf_mapped.bin";
  const std::string empty_path = std::string(SHIFTROPE_BIN_DIR) + "/test_gguf_empty.bin";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite("abc", 1, 3, f) == 3);
    std::fclose(f);
    f = std::fopen(empty_path.c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  detail::mapped_file m = detail::mapped_file::open(path);
  CHECK(m.is_mapped());
  CHECK(m.size() == 3);
  CHECK(m.name() == path);
  CHECK(std::memcmp(m.data(), "abc", 3) == 0);
  const std::uint8_t* data = m.data();
  detail::mapped_file moved = std::move(m);
  CHECK(moved.data() == data);
  CHECK(moved.size() == 3);
  detail::mapped_file mem = detail::mapped_file::from_bytes({1, 2, 3, 4}, "memory");
  const std::uint8_t* mem_data = mem.data();
  moved = std::move(mem);  // unmaps the file, takes the buffer
  CHECK(moved.data() == mem_data);
  CHECK_FALSE(moved.is_mapped());
  CHECK(moved.name() == "memory");
  CHECK(moved.data()[3] == 4);
  const detail::mapped_file empty = detail::mapped_file::open(empty_path);
  CHECK(empty.empty());
  CHECK(empty.data() == nullptr);
  std::remove(path.c_str());
  std::remove(empty_path.c_str());
  CHECK_THROWS_WITH_AS(detail::mapped_file::open(path), doctest::Contains("No such file"),
                       shiftrope::error);
}

TEST_CASE("mapped_file::read and load_mode::copy: the same bytes in owned huge-page memory") {
  const std::string path = std::string(SHIFTROPE_BIN_DIR) + "/test_gguf_read.bin";
  const std::string empty_path = std::string(SHIFTROPE_BIN_DIR) + "/test_gguf_read_empty.bin";
  // 3 MiB + 5 bytes of a pattern: above the huge-page threshold, odd size.
  std::vector<std::uint8_t> bytes((std::size_t{3} << 20) + 5);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
    std::fclose(f);
    f = std::fopen(empty_path.c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  detail::mapped_file r = detail::mapped_file::read(path);
  CHECK(r.is_copied());
  CHECK_FALSE(r.is_mapped());
  CHECK(r.name() == path);
  REQUIRE(r.size() == bytes.size());
  CHECK(std::memcmp(r.data(), bytes.data(), bytes.size()) == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(r.data()) % (std::size_t{2} << 20) == 0);
  const std::uint8_t* data = r.data();
  detail::mapped_file moved = std::move(r);  // the buffer moves, it is not copied
  CHECK(moved.data() == data);
  CHECK(moved.is_copied());
  moved = detail::mapped_file::from_bytes({9}, "memory");  // frees the read buffer
  CHECK_FALSE(moved.is_copied());
  CHECK(moved.data()[0] == 9);
  CHECK(detail::mapped_file::read(empty_path).empty());
  CHECK_THROWS_WITH_AS(detail::mapped_file::read(SHIFTROPE_BIN_DIR),
                       doctest::Contains("not a regular file"), shiftrope::error);
  std::remove(path.c_str());
  std::remove(empty_path.c_str());
  CHECK_THROWS_WITH_AS(detail::mapped_file::read(path), doctest::Contains("No such file"),
                       shiftrope::error);
  CHECK(parse_load_mode("copy") == load_mode::copy);
  CHECK(parse_load_mode("map") == load_mode::map);
  CHECK_THROWS_WITH_AS((void)parse_load_mode("mmap"), doctest::Contains("\"mmap\""),
                       shiftrope::error);
}

TEST_CASE("load_mode::copy: a real file's entries and tensors equal those of load_mode::map") {
  const std::string model = shared_dir + "/models/stories260K.gguf";
  if (!shared_data::have({model})) return;
  const gguf_file a = gguf_file::open(model);
  const gguf_file b = gguf_file::open(model, {}, load_mode::copy);
  REQUIRE(a.tensors().size() == b.tensors().size());
  REQUIRE(a.metadata().size() == b.metadata().size());
  for (std::size_t i = 0; i < a.metadata().size(); ++i)
    CHECK(a.metadata()[i].value.to_display() == b.metadata()[i].value.to_display());
  for (std::size_t i = 0; i < a.tensors().size(); ++i) {
    CHECK(a.tensors()[i].name == b.tensors()[i].name);
    REQUIRE(a.tensors()[i].n_bytes == b.tensors()[i].n_bytes);
    CHECK(std::memcmp(a.tensors()[i].data, b.tensors()[i].data, a.tensors()[i].n_bytes) == 0);
    CHECK(a.tensors()[i].data != b.tensors()[i].data);
  }
}
