// Tests of the model loaders (model_config.hpp, model_weights.hpp) on GGUF
// files written by the project's own gguf_writer: the stories260K weights
// stored as F32, F16, BF16 and Q8_0 against the golden logits and the greedy
// story, phi3-tiny rewritten (a tied classifier, a sliding window), and
// hostile files (wrong dims, missing tensors, unsupported types, bad
// metadata) that must fail with a message naming the thing.
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

// The sliding-window identity below shifts every position (RoPE's angles
// come from other table rows): float rounding only.
constexpr double shifted_positions_tolerance = 1e-4;

/// phi3-tiny as a spec (its metadata written out, its F32 tensors copied),
/// to be altered and rebuilt.
gguf_spec phi3_spec(const gguf_file& f) {
  gguf_spec s;
  s.meta = {{"general.architecture", std::string("phi3")},
            {"phi3.context_length", std::uint32_t(512)},
            {"phi3.rope.scaling.original_context_length", std::uint32_t(64)},
            {"phi3.embedding_length", std::uint32_t(128)},
            {"phi3.feed_forward_length", std::uint32_t(256)},
            {"phi3.block_count", std::uint32_t(2)},
            {"phi3.attention.head_count", std::uint32_t(4)},
            {"phi3.attention.head_count_kv", std::uint32_t(4)},
            {"phi3.rope.freq_base", 10000.0f},
            {"phi3.attention.layer_norm_rms_epsilon", 1e-5f},
            {"phi3.rope.dimension_count", std::uint32_t(32)},
            {"phi3.rope.scaling.attn_factor", 1.19f},
            {"phi3.attention.sliding_window", std::uint32_t(2048)}};
  for (const gguf_tensor& t : f.tensors())
    s.tensors.push_back({t.name, t.dims, detail::gguf_vector_as_float(f, t), ggml_type::f32});
  s.tokenizer_from = &f;
  return s;
}

std::vector<float> all_logits(const model& m, const std::vector<int>& tokens,
                              std::int64_t n_ctx = 136, remap positions = identity_remap{}) {
  session_params p;
  p.n_ctx = n_ctx;
  p.position_remap = positions;
  session s(m, p);
  return s.forward(tokens, 0, logits_rows::all);
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

TEST_CASE("phi3: the rewritten fixture gives the fixture's logits") {
  if (!have({shared("arch/phi3-tiny.gguf"), shared("arch/phi3-tiny.tokens")})) return;
  const gguf_file f = gguf_file::open(shared("arch/phi3-tiny.gguf"));
  const model a = model::open(shared("arch/phi3-tiny.gguf"));
  const model b = model::from_gguf(build(phi3_spec(f)));
  const std::vector<int> tokens = read_tokens(shared("arch/phi3-tiny.tokens"));
  CHECK(compare_logits(all_logits(a, tokens), all_logits(b, tokens), 512).max_abs == 0.0);
}

TEST_CASE("tied classifier: without output.weight, token_embd scores the tokens (phi3)") {
  // llama (stories260K written without output.weight) and qwen2 (qwen2-tiny)
  // are tied already and checked against their goldens; phi3-tiny is not.
  if (!have({shared("arch/phi3-tiny.gguf"), shared("arch/phi3-tiny.tokens")})) return;
  const gguf_file f = gguf_file::open(shared("arch/phi3-tiny.gguf"));
  gguf_spec tied = phi3_spec(f);
  erase_tensor(tied, "output.weight");
  gguf_spec copied = phi3_spec(f);
  tensor(copied, "output.weight").values = tensor(copied, "token_embd.weight").values;
  const model a = model::from_gguf(build(tied)), b = model::from_gguf(build(copied));
  CHECK(a.config().tied_output);
  CHECK(a.weights().output.data == a.weights().token_embd.data);
  CHECK_FALSE(b.config().tied_output);
  std::vector<int> tokens = read_tokens(shared("arch/phi3-tiny.tokens"));
  tokens.resize(40);
  CHECK(compare_logits(all_logits(a, tokens), all_logits(b, tokens), 512).max_abs == 0.0);
}

TEST_CASE("phi3 sliding window: each logit depends on the last 2·(window-1)+1 tokens only") {
  // Two layers, window w: the last row sees the first layer's outputs at
  // distance < w, which saw tokens at distance < w each. With a remap that
  // depends on distances only (RoPE, STRING), feeding just those tokens, at
  // shifted positions, gives the same last row.
  if (!have({shared("arch/phi3-tiny.gguf"), shared("arch/phi3-tiny.tokens")})) return;
  const gguf_file f = gguf_file::open(shared("arch/phi3-tiny.gguf"));
  const std::vector<int> tokens = read_tokens(shared("arch/phi3-tiny.tokens"));
  const model full = model::open(shared("arch/phi3-tiny.gguf"));
  struct window_case {
    std::uint32_t window;
    remap positions;
  };
  for (const window_case& wc : {window_case{8, identity_remap{}}, window_case{13, identity_remap{}},
                                window_case{48, string_remap{40, 8}}}) {
    CAPTURE(wc.window);
    CAPTURE(describe(wc.positions));
    gguf_spec s = phi3_spec(f);
    set_meta(s, "phi3.attention.sliding_window", wc.window);
    const model m = model::from_gguf(build(s));
    CHECK(m.config().sliding_window == wc.window);
    for (const int max_batch : {256, 1}) {  // prefill, then decode token by token
      session_params p;
      p.n_ctx = 136;
      p.max_batch = max_batch;
      p.position_remap = wc.positions;
      session ses(m, p);
      const std::vector<float> got = ses.forward(tokens, 0, logits_rows::all);
      // The window changes the logits...
      CHECK(compare_logits(got, all_logits(full, tokens, 136, wc.positions), 512).max_abs > 1e-2);
      // ...to those of the last 2(w-1)+1 tokens alone.
      const std::size_t span = 2 * (wc.window - 1) + 1;
      for (const std::size_t last : {span + 3, std::size_t{100}, std::size_t{127}}) {
        CAPTURE(last);
        const std::vector<int> part(tokens.begin() + static_cast<std::ptrdiff_t>(last + 1 - span),
                                    tokens.begin() + static_cast<std::ptrdiff_t>(last + 1));
        const std::vector<float> alone = all_logits(m, part, 136, wc.positions);
        const std::vector<float> row_full(
            got.begin() + static_cast<std::ptrdiff_t>(last * 512),
            got.begin() + static_cast<std::ptrdiff_t>(last * 512 + 512));
        const std::vector<float> row_alone(alone.end() - 512, alone.end());
        CHECK(compare_logits(row_full, row_alone, 512).max_abs <= shifted_positions_tolerance);
      }
    }
  }
}

TEST_CASE("hostile phi3 models: fused shapes, LongRoPE factors and the window are named") {
  if (!have({shared("arch/phi3-tiny.gguf")})) return;
  const gguf_file f = gguf_file::open(shared("arch/phi3-tiny.gguf"));
  const gguf_spec good = phi3_spec(f);
  REQUIRE(error_of([&] { (void)model::from_gguf(build(good)); }) == "no error");
  const auto expect = [&](const gguf_spec& s, const std::string& part) {
    const std::string e = error_of([&] { (void)model::from_gguf(build(s, "bad.gguf")); });
    INFO("error: ", e);
    CHECK(e.find(part) != std::string::npos);
    CHECK(e.find("bad.gguf") != std::string::npos);
  };
  SUBCASE("attn_qkv rows do not match the head counts") {
    gguf_spec s = good;
    set_meta(s, "phi3.attention.head_count_kv", std::uint32_t(2));  // GQA: Q + 2·64 rows
    expect(s, "tensor 'blk.0.attn_qkv.weight' has dims [128, 384], expected [128, 256]");
  }
  SUBCASE("ffn_up holds the up rows only") {
    gguf_spec s = good;
    tensor_spec& t = tensor(s, "blk.1.ffn_up.weight");
    t.dims = {128, 256};
    t.values.resize(128 * 256);
    expect(s, "tensor 'blk.1.ffn_up.weight' has dims [128, 256], expected [128, 512]");
  }
  SUBCASE("separate attn_q/k/v instead of the fused tensor") {
    gguf_spec s = good;
    erase_tensor(s, "blk.0.attn_qkv.weight");
    expect(s, "tensor 'blk.0.attn_qkv.weight' is missing");
  }
  SUBCASE("a factor tensor of the wrong length") {
    gguf_spec s = good;
    tensor_spec& t = tensor(s, "rope_factors_long.weight");
    t.dims = {15};
    t.values.resize(15);
    expect(s, "tensor 'rope_factors_long.weight' must have dims [16] (rotary_dim / 2), got [15]");
  }
  SUBCASE("a non-positive factor") {
    gguf_spec s = good;
    tensor(s, "rope_factors_short.weight").values[3] = 0.0f;
    expect(s, "tensor 'rope_factors_short.weight' holds 0 at index 3");
    tensor(s, "rope_factors_short.weight").values[3] = -2.0f;
    expect(s, "tensor 'rope_factors_short.weight' holds -2 at index 3");
  }
  SUBCASE("a window of 0") {
    gguf_spec s = good;
    set_meta(s, "phi3.attention.sliding_window", std::uint32_t(0));
    expect(s, "phi3.attention.sliding_window must be in [1, ");
  }
  SUBCASE("a non-positive attention factor") {
    gguf_spec s = good;
    set_meta(s, "phi3.rope.scaling.attn_factor", 0.0f);
    expect(s, "phi3.rope.scaling.attn_factor must be a finite number > 0, got 0");
  }
}

TEST_CASE("phi3 sliding window: Self-Extend is refused where the window masks keys") {
  if (!have({shared("arch/phi3-tiny.gguf")})) return;
  const gguf_file f = gguf_file::open(shared("arch/phi3-tiny.gguf"));
  gguf_spec s = phi3_spec(f);
  set_meta(s, "phi3.attention.sliding_window", std::uint32_t(100));
  const model m = model::from_gguf(build(s));
  session_params p;
  p.self_extend = self_extend_remap{4, 16};
  p.n_ctx = 101;  // the window masks keys at distance 100
  const std::string e = error_of([&] { session ses(m, p); });
  INFO(e);
  CHECK(e.find("sliding window (100 positions") != std::string::npos);
  p.n_ctx = 100;  // no distance reaches the window: nothing to refuse
  CHECK(error_of([&] { session ses(m, p); }) == "no error");
}

TEST_CASE("phi3 GQA: attn_qkv split by the head counts (Q, then K, then V)") {
  // A GQA file made from phi3-tiny: 2 KV heads whose K and V rows are the
  // first two heads' of the original, and the same file with every KV head
  // written out (4 heads, heads 2 and 3 repeating heads 0 and 1) give the
  // same logits.
  if (!have({shared("arch/phi3-tiny.gguf"), shared("arch/phi3-tiny.tokens")})) return;
  const gguf_file f = gguf_file::open(shared("arch/phi3-tiny.gguf"));
  gguf_spec gqa = phi3_spec(f), mha = phi3_spec(f);
  set_meta(gqa, "phi3.attention.head_count_kv", std::uint32_t(2));
  constexpr std::size_t n_embd = 128, head_rows = 32 * n_embd;  // one head's rows
  for (int l = 0; l < 2; ++l) {
    const std::string name = "blk." + std::to_string(l) + ".attn_qkv.weight";
    const std::vector<float>& src = tensor(mha, name).values;  // rows Q[4 heads] K[4] V[4]
    std::vector<float> packed, full;
    const auto head = [&](int block, int h) {  // block 0 = Q, 1 = K, 2 = V
      return src.begin() + static_cast<std::ptrdiff_t>((4 * block + h) * head_rows);
    };
    const auto append = [&](std::vector<float>& dst, int block, int h) {
      dst.insert(dst.end(), head(block, h), head(block, h) + head_rows);
    };
    for (int h = 0; h < 4; ++h) append(packed, 0, h);
    for (int block : {1, 2})
      for (int h = 0; h < 2; ++h) append(packed, block, h);
    for (int h = 0; h < 4; ++h) append(full, 0, h);
    // GQA maps query heads 0,1 to KV head 0 and 2,3 to KV head 1.
    for (int block : {1, 2})
      for (int h : {0, 0, 1, 1}) append(full, block, h);
    tensor(gqa, name).values = packed;
    tensor(gqa, name).dims = {n_embd, 256};
    tensor(mha, name).values = full;
  }
  const model a = model::from_gguf(build(gqa)), b = model::from_gguf(build(mha));
  CHECK(a.config().n_kv_heads == 2);
  std::vector<int> tokens = read_tokens(shared("arch/phi3-tiny.tokens"));
  CHECK(compare_logits(all_logits(a, tokens), all_logits(b, tokens), 512).max_abs <= 1e-5);
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
    tensor(s, "blk.1.attn_v.weight").type = ggml_type::q8_1;  // a known size, not computed with
    expect(s, "tensor 'blk.1.attn_v.weight' has type Q8_1, which shiftrope does not support");
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
    expect(s, "general.architecture = \"gpt2\" is not supported (supported: llama, qwen2, phi3)");
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
