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
#include <shiftrope/quantize.hpp>
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
      {&kMakeModel,
       {"--shape", "tiny", "--weights", "q4", "-o", out},
       "--weights: unknown weight type 'q4' (expected one of: f32, f16, bf16, q8_0, q4_0"},
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

// -------------------------------------------------------------- quantize --

namespace {

/// The quantized weight types (every weight type but F32, F16, BF16).
std::vector<weight_type> quantized_types() {
  std::vector<weight_type> out;
  for (std::size_t i = 0; i < weight_type_count; ++i) {
    const auto t = static_cast<weight_type>(i);
    if (weight_info(t).block_size > 1) out.push_back(t);
  }
  return out;
}

float half_at(const std::uint8_t* p) {
  f16 h;
  std::memcpy(&h.bits, p, 2);
  return to_float(h);
}

/// The largest error quantize_row may make on element e of a block, read
/// plainly from the block's stored scales (bytes as GGUF lays them out):
/// `step` is the distance between neighbouring levels of the element's
/// grid, `factor` the share of a step the quantizer promises (quantize.hpp:
/// half a step where the grid covers the block, one step at the clipped end
/// of a symmetric grid, 14 units for the IQ4 table), `extra` the rounding
/// of f16 scales where the levels are computed with the unrounded scale.
double error_bound(weight_type t, const std::uint8_t* b, int e) {
  const double rel = 1.0 / 1024;  // f16 scales round by at most 2^-11
  double step = 0, factor = 0, extra = 0;
  switch (t) {
    case weight_type::q8_0:  // q = round(x / d) with the unrounded d: 0.5 step + 127 |d - f16(d)|
      step = std::fabs(half_at(b)), factor = 0.5, extra = 127 * step * rel;
      break;
    case weight_type::q4_0:  // d = max / -8: levels -8 .. 7
    case weight_type::q5_0:  // d = max / -16: levels -16 .. 15
      step = std::fabs(half_at(b)), factor = 1.0, extra = 16 * step * rel;
      break;
    case weight_type::q4_1:  // d = (max - min) / 15 or 31, m = min
    case weight_type::q5_1:
      step = std::fabs(half_at(b)), factor = 0.5,
      extra = 31 * step * rel + std::fabs(half_at(b + 2)) * rel;
      break;
    case weight_type::iq4_nl:  // table -127 .. 113: gaps <= 24, 14 above 113
      step = std::fabs(half_at(b)), factor = 14.0;
      break;
    case weight_type::q2_k:  // 4-bit sub-block scales in the low nibbles of bytes 0..15
      step = half_at(b + 80) * (b[e / 16] & 15), factor = 0.5;
      break;
    case weight_type::q3_k: {  // 6-bit scales, offset 32, in bytes 96..107
      const int s = e / 16;
      const int lo = s < 8 ? b[96 + s] & 15 : b[96 + s - 8] >> 4;
      const int hi = (b[104 + s % 4] >> (2 * (s / 4))) & 3;
      step = std::fabs(half_at(b + 108) * ((lo | hi << 4) - 32)), factor = 1.0;
      break;
    }
    case weight_type::q4_k:
    case weight_type::q5_k: {  // 6-bit scales in bytes 4..15
      const int s = e / 32;
      const std::uint8_t* q = b + 4;
      const int sc = s < 4 ? q[s] & 63 : (q[s + 4] & 15) | (q[s - 4] >> 6) << 4;
      step = half_at(b) * sc, factor = 0.5;
      break;
    }
    case weight_type::q6_k:  // int8 scales in bytes 192..207
      step = std::fabs(half_at(b + 208) * static_cast<std::int8_t>(b[192 + e / 16]));
      factor = 1.0;
      break;
    case weight_type::iq4_xs: {  // 6-bit scales, offset 32: nibbles at 4..7, top bits at 2..3
      const int s = e / 32;
      const int hi = ((b[2] | b[3] << 8) >> (2 * s)) & 3;
      const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 15) | hi << 4;
      step = std::fabs(half_at(b) * (ls - 32)), factor = 14.0;
      break;
    }
    default:
      FAIL("no bound for ", weight_type_name(t));
  }
  return factor * step * (1 + 1e-5) + extra;
}

/// Checks that the n weights of type t at `bytes` decode (dequantize_row)
/// to x within error_bound, element by element.
void check_decodes_near(weight_type t, const std::uint8_t* bytes, const float* x, std::size_t n) {
  const weight_type_info& info = weight_info(t);
  std::vector<float> y(n);
  dequantize_row(t, bytes, y.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* block = bytes + (i / info.block_size) * info.unit_bytes;
    const double err = std::fabs(static_cast<double>(x[i]) - y[i]);
    const double bound = error_bound(t, block, static_cast<int>(i % info.block_size));
    if (err > bound) {
      CAPTURE(i);
      CAPTURE(x[i]);
      CAPTURE(y[i]);
      CHECK(err <= bound);
      return;
    }
  }
}

/// quantize_row, then check_decodes_near.
void check_round_trip(weight_type t, const std::vector<float>& x) {
  std::vector<std::uint8_t> bytes(weight_row_bytes(t, x.size()));
  quantize_row(t, x.data(), bytes.data(), x.size());
  check_decodes_near(t, bytes.data(), x.data(), x.size());
}

/// A row that type t represents exactly under quantize_row's rule: integer
/// levels (in a scrambled order, so that a misplaced bit shows), the
/// extreme level in every (sub-)block so that the scales come out as the
/// integers chosen, and sub-block scales (and minimums) that differ.
std::vector<float> exact_row(weight_type t, std::size_t n) {
  std::vector<float> x(n);
  const auto level = [](std::size_t i, int levels) {
    return static_cast<int>((i * 7 + i / 5 + 3) % static_cast<std::size_t>(levels));
  };
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t sub16 = i / 16, sub32 = i / 32;
    float v = 0;
    switch (t) {
      case weight_type::q8_0:  // d = 127 / 127 = 1
        v = i % 32 == 5 ? 127.0f : static_cast<float>(level(i, 255) - 127);
        break;
      case weight_type::q4_0:  // d = -8 / -8 = 1: levels -8 .. 7
        v = i % 32 == 9 ? -8.0f : static_cast<float>(level(i, 16) - 8);
        break;
      case weight_type::q5_0:
        v = i % 32 == 9 ? -16.0f : static_cast<float>(level(i, 32) - 16);
        break;
      case weight_type::q4_1:  // min -5, max 10: d = 1
        v = static_cast<float>((i % 32 == 0 ? 0 : i % 32 == 1 ? 15 : level(i, 16)) - 5);
        break;
      case weight_type::q5_1:
        v = static_cast<float>((i % 32 == 0 ? 0 : i % 32 == 1 ? 31 : level(i, 32)) - 9);
        break;
      case weight_type::iq4_nl:  // the table itself, -127 in every block: d = 1
        v = iq4_values[i % 32 == 3 ? 0 : level(i, 16)];
        break;
      case weight_type::q2_k: {  // scale s (1..15, 15 somewhere) and min 3 m (m 0..15)
        const int s = sub16 % 16 == 4 ? 15 : 1 + static_cast<int>(sub16 * 5 % 15);
        const int m = sub16 % 16 == 7 ? 15 : static_cast<int>(sub16 * 3 % 16);
        const int q = i % 16 == 0 ? 0 : i % 16 == 1 ? 3 : level(i, 4);
        v = static_cast<float>(s * q - 3 * m);
        break;
      }
      case weight_type::q4_k:
      case weight_type::q5_k: {  // scale s (1..63) and min m (0..63), 63 somewhere
        const int top = t == weight_type::q4_k ? 15 : 31;
        const int s = sub32 % 8 == 2 ? 63 : 1 + static_cast<int>(sub32 * 11 % 63);
        const int m = sub32 % 8 == 5 ? 63 : static_cast<int>(sub32 * 13 % 64);
        const int q = i % 32 == 0 ? 0 : i % 32 == 1 ? top : level(i, top + 1);
        v = static_cast<float>(s * q - m);
        break;
      }
      case weight_type::q3_k: {  // signed scale (|s| <= 31, 31 somewhere), levels -4 .. 3
        const int s =
            sub16 % 16 == 6 ? 31 : (sub16 % 2 ? -1 : 1) * (1 + static_cast<int>(sub16 * 7 % 30));
        v = static_cast<float>(s * (i % 16 == 2 ? -4 : level(i, 8) - 4));
        break;
      }
      case weight_type::q6_k: {  // signed scale (|s| <= 127), levels -32 .. 31
        const int s = sub16 % 16 == 6
                          ? -127
                          : (sub16 % 2 ? -1 : 1) * (1 + static_cast<int>(sub16 * 37 % 126));
        v = static_cast<float>(s * (i % 16 == 2 ? -32 : level(i, 64) - 32));
        break;
      }
      case weight_type::iq4_xs: {  // signed scale (|s| <= 31) times the table
        const int s =
            sub32 % 8 == 6 ? 31 : (sub32 % 2 ? -1 : 1) * (1 + static_cast<int>(sub32 * 7 % 30));
        v = static_cast<float>(s * iq4_values[i % 32 == 2 ? 0 : level(i, 16)]);
        break;
      }
      default:
        FAIL("no exact row for ", weight_type_name(t));
    }
    x[i] = v;
  }
  return x;
}

}  // namespace

TEST_CASE("quantize_row: random rows decode within the block's step") {
  rng64 rng{42};
  for (const weight_type t : quantized_types()) {
    CAPTURE(weight_type_name(t));
    const std::size_t n = 1024;  // 4 super-blocks, 32 blocks of 32
    struct range {
      float lo, hi;
    };
    // Symmetric, large, all positive (K-quant minimums at 0), all negative,
    // small (sub-block scales near the bottom of f16's normal range), an
    // offset band.
    for (const range r : {range{-1, 1}, range{-3000, 3000}, range{0, 5}, range{-2, -0.5f},
                          range{-0.01f, 0.01f}, range{9, 11}}) {
      CAPTURE(r.lo);
      std::vector<float> x(n);
      for (float& v : x) v = rng.uniform(r.lo, r.hi);
      x[17] = 0;  // a zero among them
      check_round_trip(t, x);
    }
    // Blocks of zeros and blocks of one repeated value.
    std::vector<float> x(n, 0.0f);
    for (std::size_t i = n / 2; i < n; ++i) x[i] = 0.75f;
    check_round_trip(t, x);
  }
}

TEST_CASE("quantize_row: rows the grid holds come back exactly") {
  for (const weight_type t : quantized_types()) {
    CAPTURE(weight_type_name(t));
    const std::size_t n = 512;
    const std::vector<float> x = exact_row(t, n);
    std::vector<std::uint8_t> bytes(weight_row_bytes(t, n));
    quantize_row(t, x.data(), bytes.data(), n);
    std::vector<float> y(n);
    dequantize_row(t, bytes.data(), y.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      CAPTURE(i);
      REQUIRE(y[i] == x[i]);
    }
  }
}

TEST_CASE("quantize_row: Q8_0 as quantize_q8_0 writes it, F32, F16 and BF16 as conversions") {
  rng64 rng{7};
  std::vector<float> x(96);
  for (float& v : x) v = rng.uniform(-4, 4);
  std::vector<q8_0_block> want(3);
  quantize_q8_0(x.data(), want.data(), x.size());
  std::vector<std::uint8_t> got(3 * sizeof(q8_0_block) + 1);
  quantize_row(weight_type::q8_0, x.data(), got.data() + 1, x.size());  // unaligned destination
  CHECK(std::memcmp(got.data() + 1, want.data(), 3 * sizeof(q8_0_block)) == 0);
  std::vector<std::uint8_t> f(x.size() * 4);
  quantize_row(weight_type::f32, x.data(), f.data(), x.size());
  CHECK(std::memcmp(f.data(), x.data(), f.size()) == 0);
  quantize_row(weight_type::f16, x.data(), f.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    CHECK(half_at(f.data() + 2 * i) == to_float(to_f16(x[i])));
  quantize_row(weight_type::bf16, x.data(), f.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, f.data() + 2 * i, 2);
    CHECK(bits == to_bf16(x[i]).bits);
  }
}

TEST_CASE("quantize_row: llama.cpp's bytes for Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0") {
  // The fixtures were quantized by llama.cpp from qllama-F32.gguf; for these
  // types both apply GGUF's reference rule, so the bytes must be the same.
  const std::string dir = "quant/qllama-";
  if (!have({shared(dir + "F32.gguf"), shared(dir + "Q4_0.gguf")})) return;
  const gguf_file f32 = gguf_file::open(shared(dir + "F32.gguf"));
  for (const char* name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"}) {
    CAPTURE(name);
    if (!have({shared(dir + name + ".gguf")})) return;
    const gguf_file q = gguf_file::open(shared(dir + name + ".gguf"));
    int compared = 0;
    for (const gguf_tensor& t : q.tensors()) {
      if (ggml_type_name(t.type) != name) continue;  // the file's other types: llama.cpp's search
      const std::vector<float> x = f32_values(f32.tensor(t.name));
      weight_type w{};
      REQUIRE(weight_type_of_ggml(t.type, w));
      std::vector<std::uint8_t> bytes(weight_row_bytes(w, x.size()));
      quantize_row(w, x.data(), bytes.data(), x.size());
      REQUIRE(bytes.size() == t.n_bytes);
      CHECK_MESSAGE(std::memcmp(bytes.data(), t.data, bytes.size()) == 0, t.name);
      ++compared;
    }
    CHECK(compared > 0);
  }
}

TEST_CASE("quantize_row: bad n, non-finite values, scales beyond f16, other types") {
  const auto message = [](weight_type t, const std::vector<float>& x) {
    std::vector<std::uint8_t> bytes(weight_row_bytes(t, x.size()) + 256);
    return error_of([&] { quantize_row(t, x.data(), bytes.data(), x.size()); });
  };
  for (const weight_type t : quantized_types()) {
    CAPTURE(weight_type_name(t));
    const std::size_t block = weight_info(t).block_size;
    const std::string name = ggml_type_name(weight_info(t).ggml);
    std::vector<float> x(block + 16, 0.5f);
    CHECK(message(t, x).find("n = " + std::to_string(block + 16) + " is not a multiple of " +
                             std::to_string(block)) != std::string::npos);
    x.resize(2 * block);
    for (const float bad : {NAN, INFINITY, -INFINITY}) {
      x[block + 3] = bad;
      const std::string m = message(t, x);
      CHECK(m.find(name) != std::string::npos);
      CHECK(m.find("src[" + std::to_string(block + 3) + "]") != std::string::npos);
      CHECK(m.find("not finite") != std::string::npos);
    }
    x.assign(2 * block, 0.5f);
    x[block + 1] = 3e38f;  // any scale of it overflows f16 (max 65504)
    const std::string m = message(t, x);
    CHECK(m.find("overflows f16") != std::string::npos);
    CHECK(m.find("block 1") != std::string::npos);
  }
  std::vector<float> x(32, 1.0f);
  std::vector<std::uint8_t> bytes(256);
  CHECK(error_of([&] {
          quantize_row(ggml_type::q8_1, x.data(), bytes.data(), 32);
        }).find("cannot write Q8_1") != std::string::npos);
  x[3] = NAN;  // plain conversions pass non-finite values through
  quantize_row(weight_type::f16, x.data(), bytes.data(), 32);
  CHECK(std::isnan(half_at(bytes.data() + 6)));
}

// ------------------------------------------- quantized models and decoding --

TEST_CASE("shiftrope-make-model: every --weights type, blocks near the F32 model's values") {
  // Rows of 256 (n_embd) and 320 (n_ff: whole blocks of 32, not of 256).
  const std::vector<std::string> shape = {
      "--n-embd", "256",    "--n-layers", "2",       "--n-heads", "4",     "--n-kv-heads",
      "2",        "--n-ff", "320",        "--vocab", "300",       "--ctx", "64"};
  const auto make = [&](const std::string& weights, const std::string& file) {
    std::vector<std::string> args = shape;
    for (const std::string& a : {std::string("--weights"), weights, std::string("-o"), file})
      args.push_back(a);
    return run(kMakeModel, args);
  };
  const std::string ref_file = path("q-ref-f32.gguf");
  REQUIRE(make("f32", ref_file).code == 0);
  const gguf_file ref = gguf_file::open(ref_file);
  const model ref_model = model::from_gguf(gguf_file::open(ref_file));
  const std::vector<int> tokens = {1, 17, 260, 3, 99};
  session ref_session(ref_model);
  const std::vector<float> ref_logits = ref_session.forward(tokens, 0, logits_rows::all);

  const char* const schemes[] = {"f16",  "bf16", "q8_0",   "q4_0",   "q4_1",
                                 "q5_0", "q5_1", "q2_k",   "q3_k",   "q4_k",
                                 "q5_k", "q6_k", "iq4_nl", "iq4_xs", "q4_k_m"};
  for (const std::string scheme : schemes) {
    CAPTURE(scheme);
    const std::string file = path("q-" + scheme + ".gguf");
    const result r = make(scheme, file);
    REQUIRE_MESSAGE(r.code == 0, r.err);
    const gguf_file f = gguf_file::open(file);
    const bool mix = scheme == "q4_k_m";
    const weight_type matrices = tools::parse_weight_type(mix ? "q4_k" : scheme);
    for (const gguf_tensor& t : f.tensors()) {
      CAPTURE(t.name);
      const gguf_tensor& want = ref.tensor(t.name);
      REQUIRE(t.dims == want.dims);
      // The type asked for: llama.cpp's Q4_K_M puts the classifier and, with
      // 2 layers, attn_v and ffn_down of layer 1 (l >= 7 * 2 / 8) in Q6_K.
      weight_type w = matrices;
      if (mix && (t.name == "output.weight" || t.name == "blk.1.attn_v.weight" ||
                  t.name == "blk.1.ffn_down.weight"))
        w = weight_type::q6_k;
      // Rows of 320 are not whole super-blocks: llama.cpp's replacement
      // types (blocks of 32) take the K-quants' place.
      if (t.dims.size() == 2 && t.dims[0] % weight_info(w).block_size != 0) {
        const weight_type asked = w;
        if (w == weight_type::q4_k) w = weight_type::q5_0;
        if (w == weight_type::q5_k) w = weight_type::q5_1;
        if (w == weight_type::q6_k) w = weight_type::q8_0;
        if (w == weight_type::q2_k || w == weight_type::q3_k || w == weight_type::iq4_xs)
          w = weight_type::iq4_nl;
        if (w != asked)
          CHECK(r.err.find(t.name + " stored as " + ggml_type_name(weight_info(w).ggml) +
                           " (row length " + std::to_string(t.dims[0])) != std::string::npos);
      }
      const bool whole_blocks = t.dims[0] % weight_info(w).block_size == 0;
      if (t.dims.size() == 1 || !whole_blocks) {
        CHECK(t.type == ggml_type::f32);
        if (t.dims.size() == 2)
          CHECK(r.err.find(t.name + " stays f32 (row length " + std::to_string(t.dims[0])) !=
                std::string::npos);
        CHECK(std::memcmp(t.data, want.data, t.n_bytes) == 0);
        continue;
      }
      REQUIRE(t.type == weight_info(w).ggml);
      const std::vector<float> x = f32_values(want);
      const std::size_t n = static_cast<std::size_t>(t.dims[0]);
      const std::size_t row_bytes = weight_row_bytes(w, n);
      for (std::size_t row = 0; row < x.size() / n; ++row) {
        if (weight_info(w).block_size == 1) {  // f16, bf16: the rounded values
          std::vector<float> y(n);
          dequantize_row(w, t.data + row * row_bytes, y.data(), n);
          for (std::size_t i = 0; i < n; ++i) {
            const float v = x[row * n + i];
            REQUIRE(y[i] == (w == weight_type::f16 ? to_float(to_f16(v)) : to_float(to_bf16(v))));
          }
        } else {
          check_decodes_near(w, t.data + row * row_bytes, x.data() + row * n, n);
        }
      }
    }
    if (mix) CHECK(f.get_uint("general.file_type") == 15);  // llama.cpp's id of Q4_K_M
    const model m = model::from_gguf(gguf_file::open(file));
    session s(m);
    const std::vector<float> logits = s.forward(tokens, 0, logits_rows::all);
    REQUIRE(logits.size() == ref_logits.size());
    for (const float x : logits) REQUIRE(std::isfinite(x));
    // The same random weights, rounded: the logits move by less than their
    // spread (Q2_K, 3 levels per sub-block, moves them most).
    const auto [lo, hi] = std::minmax_element(ref_logits.begin(), ref_logits.end());
    const double moved = compare_logits(logits, ref_logits, 300).max_abs;
    MESSAGE(scheme, ": max |logit - F32 logit| = ", moved, " (F32 logits span ", *hi - *lo, ")");
    CHECK(moved < 0.5 * (*hi - *lo));
  }
}

namespace {

/// The same metadata entries, in the same order, with equal values; except
/// general.file_type, which shiftrope-convert sets to `file_type`.
void check_same_metadata(const gguf_file& in, const gguf_file& out, std::uint64_t file_type) {
  REQUIRE(in.metadata().size() == out.metadata().size());
  for (std::size_t i = 0; i < in.metadata().size(); ++i) {
    const gguf_kv& a = in.metadata()[i];
    const gguf_kv& b = out.metadata()[i];
    CAPTURE(a.key);
    REQUIRE(a.key == b.key);
    if (a.key == "general.file_type") {
      CHECK(b.value.as_uint() == file_type);
      continue;
    }
    CHECK(a.value.type() == b.value.type());
    CHECK(a.value.element_type() == b.value.element_type());
    const auto n = static_cast<std::size_t>(a.value.size());
    CHECK(a.value.to_display(n) == b.value.to_display(n));
  }
  CHECK(in.alignment() == out.alignment());
}

}  // namespace

TEST_CASE("shiftrope-convert: quantized GGUF files decode to F32 with the same logits") {
  // llama.cpp's quantizations of one model (../shared/models/quant/README.md).
  const char* const names[] = {"F32",    "Q4_0",   "Q4_1",   "Q5_0",   "Q5_1", "Q8_0",   "Q2_K",
                               "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
  if (!have({shared("quant/qllama.tokens")})) return;
  std::vector<int> tokens = read_tokens(shared("quant/qllama.tokens"));
  REQUIRE(tokens.size() >= 24);
  tokens.resize(24);
  for (const std::string name : names) {
    CAPTURE(name);
    const std::string in = shared("quant/qllama-" + name + ".gguf");
    if (!have({in})) return;
    const std::string out = path("qllama-" + name + "-f32.gguf");
    run_ok(kConvert, {in, "-o", out});
    const gguf_file a = gguf_file::open(in), b = gguf_file::open(out);
    check_same_metadata(a, b, 0);
    REQUIRE(a.tensors().size() == b.tensors().size());
    for (std::size_t i = 0; i < a.tensors().size(); ++i) {
      const gguf_tensor& ta = a.tensors()[i];
      const gguf_tensor& tb = b.tensors()[i];
      CAPTURE(ta.name);
      REQUIRE(ta.name == tb.name);
      REQUIRE(ta.dims == tb.dims);
      REQUIRE(tb.type == ggml_type::f32);
      weight_type w{};
      REQUIRE(weight_type_of_ggml(ta.type, w));
      std::vector<float> want(static_cast<std::size_t>(ta.n_elements));
      dequantize_row(w, ta.data, want.data(), want.size());
      CHECK(std::memcmp(tb.data, want.data(), want.size() * sizeof(float)) == 0);
    }
    // The library computes with the stored weights either way: the logits
    // agree up to float rounding, for a prefill (matrix products) and then
    // decoding steps of one token (matrix-vector products, with float
    // activations: the int8 default would round them differently per file).
    const model ma = model::from_gguf(gguf_file::open(in));
    const model mb = model::from_gguf(gguf_file::open(out));
    session_params exact;
    exact.decode_activations = gemv_activations::f32;
    session sa(ma, exact), sb(mb, exact);
    const std::vector<int> prompt(tokens.begin(), tokens.end() - 4);
    const logit_diff d = compare_logits(sa.forward(prompt, 0, logits_rows::all),
                                        sb.forward(prompt, 0, logits_rows::all), 512);
    MESSAGE(name, ": quantized vs converted F32 logits, prefill max |diff| = ", d.max_abs);
    CHECK(d.max_abs <= 1e-4);
    for (std::size_t i = prompt.size(); i < tokens.size(); ++i) {
      const auto pos = static_cast<std::int64_t>(i);
      const logit_diff step =
          compare_logits(sa.forward({tokens[i]}, pos), sb.forward({tokens[i]}, pos), 512);
      CAPTURE(i);
      CHECK(step.max_abs <= 1e-4);
      if (i + 1 == tokens.size()) MESSAGE(name, ": decoding max |diff| = ", step.max_abs);
    }
  }
  SUBCASE("--weights f16: matrices in F16, vectors in F32") {
    const std::string in = shared("quant/qllama-Q4_K_M.gguf");
    if (!have({in})) return;
    const std::string out = path("qllama-Q4_K_M-f16.gguf");
    run_ok(kConvert, {in, "--weights", "f16", "-o", out});
    const gguf_file a = gguf_file::open(in), b = gguf_file::open(out);
    check_same_metadata(a, b, 1);
    for (const gguf_tensor& t : b.tensors()) {
      CAPTURE(t.name);
      const gguf_tensor& ta = a.tensor(t.name);
      weight_type w{};
      REQUIRE(weight_type_of_ggml(ta.type, w));
      std::vector<float> want(static_cast<std::size_t>(ta.n_elements));
      dequantize_row(w, ta.data, want.data(), want.size());
      if (t.dims.size() == 1) {
        CHECK(t.type == ggml_type::f32);
        continue;
      }
      REQUIRE(t.type == ggml_type::f16);
      for (std::size_t i = 0; i < want.size(); ++i)
        REQUIRE(half_at(t.data + 2 * i) == to_float(to_f16(want[i])));
    }
  }
}

TEST_CASE("shiftrope-convert: bad GGUF input exits 2 naming it") {
  const std::string& gguf = tiny_model();
  const std::string out = path("never-gguf.gguf"), cut = path("cut.gguf");
  {
    const std::string all = slurp(gguf);
    std::ofstream(cut, std::ios::binary).write(all.data(), 200);
  }
  struct bad_case {
    std::vector<std::string> args;
    const char* expect;
  };
  const std::vector<bad_case> cases = {
      {{gguf, "--weights", "q8_0", "-o", out}, "--weights: unknown value 'q8_0'"},
      {{gguf, "-z", gguf, "-o", out}, "-z: applies to a llama2.c checkpoint"},
      {{gguf, "--name", "x", "-o", out}, "--name"},
      {{gguf}, "-o: required"},
      {{cut, "-o", out}, "cut.gguf"},
  };
  for (const bad_case& c : cases) {
    std::string joined;
    for (const std::string& a : c.args) joined += " " + a;
    CAPTURE(joined);
    const result r = run(kConvert, c.args);
    CHECK(r.code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_MESSAGE(r.err.find(c.expect) != std::string::npos, r.err);
    CHECK(!fs::exists(out));
    CHECK(!fs::exists(out + ".partial"));
  }
}

TEST_CASE("shiftrope-convert: llama2.c checkpoint to the 32-element block types") {
  // stories260K: rows of 64 (whole blocks of 32) except ffn_down (172: F32).
  if (!have({shared("stories260K.bin"), shared("tok512.bin")})) return;
  const llama2c_checkpoint ck = llama2c_checkpoint::open(shared("stories260K.bin"));
  const float* wq2 = ck.wq().layer(2);  // [64 × 64]
  for (const weight_type w : {weight_type::q4_0, weight_type::q5_1, weight_type::iq4_nl}) {
    const std::string name = weight_type_name(w);
    CAPTURE(name);
    const std::string file = path("stories-" + name + ".gguf");
    const result r = run(kConvert, {shared("stories260K.bin"), "-z", shared("tok512.bin"),
                                    "--weights", name, "-o", file});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(r.err.find("blk.4.ffn_down.weight stays f32 (row length 172") != std::string::npos);
    const gguf_file f = gguf_file::open(file);
    const gguf_tensor& t = f.tensor("blk.2.attn_q.weight");
    REQUIRE(t.type == weight_info(w).ggml);
    CHECK(f.tensor("blk.2.ffn_down.weight").type == ggml_type::f32);
    for (std::size_t row = 0; row < 64; ++row)
      check_decodes_near(w, t.data + row * weight_row_bytes(w, 64), wq2 + 64 * row, 64);
    const model m = model::from_gguf(gguf_file::open(file));
    session s(m);
    for (const float x : s.forward({1, 403, 407}, 0)) REQUIRE(std::isfinite(x));
  }
}

TEST_CASE("shiftrope-make-model: q4_k_m on rows of 576 takes llama.cpp's 32-block types") {
  // smollm-135m's widths: rows of 576 (n_embd) are not whole super-blocks of
  // 256, rows of 1536 (n_ff) are. llama.cpp stores Q4_K's rows of 576 as
  // Q5_0 and Q6_K's as Q8_0.
  const std::string file = path("q4_k_m-576.gguf");
  const result r =
      run(kMakeModel, {"--n-embd", "576", "--n-layers", "1", "--n-heads", "9", "--n-kv-heads", "3",
                       "--n-ff", "1536", "--vocab", "300", "--weights", "q4_k_m", "-o", file});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const gguf_file f = gguf_file::open(file);
  CHECK(f.tensor("output.weight").type == ggml_type::q8_0);
  CHECK(f.tensor("token_embd.weight").type == ggml_type::q5_0);
  CHECK(f.tensor("blk.0.attn_q.weight").type == ggml_type::q5_0);
  CHECK(f.tensor("blk.0.attn_v.weight").type == ggml_type::q8_0);  // Q6_K on layer 0 of 1
  CHECK(f.tensor("blk.0.ffn_up.weight").type == ggml_type::q5_0);
  CHECK(f.tensor("blk.0.ffn_down.weight").type == ggml_type::q6_k);  // rows of 1536
  CHECK(f.tensor("blk.0.attn_norm.weight").type == ggml_type::f32);
  CHECK(r.err.find("output.weight stored as Q8_0 (row length 576 is not a multiple of 256, the "
                   "block of Q6_K)") != std::string::npos);
  CHECK(r.err.find("blk.0.attn_q.weight stored as Q5_0 (row length 576") != std::string::npos);
  CHECK(r.err.find("ffn_down") == std::string::npos);
  const model m = model::from_gguf(gguf_file::open(file));
  session s(m);
  for (const float x : s.forward({1, 2, 3}, 0)) REQUIRE(std::isfinite(x));
}

TEST_CASE("shiftrope-make-model: q4_k_m with a tied classifier puts token_embd in Q6_K") {
  const std::string file = path("tied-q4_k_m.gguf");
  run_ok(kMakeModel, {"--n-embd", "256", "--n-layers", "1", "--n-heads", "4", "--n-ff", "256",
                      "--vocab", "300", "--tied", "--weights", "q4_k_m", "-o", file});
  const gguf_file f = gguf_file::open(file);
  CHECK(f.find_tensor("output.weight") == nullptr);
  CHECK(f.tensor("token_embd.weight").type == ggml_type::q6_k);
  // One layer: l = 0 >= 7 * 1 / 8 = 0, so attn_v and ffn_down in Q6_K too.
  CHECK(f.tensor("blk.0.attn_v.weight").type == ggml_type::q6_k);
  CHECK(f.tensor("blk.0.ffn_down.weight").type == ggml_type::q6_k);
  CHECK(f.tensor("blk.0.attn_q.weight").type == ggml_type::q4_k);
  CHECK(f.tensor("blk.0.ffn_up.weight").type == ggml_type::q4_k);
  const model m = model::from_gguf(gguf_file::open(file));
  session s(m);
  for (const float x : s.forward({1, 2, 3}, 0)) REQUIRE(std::isfinite(x));
}
