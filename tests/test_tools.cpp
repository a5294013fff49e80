// Tests of the tools: shiftrope-make-model (random-weight GGUF models),
// shiftrope-convert (llama2.c -> GGUF) and the streaming gguf_writer they
// use. References: llama.cpp's own conversion of stories260K
// (stories260K.gguf, tensors and vocabulary), the llama2.c tokenizer, the
// golden logits of an independent implementation, and tables written here
// by hand (tensor names and dims, the llama2.c array order).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/tokenizer.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "model_test_util.hpp"

namespace fs = std::filesystem;
using namespace shiftrope;
using namespace model_test;

namespace {

const std::string kMakeModel = SHIFTROPE_BIN_DIR "/shiftrope-make-model";
const std::string kConvert = SHIFTROPE_BIN_DIR "/shiftrope-convert";

// Logits of the same F32 weights read from two files (same kernels, maybe
// other alignments): equal up to float reassociation.
constexpr double same_weights_tolerance = 1e-5;

// A scratch directory for this test program, removed at exit.
struct scratch_dir {
  fs::path path = fs::temp_directory_path() /
                  ("shiftrope_tools_test_" + std::to_string(static_cast<long>(::getpid())));
  scratch_dir() { fs::create_directories(path); }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& scratch() {
  static const scratch_dir dir;
  return dir.path;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct result {
  int code = -1;  // exit status; -1 when the child did not exit normally
  std::string out, err;
};

result run(const std::string& binary, const std::vector<std::string>& args) {
  REQUIRE_MESSAGE(fs::exists(binary), "the program is not built: ", binary);
  const fs::path out = scratch() / "stdout.txt", err = scratch() / "stderr.txt";
  std::string cmd = quote(binary);
  for (const std::string& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(out.string()) + " 2>" + quote(err.string());
  const int status = std::system(cmd.c_str());
  result r;
  if (status != -1 && WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// Runs and requires success (the message shows stderr otherwise).
void run_ok(const std::string& binary, const std::vector<std::string>& args) {
  const result r = run(binary, args);
  REQUIRE_MESSAGE(r.code == 0, binary, " failed: ", r.err);
}

std::string path(const std::string& name) {
  return (scratch() / name).string();
}

/// The F32 values of a tensor.
std::vector<float> f32_values(const gguf_tensor& t) {
  REQUIRE(t.type == ggml_type::f32);
  std::vector<float> v(static_cast<std::size_t>(t.n_elements));
  std::memcpy(v.data(), t.data, v.size() * sizeof(float));
  return v;
}

// splitmix64, written here for the synthetic checkpoint.
struct rng64 {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(next() >> 40) / 16777216.0f;
  }
};

}  // namespace

// ---------------------------------------------------------------- writer --

TEST_CASE("gguf_writer::write_streamed: same file as to_bytes, producers checked") {
  const std::vector<float> a = {1.0f, -2.0f, 3.5f}, b = {0.25f, 0.5f, 0.75f, 1.0f, 1.25f};
  gguf_writer plain, streamed;
  for (gguf_writer* w : {&plain, &streamed}) {
    w->set_alignment(64);  // padding longer than one tensor
    w->add_string("general.architecture", "llama");
  }
  plain.add_tensor_f32("a", {3}, a);
  plain.add_tensor_f32("b", {5}, b);
  streamed.add_tensor_f32("a", {3}, a);  // stored
  streamed.add_tensor_deferred("b", ggml_type::f32, {5});
  const std::string file = path("streamed.gguf");
  std::vector<std::size_t> calls;
  streamed.write_streamed(file, [&](std::size_t i, const std::string& name, gguf_tensor_sink& s) {
    calls.push_back(i);
    CHECK(name == "b");
    s.put(b.data(), 2 * sizeof(float));  // in two pieces
    s.put(b.data() + 2, 3 * sizeof(float));
  });
  CHECK(calls == std::vector<std::size_t>{1});
  const std::vector<std::uint8_t> expected = plain.to_bytes();
  const std::string got = slurp(file);
  REQUIRE(got.size() == expected.size());
  CHECK(std::memcmp(got.data(), expected.data(), expected.size()) == 0);

  CHECK(error_of([&] { (void)streamed.to_bytes(); }).find("'b' is deferred") != std::string::npos);
  CHECK(error_of([&] { streamed.write_streamed(file, {}); }).find("no producer") !=
        std::string::npos);
  const std::string short_error = error_of([&] {
    streamed.write_streamed(file, [&](std::size_t, const std::string&, gguf_tensor_sink& s) {
      s.put(b.data(), 4 * sizeof(float));
    });
  });
  CHECK(short_error.find("tensor 'b'") != std::string::npos);
  CHECK(short_error.find("left 4 of 20 bytes") != std::string::npos);
  const std::string long_error = error_of([&] {
    streamed.write_streamed(file, [&](std::size_t, const std::string&, gguf_tensor_sink& s) {
      s.put(b.data(), 5 * sizeof(float));
      s.put(b.data(), 1);
    });
  });
  CHECK(long_error.find("tensor 'b'") != std::string::npos);
  CHECK(error_of([&] {
          streamed.add_tensor_deferred("b", ggml_type::f32, {5});
        }).find("duplicate tensor name 'b'") != std::string::npos);
  CHECK(error_of([&] {
          streamed.add_tensor_deferred("q", ggml_type::q8_0, {31});
        }).find("not a whole number") != std::string::npos);
  CHECK(error_of([&] {
          streamed.write_streamed(path("no/such/dir.gguf"), {});
        }).find("cannot create") != std::string::npos);
}

// ------------------------------------------------------------ make-model --

namespace {

/// The tiny model of the next two cases, written once.
const std::string& tiny_model() {
  static const std::string file = [] {
    const std::string f = path("tiny.gguf");
    run_ok(kMakeModel, {"--shape", "tiny", "--seed", "7", "-o", f});
    return f;
  }();
  return file;
}

}  // namespace

TEST_CASE("shiftrope-make-model: tiny llama model's metadata, vocabulary and tensors") {
  const std::string& file = tiny_model();
  const gguf_file f = gguf_file::open(file);
  CHECK(f.get_arch() == "llama");
  CHECK(f.get_uint("llama.context_length") == 256);
  CHECK(f.get_uint("llama.embedding_length") == 64);
  CHECK(f.get_uint("llama.block_count") == 2);
  CHECK(f.get_uint("llama.feed_forward_length") == 160);
  CHECK(f.get_uint("llama.attention.head_count") == 4);
  CHECK(f.get_uint("llama.attention.head_count_kv") == 2);
  CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-5));
  CHECK(f.get_float("llama.rope.freq_base") == 10000.0);
  CHECK(f.get_uint("llama.rope.dimension_count") == 16);
  CHECK(f.get_string("tokenizer.ggml.model") == "llama");
  const std::vector<std::string_view> tokens = f.get_string_array("tokenizer.ggml.tokens");
  const std::vector<std::int64_t> types = f.get_int_array("tokenizer.ggml.token_type");
  REQUIRE(tokens.size() == 512);
  REQUIRE(types.size() == 512);
  CHECK(f.get_float_array("tokenizer.ggml.scores").size() == 512);
  CHECK(tokens[0] == "<unk>");
  CHECK(tokens[1] == "<s>");
  CHECK(tokens[2] == "</s>");
  CHECK(types[0] == 2);
  CHECK(types[1] == 3);
  CHECK(types[2] == 3);
  for (int b = 0; b < 256; ++b) {
    char want[8];
    std::snprintf(want, sizeof want, "<0x%02X>", b);
    CHECK(tokens[static_cast<std::size_t>(3 + b)] == want);
    CHECK(types[static_cast<std::size_t>(3 + b)] == 6);
  }
  for (std::size_t i = 259; i < 512; ++i) CHECK(types[i] == 1);

  // Names and dims (ne[0] = input dim), written out by hand.
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> expected = {
      {"token_embd.weight", {64, 512}}, {"output_norm.weight", {64}}, {"output.weight", {64, 512}}};
  for (const std::string l : {"0", "1"}) {
    const std::string p = "blk." + l + ".";
    expected.insert(expected.end(), {{p + "attn_norm.weight", {64}},
                                     {p + "attn_q.weight", {64, 64}},
                                     {p + "attn_k.weight", {64, 32}},
                                     {p + "attn_v.weight", {64, 32}},
                                     {p + "attn_output.weight", {64, 64}},
                                     {p + "ffn_norm.weight", {64}},
                                     {p + "ffn_gate.weight", {64, 160}},
                                     {p + "ffn_up.weight", {64, 160}},
                                     {p + "ffn_down.weight", {160, 64}}});
  }
  CHECK(f.tensors().size() == expected.size());
  for (const auto& [name, dims] : expected) {
    const gguf_tensor* t = f.find_tensor(name);
    REQUIRE_MESSAGE(t != nullptr, name);
    CHECK_MESSAGE(t->dims == dims, name);
    CHECK(t->type == ggml_type::f32);
  }

  // Values: matrices within ±1/sqrt(n_in) and spread over it; gains near 1.
  const std::vector<float> wq = f32_values(f.tensor("blk.0.attn_q.weight"));
  float max_abs = 0;
  double mean = 0;
  for (const float x : wq) max_abs = std::max(max_abs, std::fabs(x)), mean += x;
  mean /= static_cast<double>(wq.size());
  CHECK(max_abs <= 0.125f);
  CHECK(max_abs > 0.12f);
  CHECK(std::fabs(mean) < 0.01);
  for (const float g : f32_values(f.tensor("blk.1.ffn_norm.weight"))) {
    CHECK(g >= 0.9f);
    CHECK(g <= 1.1f);
  }
}

TEST_CASE("shiftrope-make-model: the tiny model loads, runs and tokenizes") {
  const std::string& file = tiny_model();
  const gguf_file f = gguf_file::open(file);
  const model m = model::from_gguf(gguf_file::open(file));
  CHECK(m.config().head_dim == 16);
  CHECK(m.config().rope.pairing == rope_pairing::interleaved);
  CHECK(!m.config().tied_output);
  CHECK(!m.config().qkv_bias);
  session s(m);
  const std::vector<float> logits = s.forward({1, 300, 42}, 0);
  REQUIRE(logits.size() == 512);
  float lo = logits[0], hi = logits[0];
  for (const float x : logits) {
    REQUIRE(std::isfinite(x));
    lo = std::min(lo, x), hi = std::max(hi, x);
  }
  CHECK(hi - lo > 0.1f);  // not a constant row

  const tokenizer tok = tokenizer::from_gguf(f);
  const std::vector<int> ids = tok.encode("hello world", true);
  CHECK(ids.front() == 1);
  CHECK(tok.decode(ids) == "hello world");
}

TEST_CASE("shiftrope-make-model: seeds, qwen2, phi3, custom shapes and weight types") {
  const std::string a = path("seed1.gguf"), b = path("seed1b.gguf"), c = path("seed2.gguf");
  run_ok(kMakeModel, {"--shape", "tiny", "-o", a});
  run_ok(kMakeModel, {"--shape", "tiny", "--seed", "1", "-o", b});
  run_ok(kMakeModel, {"--shape", "tiny", "--seed", "2", "-o", c});
  CHECK(slurp(a) == slurp(b));
  CHECK(slurp(a) != slurp(c));
  CHECK(!fs::exists(a + ".partial"));

  SUBCASE("qwen2: biases, half-split RoPE, base 1e6") {
    const std::string q = path("qwen2.gguf");
    run_ok(kMakeModel, {"--shape", "tiny", "--arch", "qwen2", "--tied", "-o", q});
    const gguf_file f = gguf_file::open(q);
    CHECK(f.get_arch() == "qwen2");
    CHECK(f.get_float("qwen2.rope.freq_base") == 1e6);
    CHECK(f.find_tensor("output.weight") == nullptr);
    const gguf_tensor& bias = f.tensor("blk.1.attn_k.bias");
    CHECK(bias.dims == std::vector<std::uint64_t>{32});
    for (const float x : f32_values(bias)) CHECK(std::fabs(x) <= 0.1f);
    const model m = model::from_gguf(gguf_file::open(q));
    CHECK(m.config().rope.pairing == rope_pairing::half_split);
    CHECK(m.config().qkv_bias);
    CHECK(m.config().tied_output);
    CHECK(m.config().rms_eps == doctest::Approx(1e-6));
    session s(m);
    for (const float x : s.forward({5, 6}, 0)) REQUIRE(std::isfinite(x));
  }
  SUBCASE("phi3: fused attn_qkv (GQA) and gate/up, half-split RoPE") {
    const std::string q = path("phi3.gguf");
    run_ok(kMakeModel, {"--shape", "tiny", "--arch", "phi3", "-o", q});
    const gguf_file f = gguf_file::open(q);
    CHECK(f.get_arch() == "phi3");
    CHECK(f.tensor("blk.0.attn_qkv.weight").dims == std::vector<std::uint64_t>{64, 64 + 2 * 32});
    CHECK(f.tensor("blk.1.ffn_up.weight").dims == std::vector<std::uint64_t>{64, 2 * 160});
    CHECK(f.find_tensor("blk.0.attn_q.weight") == nullptr);
    CHECK(f.find_tensor("blk.0.ffn_gate.weight") == nullptr);
    const model m = model::from_gguf(gguf_file::open(q));
    CHECK(m.config().arch == model_arch::phi3);
    CHECK(m.config().rope.pairing == rope_pairing::half_split);
    CHECK_FALSE(m.config().qkv_bias);
    session s(m);
    for (const float x : s.forward({5, 6}, 0)) REQUIRE(std::isfinite(x));
  }
  SUBCASE("custom shape, Q8_0 where rows are whole blocks, F32 elsewhere") {
    const std::string q = path("custom.gguf");
    const result r = run(kMakeModel, {"--n-embd", "96", "--n-layers", "1", "--n-heads", "3",
                                      "--n-kv-heads", "1", "--n-ff", "100", "--vocab", "300",
                                      "--ctx", "77", "--weights", "q8_0", "-o", q});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(r.err.find("blk.0.ffn_down.weight stays f32 (row length 100") != std::string::npos);
    const gguf_file f = gguf_file::open(q);
    CHECK(f.get_uint("llama.context_length") == 77);
    CHECK(f.tensor("blk.0.attn_k.weight").dims == std::vector<std::uint64_t>{96, 32});
    CHECK(f.tensor("blk.0.attn_q.weight").type == ggml_type::q8_0);
    CHECK(f.tensor("token_embd.weight").type == ggml_type::q8_0);
    CHECK(f.tensor("blk.0.ffn_down.weight").type == ggml_type::f32);
    CHECK(f.tensor("blk.0.ffn_norm.weight").type == ggml_type::f32);
    const model m = model::from_gguf(gguf_file::open(q));
    CHECK(m.config().head_dim == 32);
    session s(m);
    for (const float x : s.forward({1, 2, 299}, 0)) REQUIRE(std::isfinite(x));
  }
  SUBCASE("F16 and BF16: the F32 model's values, rounded") {
    const gguf_file f32 = gguf_file::open(a);
    for (const char* type : {"f16", "bf16"}) {
      const std::string q = path(std::string("tiny-") + type + ".gguf");
      run_ok(kMakeModel, {"--shape", "tiny", "--weights", type, "-o", q});
      const gguf_file f = gguf_file::open(q);
      const gguf_tensor& t = f.tensor("blk.1.ffn_up.weight");
      const std::vector<float> ref = f32_values(f32.tensor("blk.1.ffn_up.weight"));
      REQUIRE(t.type == (type[0] == 'f' ? ggml_type::f16 : ggml_type::bf16));
      for (std::size_t i = 0; i < ref.size(); ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, t.data + 2 * i, 2);
        const std::uint16_t want =
            t.type == ggml_type::f16 ? to_f16(ref[i]).bits : to_bf16(ref[i]).bits;
        REQUIRE(bits == want);
      }
      const model m = model::from_gguf(gguf_file::open(q));
      session s(m);
      for (const float x : s.forward({1, 2, 3}, 0)) REQUIRE(std::isfinite(x));
    }
  }
}

// --------------------------------------------------------------- convert --

namespace {

// The three prompts of ../shared/models/README.md.
const char* const readme_prompts[] = {"Once upon a time", "Lily and Tom", "The cat"};

// Teacher-forced logits of stories260K with Q8_0 matrices (ffn_down F32) vs
// the golden F32 logits; the model tests measured 0.27 with ffn_down in F16.
constexpr double q8_0_golden_tolerance = 0.5;

/// Q8_0 of 32 floats by the GGUF rule, written plainly: d = max|x| / 127,
/// q = roundf(x / d) (x * (1/d) in float), the scale stored as f16.
std::vector<std::uint8_t> naive_q8_0(const float* x) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  std::vector<std::uint8_t> out(34);
  const std::uint16_t scale = to_f16(d).bits;
  std::memcpy(out.data(), &scale, 2);
  for (int i = 0; i < 32; ++i)
    out[static_cast<std::size_t>(2 + i)] =
        static_cast<std::uint8_t>(static_cast<std::int8_t>(std::roundf(x[i] * id)));
  return out;
}

std::string bytes_of(const gguf_tensor& t) {
  return std::string(reinterpret_cast<const char*>(t.data), static_cast<std::size_t>(t.n_bytes));
}

}  // namespace

TEST_CASE("shiftrope-convert: stories260K as llama.cpp converts it, tokenizer and goldens") {
  if (!have({shared("stories260K.bin"), shared("tok512.bin"), shared("stories260K.gguf"),
             shared("golden/story64.tokens"), shared("golden/story64.rope.logits.f32")}))
    return;
  const std::string file = path("stories.gguf");
  run_ok(kConvert, {shared("stories260K.bin"), "-z", shared("tok512.bin"), "-o", file});
  const gguf_file got = gguf_file::open(file);
  const gguf_file ref = gguf_file::open(shared("stories260K.gguf"));

  // Every tensor bit-identical to llama.cpp's; its output.weight is a copy
  // of token_embd (shared classifier), which ours leaves tied.
  for (const gguf_tensor& t : got.tensors()) {
    const gguf_tensor* r = ref.find_tensor(t.name);
    REQUIRE_MESSAGE(r != nullptr, t.name);
    CHECK_MESSAGE(t.dims == r->dims, t.name);
    CHECK_MESSAGE(t.type == r->type, t.name);
    CHECK_MESSAGE(bytes_of(t) == bytes_of(*r), t.name);
  }
  CHECK(got.tensors().size() + 1 == ref.tensors().size());
  CHECK(got.find_tensor("output.weight") == nullptr);
  CHECK(bytes_of(ref.tensor("output.weight")) == bytes_of(ref.tensor("token_embd.weight")));

  // Hyper-parameters as llama.cpp wrote them, except the training length
  // (the checkpoint's seq_len 512, not the converter's default 2048).
  for (const char* key :
       {"llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
        "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id"})
    CHECK_MESSAGE(got.get_uint(key) == ref.get_uint(key), key);
  CHECK(got.get_float("llama.attention.layer_norm_rms_epsilon") ==
        ref.get_float("llama.attention.layer_norm_rms_epsilon"));
  CHECK(got.get_uint("llama.context_length") == 512);
  CHECK(got.get_string("general.name") == "stories260K");
  // The vocabulary as llama.cpp converted it: pieces, scores, types.
  CHECK(got.get_string_array("tokenizer.ggml.tokens") ==
        ref.get_string_array("tokenizer.ggml.tokens"));
  CHECK(got.get_float_array("tokenizer.ggml.scores") ==
        ref.get_float_array("tokenizer.ggml.scores"));
  CHECK(got.get_int_array("tokenizer.ggml.token_type") ==
        ref.get_int_array("tokenizer.ggml.token_type"));

  // Our tokenizer from the converted file encodes like the llama2.c one.
  const tokenizer from_gguf = tokenizer::from_gguf(got);
  const tokenizer from_bin = tokenizer::from_llama2c(read_llama2c_vocab(shared("tok512.bin"), 512));
  for (const char* prompt : readme_prompts) {
    const std::vector<int> ids = from_gguf.encode(prompt, true);
    CHECK_MESSAGE(ids == from_bin.encode(prompt, true), prompt);
    CHECK(ids.size() > 2);
    CHECK(from_gguf.decode(ids) == prompt);
  }

  const model m = model::open(file);
  CHECK(m.config().train_len == 512);
  session s(m);
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  const logit_diff d =
      compare_logits(s.forward(tokens, 0, logits_rows::all),
                     read_f32(shared("golden/story64.rope.logits.f32")), m.config().n_vocab);
  MESSAGE("converted stories260K vs golden: max |diff| = ", d.max_abs);
  CHECK(d.max_abs <= golden_tolerance);
  CHECK(d.argmax_mismatches == 0);

  SUBCASE("--context-length and --name") {
    const std::string other = path("stories-2048.gguf");
    run_ok(kConvert, {shared("stories260K.bin"), "-z", shared("tok512.bin"), "--context-length",
                      "2048", "--name", "tiny stories", "-o", other});
    const gguf_file f = gguf_file::open(other);
    CHECK(f.get_uint("llama.context_length") == 2048);
    CHECK(f.get_string("general.name") == "tiny stories");
  }
}

TEST_CASE("shiftrope-convert: F16, BF16 and Q8_0 matrices") {
  if (!have({shared("stories260K.bin"), shared("tok512.bin"), shared("golden/story64.tokens"),
             shared("golden/story64.rope.logits.f32")}))
    return;
  const llama2c_checkpoint ck = llama2c_checkpoint::open(shared("stories260K.bin"));
  const float* wq2 = ck.wq().layer(2);  // [64 × 64]
  for (const char* type : {"f16", "bf16"}) {
    const std::string file = path(std::string("stories-") + type + ".gguf");
    run_ok(kConvert,
           {shared("stories260K.bin"), "-z", shared("tok512.bin"), "--weights", type, "-o", file});
    const gguf_file f = gguf_file::open(file);
    const gguf_tensor& t = f.tensor("blk.2.attn_q.weight");
    CHECK(f.tensor("blk.2.ffn_down.weight").type == t.type);  // no block constraint
    CHECK(f.tensor("blk.2.ffn_norm.weight").type == ggml_type::f32);
    for (std::size_t i = 0; i < 64 * 64; ++i) {
      std::uint16_t bits;
      std::memcpy(&bits, t.data + 2 * i, 2);
      REQUIRE(bits == (type[0] == 'f' ? to_f16(wq2[i]).bits : to_bf16(wq2[i]).bits));
    }
  }
  const std::string file = path("stories-q8_0.gguf");
  const result r = run(kConvert, {shared("stories260K.bin"), "-z", shared("tok512.bin"),
                                  "--weights", "q8_0", "-o", file});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.err.find("blk.4.ffn_down.weight stays f32 (row length 172") != std::string::npos);
  const gguf_file f = gguf_file::open(file);
  CHECK(f.tensor("blk.4.ffn_down.weight").type == ggml_type::f32);
  const gguf_tensor& q = f.tensor("blk.2.attn_q.weight");
  REQUIRE(q.type == ggml_type::q8_0);
  for (std::size_t b = 0; b < 64 * 64 / 32; ++b) {
    const std::vector<std::uint8_t> want = naive_q8_0(wq2 + 32 * b);
    REQUIRE(std::memcmp(q.data + 34 * b, want.data(), 34) == 0);
  }
  const model m = model::open(file);
  session s(m);
  const logit_diff d =
      compare_logits(s.forward(read_tokens(shared("golden/story64.tokens")), 0, logits_rows::all),
                     read_f32(shared("golden/story64.rope.logits.f32")), m.config().n_vocab);
  MESSAGE("stories260K Q8_0 (ffn_down F32) vs golden: max |diff| = ", d.max_abs);
  CHECK(d.max_abs <= q8_0_golden_tolerance);
}

namespace {

// A llama2.c checkpoint written here: dim 48, hidden 64, 2 layers, 4 heads
// (head size 12), 2 KV heads, vocab 258, seq_len 40, separate classifier.
struct synthetic_checkpoint {
  static constexpr int dim = 48, hidden = 64, layers = 2, heads = 4, kv_heads = 2, vocab = 258,
                       seq_len = 40, hs = dim / heads, kv_dim = kv_heads * hs;
  // The arrays in file order, with their GGUF names per layer ("" = skipped).
  struct array {
    std::string gguf_name;            // "blk.%d.attn_q.weight"-style pattern or a plain name
    std::vector<std::uint64_t> dims;  // GGUF dims of one layer's slice
    bool per_layer;
    std::vector<float> values;
  };
  std::vector<array> arrays;

  explicit synthetic_checkpoint(std::uint64_t seed) {
    rng64 rng{seed};
    const auto add = [&](std::string name, std::vector<std::uint64_t> dims, bool per_layer,
                         float lo, float hi) {
      std::size_t n = per_layer ? layers : 1;
      for (auto d : dims) n *= d;
      std::vector<float> v(n);
      for (float& x : v) x = rng.uniform(lo, hi);
      arrays.push_back({std::move(name), std::move(dims), per_layer, std::move(v)});
    };
    const std::uint64_t d = dim, h = hidden, kv = kv_dim, voc = vocab;
    add("token_embd.weight", {d, voc}, false, -1, 1);
    add("attn_norm.weight", {d}, true, 0.8f, 1.2f);
    add("attn_q.weight", {d, d}, true, -0.3f, 0.3f);
    add("attn_k.weight", {d, kv}, true, -0.3f, 0.3f);
    add("attn_v.weight", {d, kv}, true, -0.3f, 0.3f);
    add("attn_output.weight", {d, d}, true, -0.3f, 0.3f);
    add("ffn_norm.weight", {d}, true, 0.8f, 1.2f);
    add("ffn_gate.weight", {d, h}, true, -0.3f, 0.3f);
    add("ffn_down.weight", {h, d}, true, -0.3f, 0.3f);
    add("ffn_up.weight", {d, h}, true, -0.3f, 0.3f);
    add("output_norm.weight", {d}, false, 0.8f, 1.2f);
    add("", {static_cast<std::uint64_t>(seq_len * hs / 2)}, false, -1, 1);  // legacy RoPE tables
    add("", {static_cast<std::uint64_t>(seq_len * hs / 2)}, false, -1, 1);
    add("output.weight", {d, voc}, false, -1, 1);
  }

  void write(const std::string& file) const {
    std::ofstream out(file, std::ios::binary);
    const std::int32_t header[7] = {dim, hidden, layers, heads, kv_heads, -vocab, seq_len};
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    for (const array& a : arrays)
      out.write(reinterpret_cast<const char*>(a.values.data()),
                static_cast<std::streamsize>(a.values.size() * sizeof(float)));
  }
};

}  // namespace

TEST_CASE("shiftrope-convert --byte-vocab: synthetic checkpoint round trip, bytes = ids") {
  const synthetic_checkpoint ck(2024);
  const std::string bin = path("bytes.bin"), file = path("bytes.gguf");
  ck.write(bin);
  run_ok(kConvert, {bin, "--byte-vocab", "-o", file});
  const gguf_file f = gguf_file::open(file);
  CHECK(f.get_uint("llama.context_length") == 40);
  CHECK(f.get_uint("llama.embedding_length") == 48);
  CHECK(f.get_uint("llama.attention.head_count") == 4);
  CHECK(f.get_uint("llama.attention.head_count_kv") == 2);
  CHECK(f.get_uint("llama.rope.dimension_count") == 12);
  std::size_t n_tensors = 0;
  for (const auto& a : ck.arrays) {
    if (a.gguf_name.empty()) continue;
    const std::size_t slice = a.values.size() / (a.per_layer ? 2 : 1);
    for (int l = 0; l < (a.per_layer ? 2 : 1); ++l) {
      const std::string name =
          a.per_layer ? "blk." + std::to_string(l) + "." + a.gguf_name : a.gguf_name;
      const gguf_tensor& t = f.tensor(name);
      ++n_tensors;
      CHECK_MESSAGE(t.dims == a.dims, name);
      const std::string want(reinterpret_cast<const char*>(a.values.data() + l * slice),
                             slice * sizeof(float));
      CHECK_MESSAGE(bytes_of(t) == want, name);
    }
  }
  CHECK(f.tensors().size() == n_tensors);

  // The vocabulary: ids 0..255 are the bytes, 256 BOS, 257 EOS.
  const tokenizer tok = tokenizer::from_gguf(f);
  CHECK(tok.n_vocab() == 258);
  CHECK(tok.bos() == 256);
  CHECK(tok.eos() == 257);
  CHECK(tok.add_bos_default());
  CHECK(tok.type(256) == token_type::control);
  CHECK(tok.type(257) == token_type::control);
  const std::string text = "Hello, w\xC3\xB6rld";  // "Hello, wörld"
  std::vector<int> bytes;
  for (const char c : text) bytes.push_back(static_cast<unsigned char>(c));
  CHECK(tok.encode(text, false) == bytes);
  CHECK(tok.decode(bytes) == text);
  std::vector<int> with_bos = bytes;
  with_bos.insert(with_bos.begin(), 256);
  CHECK(tok.encode(text, true) == with_bos);
  CHECK(tok.decode(with_bos) == text);
  CHECK(tok.encode(" a  b ", false) == std::vector<int>{32, 97, 32, 32, 98, 32});
  std::string all;
  std::vector<int> all_ids;
  for (int b = 0; b < 256; ++b) {
    all += static_cast<char>(b);
    all_ids.push_back(b);
    CHECK(tok.piece(b) == std::string(1, static_cast<char>(b)));
  }
  CHECK(tok.encode(all, false) == all_ids);
  // The documented exception: U+2581 is how the vocabulary spells a space.
  CHECK(tok.encode("\xE2\x96\x81", false) == std::vector<int>{32});

  // The same logits from the GGUF file as from the checkpoint itself.
  const model from_bin = model::open(bin), from_gguf = model::open(file);
  CHECK(!from_gguf.config().tied_output);
  session a(from_bin), b(from_gguf);
  const std::vector<int> ids = {256, 72, 101, 108, 108, 111, 32, 257, 0, 255};
  const std::vector<float> la = a.forward(ids, 0, logits_rows::all);
  const std::vector<float> lb = b.forward(ids, 0, logits_rows::all);
  const logit_diff d = compare_logits(la, lb, 258);
  CHECK(d.max_abs <= same_weights_tolerance);
}

// ----------------------------------------------------------- bad input --

TEST_CASE("tools: bad flags and inputs exit 2 with one line naming the problem") {
  const synthetic_checkpoint ck(7);
  const std::string bin = path("bad-input.bin"), out = path("never.gguf");
  ck.write(bin);
  const std::string truncated = path("truncated.bin");
  {
    const std::string all = slurp(bin);
    std::ofstream(truncated, std::ios::binary).write(all.data(), 1000);
  }
  struct bad_case {
    const std::string* binary;
    std::vector<std::string> args;
    const char* expect;  // must appear in the one line on stderr
  };
  const std::vector<bad_case> cases = {
      {&kMakeModel, {}, "--n-embd: required without --shape"},
      {&kMakeModel, {"--shape", "tiny"}, "-o: required"},
      {&kMakeModel, {"--shape", "big", "-o", out}, "--shape: unknown shape 'big'"},
      {&kMakeModel, {"--shape", "tiny", "--weights", "q4_0", "-o", out}, "--weights"},
      {&kMakeModel, {"--shape", "tiny", "--arch", "gpt2", "-o", out}, "--arch"},
      {&kMakeModel, {"--shape", "tiny", "--n-embd", "0", "-o", out}, "--n-embd"},
      {&kMakeModel, {"--shape", "tiny", "--n-embd", "6x", "-o", out}, "--n-embd"},
      {&kMakeModel, {"--shape", "tiny", "--n-heads", "5", "-o", out}, "--n-heads"},
      {&kMakeModel, {"--shape", "tiny", "--n-heads", "64", "-o", out}, "must be even"},
      {&kMakeModel, {"--shape", "tiny", "--n-kv-heads", "3", "-o", out}, "--n-kv-heads"},
      {&kMakeModel, {"--shape", "tiny", "--vocab", "100", "-o", out}, "--vocab"},
      {&kMakeModel, {"--shape", "tiny", "--ctx", "0", "-o", out}, "--ctx"},
      {&kMakeModel, {"--shape", "tiny", "--seed", "-1", "-o", out}, "--seed"},
      {&kMakeModel, {"--shape", "tiny", "--tied=1", "-o", out}, "--tied"},
      {&kMakeModel, {"--shape", "tiny", "--bogus", "-o", out}, "--bogus: unknown flag"},
      {&kMakeModel, {"--shape", "tiny", "-o"}, "-o: missing value"},
      {&kMakeModel, {"--shape", "tiny", "-o", path("no/such/dir/x.gguf")}, "cannot create"},
      {&kConvert, {}, "CHECKPOINT"},
      {&kConvert, {bin, "-o", out}, "-z"},
      {&kConvert, {bin, "--byte-vocab"}, "-o: required"},
      {&kConvert, {bin, "--byte-vocab", "-z", bin, "-o", out}, "cannot be combined"},
      {&kConvert, {bin, "--byte-vocab", "--weights", "q4", "-o", out}, "--weights"},
      {&kConvert, {bin, "--byte-vocab", "--context-length", "0", "-o", out}, "--context-length"},
      {&kConvert, {bin, "--byte-vocab", "--name", "", "-o", out}, "--name"},
      {&kConvert, {bin, "--byte-vocab", "--wat", "-o", out}, "--wat: unknown flag"},
      {&kConvert, {bin, "--byte-vocab", "-o", out, "extra"}, "unexpected argument"},
      {&kConvert, {path("missing.bin"), "--byte-vocab", "-o", out}, "missing.bin"},
      {&kConvert, {truncated, "--byte-vocab", "-o", out}, "truncated.bin"},
      {&kConvert, {bin, "-z", bin, "-o", out}, "bad-input.bin"},  // not a tokenizer.bin
  };
  for (const bad_case& c : cases) {
    std::string joined;
    for (const std::string& a : c.args) joined += " " + a;
    CAPTURE(joined);
    const result r = run(*c.binary, c.args);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.back() == '\n');
    CHECK_MESSAGE(r.err.find(c.expect) != std::string::npos, r.err);
    CHECK(!fs::exists(out));
    CHECK(!fs::exists(out + ".partial"));
  }
  for (const std::string* binary : {&kMakeModel, &kConvert}) {
    const result r = run(*binary, {"--help"});
    CHECK(r.code == 0);
    CHECK(r.out.find("usage:") == 0);
  }
}

TEST_CASE("tools: --byte-vocab on stories260K.bin (vocabulary 512) exits 2 naming the size") {
  if (!have({shared("stories260K.bin")})) return;
  const std::string out = path("never.gguf");
  const result r = run(kConvert, {shared("stories260K.bin"), "--byte-vocab", "-o", out});
  CHECK(r.code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find("vocab_size 512, not 258") != std::string::npos);
  CHECK(!fs::exists(out));
}
