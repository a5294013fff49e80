// Tests of model.hpp (with model_config.hpp, model_weights.hpp, kv_cache.hpp):
// teacher-forced logits against the golden files of an independent
// double-precision reference (stories260K through both file formats,
// qwen2-tiny, phi3-tiny), llama2.c's greedy stories, and consistency identities of the
// forward pass (prefill vs decode, chunking, KV storage types, threads,
// logit scale vs scaled query weights).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <shiftrope/detail/big_buffer.hpp>
#include <shiftrope/detail/model/ops.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <vector>

#include "model_test_util.hpp"

using namespace shiftrope;
using namespace model_test;

namespace {

// Same arithmetic, different grouping (chunk sizes, one vs several threads).
constexpr double reorder_tolerance = 1e-4;
// KV cache rounding: f16 keeps 11 significant bits, bf16 8 (relative
// errors 2^-12 and 2^-9 per stored value). Over stories260K's 64-token story
// (logits up to about 20 in magnitude) the largest logit moved by 0.022 (f16)
// and 0.11 (bf16) when measured; the bounds leave about 2x headroom.
constexpr double kv_f16_tolerance = 5e-2;
constexpr double kv_bf16_tolerance = 2.5e-1;

struct golden_case {
  const char* file;  // logits file under golden/
  remap positions;
};

const golden_case story_goldens[] = {
    {"golden/story64.rope.logits.f32", identity_remap{}},
    {"golden/story64.string-S16-W4.logits.f32", string_remap{16, 4}},
    {"golden/story64.string-S40-W8.logits.f32", string_remap{40, 8}},
};

logit_diff check_goldens(const model& m, const std::vector<int>& tokens, const golden_case& g,
                         int max_batch, std::int64_t n_ctx = 0) {
  session_params p;
  p.position_remap = g.positions;
  p.max_batch = max_batch;
  p.n_ctx = n_ctx;
  session s(m, p);
  const std::vector<float> got = s.forward(tokens, 0, logits_rows::all);
  const logit_diff d = compare_logits(got, read_f32(shared(g.file)), m.config().n_vocab);
  INFO(m.name(), " vs ", g.file, " (", describe(g.positions), ", max_batch ", max_batch,
       "): max |diff| = ", d.max_abs, ", argmax mismatches ", d.argmax_mismatches);
  CHECK(d.max_abs <= golden_tolerance);
  CHECK(d.argmax_mismatches == 0);
  return d;
}

}  // namespace

TEST_CASE("model_config: stories260K from both files matches the README") {
  if (!have({shared("stories260K.bin"), shared("stories260K.gguf")})) return;
  for (const char* file : {"stories260K.bin", "stories260K.gguf"}) {
    INFO(file);
    const model m = model::open(shared(file));
    const model_config& c = m.config();
    CHECK(c.arch == model_arch::llama);
    CHECK(c.n_vocab == 512);
    CHECK(c.n_embd == 64);
    CHECK(c.n_layers == 5);
    CHECK(c.n_heads == 8);
    CHECK(c.n_kv_heads == 4);
    CHECK(c.head_dim == 8);
    CHECK(c.n_ff == 172);
    CHECK(c.rms_eps == doctest::Approx(1e-5).epsilon(1e-6));
    CHECK(c.rope.base == 10000.0);
    CHECK(c.rope.rotary() == 8);
    CHECK(c.rope.pairing == rope_pairing::interleaved);
    CHECK_FALSE(c.qkv_bias);
    // The README's trap: the GGUF claims 2048, the model was trained at 512.
    CHECK(c.train_len == (std::string(file) == "stories260K.bin" ? 512 : 2048));
  }
  // llama.cpp's converter wrote output.weight explicitly; llama2.c shares it.
  CHECK(model::open(shared("stories260K.bin")).config().tied_output);
  CHECK_FALSE(model::open(shared("stories260K.gguf")).config().tied_output);
}

TEST_CASE("model_config: qwen2-tiny is half-split, biased, tied, base 1e6") {
  if (!have({shared("arch/qwen2-tiny.gguf")})) return;
  const model m = model::open(shared("arch/qwen2-tiny.gguf"));
  const model_config& c = m.config();
  CHECK(c.arch == model_arch::qwen2);
  CHECK(c.n_embd == 64);
  CHECK(c.n_layers == 2);
  CHECK(c.n_heads == 4);
  CHECK(c.n_kv_heads == 2);
  CHECK(c.head_dim == 16);
  CHECK(c.n_ff == 160);
  CHECK(c.rope.base == 1e6);
  CHECK(c.rope.pairing == rope_pairing::half_split);
  CHECK(c.rms_eps == doctest::Approx(1e-6).epsilon(1e-6));
  CHECK(c.qkv_bias);
  CHECK(c.tied_output);
  CHECK(c.train_len == 256);
}

TEST_CASE("model_config: phi3-tiny is half-split LongRoPE, fused, windowed, untied") {
  if (!have({shared("arch/phi3-tiny.gguf")})) return;
  const model m = model::open(shared("arch/phi3-tiny.gguf"));
  const model_config& c = m.config();
  CHECK(c.arch == model_arch::phi3);
  CHECK(c.n_embd == 128);
  CHECK(c.n_layers == 2);
  CHECK(c.n_heads == 4);
  CHECK(c.n_kv_heads == 4);
  CHECK(c.head_dim == 32);
  CHECK(c.n_ff == 256);
  CHECK(c.rope.base == 10000.0);
  CHECK(c.rope.pairing == rope_pairing::half_split);
  CHECK(c.rope.scaling == rope_scaling::longrope);
  CHECK(c.rope.original_max_positions == 64);
  CHECK(c.rope.long_factors.size() == 16);
  CHECK(c.rope.short_factors.size() == 16);
  CHECK(c.rope.longrope_attention_factor == doctest::Approx(1.19).epsilon(1e-7));
  CHECK(c.sliding_window == 2048);
  CHECK_FALSE(c.qkv_bias);
  CHECK_FALSE(c.tied_output);
  CHECK(c.train_len == 512);
  // The fused tensors are viewed in place, split by rows.
  const layer_weights& l0 = m.weights().layers[0];
  CHECK(l0.wq.n_out == 128);
  CHECK(l0.wk.n_out == 128);
  CHECK(l0.wv.n_out == 128);
  CHECK(static_cast<const char*>(l0.wk.data) - static_cast<const char*>(l0.wq.data) ==
        128 * 128 * 4);
  CHECK(l0.w_gate.n_out == 256);
  CHECK(static_cast<const char*>(l0.w_up.data) - static_cast<const char*>(l0.w_gate.data) ==
        256 * 128 * 4);
  // attn_factor 1.19 multiplies cos and sin: every logit by its square.
  session s(m, {});
  CHECK(s.logit_scale() == doctest::Approx(1.19 * 1.19).epsilon(1e-6));
}

TEST_CASE(
    "golden: stories260K teacher-forced logits, RoPE and STRING, both file formats and load "
    "modes") {
  std::vector<std::string> files = {shared("stories260K.bin"), shared("stories260K.gguf"),
                                    shared("golden/story64.tokens")};
  for (const golden_case& g : story_goldens) files.push_back(shared(g.file));
  if (!have(files)) return;
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  REQUIRE(tokens.size() == 64);
  for (const char* file : {"stories260K.bin", "stories260K.gguf"}) {
    for (const load_mode mode : {load_mode::map, load_mode::copy}) {  // mapped or read
      CAPTURE(file);
      CAPTURE(load_mode_name(mode));
      const model m = model::open(shared(file), mode);
      for (const golden_case& g : story_goldens) {
        check_goldens(m, tokens, g, 256);  // one prefill step (GEMM)
        check_goldens(m, tokens, g, 5);    // chunks of 5: cache reuse across chunks
      }
    }
  }
}

TEST_CASE("golden: the two formats give the same logits for the same tokens") {
  if (!have(
          {shared("stories260K.bin"), shared("stories260K.gguf"), shared("golden/story64.tokens")}))
    return;
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  const model a = model::open(shared("stories260K.bin"));
  const model b = model::open(shared("stories260K.gguf"));
  session sa(a, {}), sb(b, {});
  const logit_diff d = compare_logits(sa.forward(tokens, 0, logits_rows::all),
                                      sb.forward(tokens, 0, logits_rows::all), 512);
  // Bit-identical tensors, same code: equal up to the rms_eps the GGUF
  // stores as float32 (9.9999997e-06 vs 1e-5).
  CHECK(d.max_abs <= 1e-5);
  CHECK(d.argmax_mismatches == 0);
}

TEST_CASE("golden: qwen2-tiny teacher-forced logits, RoPE and STRING S40-W8") {
  const golden_case cases[] = {{"arch/qwen2-tiny.rope.logits.f32", identity_remap{}},
                               {"arch/qwen2-tiny.string-S40-W8.logits.f32", string_remap{40, 8}}};
  if (!have({shared("arch/qwen2-tiny.gguf"), shared("arch/qwen2-tiny.tokens"),
             shared(cases[0].file), shared(cases[1].file)}))
    return;
  const model m = model::open(shared("arch/qwen2-tiny.gguf"));
  const std::vector<int> tokens = read_tokens(shared("arch/qwen2-tiny.tokens"));
  REQUIRE(tokens.size() == 96);
  for (const golden_case& g : cases) {
    check_goldens(m, tokens, g, 256);
    check_goldens(m, tokens, g, 17);
  }
}

TEST_CASE("golden: phi3-tiny teacher-forced logits (long factors), RoPE and STRING S40-W8") {
  const golden_case cases[] = {{"arch/phi3-tiny.rope.logits.f32", identity_remap{}},
                               {"arch/phi3-tiny.string-S40-W8.logits.f32", string_remap{40, 8}}};
  if (!have({shared("arch/phi3-tiny.gguf"), shared("arch/phi3-tiny.tokens"), shared(cases[0].file),
             shared(cases[1].file)}))
    return;
  const model m = model::open(shared("arch/phi3-tiny.gguf"));
  const std::vector<int> tokens = read_tokens(shared("arch/phi3-tiny.tokens"));
  REQUIRE(tokens.size() == 128);
  // Context 128 + 8 > original_context_length 64: the long factors apply.
  constexpr std::int64_t n_ctx = 136;
  for (const golden_case& g : cases) {
    const logit_diff d = check_goldens(m, tokens, g, 256, n_ctx);
    MESSAGE("phi3-tiny ", describe(g.positions), ": max |logit - golden| = ", d.max_abs,
            ", argmax mismatches ", d.argmax_mismatches, " of 128");
    check_goldens(m, tokens, g, 17, n_ctx);  // chunked prefill
    check_goldens(m, tokens, g, 1, n_ctx);   // decode, token by token
  }
}

TEST_CASE("phi3-tiny: a context within original_context_length uses the short factors") {
  if (!have({shared("arch/phi3-tiny.gguf"), shared("arch/phi3-tiny.tokens"),
             shared("arch/phi3-tiny.rope.logits.f32")}))
    return;
  const model m = model::open(shared("arch/phi3-tiny.gguf"));
  std::vector<int> tokens = read_tokens(shared("arch/phi3-tiny.tokens"));
  tokens.resize(64);
  session_params p;
  p.n_ctx = 64;
  session s(m, p);
  const std::vector<float> golden = read_f32(shared("arch/phi3-tiny.rope.logits.f32"));
  const std::vector<float> first64(golden.begin(), golden.begin() + 64 * 512);
  // The goldens were computed with the long factors: the short ones differ.
  CHECK(compare_logits(s.forward(tokens, 0, logits_rows::all), first64, 512).max_abs > 1e-2);
  const std::vector<double> inv = rope_inv_freq(m.config().rope, 64);
  const std::vector<double> plain = rope_inv_freq(
      [&] {
        rope_config r = m.config().rope;
        r.scaling = rope_scaling::none;
        return r;
      }(),
      64);
  for (std::size_t i = 0; i < inv.size(); ++i)
    CHECK(inv[i] == doctest::Approx(plain[i] / m.config().rope.short_factors[i]));
}

TEST_CASE("golden: the STRING goldens differ from RoPE (the test can tell them apart)") {
  if (!have({shared("golden/story64.rope.logits.f32"),
             shared("golden/story64.string-S40-W8.logits.f32")}))
    return;
  const logit_diff d =
      compare_logits(read_f32(shared("golden/story64.rope.logits.f32")),
                     read_f32(shared("golden/story64.string-S40-W8.logits.f32")), 512);
  CHECK(d.max_abs > 100 * golden_tolerance);
}

TEST_CASE("greedy: llama2.c's stories for the README prompts, from both files") {
  if (!have({shared("stories260K.bin"), shared("tok512.bin"), shared("stories260K.gguf")})) return;
  const model bin = model::open(shared("stories260K.bin"));
  const tokenizer bin_tok = tokenizer::from_llama2c(read_llama2c_vocab(shared("tok512.bin"), 512));
  const model gguf = model::open(shared("stories260K.gguf"));
  const tokenizer gguf_tok = tokenizer::from_gguf(*gguf.gguf());
  for (const story& st : readme_stories) {
    for (const auto& [m, tok] : {std::pair<const model*, const tokenizer*>{&bin, &bin_tok},
                                 std::pair<const model*, const tokenizer*>{&gguf, &gguf_tok}}) {
      INFO(m->name(), ": \"", st.prompt, "\"");
      const std::vector<int> ids =
          greedy(*m, tok->encode(st.prompt, true), readme_total_tokens, tok->bos(), tok->eos());
      CHECK(ids.size() == readme_total_tokens);
      CHECK(tok->decode(ids) == st.text);
    }
  }
}

TEST_CASE("greedy: qwen2-tiny continues \"Once upon a time\" with \" time\" 24 times") {
  if (!have({shared("arch/qwen2-tiny.gguf")})) return;
  const model m = model::open(shared("arch/qwen2-tiny.gguf"));
  const tokenizer tok = tokenizer::from_gguf(*m.gguf());
  const std::vector<int> prompt = tok.encode("Once upon a time", tok.add_bos_default());
  const std::vector<int> ids = greedy(m, prompt, prompt.size() + 24, tok.bos(), tok.eos());
  std::string expected = "Once upon a time";
  for (int i = 0; i < 24; ++i) expected += " time";
  CHECK(ids.size() == prompt.size() + 24);
  CHECK(tok.decode(ids) == expected);
}

TEST_CASE("forward: prefill of N then decode equals prefill of N + 1, rewinding, chunks") {
  if (!have({shared("stories260K.bin"), shared("golden/story64.tokens")})) return;
  const model m = model::open(shared("stories260K.bin"));
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  for (const remap r : {remap{identity_remap{}}, remap{string_remap{16, 4}}}) {
    INFO(describe(r));
    session_params p;
    p.position_remap = r;
    session full(m, p);
    const std::vector<float> all = full.forward(tokens, 0, logits_rows::all);
    const auto row = [&](std::size_t t) {
      return std::vector<float>(all.begin() + static_cast<std::ptrdiff_t>(t * 512),
                                all.begin() + static_cast<std::ptrdiff_t>((t + 1) * 512));
    };
    for (const std::size_t n : {1u, 20u, 40u, 63u}) {
      session s(m, p);
      const std::vector<int> head(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n));
      CHECK(compare_logits(s.forward(head, 0), row(n - 1), 512).max_abs <= reorder_tolerance);
      CHECK(compare_logits(s.forward({tokens[n]}, static_cast<std::int64_t>(n)), row(n), 512)
                .max_abs <= reorder_tolerance);
      CHECK(s.n_past() == static_cast<std::int64_t>(n + 1));
    }
    // Rewind: a session that continued elsewhere, restarted at position 10.
    session s(m, p);
    (void)s.forward(std::vector<int>(30, 5), 0);
    const std::vector<int> rest(tokens.begin() + 10, tokens.end());
    (void)s.forward(std::vector<int>(tokens.begin(), tokens.begin() + 10), 0);
    const std::vector<float> tail = s.forward(rest, 10, logits_rows::all);
    CHECK(
        compare_logits(tail, std::vector<float>(all.begin() + 10 * 512, all.end()), 512).max_abs <=
        reorder_tolerance);
    // Chunked prefill of every size gives the same rows.
    for (const int batch : {1, 3, 16, 63}) {
      session_params q = p;
      q.max_batch = batch;
      session c(m, q);
      CHECK(compare_logits(c.forward(tokens, 0, logits_rows::all), all, 512).max_abs <=
            reorder_tolerance);
    }
  }
}

TEST_CASE("forward: KV cache in f16 and bf16 stays near f32") {
  if (!have({shared("stories260K.bin"), shared("golden/story64.tokens")})) return;
  const model m = model::open(shared("stories260K.bin"));
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  session_params p;
  p.position_remap = string_remap{16, 4};
  session ref(m, p);
  const std::vector<float> want = ref.forward(tokens, 0, logits_rows::all);
  for (const auto& [type, tol] : {std::pair<kv_type, double>{kv_type::f16, kv_f16_tolerance},
                                  std::pair<kv_type, double>{kv_type::bf16, kv_bf16_tolerance}}) {
    p.kv = type;
    session s(m, p);
    CHECK(s.cache().type() == type);
    const logit_diff d = compare_logits(s.forward(tokens, 0, logits_rows::all), want, 512);
    MESSAGE("KV cache ", std::string(kv_type_name(type)), ": max |logit - f32 logit| = ", d.max_abs,
            ", argmax mismatches ", d.argmax_mismatches, " of 64");
    CHECK(d.max_abs <= tol);
    CHECK(d.max_abs > 0.0);  // the rounding happened
  }
}

TEST_CASE("forward: 1 and 2 threads agree") {
  if (!have({shared("stories260K.bin"), shared("arch/qwen2-tiny.gguf"),
             shared("golden/story64.tokens")}))
    return;
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  for (const char* file : {"stories260K.bin", "arch/qwen2-tiny.gguf"}) {
    const model m = model::open(shared(file));
    std::vector<std::vector<float>> out;
    for (const int threads : {1, 2, 3}) {
      session_params p;
      p.n_threads = threads;
      p.position_remap = string_remap{40, 8};
      session s(m, p);
      std::vector<float> prefill = s.forward(tokens, 0, logits_rows::all);
      const std::vector<float> decode = s.forward({7}, 64);
      prefill.insert(prefill.end(), decode.begin(), decode.end());
      out.push_back(std::move(prefill));
    }
    CHECK(compare_logits(out[0], out[1], 512).max_abs <= reorder_tolerance);
    CHECK(compare_logits(out[0], out[2], 512).max_abs <= reorder_tolerance);
  }
}

TEST_CASE("session timing: counts tokens and chunks, parts within the total, off by default") {
  if (!have({shared("stories260K.bin"), shared("golden/story64.tokens")})) return;
  const std::vector<int> tokens = read_tokens(shared("golden/story64.tokens"));
  const model m = model::open(shared("stories260K.bin"));
  session_params p;
  p.max_batch = 16;  // 64 tokens: 4 chunks
  session s(m, p);
  forward_timing t;
  s.set_timing(&t);
  const std::vector<float> with_timing = s.forward(tokens, 0, logits_rows::all);
  for (int i = 0; i < 3; ++i) (void)s.forward({7 + i}, 64 + i);
  CHECK(t.tokens == tokens.size() + 3);
  CHECK(t.chunks == 4 + 3);
  CHECK(t.attention > 0);
  CHECK(t.matmul > 0);
  CHECK(t.attention + t.matmul <= t.total);
  CHECK(t.other() >= 0);
  // Detached: nothing more is added, and the logits never depended on it.
  s.set_timing(nullptr);
  const forward_timing before = t;
  const std::vector<float> without = s.forward(tokens, 0, logits_rows::all);
  CHECK(t.tokens == before.tokens);
  CHECK(t.total == before.total);
  CHECK(without == with_timing);
}

TEST_CASE("forward: logit_scale c equals query weights scaled by c") {
  // q·k scales linearly with Wq, so a model whose Wq is multiplied by c
  // must give the logits of the original with logit_scale = c.
  if (!have({shared("stories260K.bin")})) return;
  const llama2c_checkpoint ck = llama2c_checkpoint::open(shared("stories260K.bin"));
  const model plain = model::from_gguf(build(stories_spec(ck, all_f32)));
  gguf_spec scaled = stories_spec(ck, all_f32);
  const double c = string_reference_logit_scale;
  for (int l = 0; l < 5; ++l)
    for (float& w : tensor(scaled, "blk." + std::to_string(l) + ".attn_q.weight").values)
      w = static_cast<float>(w * c);
  const model m = model::from_gguf(build(scaled));
  const std::vector<int> tokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};
  session_params p;
  p.position_remap = string_remap{4, 2};
  session want(m, p);
  p.logit_scale = c;
  session got(plain, p);
  CHECK(got.logit_scale() == c);
  const logit_diff d = compare_logits(got.forward(tokens, 0, logits_rows::all),
                                      want.forward(tokens, 0, logits_rows::all), 512);
  CHECK(d.max_abs <= reorder_tolerance);
  // And it is not a no-op.
  session one(plain, {});
  CHECK(compare_logits(one.forward(tokens, 0, logits_rows::all),
                       want.forward(tokens, 0, logits_rows::all), 512)
            .max_abs > 1e-3);
  CHECK(string_reference_logit_scale == doctest::Approx(std::pow(1.0 + 0.1 * std::log(2.0), 2)));
}

TEST_CASE("session: bad input names the problem") {
  if (!have({shared("stories260K.bin")})) return;
  const model m = model::open(shared("stories260K.bin"));
  session_params p;
  p.n_ctx = 16;
  session s(m, p);
  float logits[512];
  const int bad[] = {1, 512};
  CHECK(error_of([&] { s.forward(bad, 2, 0, logits); }).find("token id 512 at index 1") !=
        std::string::npos);
  const int neg[] = {-3};
  CHECK(error_of([&] { s.forward(neg, 1, 0, logits); }).find("token id -3") != std::string::npos);
  CHECK(error_of([&] { s.forward(bad, 0, 0, logits); }).find("no tokens") != std::string::npos);
  const std::vector<int> long_prompt(17, 5);
  CHECK(error_of([&] { (void)s.forward(long_prompt, 0); }).find("n_ctx = 16") != std::string::npos);
  (void)s.forward(std::vector<int>(16, 5), 0);  // exactly fits
  CHECK(error_of([&] { (void)s.forward({5}, 16); }).find("exceed the context") !=
        std::string::npos);
  s.reset();
  CHECK(error_of([&] { (void)s.forward({5}, 3); }).find("start_pos = 3") != std::string::npos);
  // Parameters.
  session_params q;
  q.position_remap = string_remap{600, 8};  // S >= L = 512
  CHECK(error_of([&] { session x(m, q); }).find("shift (S) must be < train_len") !=
        std::string::npos);
  q.train_len = 2048;  // an override makes it valid
  CHECK(error_of([&] { session x(m, q); }) == "no error");
  q.position_remap = string_remap{10, 10};
  CHECK(error_of([&] { session x(m, q); }).find("window (W) must be < shift (S)") !=
        std::string::npos);
  session_params big;
  big.n_ctx = std::int64_t{1} << 30;
  big.max_kv_bytes = std::uint64_t{1} << 30;
  CHECK(error_of([&] { session x(m, big); }).find("n_ctx = 1073741824") != std::string::npos);
  session_params scale;
  scale.logit_scale = 0.0;
  CHECK(error_of([&] { session x(m, scale); }).find("logit_scale") != std::string::npos);
  session_params batch;
  batch.max_batch = 0;
  CHECK(error_of([&] { session x(m, batch); }).find("max_batch") != std::string::npos);
}

TEST_CASE("kv_cache: size formula, cap, types") {
  kv_cache_params p{5, 4, 8, 512, kv_type::f16};
  CHECK(p.bytes() == 5ull * 2 * 512 * 4 * 8 * 2);
  const kv_cache c(p);
  CHECK(c.bytes() == 327680);
  CHECK(std::holds_alternative<kv_storage<f16>>(c.typed()));
  p.type = kv_type::f32;
  CHECK(p.bytes() == 5ull * 2 * 512 * 4 * 8 * 4);
  p.n_ctx = std::int64_t{1} << 40;
  CHECK(error_of([&] { p.validate(); }).find("above the cap") != std::string::npos);
  p.n_ctx = std::int64_t{1} << 62;
  CHECK(error_of([&] { p.validate(); }).find("more than 2^64") != std::string::npos);
  p.n_ctx = 0;
  CHECK(error_of([&] { p.validate(); }).find("n_ctx must be >= 1") != std::string::npos);
  CHECK(parse_kv_type("bf16") == kv_type::bf16);
  CHECK(error_of([] { (void)parse_kv_type("f8"); }).find("\"f8\"") != std::string::npos);
}

TEST_CASE("kv_cache: buffers are zeroed, large ones 2 MiB-aligned, writable to the end") {
  // 4 layers × 2 heads × 4096 positions × 64 × 4 bytes = 8 MiB per tensor.
  const kv_cache c(kv_cache_params{4, 2, 64, 4096, kv_type::f32});
  const auto& st = std::get<kv_storage<float>>(c.typed());
  const std::uintptr_t k0 = reinterpret_cast<std::uintptr_t>(st.k(0, 0));
  CHECK(k0 % detail::huge_page_bytes == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(st.v(0, 0)) % detail::huge_page_bytes == 0);
  const float* last = st.v(3, 1) + 4095 * 64 + 63;
  CHECK(*last == 0.0f);
  CHECK(*st.k(2, 1) == 0.0f);
  // A small buffer is only cache-line aligned, and the allocator refuses
  // an element count whose byte size overflows instead of wrapping.
  std::vector<float, detail::big_buffer_allocator<float>> small(3, 1.5f);
  CHECK(reinterpret_cast<std::uintptr_t>(small.data()) % 64 == 0);
  CHECK(small[2] == 1.5f);
  detail::big_buffer_allocator<double> a;
  CHECK_THROWS_AS((void)a.allocate(std::numeric_limits<std::size_t>::max() / 4), std::bad_alloc);
}

TEST_CASE("model_ops: rmsnorm and swiglu against plain formulas (odd sizes)") {
  for (const std::size_t n : {1u, 7u, 17u, 64u, 173u}) {
    std::vector<float> x(n), g(n), out(n + 1, 42.0f), up(n);
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = static_cast<float>(std::sin(1.3 * i + 0.2) * 3.0);
      g[i] = static_cast<float>(0.5 + 0.01 * i);
      up[i] = static_cast<float>(std::cos(0.7 * i) * 2.0);
    }
    double ss = 0.0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
    detail::model_ops::rmsnorm(x.data(), g.data(), out.data(), n, 1e-5f);
    for (std::size_t i = 0; i < n; ++i)
      CHECK(out[i] == doctest::Approx(x[i] * inv * g[i]).epsilon(1e-5));
    CHECK(out[n] == 42.0f);  // guard element untouched
    std::vector<float> gate(x);
    gate.push_back(42.0f);
    // Large magnitudes too: silu(-100) = -0, silu(100) = 100.
    gate[0] = n > 1 ? -100.0f : gate[0];
    detail::model_ops::swiglu(gate.data(), up.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      const double a = i == 0 && n > 1 ? -100.0 : x[i];
      const double want = a / (1.0 + std::exp(-a)) * up[i];
      CHECK(gate[i] == doctest::Approx(want).epsilon(1e-5).scale(1e-6));
    }
    CHECK(gate[n] == 42.0f);
  }
}
