// Tests of the model loaders (model_config.hpp, model_weights.hpp) on GGUF
// files written by the project's own gguf_writer: the stories260K weights
// stored as F32, F16, BF16 and Q8_0 against the golden logits and the greedy
// story, and hostile files (wrong dims, missing tensors, unsupported types,
// bad metadata) that must fail with a message naming the thing.
#include <doctest/doctest.h>

#include <shiftrope/model.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <vector>

#include "model_test_util.hpp"

using namespace shiftrope;
using namespace model_test;

namespace {

// Teacher-forced logits of stories260K vs the golden RoPE logits, per weight
// storage. Measured maxima: F16 0.011, BF16 0.088, Q8_0 (ffn_down F16) 0.27
// (printed by the test); the bounds leave about 2x headroom.
constexpr double f16_tolerance = 0.03;
constexpr double bf16_tolerance = 0.2;
constexpr double q8_0_tolerance = 0.5;
// The greedy story must keep at least this many of its first generated tokens.
constexpr std::size_t min_story_match = 20;
// Greedy continuations are compared over this many tokens in all (BOS and
// the 4 prompt tokens included), against the F32 llama2.c model's own.
constexpr std::size_t story_horizon = 256;

// Q8_0 where a row is whole blocks of 32 (every matrix of stories260K but
// ffn_down, whose rows have n_in = hidden_dim = 172 = 5·32 + 12), F16 there.
const type_rule q8_0_where_possible = [](const std::vector<std::uint64_t>& dims) {
  return dims[0] % 32 == 0 ? ggml_type::q8_0 : ggml_type::f16;
};

std::size_t common_prefix(const std::vector<int>& a, const std::vector<int>& b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

struct storage_case {
  const char* name;
  type_rule rule;
  double tolerance;
};

}  // namespace

TEST_CASE("gguf_writer round trip: stories260K as F32, F16, BF16 and Q8_0") {
  if (!have({shared("stories260K.bin"), shared("stories260K.gguf"), shared("golden/story64.tokens"),
             shared("golden/story64.rope.logits.f32")}))
    return;
  const llama2c_checkpoint ck = llama2c_checkpoint::open(shared("stories260K.bin"));
  const gguf_file vocab = gguf_file::open(shared("stories260K.gguf"));
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  const std::vector<float> golden = read_f32(shared("golden/story64.rope.logits.f32"));
  const std::vector<int> reference =
      greedy(model::open(shared("stories260K.bin")), {1, 403, 407, 261, 378}, story_horizon);
  REQUIRE(std::equal(tokens.begin(), tokens.end(), reference.begin()));
  const storage_case cases[] = {
      {"F32", all_f32, golden_tolerance},
      {"F16", [](const auto&) { return ggml_type::f16; }, f16_tolerance},
      {"BF16", [](const auto&) { return ggml_type::bf16; }, bf16_tolerance},
      {"Q8_0 (ffn_down F16)", q8_0_where_possible, q8_0_tolerance},
  };
  for (const storage_case& sc : cases) {
    gguf_spec spec = stories_spec(ck, sc.rule);
    spec.tokenizer_from = &vocab;
    const model m = model::from_gguf(build(spec, std::string("stories260K-") + sc.name));
    CHECK(m.config().tied_output);  // no output.weight written: the tied path
    session s(m, {});
    const logit_diff d = compare_logits(s.forward(tokens, 0, logits_rows::all), golden, 512);
    // The greedy story from the embedded tokenizer, against the llama2.c
    // model's (whose first 65 tokens are the README's story).
    const tokenizer tok = tokenizer::from_gguf(*m.gguf());
    const std::vector<int> story = greedy(m, tok.encode("Once upon a time", true), story_horizon);
    const std::size_t n_prompt = 5;  // BOS + 4 prompt tokens
    const std::size_t match = common_prefix(story, reference) - n_prompt;
    MESSAGE(std::string(sc.name), ": max |logit - golden| = ", d.max_abs, ", argmax mismatches ",
            d.argmax_mismatches, " of 64; greedy story identical for ", match, " of ",
            reference.size() - n_prompt, " generated tokens");
    CHECK(d.max_abs <= sc.tolerance);
    CHECK(match >= min_story_match);
    if (std::string(sc.name) == "F32") {
      CHECK(d.argmax_mismatches == 0);
      CHECK(story == reference);
      const std::vector<int> first(story.begin(), story.begin() + readme_total_tokens);
      CHECK(tok.decode(first) == readme_stories[0].text);
    }
  }
}

TEST_CASE("gguf_writer round trip: F16 norms and biases are converted to float") {
  if (!have({shared("stories260K.bin"), shared("golden/story64.tokens")})) return;
  const llama2c_checkpoint ck = llama2c_checkpoint::open(shared("stories260K.bin"));
  gguf_spec spec = stories_spec(ck, all_f32);
  for (tensor_spec& t : spec.tensors)
    if (t.dims.size() == 1) {
      t.type = ggml_type::f16;
      for (float& x : t.values) x = to_float(to_f16(x));  // the reference sees the same values
    }
  gguf_spec ref = spec;
  for (tensor_spec& t : ref.tensors) t.type = ggml_type::f32;
  const model a = model::from_gguf(build(spec)), b = model::from_gguf(build(ref));
  CHECK(a.weights().owned.size() == 1 + 2 * 5);  // output_norm + 2 norms per layer
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  session sa(a, {}), sb(b, {});
  CHECK(compare_logits(sa.forward(tokens, 0, logits_rows::all),
                       sb.forward(tokens, 0, logits_rows::all), 512)
            .max_abs == 0.0);
}

TEST_CASE("hostile GGUF models: each problem is named") {
  if (!have({shared("stories260K.bin")})) return;
  const llama2c_checkpoint ck = llama2c_checkpoint::open(shared("stories260K.bin"));
  const gguf_spec good = stories_spec(ck, all_f32);
  REQUIRE(error_of([&] { (void)model::from_gguf(build(good)); }) == "no error");
  const auto load_error = [](const gguf_spec& s) {
    return error_of([&] { (void)model::from_gguf(build(s, "bad.gguf")); });
  };
  const auto expect = [&](gguf_spec s, const std::string& part) {
    const std::string e = load_error(s);
    INFO("error: ", e);
    CHECK(e.find(part) != std::string::npos);
    CHECK(e.find("bad.gguf") != std::string::npos);
  };

  SUBCASE("wrong dims") {
    gguf_spec s = good;
    tensor(s, "blk.2.attn_k.weight").dims = {32, 64};  // transposed
    expect(s, "tensor 'blk.2.attn_k.weight' has dims [32, 64], expected [64, 32]");
  }
  SUBCASE("a norm of the wrong length") {
    gguf_spec s = good;
    tensor_spec& t = tensor(s, "blk.4.ffn_norm.weight");
    t.dims = {60};
    t.values.resize(60);
    expect(s, "tensor 'blk.4.ffn_norm.weight' has dims [60], expected [64]");
  }
  SUBCASE("a 3-D tensor where a matrix belongs") {
    gguf_spec s = good;
    tensor(s, "blk.0.ffn_up.weight").dims = {64, 86, 2};
    expect(s, "tensor 'blk.0.ffn_up.weight' has dims [64, 86, 2], expected [64, 172]");
  }
  SUBCASE("missing tensor") {
    gguf_spec s = good;
    erase_tensor(s, "blk.3.ffn_down.weight");
    expect(s, "tensor 'blk.3.ffn_down.weight' is missing");
  }
  SUBCASE("missing output norm") {
    gguf_spec s = good;
    erase_tensor(s, "output_norm.weight");
    expect(s, "tensor 'output_norm.weight' is missing");
  }
  SUBCASE("unsupported matrix type") {
    gguf_spec s = good;
    tensor(s, "blk.1.attn_v.weight").type = ggml_type::q4_0;
    expect(s, "tensor 'blk.1.attn_v.weight' has type Q4_0, which shiftrope does not support");
  }
  SUBCASE("unsupported vector type") {
    gguf_spec s = good;
    tensor(s, "blk.0.attn_norm.weight").type = ggml_type::q8_0;
    expect(s, "tensor 'blk.0.attn_norm.weight' has type Q8_0; a vector must be F32, F16 or BF16");
  }
  SUBCASE("classifier rows differ from the vocabulary") {
    gguf_spec s = good;
    tensor_spec out = tensor(s, "token_embd.weight");
    out.name = "output.weight";
    out.dims = {64, 500};
    out.values.resize(64 * 500);
    s.tensors.push_back(out);
    expect(s, "tensor 'output.weight' has dims [64, 500], expected [64, 512]");
  }
  SUBCASE("vocab_size disagrees with token_embd") {
    gguf_spec s = good;
    set_meta(s, "llama.vocab_size", std::uint32_t(32000));
    expect(s, "llama.vocab_size = 32000 differs from the rows of token_embd.weight (512)");
  }
  SUBCASE("unknown architecture") {
    gguf_spec s = good;
    set_meta(s, "general.architecture", std::string("gpt2"));
    expect(s, "general.architecture = \"gpt2\" is not supported");
  }
  SUBCASE("missing required key") {
    gguf_spec s = good;
    erase_meta(s, "llama.block_count");
    expect(s, "llama.block_count");
  }
  SUBCASE("heads do not divide") {
    gguf_spec s = good;
    set_meta(s, "llama.attention.head_count_kv", std::uint32_t(3));
    expect(s, "n_heads (8) must be a multiple of n_kv_heads (3)");
  }
  SUBCASE("zero layers") {
    gguf_spec s = good;
    set_meta(s, "llama.block_count", std::uint32_t(0));
    expect(s, "n_layers must be in [1, 4096], got 0");
  }
  SUBCASE("absurd width") {
    gguf_spec s = good;
    set_meta(s, "llama.embedding_length", std::uint32_t(1) << 30);
    expect(s, "n_embd must be in [1, 131072], got 1073741824");
  }
  SUBCASE("rotary dim beyond the head") {
    gguf_spec s = good;
    set_meta(s, "llama.rope.dimension_count", std::uint32_t(16));
    expect(s, "llama.rope.dimension_count (16) exceeds the head size (8)");
  }
  SUBCASE("unknown rope scaling") {
    gguf_spec s = good;
    set_meta(s, "llama.rope.scaling.type", std::string("longrope"));
    expect(s, "llama.rope.scaling.type = \"longrope\" is not supported");
  }
  SUBCASE("yarn without its original context") {
    gguf_spec s = good;
    set_meta(s, "llama.rope.scaling.type", std::string("yarn"));
    set_meta(s, "llama.rope.scaling.factor", 4.0f);
    expect(s, "llama.rope.scaling.original_context_length");
  }
  SUBCASE("non-positive rms epsilon") {
    gguf_spec s = good;
    set_meta(s, "llama.attention.layer_norm_rms_epsilon", 0.0f);
    expect(s, "rms_eps must be in (0, 1), got 0");
  }
  SUBCASE("rope_freqs of the wrong length") {
    gguf_spec s = good;
    s.tensors.push_back({"rope_freqs.weight", {3}, {1.0f, 1.0f, 1.0f}, ggml_type::f32});
    expect(s, "tensor 'rope_freqs.weight' must have dims [4] (rotary_dim / 2), got [3]");
  }
  SUBCASE("a qwen2 file without biases") {
    gguf_spec s = good;
    for (auto& kv : s.meta)
      if (kv.first.rfind("llama.", 0) == 0) kv.first = "qwen2." + kv.first.substr(6);
    set_meta(s, "general.architecture", std::string("qwen2"));
    expect(s, "tensor 'blk.0.attn_q.bias' is missing");
  }
}

TEST_CASE("GGUF metadata: rope_freqs and linear/yarn scaling reach the rope config") {
  if (!have({shared("stories260K.bin")})) return;
  const llama2c_checkpoint ck = llama2c_checkpoint::open(shared("stories260K.bin"));
  gguf_spec s = stories_spec(ck, all_f32);
  set_meta(s, "llama.rope.freq_base", 500000.0f);
  set_meta(s, "llama.rope.scaling.type", std::string("yarn"));
  set_meta(s, "llama.rope.scaling.factor", 4.0f);
  set_meta(s, "llama.rope.scaling.original_context_length", std::uint32_t(128));
  s.tensors.push_back({"rope_freqs.weight", {4}, {1.0f, 2.0f, 4.0f, 8.0f}, ggml_type::f32});
  const model m = model::from_gguf(build(s));
  const rope_config& r = m.config().rope;
  CHECK(r.base == 500000.0);
  CHECK(r.scaling == rope_scaling::yarn);
  CHECK(r.factor == 4.0);
  CHECK(r.original_max_positions == 128);
  CHECK(r.freq_factors == std::vector<float>{1.0f, 2.0f, 4.0f, 8.0f});
  // YaRN's attention factor (0.1 ln 4 + 1) enters the logits squared.
  session ses(m, {});
  const double a = 0.1 * std::log(4.0) + 1.0;
  CHECK(ses.logit_scale() == doctest::Approx(a * a));

  gguf_spec lin = stories_spec(ck, all_f32);
  set_meta(lin, "llama.rope.scaling.type", std::string("linear"));
  set_meta(lin, "llama.rope.scaling.factor", 2.0f);
  const model ml = model::from_gguf(build(lin));
  CHECK(ml.config().rope.scaling == rope_scaling::linear);
  CHECK(ml.config().rope.factor == 2.0);
  session sl(ml, {});
  CHECK(sl.logit_scale() == 1.0);
}

TEST_CASE("model::open: missing, truncated and foreign files are named") {
  CHECK(error_of([] {
          (void)model::open("/nonexistent/model.bin");
        }).find("/nonexistent/model.bin") != std::string::npos);
  if (!have({shared("tok512.bin")})) return;
  // A tokenizer is not a checkpoint: the llama2.c reader refuses its header.
  const std::string e = error_of([] { (void)model::open(shared("tok512.bin")); });
  INFO(e);
  CHECK(e.find("tok512.bin") != std::string::npos);
}
