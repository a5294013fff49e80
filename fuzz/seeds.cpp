// fuzz/seeds.cpp - shiftrope-fuzz-seeds: writes the seed corpus of every fuzz
// target, made with the project's own writers, so that the fuzzer starts from
// valid inputs of each kind instead of discovering the formats from nothing.
//
//   shiftrope-fuzz-seeds OUT_DIR [SHARED_DIR]
//
// Writes OUT_DIR/<target>/<name> for the targets gguf, llama2c,
// tokenizer_spm, tokenizer_bpe, cli and model_config. With SHARED_DIR (the read-only data
// beside the project), also the vocabularies' test texts and tok512.bin.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/quantize.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer_target.hpp"

namespace fs = std::filesystem;
using bytes = std::vector<std::uint8_t>;

namespace {

int g_written = 0;

void write_file(const fs::path& path, const bytes& b) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) shiftrope::fail("cannot write '", path.string(), "'");
  ++g_written;
}

bytes with_prefix(std::initializer_list<std::uint8_t> prefix, const bytes& b) {
  bytes out(prefix);
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

bytes text_bytes(std::string_view s) {
  return bytes(s.begin(), s.end());
}

void put_i32(bytes& b, std::int32_t v) {
  for (int i = 0; i < 4; ++i)
    b.push_back(static_cast<std::uint8_t>(static_cast<std::uint32_t>(v) >> (8 * i)));
}

void put_f32(bytes& b, float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  put_i32(b, static_cast<std::int32_t>(u));
}

// ---- GGUF ----

/// Deterministic tensor contents: finite positive values in [0.5, 1.375]
/// for the float types (rope_freqs must be positive), the same values
/// quantized for the block types quantize_row writes (valid blocks: finite
/// scales), a byte pattern otherwise.
bytes filler(shiftrope::ggml_type type, std::size_t n_bytes) {
  using shiftrope::ggml_type;
  bytes b(n_bytes);
  const auto value = [](std::size_t i) { return 0.5f + static_cast<float>(i % 8) * 0.125f; };
  for (std::size_t i = 0; i < n_bytes; ++i) b[i] = static_cast<std::uint8_t>(37 * i + 11);
  if (type == ggml_type::f32) {
    for (std::size_t i = 0; i < n_bytes / 4; ++i) {
      const float v = value(i);
      std::memcpy(&b[4 * i], &v, 4);
    }
  } else if (type == ggml_type::f16 || type == ggml_type::bf16) {
    for (std::size_t i = 0; i < n_bytes / 2; ++i) {
      const std::uint16_t bits = type == ggml_type::f16 ? shiftrope::to_f16(value(i)).bits
                                                        : shiftrope::to_bf16(value(i)).bits;
      std::memcpy(&b[2 * i], &bits, 2);
    }
  } else if (shiftrope::quantize_supported(type)) {
    const shiftrope::ggml_type_traits info = shiftrope::ggml_type_info(type);
    std::vector<float> values(n_bytes / info.type_size * info.block_size);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = value(i);
    shiftrope::quantize_row(type, values.data(), b.data(), values.size());
  }
  return b;
}

void add_tensor(shiftrope::gguf_writer& w, const char* name, shiftrope::ggml_type type,
                std::vector<std::uint64_t> dims) {
  std::uint64_t rows = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
  const bytes data =
      filler(type, static_cast<std::size_t>(shiftrope::ggml_row_bytes(type, dims[0]) * rows));
  w.add_tensor(name, type, dims, data.data(), data.size());
}

/// Every metadata value type (scalars and arrays) and tensors of many types.
bytes gguf_all_types(std::uint32_t alignment) {
  using shiftrope::ggml_type;
  shiftrope::gguf_writer w;
  if (alignment) w.set_alignment(alignment);
  w.add_string("general.architecture", "test");
  w.add_uint8("u8", 200);
  w.add_int8("i8", -100);
  w.add_uint16("u16", 60000);
  w.add_int16("i16", -30000);
  w.add_uint32("u32", 4000000000u);
  w.add_int32("i32", -2000000000);
  w.add_uint64("u64", ~std::uint64_t{0});
  w.add_int64("i64", INT64_MIN);
  w.add_float32("f32", 0.25f);
  w.add_float64("f64", -1e300);
  w.add_bool("flag", true);
  w.add_string("s", "h\xC3\xA9llo");
  w.add_array<std::uint8_t>("a.u8", {1, 2, 255});
  w.add_array<std::int8_t>("a.i8", {-1, 0, 1});
  w.add_array<std::uint16_t>("a.u16", {1, 65535});
  w.add_array<std::int16_t>("a.i16", {-32768, 7});
  w.add_array<std::uint32_t>("a.u32", {1, 2, 3});
  w.add_array<std::int32_t>("a.i32", {-1, 5});
  w.add_array<std::uint64_t>("a.u64", {~std::uint64_t{0}, 3});
  w.add_array<std::int64_t>("a.i64", {INT64_MIN, -1});
  w.add_array<float>("a.f32", {0.5f, -2.0f});
  w.add_array<double>("a.f64", {1e-300, 3.0});
  w.add_array<std::int32_t>("a.empty", {});
  w.add_bool_array("a.bool", {true, false, true});
  w.add_string_array("a.str", std::vector<std::string>{"a", "", "bc"});
  add_tensor(w, "f32", ggml_type::f32, {5, 3});
  add_tensor(w, "f16", ggml_type::f16, {7});
  add_tensor(w, "bf16", ggml_type::bf16, {3, 2});
  add_tensor(w, "q8_0", ggml_type::q8_0, {32, 2});
  add_tensor(w, "q4_0", ggml_type::q4_0, {32});
  add_tensor(w, "q4_k", ggml_type::q4_k, {256});
  add_tensor(w, "i8", ggml_type::i8, {3});
  add_tensor(w, "i32", ggml_type::i32, {2, 2});
  add_tensor(w, "f64", ggml_type::f64, {1});
  add_tensor(w, "4d", ggml_type::f32, {2, 1, 3, 1});
  return w.to_bytes();
}

void add_vocab(shiftrope::gguf_writer& w, const shiftrope::vocab_data& d, const char* pre) {
  const bool spm = d.model == shiftrope::vocab_model::spm;
  w.add_string("tokenizer.ggml.model", spm ? "llama" : "gpt2");
  w.add_string_array("tokenizer.ggml.tokens", d.tokens);
  if (!d.scores.empty()) w.add_array<float>("tokenizer.ggml.scores", d.scores);
  std::vector<std::int32_t> types;
  for (const auto t : d.types) types.push_back(static_cast<std::int32_t>(t));
  if (!types.empty()) w.add_array<std::int32_t>("tokenizer.ggml.token_type", types);
  if (!spm) {
    std::vector<std::string> merges;
    for (const auto& [l, r] : d.merges) merges.push_back(l + " " + r);
    w.add_string_array("tokenizer.ggml.merges", merges);
    w.add_string("tokenizer.ggml.pre", pre);
  }
  if (d.bos_id >= 0)
    w.add_uint32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(d.bos_id));
  if (d.eos_id >= 0)
    w.add_uint32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(d.eos_id));
  if (d.unk_id >= 0)
    w.add_uint32("tokenizer.ggml.unknown_token_id", static_cast<std::uint32_t>(d.unk_id));
  w.add_bool("tokenizer.ggml.add_bos_token", d.add_bos);
  if (spm) w.add_bool("tokenizer.ggml.add_space_prefix", d.add_space_prefix);
}

bytes gguf_vocab(const shiftrope::vocab_data& d, const char* pre) {
  shiftrope::gguf_writer w;
  add_vocab(w, d, pre);
  return w.to_bytes();
}

/// A tiny model file: llama (tied output, rope_freqs) or qwen2 (biases, yarn).
bytes gguf_model(bool qwen2, shiftrope::ggml_type type) {
  using shiftrope::ggml_type;
  const std::uint64_t embd = 32, ff = 64, vocab = 40, q = 32, kv = 16;  // 2 heads of 16, 1 KV head
  const std::string a = qwen2 ? "qwen2" : "llama";
  shiftrope::gguf_writer w;
  w.add_string("general.architecture", a);
  w.add_uint32(a + ".embedding_length", embd);
  w.add_uint32(a + ".block_count", 1);
  w.add_uint32(a + ".feed_forward_length", ff);
  w.add_uint32(a + ".attention.head_count", 2);
  w.add_uint32(a + ".attention.head_count_kv", 1);
  w.add_float32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_uint32(a + ".context_length", 64);
  w.add_float32(a + ".rope.freq_base", 10000.0f);
  if (qwen2) {
    w.add_string(a + ".rope.scaling.type", "yarn");
    w.add_float32(a + ".rope.scaling.factor", 4.0f);
    w.add_uint32(a + ".rope.scaling.original_context_length", 16);
  } else {
    w.add_uint32(a + ".rope.dimension_count", 16);
    w.add_uint32(a + ".vocab_size", vocab);
  }
  add_tensor(w, "token_embd.weight", type, {embd, vocab});
  add_tensor(w, "output_norm.weight", ggml_type::f32, {embd});
  if (qwen2) add_tensor(w, "output.weight", type, {embd, vocab});
  if (!qwen2) add_tensor(w, "rope_freqs.weight", ggml_type::f32, {8});
  add_tensor(w, "blk.0.attn_norm.weight", ggml_type::f32, {embd});
  add_tensor(w, "blk.0.attn_q.weight", type, {embd, q});
  add_tensor(w, "blk.0.attn_k.weight", type, {embd, kv});
  add_tensor(w, "blk.0.attn_v.weight", type, {embd, kv});
  if (qwen2) {
    add_tensor(w, "blk.0.attn_q.bias", ggml_type::f32, {q});
    add_tensor(w, "blk.0.attn_k.bias", ggml_type::f32, {kv});
    add_tensor(w, "blk.0.attn_v.bias", ggml_type::f32, {kv});
  }
  add_tensor(w, "blk.0.attn_output.weight", type, {q, embd});
  add_tensor(w, "blk.0.ffn_norm.weight", ggml_type::f32, {embd});
  add_tensor(w, "blk.0.ffn_gate.weight", type, {embd, ff});
  add_tensor(w, "blk.0.ffn_up.weight", type, {embd, ff});
  add_tensor(w, "blk.0.ffn_down.weight", type, {ff, embd});
  return w.to_bytes();
}

/// A tiny phi3 file: fused attn_qkv (GQA: 2 heads of 16, 1 KV head) and
/// gate/up, LongRoPE factors and attention factor, a sliding window.
bytes gguf_phi3(shiftrope::ggml_type type) {
  using shiftrope::ggml_type;
  const std::uint64_t embd = 32, ff = 64, vocab = 40, q = 32, kv = 16;
  const std::string a = "phi3";
  shiftrope::gguf_writer w;
  w.add_string("general.architecture", a);
  w.add_uint32(a + ".embedding_length", embd);
  w.add_uint32(a + ".block_count", 1);
  w.add_uint32(a + ".feed_forward_length", ff);
  w.add_uint32(a + ".attention.head_count", 2);
  w.add_uint32(a + ".attention.head_count_kv", 1);
  w.add_float32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_uint32(a + ".context_length", 64);
  w.add_uint32(a + ".rope.scaling.original_context_length", 16);
  w.add_float32(a + ".rope.scaling.attn_factor", 1.19f);
  w.add_uint32(a + ".attention.sliding_window", 12);
  w.add_float32(a + ".rope.freq_base", 10000.0f);
  w.add_uint32(a + ".rope.dimension_count", 16);
  add_tensor(w, "token_embd.weight", type, {embd, vocab});
  add_tensor(w, "output_norm.weight", ggml_type::f32, {embd});
  add_tensor(w, "output.weight", type, {embd, vocab});
  add_tensor(w, "rope_factors_long.weight", ggml_type::f32, {8});
  add_tensor(w, "rope_factors_short.weight", ggml_type::f32, {8});
  add_tensor(w, "blk.0.attn_norm.weight", ggml_type::f32, {embd});
  add_tensor(w, "blk.0.attn_qkv.weight", type, {embd, q + 2 * kv});
  add_tensor(w, "blk.0.attn_output.weight", type, {q, embd});
  add_tensor(w, "blk.0.ffn_norm.weight", ggml_type::f32, {embd});
  add_tensor(w, "blk.0.ffn_up.weight", type, {embd, 2 * ff});
  add_tensor(w, "blk.0.ffn_down.weight", type, {ff, embd});
  return w.to_bytes();
}

/// A tiny llama file with matrices quantized to `type` by quantize_row
/// (valid blocks, so the model loads and runs): for the 256-element blocks
/// n_embd 256, 2 heads of 16 (key_length set), 1 KV head, n_ff 32, the
/// matrices whose rows are 32 long (attn_output, ffn_down) in Q8_0 as
/// llama.cpp falls back; for the 32-element blocks the shape of gguf_model.
bytes gguf_quant_model(shiftrope::ggml_type type) {
  using shiftrope::ggml_type;
  const bool k = shiftrope::ggml_type_info(type).block_size == 256;
  const std::uint64_t embd = k ? 256 : 32, ff = 32, vocab = 40, head = 16, q = 32, kv = 16;
  const std::string a = "llama";
  shiftrope::gguf_writer w;
  w.add_string("general.architecture", a);
  w.add_uint32(a + ".embedding_length", embd);
  w.add_uint32(a + ".block_count", 1);
  w.add_uint32(a + ".feed_forward_length", ff);
  w.add_uint32(a + ".attention.head_count", 2);
  w.add_uint32(a + ".attention.head_count_kv", 1);
  w.add_uint32(a + ".attention.key_length", head);
  w.add_uint32(a + ".attention.value_length", head);
  w.add_float32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_uint32(a + ".context_length", 64);
  w.add_float32(a + ".rope.freq_base", 10000.0f);
  w.add_uint32(a + ".rope.dimension_count", head);
  w.add_uint32(a + ".vocab_size", vocab);
  const auto matrix = [&](const char* name, std::uint64_t n_in, std::uint64_t n_out) {
    const ggml_type t =
        n_in % shiftrope::ggml_type_info(type).block_size == 0 ? type : ggml_type::q8_0;
    std::vector<float> values(static_cast<std::size_t>(n_in * n_out));
    for (std::size_t i = 0; i < values.size(); ++i)
      values[i] = static_cast<float>(static_cast<int>((i * 37 + 5) % 17) - 8) * 0.02f;
    bytes data(static_cast<std::size_t>(shiftrope::ggml_row_bytes(t, n_in) * n_out));
    shiftrope::quantize_row(t, values.data(), data.data(), values.size());
    w.add_tensor(name, t, {n_in, n_out}, data.data(), data.size());
  };
  matrix("token_embd.weight", embd, vocab);
  add_tensor(w, "output_norm.weight", ggml_type::f32, {embd});
  matrix("output.weight", embd, vocab);
  add_tensor(w, "blk.0.attn_norm.weight", ggml_type::f32, {embd});
  matrix("blk.0.attn_q.weight", embd, q);
  matrix("blk.0.attn_k.weight", embd, kv);
  matrix("blk.0.attn_v.weight", embd, kv);
  matrix("blk.0.attn_output.weight", q, embd);
  add_tensor(w, "blk.0.ffn_norm.weight", ggml_type::f32, {embd});
  matrix("blk.0.ffn_gate.weight", embd, ff);
  matrix("blk.0.ffn_up.weight", embd, ff);
  matrix("blk.0.ffn_down.weight", ff, embd);
  return w.to_bytes();
}

/// Tiny models of every supported weight type (for gguf and model_config).
void model_seeds(const fs::path& dir) {
  using shiftrope::ggml_type;
  write_file(dir / "model-llama-f32.gguf", gguf_model(false, ggml_type::f32));
  write_file(dir / "model-llama-q8_0.gguf", gguf_model(false, ggml_type::q8_0));
  write_file(dir / "model-qwen2-f16.gguf", gguf_model(true, ggml_type::f16));
  write_file(dir / "model-qwen2-bf16.gguf", gguf_model(true, ggml_type::bf16));
  write_file(dir / "model-phi3-f32.gguf", gguf_phi3(ggml_type::f32));
  for (const ggml_type t : {ggml_type::q4_0, ggml_type::q4_1, ggml_type::q5_0, ggml_type::q5_1,
                            ggml_type::q2_k, ggml_type::q3_k, ggml_type::q4_k, ggml_type::q5_k,
                            ggml_type::q6_k, ggml_type::iq4_nl, ggml_type::iq4_xs}) {
    std::string name = shiftrope::ggml_type_name(t);  // "Q4_K" -> "q4_k"
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    write_file(dir / ("model-llama-" + name + ".gguf"), gguf_quant_model(t));
  }
}

void gguf_seeds(const fs::path& dir) {
  using shiftrope::ggml_type;
  write_file(dir / "all-types.gguf", gguf_all_types(0));
  write_file(dir / "all-types-align1.gguf", gguf_all_types(1));
  write_file(dir / "all-types-align64.gguf", gguf_all_types(64));
  bytes v2 = gguf_all_types(0);
  v2[4] = 2;  // version 2 has the same layout (64-bit counts)
  write_file(dir / "all-types-v2.gguf", v2);
  write_file(dir / "empty.gguf", shiftrope::gguf_writer().to_bytes());
  write_file(dir / "vocab-spm.gguf", gguf_vocab(shiftrope_fuzz::small_spm_vocab(), ""));
  for (const char* pre : {"gpt2", "llama-bpe", "qwen2", "starcoder"})
    write_file(dir / (std::string("vocab-bpe-") + pre + ".gguf"),
               gguf_vocab(shiftrope_fuzz::small_bpe_vocab(), pre));
  // User-defined tokens (matched in the raw text before pre-tokenization):
  // a run of spaces and a character outside the byte alphabet.
  shiftrope::vocab_data user_defined = shiftrope_fuzz::small_bpe_vocab();
  for (const char* text : {"   ", "\xE4\xBD\xA0"}) {
    user_defined.tokens.push_back(text);
    user_defined.types.push_back(shiftrope::token_type::user_defined);
  }
  write_file(dir / "vocab-bpe-user-defined.gguf", gguf_vocab(user_defined, "deepseek-llm"));
  model_seeds(dir);
}

// ---- llama2.c ----

/// A checkpoint from its header; weights are small distinct floats.
bytes llama2c_checkpoint(int dim, int hidden, int layers, int heads, int kv_heads, int vocab,
                         int seq_len, bool shared_classifier) {
  bytes b;
  for (const int h :
       {dim, hidden, layers, heads, kv_heads, shared_classifier ? vocab : -vocab, seq_len})
    put_i32(b, h);
  const long hs = dim / heads;
  const long floats = long{vocab} * dim + 2L * layers * dim + long{layers} * dim * heads * hs +
                      2L * layers * kv_heads * hs * dim + long{layers} * dim * heads * hs +
                      3L * layers * hidden * dim + dim + long{seq_len} * hs +
                      (shared_classifier ? 0 : long{vocab} * dim);
  for (long i = 0; i < floats; ++i) put_f32(b, static_cast<float>(i % 17) * 0.125f - 1.0f);
  return b;
}

/// tokenizer.bin: max_token_length, then (score, length, bytes) per piece.
bytes llama2c_tokenizer(const std::vector<std::string>& pieces) {
  std::size_t longest = 1;
  for (const std::string& p : pieces) longest = std::max(longest, p.size());
  bytes b;
  put_i32(b, static_cast<std::int32_t>(longest));
  float score = 0;
  for (const std::string& p : pieces) {
    put_f32(b, score);
    score -= 0.5f;
    put_i32(b, static_cast<std::int32_t>(p.size()));
    b.insert(b.end(), p.begin(), p.end());
  }
  return b;
}

void llama2c_seeds(const fs::path& dir, const fs::path& shared) {
  write_file(dir / "checkpoint-gqa.bin",
             with_prefix({0}, llama2c_checkpoint(8, 12, 2, 2, 1, 10, 4, true)));
  write_file(dir / "checkpoint-mha.bin",
             with_prefix({0}, llama2c_checkpoint(4, 6, 1, 2, 2, 5, 3, true)));
  write_file(dir / "checkpoint-classifier.bin",
             with_prefix({0}, llama2c_checkpoint(4, 4, 1, 1, 1, 6, 2, false)));
  std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n"};
  static const char hex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b)
    pieces.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
  for (const char* p : {" ", " t", "he", " the", "in", "a", "b", "c", "e", "h", "t", "\xC3\xA9"})
    pieces.push_back(p);
  bytes tok = llama2c_tokenizer(pieces);
  bytes seed = {1};
  put_i32(seed, static_cast<std::int32_t>(pieces.size()));
  seed.insert(seed.end(), tok.begin(), tok.end());
  write_file(dir / "tokenizer-small.bin", seed);
  if (!shared.empty()) {
    const bytes tok512 =
        shiftrope_fuzz::read_file_or_empty((shared / "models" / "tok512.bin").string());
    if (!tok512.empty()) {
      bytes s = {1};
      put_i32(s, 512);
      s.insert(s.end(), tok512.begin(), tok512.end());
      write_file(dir / "tokenizer-tok512.bin", s);
    }
  }
}

// ---- tokenizers ----

/// The test texts of a vocabulary (`NAME.gguf.inp`, cases separated by
/// lines reading `__ggml_vocab_test__`).
std::vector<std::string> vocab_texts(const fs::path& inp) {
  const bytes raw = shiftrope_fuzz::read_file_or_empty(inp.string());
  const std::string all(raw.begin(), raw.end());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < all.size();) {
    const std::size_t next = all.find(sep, pos);
    out.push_back(all.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  return out;
}

void tokenizer_seeds(const fs::path& dir, const fs::path& shared) {
  std::vector<std::string> texts = {"Hello world",
                                    " Hello  World!\n",
                                    "\xE2\x96\x81start \xE2\x96\x81",
                                    "caf\xC3\xA9 \xF0\x9F\x98\x80",
                                    "<s>[INST] hi [/INST]</s>",
                                    "<|endoftext|>a<|endoftext|>",
                                    "\xFF\xFE\xC0\xAF\xED\xA0\x80 \xF4\x90\x80\x80",
                                    "   \t\n\r\n  x",
                                    "it's 12345 don't",
                                    "<unk><|user|>"};
  if (!shared.empty())
    for (const char* name : {"ggml-vocab-llama-spm.gguf.inp", "ggml-vocab-gpt-2.gguf.inp"})
      for (std::string& t : vocab_texts(shared / "vocab" / name)) texts.push_back(std::move(t));
  int k = 0;
  for (const std::string& t : texts) {
    for (const std::uint8_t flags : {0, 1, 3}) {
      write_file(dir / ("text-" + std::to_string(k) + "-" + std::to_string(flags)),
                 with_prefix({flags}, text_bytes(t)));
    }
    ++k;
  }
  bytes ids = {2 << 2};  // mode 2: 2-byte ids mapped onto [-2, n_vocab + 2)
  for (int i = 0; i < 40; ++i) {
    ids.push_back(static_cast<std::uint8_t>(i * 7 + 2));
    ids.push_back(0);
  }
  write_file(dir / "ids-mapped", ids);
  bytes raw = {3 << 2};  // mode 3: raw int32 ids
  for (const std::int32_t id : {1, 300, 13, 0, 2, -1, 2147483647}) put_i32(raw, id);
  write_file(dir / "ids-raw", raw);
}

// ---- command lines ----

bytes argv_bytes(std::initializer_list<std::string_view> args) {
  bytes b;
  for (const std::string_view a : args) {
    if (!b.empty()) b.push_back(0);
    b.insert(b.end(), a.begin(), a.end());
  }
  return b;
}

void cli_seeds(const fs::path& dir) {
  const std::vector<bytes> seeds = {
      argv_bytes({"--length", "9", "--shift", "3", "--window", "0"}),
      argv_bytes({"--length=9", "--shift=3"}),
      argv_bytes({"--length", "131072", "--ratio", "0.33", "--format", "svg", "--output", "x.svg"}),
      argv_bytes({"--length", "12", "--rope", "--format", "csv"}),
      argv_bytes({"--length", "1", "--ratio", "1e-300"}),
      argv_bytes(
          {"--length", "1099511627776", "--shift", "1099511627775", "--window", "1099511627774"}),
      argv_bytes({"--n", "-7", "--x", "-1e-3", "--mode", "bb", "--on", "--name", "12"}),
      argv_bytes({"--n=4000000000", "--x=0x1p-2", "--off", "--on"}),
      argv_bytes({"--help"}),
      argv_bytes({"-m", "model.gguf", "-p", "Once upon a time", "--string", "--train-len", "64"}),
      argv_bytes({"-m", "m.bin", "--tokens", "1,403,407", "--steps", "16", "--string-shift", "20",
                  "--string-window", "4", "--train-len", "32", "-t", "1024"}),
      argv_bytes({"-m", "m", "-p", "x", "--self-extend", "4,16", "--ctx", "1073741824", "--kv-type",
                  "bf16", "--temp", "0.8", "--top-k", "40", "--top-p", "0.95", "--seed", "7"}),
      argv_bytes({"-m", "m", "-p", "x", "--string-ratio", "0.33", "--logit-scale", "ref", "-n", "0",
                  "--batch", "65536", "--json", "--dump-logits", "/dev/null"}),
      argv_bytes({"--length", "--shift", "3"}),
  };
  int k = 0;
  for (const bytes& s : seeds) write_file(dir / ("args-" + std::to_string(k++)), s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: shiftrope-fuzz-seeds OUT_DIR [SHARED_DIR]\n");
    return 2;
  }
  try {
    const fs::path out = argv[1];
    fs::path shared = argc > 2 ? fs::path(argv[2]) : fs::path();
    if (!shared.empty() && !fs::is_directory(shared)) {
      std::fprintf(stderr, "shiftrope-fuzz-seeds: %s is not a directory; seeds without it\n",
                   shared.string().c_str());
      shared.clear();
    }
    gguf_seeds(out / "gguf");
    llama2c_seeds(out / "llama2c", shared);
    tokenizer_seeds(out / "tokenizer_spm", shared);
    tokenizer_seeds(out / "tokenizer_bpe", shared);
    cli_seeds(out / "cli");
    model_seeds(out / "model_config");
    std::fprintf(stderr, "shiftrope-fuzz-seeds: %d files under %s\n", g_written,
                 out.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shiftrope-fuzz-seeds: %s\n", e.what());
    return 1;
  }
}
