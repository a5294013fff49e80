// shiftrope-bench-forward: the whole forward pass on random-weight models
// of two real shapes (smollm-135m, tinyllama-1.1b) or on any GGUF file
// (--model), as llama-bench measures llama.cpp: pp512 / pp2048 (prompt
// tokens per second from an empty cache) and tg128 (128 decoded tokens per
// second from an empty context), with the machine's limits measured in the
// same run (bench/machine.hpp) and ratios to llama.cpp's figures on the same
// processor kind. --depth N decodes tg128 after a prompt of N tokens, RoPE
// against STRING, with the share of the time spent in attention.
//
// Before timing: the stories260K model against its golden logits (when
// ../shared is there) and, on every benchmark model, prefill against
// token-by-token decoding. Models are written once with the make-model code
// (tools/random_model.hpp) into --model-dir and reused.
// Output: one JSON object per line on stdout, progress on stderr.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <shiftrope/model.hpp>
#include <string>
#include <vector>

#include "../examples/cli.hpp"
#include "../tools/file_output.hpp"
#include "../tools/random_model.hpp"
#include "machine.hpp"

namespace {

using namespace shiftrope;

constexpr const char* help_text = R"(usage: shiftrope-bench-forward [options]

Times the forward pass on random-weight models (written once into --model-dir):
  pp512, pp2048  prompt processing from an empty cache, tokens/s (one chunk of
                 512 tokens at a time, logits of the last token only)
  tg128          128 tokens decoded one at a time from an empty context, tokens/s
and prints one JSON line per (shape, weights, remap) with the FMA peak (right
before pp512) and the read bandwidth (right before and after each tg128 run)
measured in the same run, and the ratios to llama.cpp's llama-bench figures
(fa1 column: flash attention, f16 KV cache, as here; fa0 ratios printed too).
tg128_bw_fraction: median over the runs of weight bytes per token × tokens/s
÷ the mean of the two bandwidths around the run. pp512_gflops counts 2 FLOPs
per weight per token and 4·head_dim per (query, key) pair and head.
tg128_layer_us beside tg128_layer_us_at_bw (one layer's weight bytes at the
measured bandwidth) shows the per-layer overhead of decoding.

  --shape LIST     smollm-135m,tinyllama-1.1b (default: both)
  --weights LIST   f32,f16 (default); any of shiftrope-make-model's --weights
                   (bf16, q8_0, q4_0, q4_k, ..., q4_k_m: llama.cpp's mix)
  --model LIST     GGUF files to time instead of the random models (comma-
                   separated); the line names the file's main weight type
                   (the one holding most matrix bytes) and its bytes per token
  --depth LIST     instead of pp/tg: for each N (e.g. 0,4096,16384) a prompt
                   of N tokens, then tg128 decoded after it, RoPE and STRING
                   (S, W from the context N + 128): tokens/s, the share of
                   decode time in attention, the KV cache bytes in use
  --remap LIST     rope,string (default: both; string: S = floor(0.33 L),
                   W = 128, L = 2048)
  --kv TYPE        KV cache f16 (default, as llama-bench), f32, bf16 or q8_0
  --load MODE      copy (default: weights read into huge-page memory) or map
                   (memory-mapped, 4 KiB pages, as llama.cpp by default)
  --threads N      threads (default: OpenMP's default)
  --reps N         repetitions of each test (default 3; --quick: 1)
  --quick          one repetition, no pp2048
  --model-dir DIR  where the models live (default: )" SHIFTROPE_BENCH_MODEL_DIR R"()
  -h, --help       this text
)";

// llama-bench (llama.cpp commit c392e509, 2 threads, f16 KV cache) on the
// same random-weight shapes, per processor kind (`cpu family`: 25 = Zen 4,
// 26 = Zen 5): the medians measured for the project's baselines. 0 = not
// measured. fa1 = flash attention on (as here), fa0 = off. The Zen 5 rows
// are the mean of two rounds, fa1 only.
struct llamacpp_figures {
  int cpu_family;
  const char* shape;
  const char* weights;
  double pp512_fa0, pp512_fa1, pp2048_fa0, pp2048_fa1, tg128_fa0, tg128_fa1;
};
constexpr llamacpp_figures llamacpp[] = {
    {25, "smollm-135m", "f32", 477, 416, 287, 230, 56.1, 59.8},
    {25, "smollm-135m", "f16", 414, 419, 288, 232, 102, 109},
    {25, "tinyllama-1.1b", "f32", 74.0, 72.4, 58.4, 51.8, 10.9, 10.3},
    {25, "tinyllama-1.1b", "f16", 82.9, 79.4, 69.9, 57.2, 15.9, 15.8},
    {26, "smollm-135m", "f32", 0, 408.5, 0, 0, 0, 55.05},
    {26, "smollm-135m", "f16", 0, 467.5, 0, 0, 0, 91.6},
    {26, "smollm-135m", "q4_k_m", 0, 449, 0, 0, 0, 136.5},
    {26, "smollm-135m", "q8_0", 0, 545, 0, 0, 0, 142.5},
    {26, "smollm-135m", "q4_0", 0, 677, 0, 0, 0, 186.5},
    {26, "tinyllama-1.1b", "f32", 0, 78.15, 0, 0, 0, 9.7},
    {26, "tinyllama-1.1b", "f16", 0, 115.5, 0, 0, 0, 17.6},
    {26, "tinyllama-1.1b", "q4_k_m", 0, 66.5, 0, 0, 0, 40.75},
    {26, "tinyllama-1.1b", "q8_0", 0, 98.5, 0, 0, 0, 36.1},
    {26, "tinyllama-1.1b", "q4_0", 0, 137, 0, 0, 0, 47.5},
};

const llamacpp_figures* find_llamacpp(int cpu_family, const std::string& shape,
                                      const std::string& weights) {
  for (const llamacpp_figures& f : llamacpp)
    if (f.cpu_family == cpu_family && shape == f.shape && weights == f.weights) return &f;
  return nullptr;
}

struct options {
  std::vector<std::string> shapes{"smollm-135m", "tinyllama-1.1b"};
  std::vector<std::string> weights{"f32", "f16"};
  std::vector<std::string> models;   // --model: files instead of random models
  std::vector<std::int64_t> depths;  // --depth: decode after a prompt of N tokens
  std::vector<std::string> remaps{"rope", "string"};
  kv_type kv = kv_type::f16;
  load_mode load = load_mode::copy;
  int threads = 0;
  int reps = 3;
  bool quick = false;
  std::string model_dir = SHIFTROPE_BENCH_MODEL_DIR;
};

/// Items of a comma-separated list, each checked by `check` (which throws
/// naming the item), duplicates dropped.
template <class Check>
std::vector<std::string> split_list(const std::string& text, Check check) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    check(item);
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    at = comma + 1;
  }
  return out;
}

std::vector<std::string> split_list(const std::string& flag, const std::string& text,
                                    std::initializer_list<const char*> allowed) {
  return split_list(text, [&](const std::string& item) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || item == a;
    if (!ok) throw cli::cli_error(flag, "unknown item " + cli::quoted(item));
  });
}

/// Longest prompt --depth accepts (the KV cache and the prompt's time grow
/// with it; 128 Ki positions of tinyllama's f16 cache are 2.9 GB).
constexpr std::int64_t max_depth = std::int64_t{1} << 17;

options parse(int argc, char** argv) {
  const cli::args a(argc, argv,
                    {{"--shape", true},
                     {"--weights", true},
                     {"--model", true},
                     {"--depth", true},
                     {"--remap", true},
                     {"--kv", true},
                     {"--load", true},
                     {"--threads", true},
                     {"--reps", true},
                     {"--quick", false},
                     {"--model-dir", true}});
  options o;
  if (auto v = a.value("--shape"))
    o.shapes = split_list("--shape", *v, {"smollm-135m", "tinyllama-1.1b"});
  if (auto v = a.value("--weights")) {
    o.weights = split_list(*v, [](const std::string& item) {
      try {
        (void)tools::parse_weight_scheme(item);
      } catch (const error& e) {
        throw cli::cli_error("--weights", e.what());
      }
    });
  }
  if (auto v = a.value("--model")) {
    o.models = split_list(*v, [](const std::string& item) {
      if (item.empty()) throw cli::cli_error("--model", "empty file name in the list");
    });
  }
  if (auto v = a.value("--depth")) {
    for (const std::string& item : split_list(*v, [](const std::string& item) {
           std::size_t used = 0;
           long long n = -1;
           try {
             n = std::stoll(item, &used);
           } catch (...) {
             used = 0;
           }
           if (item.empty() || used != item.size() || n < 0 || n > max_depth)
             throw cli::cli_error("--depth", "expected tokens in [0, " + std::to_string(max_depth) +
                                                 "], got " + cli::quoted(item));
         }))
      o.depths.push_back(std::stoll(item));
  }
  if (auto v = a.value("--remap")) o.remaps = split_list("--remap", *v, {"rope", "string"});
  o.kv = parse_kv_type(a.get_choice("--kv", {"f32", "f16", "bf16", "q8_0"}, "f16"));
  o.load = parse_load_mode(a.get_choice("--load", {"map", "copy"}, "copy"));
  o.threads = a.get_int<int>("--threads", 1, 1024, 0);
  o.quick = a.has("--quick");
  o.reps = a.get_int<int>("--reps", 1, 100, o.quick ? 1 : 3);
  if (auto v = a.value("--model-dir")) o.model_dir = *v;
  if (o.model_dir.empty()) throw cli::cli_error("--model-dir", "must not be empty");
  return o;
}

/// 1-minute load average (what else runs on the machine), or -1.
double load_average() {
  std::ifstream f("/proc/loadavg");
  double load = -1;
  f >> load;
  return f ? load : -1;
}

namespace fs = std::filesystem;

// ---------------------------------------------------------------- models --

/// The random model of a shape: llama architecture, separate output matrix,
/// seed 1 (tools/random_model.hpp), weights as shiftrope-make-model writes
/// them.
tools::random_model_params model_params(const std::string& shape, const std::string& weights) {
  tools::random_model_params p;
  p.config = tools::complete_shape(tools::named_shape(shape, model_arch::llama));
  p.scheme = tools::parse_weight_scheme(weights);
  p.seed = 1;
  p.name = shape;
  return p;
}

/// True when a loaded model has the shape asked for and its first query
/// matrix and classifier have the types the weight scheme gives them.
bool same_model(const model& m, const tools::random_model_params& p) {
  const model_config& a = m.config();
  const model_config& b = p.config;
  const auto stored = [&](const char* name, int n_out, int n_in) {
    return weight_type_name([&] {
      weight_type t = weight_type::f32;
      weight_type_of_ggml(
          tools::storage_type(*p.scheme, name,
                              {static_cast<std::uint64_t>(n_in), static_cast<std::uint64_t>(n_out)},
                              b.n_layers, b.tied_output),
          t);
      return t;
    }());
  };
  return a.arch == b.arch && a.n_vocab == b.n_vocab && a.n_embd == b.n_embd &&
         a.n_layers == b.n_layers && a.n_heads == b.n_heads && a.n_kv_heads == b.n_kv_heads &&
         a.n_ff == b.n_ff && a.train_len == b.train_len && a.tied_output == b.tied_output &&
         std::string(weight_type_name(m.weights().layers[0].wq.type)) ==
             stored("blk.0.attn_q.weight", b.q_dim(), b.n_embd) &&
         std::string(weight_type_name(m.weights().output.type)) ==
             stored("output.weight", b.n_vocab, b.n_embd);
}

/// Opens <model_dir>/<shape>-<weights>.gguf, writing it first when it is
/// absent or not the model asked for.
model bench_model(const options& o, const std::string& shape, const std::string& weights) {
  const tools::random_model_params p = model_params(shape, weights);
  const std::string file = o.model_dir + "/" + shape + "-" + weights + ".gguf";
  if (fs::exists(file)) {
    try {
      model m = model::open(file, o.load);
      if (same_model(m, p)) return m;
      std::fprintf(stderr, "%s: another model; rewriting it\n", file.c_str());
    } catch (const error& e) {
      std::fprintf(stderr, "%s: %s; rewriting it\n", file.c_str(), e.what());
    }
  }
  std::error_code ec;
  fs::create_directories(o.model_dir, ec);
  if (ec) fail("--model-dir: cannot create '", o.model_dir, "': ", ec.message());
  std::fprintf(stderr, "writing %s (%.0f MB)...\n", file.c_str(),
               static_cast<double>(tools::random_model_data_bytes(p)) * 1e-6);
  tools::write_file_atomically(file,
                               [&](const std::string& tmp) { tools::write_random_model(tmp, p); });
  return model::open(file, o.load);
}

/// The matrices of a model's layers (what decoding streams besides the
/// classifier).
std::vector<const weight_view*> layer_matrices(const layer_weights& L) {
  return {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
}

/// The weight type holding the most bytes of the model's matrices (layers
/// and classifier): what a file's type is called by ("Q4_K" for a Q4_K_M
/// file whose output matrix is Q6_K).
std::string main_weight_type(const model& m) {
  std::vector<std::pair<std::string, double>> bytes;
  const auto add = [&](const weight_view& v) {
    const std::string name = weight_type_name(v.type);
    for (auto& [n, b] : bytes)
      if (n == name) {
        b += static_cast<double>(v.size_bytes());
        return;
      }
    bytes.emplace_back(name, static_cast<double>(v.size_bytes()));
  };
  add(m.weights().output);
  for (const layer_weights& L : m.weights().layers)
    for (const weight_view* v : layer_matrices(L)) add(*v);
  return std::max_element(bytes.begin(), bytes.end(),
                          [](const auto& x, const auto& y) { return x.second < y.second; })
      ->first;
}

/// A model to time: a random one of a named shape, or a file.
struct bench_target {
  std::string shape;    // named shape, or the file name
  std::string weights;  // the weights asked for, or the file's main type
  std::string file;     // empty for random models
};

// ---------------------------------------------------------- verification --

/// Teacher-forced logits of stories260K.gguf against the golden file of an
/// independent implementation (the forward pass itself, f32 weights and KV).
bool check_golden(int threads) {
  const std::string dir = SHIFTROPE_SHARED_DIR "/models/";
  const std::string gguf = dir + "stories260K.gguf", tokens_file = dir + "golden/story64.tokens",
                    logits_file = dir + "golden/story64.rope.logits.f32";
  if (!fs::exists(gguf) || !fs::exists(tokens_file) || !fs::exists(logits_file)) {
    std::fprintf(stderr, "golden check SKIPPED: %s is absent\n", gguf.c_str());
    return true;
  }
  std::vector<int> tokens;
  std::ifstream tf(tokens_file);
  for (std::string item; std::getline(tf, item, ',');) tokens.push_back(std::stoi(item));
  const std::size_t n_vocab = 512;
  std::vector<float> golden(tokens.size() * n_vocab);
  std::ifstream lf(logits_file, std::ios::binary);
  lf.read(reinterpret_cast<char*>(golden.data()),
          static_cast<std::streamsize>(golden.size() * sizeof(float)));
  if (!lf) fail(logits_file, ": shorter than ", tokens.size(), " x ", n_vocab, " floats");
  const model m = model::open(gguf);
  session_params sp;
  sp.kv = kv_type::f32;
  sp.n_threads = threads;
  session s(m, sp);
  const std::vector<float> got = s.forward(tokens, 0, logits_rows::all);
  double max_abs = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(got[i] - golden[i])));
  constexpr double tolerance = 1e-3;  // the models README: ~1e-3 in float32
  std::fprintf(stderr, "golden check: stories260K max |logit - golden| = %.3g (limit %.0e)\n",
               max_abs, tolerance);
  return max_abs <= tolerance;
}

/// Prefill of n tokens (logits of every row) against n decode steps: the
/// same logits up to the rounding of GEMM vs GEMV, all finite, when decode
/// uses float activations (rel_tolerance 2e-3 of the row's largest |logit|);
/// within the rounding of x to 8 bits with int8 activations (a looser
/// rel_tolerance: only gross errors are caught here, the accuracy of the
/// int8 path is tested on the quantized fixtures).
bool check_consistency(const model& m, session_params sp, const std::vector<int>& tokens,
                       gemv_activations act, double rel_tolerance) {
  constexpr std::size_t n = 12;
  constexpr double abs_tolerance = 1e-4;
  const std::size_t n_vocab = static_cast<std::size_t>(m.config().n_vocab);
  sp.decode_activations = act;
  session a(m, sp), b(m, sp);
  const std::vector<int> ids(tokens.begin(), tokens.begin() + n);
  const std::vector<float> all = a.forward(ids, 0, logits_rows::all);
  double worst = 0;
  for (std::size_t t = 0; t < n; ++t) {
    const std::vector<float> row = b.forward({ids[t]}, static_cast<std::int64_t>(t));
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < n_vocab; ++i) {
      const float x = all[t * n_vocab + i];
      if (!std::isfinite(x) || !std::isfinite(row[i])) {
        std::fprintf(stderr, "MISMATCH: non-finite logit at token %zu, entry %zu\n", t, i);
        return false;
      }
      scale = std::max(scale, static_cast<double>(std::fabs(x)));
      diff = std::max(diff, static_cast<double>(std::fabs(x - row[i])));
    }
    worst = std::max(worst, diff / (abs_tolerance + rel_tolerance * scale));
    if (diff > abs_tolerance + rel_tolerance * scale) {
      std::fprintf(stderr,
                   "MISMATCH: prefill vs decode at token %zu: max |diff| %.3g, scale %.3g\n", t,
                   diff, scale);
      return false;
    }
  }
  std::fprintf(stderr,
               "consistency check: prefill vs decode (%s activations), worst diff %.2f of the "
               "tolerance\n",
               act == gemv_activations::q8 ? "int8" : "float", worst);
  return true;
}

// ---------------------------------------------------------------- timing --

/// Tokens per second of one prefill of n tokens from an empty cache.
double time_prefill(session& s, const std::vector<int>& tokens, std::size_t n,
                    std::vector<float>& logits) {
  s.reset();
  const double t0 = bench::now_seconds();
  s.forward(tokens.data(), n, 0, logits.data(), logits_rows::last);
  return static_cast<double>(n) / (bench::now_seconds() - t0);
}

/// Tokens per second of n decode steps from an empty context.
double time_decode(session& s, const std::vector<int>& tokens, std::size_t n,
                   std::vector<float>& logits) {
  s.reset();
  const double t0 = bench::now_seconds();
  for (std::size_t i = 0; i < n; ++i)
    s.forward(&tokens[i], 1, static_cast<std::int64_t>(i), logits.data(), logits_rows::last);
  return static_cast<double>(n) / (bench::now_seconds() - t0);
}

/// Median and best of a sample of rates.
bench::rate summarize(const std::vector<double>& v) {
  return {bench::median(v), *std::max_element(v.begin(), v.end())};
}

/// Bytes of one layer's weights that a decoded token reads: its matrices
/// and its two norm vectors.
double layer_bytes(const model& m, std::size_t layer) {
  const layer_weights& L = m.weights().layers[layer];
  double bytes = 2 * 4.0 * m.config().n_embd;
  for (const weight_view* v : layer_matrices(L)) bytes += static_cast<double>(v->size_bytes());
  return bytes;
}

/// Bytes of the weights one decoded token reads: every layer matrix, the
/// norms, the output matrix (one row of the token embedding: not counted).
double weight_bytes_per_token(const model& m) {
  double bytes = static_cast<double>(m.weights().output.size_bytes()) + 4.0 * m.config().n_embd;
  for (std::size_t l = 0; l < m.weights().layers.size(); ++l) bytes += layer_bytes(m, l);
  return bytes;
}

/// FLOPs of a prefill of n tokens from an empty cache with the logits of the
/// last token only: 2 per weight per token in the layers, 2 per output
/// weight once, and 4·head_dim per (query, key) pair and head (Q·Kᵀ and
/// P·V, causal: n(n+1)/2 pairs) in every layer.
double prefill_flops(const model_config& c, std::size_t n) {
  const double d = c.n_embd, q = c.q_dim(), kv = c.kv_dim(), ff = c.n_ff;
  const double layer_weights = d * q + 2 * d * kv + q * d + 3 * d * ff;
  const double pairs = static_cast<double>(n) * (static_cast<double>(n) + 1) / 2;
  return c.n_layers *
             (2 * layer_weights * static_cast<double>(n) + 4.0 * c.head_dim * c.n_heads * pairs) +
         2.0 * c.n_vocab * d;
}

// ---------------------------------------------------------------- output --

/// One JSON object, built field by field.
class json_line {
 public:
  json_line& add(const char* key, const std::string& v) { return raw(key, json_string(v)); }
  json_line& add(const char* key, double v) {
    if (!std::isfinite(v)) return raw(key, "null");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return raw(key, buf);
  }
  json_line& raw(const char* key, const std::string& v) {
    text_ += (text_.empty() ? "{\"" : ",\"") + std::string(key) + "\":" + v;
    return *this;
  }
  void print() const {
    std::printf("%s}\n", text_.c_str());
    std::fflush(stdout);
  }

 private:
  static std::string json_string(const std::string& v) {
    std::string out = "\"";
    for (const char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
  }
  std::string text_;
};

/// Measurements of one (model, remap).
struct measured {
  bench::rate pp512, pp2048, tg128;
  double peak = 0;  // FMA peak right before pp512, GFLOP/s
  std::vector<double>
      bw;  // [reps + 1] read bandwidth before each tg128 run and after the last, GB/s
  std::vector<double> fraction;  // [reps] tg128 run i's weight GB/s / mean(bw[i], bw[i + 1])
  double load_before = -1, load_after = -1;
};

/// The fields every line of a (model, remap) starts with.
json_line line_head(const char* bench_name, const bench_target& t, const std::string& remap,
                    const options& o, int threads) {
  json_line j;
  j.add("bench", bench_name).add("shape", t.shape).add("weights", t.weights);
  if (!t.file.empty()) j.add("file", t.file);
  j.add("remap", remap).add("kv", kv_type_name(o.kv)).add("load", load_mode_name(o.load));
  j.add("threads", threads).add("cpu_family", bench::read_processor().family);
  j.add("reps", o.reps);
  return j;
}

void print_result(const model& m, const bench_target& t, const std::string& remap, const options& o,
                  int threads, const measured& r) {
  const double nan = std::nan("");
  // Peer figures of the same processor kind only, for 2 threads, and only
  // for the random models they were measured on.
  const llamacpp_figures* ref =
      t.file.empty() && threads == 2
          ? find_llamacpp(bench::read_processor().family, t.shape, t.weights)
          : nullptr;
  const auto ratio = [&](double ours, double theirs) {
    return ref != nullptr && ours > 0 && theirs > 0 ? ours / theirs : nan;
  };
  const double bw = bench::median(r.bw);
  const double bytes = weight_bytes_per_token(m);
  const double n_layers = m.config().n_layers;
  const double pp512_gflops = prefill_flops(m.config(), 512) * 1e-9 * r.pp512.median / 512;
  json_line j = line_head("forward", t, remap, o, threads);
  j.add("pp512_tps", r.pp512.median).add("pp512_tps_best", r.pp512.best);
  j.add("pp2048_tps", o.quick ? nan : r.pp2048.median);
  j.add("pp2048_tps_best", o.quick ? nan : r.pp2048.best);
  j.add("tg128_tps", r.tg128.median).add("tg128_tps_best", r.tg128.best);
  j.add("weight_bytes_per_token", bytes);
  j.add("tg128_gbs", bytes * r.tg128.median * 1e-9);
  j.add("bandwidth_gbs", bw);
  j.add("bandwidth_min_gbs", *std::min_element(r.bw.begin(), r.bw.end()));
  j.add("bandwidth_max_gbs", *std::max_element(r.bw.begin(), r.bw.end()));
  j.add("tg128_bw_fraction", bench::median(r.fraction));
  j.add("tg128_bw_fraction_best", *std::max_element(r.fraction.begin(), r.fraction.end()));
  // Per layer: the time a decoded token spends in one layer (the classifier
  // included, spread over the layers) beside the time its weight bytes take
  // at the measured bandwidth; the gap is per-layer overhead.
  j.add("tg128_layer_us", 1e6 / r.tg128.median / n_layers);
  j.add("tg128_layer_bytes", layer_bytes(m, 0));
  j.add("tg128_layer_us_at_bw", layer_bytes(m, 0) / (bw * 1e9) * 1e6);
  j.add("peak_gflops", r.peak).add("pp512_gflops", pp512_gflops);
  j.add("pp512_peak_fraction", pp512_gflops / r.peak);
  j.add("llamacpp_fa", "fa1");
  j.add("pp512_vs_llamacpp", ratio(r.pp512.median, ref ? ref->pp512_fa1 : 0));
  j.add("pp2048_vs_llamacpp", o.quick ? nan : ratio(r.pp2048.median, ref ? ref->pp2048_fa1 : 0));
  j.add("tg128_vs_llamacpp", ratio(r.tg128.median, ref ? ref->tg128_fa1 : 0));
  j.add("pp512_vs_llamacpp_fa0", ratio(r.pp512.median, ref ? ref->pp512_fa0 : 0));
  j.add("pp2048_vs_llamacpp_fa0",
        o.quick ? nan : ratio(r.pp2048.median, ref ? ref->pp2048_fa0 : 0));
  j.add("tg128_vs_llamacpp_fa0", ratio(r.tg128.median, ref ? ref->tg128_fa0 : 0));
  j.add("load_before", r.load_before).add("load_after", r.load_after);
  j.print();
}

// ------------------------------------------------------------------ runs --

/// Random token ids of the model's vocabulary (ids 0-2 left out: often
/// control tokens).
std::vector<int> random_tokens(const model& m, std::size_t n) {
  tools::splitmix64 rng{42};
  std::vector<int> tokens(n);
  const std::uint64_t span = static_cast<std::uint64_t>(std::max(1, m.config().n_vocab - 3));
  for (int& t : tokens)
    t = std::min(m.config().n_vocab - 1, 3 + static_cast<int>(rng.next() % span));
  return tokens;
}

/// The session parameters of a run: n_ctx positions, llama-bench's
/// micro-batch of 512, STRING's paper default for a training length of
/// n_ctx when asked.
session_params run_params(const options& o, int threads, std::int64_t n_ctx,
                          const std::string& remap) {
  session_params sp;
  sp.n_ctx = n_ctx;
  sp.train_len = n_ctx;
  sp.max_batch = 512;
  sp.kv = o.kv;
  sp.n_threads = threads;
  if (remap == "string") sp.position_remap = string_remap::paper_default(n_ctx);
  return sp;
}

/// Verifies, then times pp512 (FMA peak measured right before), pp2048 and
/// tg128 (read bandwidth measured before and after each run) for one model
/// and remap, and prints the line.
void bench_one(const options& o, int threads, const model& m, const bench_target& t,
               const std::string& remap) {
  const session_params sp = run_params(o, threads, 2048, remap);
  const std::vector<int> tokens = random_tokens(m, 2048);
  if (!check_consistency(m, sp, tokens, gemv_activations::f32, 2e-3) ||
      !check_consistency(m, sp, tokens, gemv_activations::q8, 5e-2))
    fail("verification failed: ", t.shape, " ", remap);

  session s(m, sp);
  std::vector<float> logits(static_cast<std::size_t>(m.config().n_vocab));
  time_prefill(s, tokens, 64, logits);  // warm-up: pages mapped in, threads started
  time_decode(s, tokens, 8, logits);
  measured r;
  r.load_before = load_average();
  std::vector<double> pp512, pp2048, tg128;
  std::fprintf(stderr, "  pp512 x %d (FMA peak before)\n", o.reps);
  r.peak = bench::measure_fma_peak_gflops(threads, 3).median;  // drifts when the machine is shared
  for (int i = 0; i < o.reps; ++i) pp512.push_back(time_prefill(s, tokens, 512, logits));
  r.pp512 = summarize(pp512);
  if (!o.quick) {
    std::fprintf(stderr, "  pp2048 x %d\n", o.reps);
    for (int i = 0; i < o.reps; ++i) pp2048.push_back(time_prefill(s, tokens, 2048, logits));
    r.pp2048 = summarize(pp2048);
  }
  // Bandwidth drifts by up to 1.7x within minutes: measured before each tg128
  // run and after the last; each run is judged against its neighbours.
  std::fprintf(stderr, "  tg128 x %d (bandwidth before and after each)\n", o.reps);
  const double bytes = weight_bytes_per_token(m);
  r.bw.push_back(bench::measure_read_bandwidth_gbs(threads, std::size_t(512) << 20, 3).median);
  for (int i = 0; i < o.reps; ++i) {
    tg128.push_back(time_decode(s, tokens, 128, logits));
    r.bw.push_back(bench::measure_read_bandwidth_gbs(threads, std::size_t(512) << 20, 3).median);
    r.fraction.push_back(bytes * tg128.back() * 1e-9 /
                         (0.5 * (r.bw[r.bw.size() - 2] + r.bw.back())));
  }
  r.tg128 = summarize(tg128);
  r.load_after = load_average();
  print_result(m, t, remap, o, threads, r);
}

/// Decode at depth: a prompt of `depth` tokens (untimed, progress on
/// stderr), then tg128 decoded after it, `reps` times (each run rewinds to
/// the end of the prompt), with the attention share of the decode time from
/// the session's timing. One line per (model, remap, depth).
void bench_depth(const options& o, int threads, const model& m, const bench_target& t,
                 const std::string& remap, std::int64_t depth) {
  constexpr std::size_t n_gen = 128;
  const std::int64_t n_ctx = depth + static_cast<std::int64_t>(n_gen);
  const session_params sp = run_params(o, threads, n_ctx, remap);
  const std::vector<int> tokens = random_tokens(m, static_cast<std::size_t>(n_ctx));
  session s(m, sp);
  std::vector<float> logits(static_cast<std::size_t>(m.config().n_vocab));
  const double t0 = bench::now_seconds();
  for (std::int64_t done = 0; done < depth;) {
    const std::int64_t n = std::min<std::int64_t>(4096, depth - done);
    s.forward(tokens.data() + done, static_cast<std::size_t>(n), done, logits.data());
    done += n;
    std::fprintf(stderr, "\r  prompt %lld / %lld tokens (%.0f s)", static_cast<long long>(done),
                 static_cast<long long>(depth), bench::now_seconds() - t0);
  }
  if (depth > 0) std::fprintf(stderr, "\n");
  const double prompt_s = bench::now_seconds() - t0;
  std::fprintf(stderr, "  tg128 at depth %lld x %d\n", static_cast<long long>(depth), o.reps);
  // Warm-up (8 tokens), then the timed runs, each from the end of the prompt.
  for (std::size_t i = 0; i < 8; ++i)
    s.forward(&tokens[static_cast<std::size_t>(depth) + i], 1, depth + static_cast<std::int64_t>(i),
              logits.data());
  std::vector<double> tps, share;
  const double bw_before =
      bench::measure_read_bandwidth_gbs(threads, std::size_t(512) << 20, 3).median;
  for (int r = 0; r < o.reps; ++r) {
    forward_timing timing;
    s.set_timing(&timing);
    const double t1 = bench::now_seconds();
    for (std::size_t i = 0; i < n_gen; ++i)
      s.forward(&tokens[static_cast<std::size_t>(depth) + i], 1,
                depth + static_cast<std::int64_t>(i), logits.data());
    tps.push_back(static_cast<double>(n_gen) / (bench::now_seconds() - t1));
    s.set_timing(nullptr);
    share.push_back(timing.total > 0 ? timing.attention / timing.total : std::nan(""));
  }
  const double bw_after =
      bench::measure_read_bandwidth_gbs(threads, std::size_t(512) << 20, 3).median;
  // The cache bytes a decoded token reads at the middle of the run: K and V
  // of every layer and KV head over depth + 64 positions.
  const model_config& c = m.config();
  // Bytes per cached element: q8_0 holds one byte plus a 2-byte scale per 32.
  const double kv_elem = o.kv == kv_type::f32 ? 4 : o.kv == kv_type::q8_0 ? 34.0 / 32.0 : 2;
  const double kv_read = 2.0 * c.n_layers * c.n_kv_heads * c.head_dim * kv_elem *
                         (static_cast<double>(depth) + n_gen / 2.0);
  const double bytes = weight_bytes_per_token(m) + kv_read;
  const bench::rate rate = summarize(tps);
  json_line j = line_head("forward_depth", t, remap, o, threads);
  j.add("depth", static_cast<double>(depth));
  j.add("prompt_s", prompt_s);
  j.add("tg128_tps", rate.median).add("tg128_tps_best", rate.best);
  j.add("attention_share", bench::median(share));
  j.add("kv_cache_bytes", static_cast<double>(s.cache().bytes()));
  j.add("kv_bytes_read_per_token", kv_read);
  j.add("weight_bytes_per_token", weight_bytes_per_token(m));
  j.add("bandwidth_gbs", 0.5 * (bw_before + bw_after));
  j.add("tg128_bw_fraction", bytes * rate.median * 1e-9 / (0.5 * (bw_before + bw_after)));
  j.add("load", load_average());
  j.print();
}

int run_all(const options& o) {
  const int threads = detail::resolve_threads(o.threads);
  if (!check_golden(threads)) fail("verification failed: stories260K against its golden logits");
  std::fprintf(stderr, "measuring the FMA peak and read bandwidth...\n");
  const bench::rate peak = bench::measure_fma_peak_gflops(threads);
  const bench::rate bw = bench::measure_read_bandwidth_gbs(threads);
  json_line machine;
  machine.add("bench", "forward_machine").add("peak_gflops", peak.median);
  machine.add("peak_gflops_best", peak.best).add("bandwidth_gbs", bw.median);
  machine.add("bandwidth_gbs_best", bw.best).add("load", load_average());
  machine.raw("build", bench::build_json(threads)).print();
  const auto run = [&](const model& m, const bench_target& t) {
    for (const std::string& remap : o.remaps) {
      if (o.depths.empty()) {
        std::fprintf(stderr, "%s %s %s, %d threads\n", t.shape.c_str(), t.weights.c_str(),
                     remap.c_str(), threads);
        bench_one(o, threads, m, t, remap);
      }
      for (const std::int64_t depth : o.depths) {
        std::fprintf(stderr, "%s %s %s, depth %lld, %d threads\n", t.shape.c_str(),
                     t.weights.c_str(), remap.c_str(), static_cast<long long>(depth), threads);
        bench_depth(o, threads, m, t, remap, depth);
      }
    }
  };
  if (!o.models.empty()) {
    for (const std::string& file : o.models) {
      std::fprintf(stderr, "loading %s...\n", file.c_str());
      const model m = model::open(file, o.load);
      run(m, {fs::path(file).stem().string(), main_weight_type(m), file});
    }
    return 0;
  }
  for (const std::string& shape : o.shapes) {
    for (const std::string& w : o.weights) {
      const model m = bench_model(o, shape, w);
      run(m, {shape, w, ""});
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::wants_help(argc, argv)) {
    std::fputs(help_text, stdout);
    return 0;
  }
  return cli::run("shiftrope-bench-forward", [&] { return run_all(parse(argc, argv)); });
}
