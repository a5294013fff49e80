// shiftrope-bench-forward: the whole forward pass on random-weight models
// of two real shapes (smollm-135m, tinyllama-1.1b), as llama-bench measures
// llama.cpp: pp512 / pp2048 (prompt tokens per second from an empty cache)
// and tg128 (128 decoded tokens per second from an empty context), with the
// machine's limits measured in the same run (bench/machine.hpp) and ratios
// to llama.cpp's figures of ../shared/baselines/README.md.
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

  --shape LIST     smollm-135m,tinyllama-1.1b (default: both)
  --weights LIST   f32,f16 (default; also bf16, q8_0: no llama.cpp figure)
  --remap LIST     rope,string (default: both; string: S = floor(0.33 L),
                   W = 128, L = 2048)
  --kv TYPE        KV cache f16 (default, as llama-bench), f32 or bf16
  --load MODE      copy (default: weights read into huge-page memory) or map
                   (memory-mapped, 4 KiB pages, as llama.cpp by default)
  --threads N      threads (default: OpenMP's default)
  --reps N         repetitions of each test (default 3; --quick: 1)
  --quick          one repetition, no pp2048
  --model-dir DIR  where the models live (default: )" SHIFTROPE_BENCH_MODEL_DIR R"()
  -h, --help       this text
)";

// llama-bench on this machine (../shared/baselines/README.md), 2 threads.
struct llamacpp_figures {
  const char* shape;
  weight_type weights;
  double pp512_fa0, pp512_fa1, pp2048_fa0, pp2048_fa1, tg128_fa0, tg128_fa1;
};
constexpr llamacpp_figures llamacpp[] = {
    {"smollm-135m", weight_type::f32, 477, 416, 287, 230, 56.1, 59.8},
    {"smollm-135m", weight_type::f16, 414, 419, 288, 232, 102, 109},
    {"tinyllama-1.1b", weight_type::f32, 74.0, 72.4, 58.4, 51.8, 10.9, 10.3},
    {"tinyllama-1.1b", weight_type::f16, 82.9, 79.4, 69.9, 57.2, 15.9, 15.8},
};

const llamacpp_figures* find_llamacpp(const std::string& shape, weight_type w) {
  for (const llamacpp_figures& f : llamacpp)
    if (shape == f.shape && w == f.weights) return &f;
  return nullptr;
}

struct options {
  std::vector<std::string> shapes{"smollm-135m", "tinyllama-1.1b"};
  std::vector<weight_type> weights{weight_type::f32, weight_type::f16};
  std::vector<std::string> remaps{"rope", "string"};
  kv_type kv = kv_type::f16;
  load_mode load = load_mode::copy;
  int threads = 0;
  int reps = 3;
  bool quick = false;
  std::string model_dir = SHIFTROPE_BENCH_MODEL_DIR;
};

std::vector<std::string> split_list(const std::string& flag, const std::string& text,
                                    std::initializer_list<const char*> allowed) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    bool ok = false;
    for (const char* a : allowed) ok = ok || item == a;
    if (!ok) throw cli::cli_error(flag, "unknown item " + cli::quoted(item));
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    at = comma + 1;
  }
  return out;
}

options parse(int argc, char** argv) {
  const cli::args a(argc, argv,
                    {{"--shape", true},
                     {"--weights", true},
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
    o.weights.clear();
    for (const std::string& w : split_list("--weights", *v, {"f32", "f16", "bf16", "q8_0"}))
      o.weights.push_back(tools::parse_weight_type(w));
  }
  if (auto v = a.value("--remap")) o.remaps = split_list("--remap", *v, {"rope", "string"});
  o.kv = parse_kv_type(a.get_choice("--kv", {"f32", "f16", "bf16"}, "f16"));
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
/// seed 1 (tools/random_model.hpp).
tools::random_model_params model_params(const std::string& shape, weight_type w) {
  tools::random_model_params p;
  p.config = tools::complete_shape(tools::named_shape(shape, model_arch::llama));
  p.weights = w;
  p.seed = 1;
  p.name = shape;
  return p;
}

/// True when a loaded model has the shape and weight type asked for.
bool same_model(const model& m, const tools::random_model_params& p) {
  const model_config& a = m.config();
  const model_config& b = p.config;
  return a.arch == b.arch && a.n_vocab == b.n_vocab && a.n_embd == b.n_embd &&
         a.n_layers == b.n_layers && a.n_heads == b.n_heads && a.n_kv_heads == b.n_kv_heads &&
         a.n_ff == b.n_ff && a.train_len == b.train_len && a.tied_output == b.tied_output &&
         m.weights().layers[0].wq.type == p.weights;
}

/// Opens <model_dir>/<shape>-<weights>.gguf, writing it first when it is
/// absent or not the model asked for.
model bench_model(const options& o, const std::string& shape, weight_type w) {
  const tools::random_model_params p = model_params(shape, w);
  const std::string file = o.model_dir + "/" + shape + "-" + weight_type_name(w) + ".gguf";
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
/// same logits up to the rounding of GEMM vs GEMV, all finite.
bool check_consistency(const model& m, const session_params& sp, const std::vector<int>& tokens) {
  constexpr std::size_t n = 12;
  constexpr double rel_tolerance = 2e-3;  // of the largest |logit| of the row
  constexpr double abs_tolerance = 1e-4;
  const std::size_t n_vocab = static_cast<std::size_t>(m.config().n_vocab);
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
  std::fprintf(stderr, "consistency check: prefill vs decode, worst diff %.2f of the tolerance\n",
               worst);
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

/// Bytes of the weights one decoded token reads: every layer matrix, the
/// norms, the output matrix (one row of the token embedding: not counted).
double weight_bytes_per_token(const model& m) {
  const model_weights& w = m.weights();
  const model_config& c = m.config();
  double bytes = static_cast<double>(w.output.size_bytes()) + 4.0 * c.n_embd;
  for (const layer_weights& L : w.layers)
    for (const weight_view* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      bytes += static_cast<double>(v->size_bytes()) + 2 * 4.0 * c.n_embd;
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
  json_line& add(const char* key, const std::string& v) {
    return raw(key, "\"" + v + "\"");  // our values need no escaping
  }
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
  std::string text_;
};

/// Measurements of one (shape, weights, remap).
struct measured {
  bench::rate pp512, pp2048, tg128;
  double peak = 0;  // FMA peak right before pp512, GFLOP/s
  std::vector<double>
      bw;  // [reps + 1] read bandwidth before each tg128 run and after the last, GB/s
  std::vector<double> fraction;  // [reps] tg128 run i's weight GB/s / mean(bw[i], bw[i + 1])
  double load_before = -1, load_after = -1;
};

void print_result(const model& m, const std::string& shape, weight_type w, const std::string& remap,
                  const options& o, int threads, const measured& r) {
  const double nan = std::nan("");
  const llamacpp_figures* ref = find_llamacpp(shape, w);
  const bool fair = threads == 2;  // llama.cpp's figures are for 2 threads
  const auto ratio = [&](double ours, double theirs) {
    return ref != nullptr && fair && ours > 0 ? ours / theirs : nan;
  };
  const double bw = bench::median(r.bw);
  const double bytes = weight_bytes_per_token(m);
  const double pp512_gflops = prefill_flops(m.config(), 512) * 1e-9 * r.pp512.median / 512;
  json_line j;
  j.add("bench", "forward").add("shape", shape).add("weights", weight_type_name(w));
  j.add("remap", remap).add("kv", kv_type_name(o.kv)).add("load", load_mode_name(o.load));
  j.add("threads", threads);
  j.add("reps", o.reps);
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

/// Verifies, then times pp512 (FMA peak measured right before), pp2048 and
/// tg128 (read bandwidth measured before and after each run) for one model
/// and remap, and prints the line.
void bench_one(const options& o, int threads, const model& m, const std::string& shape,
               weight_type w, const std::string& remap) {
  session_params sp;
  sp.n_ctx = 2048;
  sp.max_batch = 512;  // llama-bench's micro-batch
  sp.kv = o.kv;
  sp.n_threads = threads;
  if (remap == "string") sp.position_remap = string_remap::paper_default(m.config().train_len);
  tools::splitmix64 rng{42};
  std::vector<int> tokens(2048);
  for (int& t : tokens)
    t = 3 + static_cast<int>(rng.next() % static_cast<std::uint64_t>(m.config().n_vocab - 3));
  if (!check_consistency(m, sp, tokens)) fail("verification failed: ", shape, " ", remap);

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
  print_result(m, shape, w, remap, o, threads, r);
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
  for (const std::string& shape : o.shapes) {
    for (const weight_type w : o.weights) {
      const model m = bench_model(o, shape, w);
      for (const std::string& remap : o.remaps) {
        std::fprintf(stderr, "%s %s %s, %d threads\n", shape.c_str(), weight_type_name(w),
                     remap.c_str(), threads);
        bench_one(o, threads, m, shape, w, remap);
      }
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
