// shiftrope-bench-matmul: GEMV (decode) and GEMM (prefill, 512 tokens) on
// the weight shapes of smollm-135m and tinyllama-1.1b, weights in every
// type of the table (f32, f16, bf16, Q8_0, the legacy, K and IQ4 quants;
// shapes whose n_in is not a whole number of a type's blocks are skipped),
// stated against the machine's FMA peak and read bandwidth
// measured in the same run (bench/machine.hpp).
//
// Each shape is first checked against a double-precision reference on
// sampled outputs; a small full product per type is checked before any
// timing. Output: one JSON object per line on stdout, progress on stderr.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <shiftrope/matmul.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "machine.hpp"

namespace {

using namespace shiftrope;
namespace mi = shiftrope::detail::matmul_impl;

template <class T, class = void>
struct has_m : std::false_type {};
template <class T>
struct has_m<T, std::void_t<decltype(T::m)>> : std::true_type {};
template <class T, class = void>
struct has_dmin : std::false_type {};
template <class T>
struct has_dmin<T, std::void_t<decltype(T::dmin)>> : std::true_type {};

/// Every weight type, in table order.
std::vector<weight_type> all_types() {
  std::vector<weight_type> v;
  for (std::size_t i = 0; i < weight_type_count; ++i) v.push_back(static_cast<weight_type>(i));
  return v;
}

struct options {
  bool quick = false;      // a subset of shapes and fewer repetitions
  int threads = 0;         // <= 0: OpenMP's default
  int reps = 0;            // timed repetitions; 0: 10 for GEMV sweeps, 5 for GEMM
  std::string op = "all";  // gemv, gemm or all
  std::vector<weight_type> types = all_types();
  bool compare_rows = true;  // also time the row-streaming GEMM (the unpacked variant)
};

constexpr const char* usage =
    "usage: shiftrope-bench-matmul [--quick] [--threads N] [--reps N] [--op gemv|gemm|all]\n"
    "                              [--types f32,f16,q4_k,...] [--no-compare]\n"
    "Times GEMV and GEMM (512 tokens) on smollm-135m and tinyllama-1.1b weight shapes and\n"
    "prints JSON lines with GFLOP/s, weight GB/s, and the FMA peak and read bandwidth\n"
    "measured in the same run.\n";

[[noreturn]] void bad_flag(const std::string& msg) {
  std::fprintf(stderr, "shiftrope-bench-matmul: %s (see --help)\n", msg.c_str());
  std::exit(2);
}

int parse_int(const std::string& flag, const char* v, int lo, int hi) {
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || x < lo || x > hi)
    bad_flag(flag + ": '" + v + "' is not an integer in [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "]");
  return static_cast<int>(x);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) bad_flag(a + ": missing value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--no-compare") {
      o.compare_rows = false;
    } else if (a == "--threads") {
      o.threads = parse_int(a, value(), 1, 1024);
    } else if (a == "--reps") {
      o.reps = parse_int(a, value(), 1, 1000);
    } else if (a == "--op") {
      o.op = value();
      if (o.op != "gemv" && o.op != "gemm" && o.op != "all")
        bad_flag("--op: '" + o.op + "' is not gemv, gemm or all");
    } else if (a == "--types") {
      o.types.clear();
      std::string list = value();
      for (std::size_t p = 0; p <= list.size();) {
        const std::size_t q = std::min(list.find(',', p), list.size());
        const std::string name = list.substr(p, q - p);
        bool found = false;
        std::string known;
        for (weight_type t : all_types()) {
          if (name == weight_type_name(t)) o.types.push_back(t), found = true;
          known += known.empty() ? "" : ", ";
          known += weight_type_name(t);
        }
        if (!found) bad_flag("--types: '" + name + "' is not one of " + known);
        p = q + 1;
      }
    } else {
      bad_flag("unknown flag '" + a + "'");
    }
  }
  return o;
}

// --- data ---------------------------------------------------------------------

/// splitmix64 -> uniform floats in [-1, 1).
struct splitmix64 {
  std::uint64_t state;
  float uniform() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<float>(z >> 40) / 8388608.0f - 1.0f;
  }
};

/// Random weights [n_out × n_in] stored as `type`, written to dst (row_bytes
/// each): f32 / f16 / bf16 rounded from uniform values, Q8_0 quantized from
/// them, the other block types random bytes with finite scales of mixed sign.
void fill_weights(weight_type type, std::size_t n_out, std::size_t n_in, unsigned char* dst,
                  std::uint64_t seed) {
  splitmix64 rng{seed};
  std::vector<float> row(n_in);
  const std::size_t rb = weight_row_bytes(type, n_in);
  for (std::size_t o = 0; o < n_out; ++o) {
    for (float& v : row) v = 0.1f * rng.uniform();
    unsigned char* out = dst + o * rb;
    visit_weight_type(type, [&](auto tag) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
      if constexpr (std::is_same_v<T, float>) {
        std::memcpy(out, row.data(), rb);
      } else if constexpr (std::is_same_v<T, f16> || std::is_same_v<T, bf16>) {
        for (std::size_t i = 0; i < n_in; ++i) {
          const T h = convert<T>(row[i]);
          std::memcpy(out + 2 * i, &h, 2);
        }
      } else if constexpr (std::is_same_v<T, q8_0_block>) {
        std::vector<q8_0_block> blocks(n_in / 32);
        quantize_q8_0(row.data(), blocks.data(), n_in);
        std::memcpy(out, blocks.data(), rb);
      } else {
        for (std::size_t k = 0; k < rb; ++k)
          out[k] = static_cast<unsigned char>(128.0f * (rng.uniform() + 1.0f));
        for (std::size_t b = 0; b < rb / sizeof(T); ++b) {
          T blk;
          std::memcpy(&blk, out + b * sizeof(T), sizeof(T));
          blk.d = to_f16(0.01f * rng.uniform());
          if constexpr (has_m<T>::value) blk.m = to_f16(0.01f * rng.uniform());
          if constexpr (has_dmin<T>::value) blk.dmin = to_f16(0.01f * rng.uniform());
          std::memcpy(out + b * sizeof(T), &blk, sizeof(T));
        }
      }
    });
  }
}

/// W[o, i] decoded in plain scalar code (the reference dequantizer of the
/// table, independent of the kernels).
double weight_at(const weight_view& w, std::size_t o, std::size_t i) {
  const unsigned char* row = static_cast<const unsigned char*>(w.data) + o * w.row_bytes();
  const weight_type_info& r = weight_info(w.type);
  float block[256];
  const std::size_t b = i / r.block_size;
  r.dequantize_row(row + b * r.unit_bytes, block, r.block_size);
  return block[i % r.block_size];
}

/// Calls f(wt) with the weight data as a typed pointer (const float*,
/// const f16*, ..., const q4_k_block*, ...).
template <class F>
void with_typed(const weight_view& w, F&& f) {
  visit_weight_type(w.type, [&](auto tag) { f(static_cast<decltype(tag)>(w.data)); });
}

/// Checks `samples` outputs (all if samples == 0) of y against a double
/// reference with tolerance 1e-4 * sum |x w| + 1e-6; prints and returns false
/// on a mismatch.
bool verify(const weight_view& w, const float* x, const float* y, std::size_t n_tokens,
            std::size_t samples, const char* what) {
  const std::size_t total = n_tokens * w.n_out, count = samples ? samples : total;
  for (std::size_t s = 0; s < count; ++s) {
    const std::size_t idx = samples ? (s * 7919 + 13) % total : s;
    const std::size_t t = idx / w.n_out, o = idx % w.n_out;
    double ref = 0, mag = 0;
    for (std::size_t i = 0; i < w.n_in; ++i) {
      const double p = x[t * w.n_in + i] * weight_at(w, o, i);
      ref += p;
      mag += std::fabs(p);
    }
    if (!(std::fabs(y[t * w.n_out + o] - ref) <= 1e-4 * mag + 1e-6)) {
      std::fprintf(stderr, "MISMATCH %s %s %zux%zu: y[%zu, %zu] = %.9g, reference %.9g\n", what,
                   weight_type_name(w.type), w.n_out, w.n_in, t, o, y[t * w.n_out + o], ref);
      return false;
    }
  }
  return true;
}

// --- timing -------------------------------------------------------------------

struct shape {
  const char* model;
  std::size_t n_out, n_in;
};

struct context {
  options opt;
  int threads = 1;
  bench::rate peak;       // FMA peak (GFLOP/s), re-measured before each GEMM shape
  bench::rate bandwidth;  // read bandwidth (GB/s), re-measured before each GEMV shape
};

/// One result line. The *_best fields pair the fastest repetition with the
/// best sample of the machine limits: on a shared machine the medians
/// follow the other load, the best values approach the unloaded machine.
void print_record(const context& c, const char* op, const char* variant, weight_type type,
                  const shape& s, std::size_t n_tokens, const std::vector<double>& seconds,
                  std::size_t weight_bytes) {
  const double med = bench::median(seconds);
  const double mn = *std::min_element(seconds.begin(), seconds.end());
  const double gflop = 2e-9 * static_cast<double>(n_tokens) * s.n_out * s.n_in;
  const double gb = 1e-9 * static_cast<double>(weight_bytes);
  std::printf(
      "{\"bench\":\"matmul\",\"op\":\"%s\",\"variant\":\"%s\",\"model\":\"%s\",\"weights\":\"%s\","
      "\"n_out\":%zu,\"n_in\":%zu,\"n_tokens\":%zu,\"threads\":%d,\"seconds_median\":%.6g,"
      "\"seconds_min\":%.6g,\"gflops\":%.4g,\"gbs\":%.4g,\"peak_gflops\":%.4g,"
      "\"bandwidth_gbs\":%.4g,\"fraction_of_peak\":%.3f,\"fraction_of_bandwidth\":%.3f,"
      "\"gflops_best\":%.4g,\"gbs_best\":%.4g,\"peak_gflops_best\":%.4g,\"bandwidth_gbs_best\":%."
      "4g,"
      "\"fraction_of_peak_best\":%.3f,\"fraction_of_bandwidth_best\":%.3f}\n",
      op, variant, s.model, weight_type_name(type), s.n_out, s.n_in, n_tokens, c.threads, med, mn,
      gflop / med, gb / med, c.peak.median, c.bandwidth.median, gflop / med / c.peak.median,
      gb / med / c.bandwidth.median, gflop / mn, gb / mn, c.peak.best, c.bandwidth.best,
      gflop / mn / c.peak.best, gb / mn / c.bandwidth.best);
  std::fflush(stdout);
}

/// GEMV: copies of the matrix laid end to end (>= 256 MiB in all) so every
/// call streams its weights from memory, as in decoding a whole model; one
/// repetition = one call per copy, seconds = per call.
bool bench_gemv(const context& c, const shape& s, weight_type type) {
  const std::size_t bytes = weight_row_bytes(type, s.n_in) * s.n_out;
  const std::size_t copies =
      std::max<std::size_t>(2, ((std::size_t(256) << 20) + bytes - 1) / bytes);
  std::unique_ptr<unsigned char[]> buf(new unsigned char[copies * bytes + 64]);
  unsigned char* base = buf.get() + (64 - reinterpret_cast<std::uintptr_t>(buf.get()) % 64) % 64;
  fill_weights(type, s.n_out, s.n_in, base, s.n_out * 31 + s.n_in);
  for (std::size_t k = 1; k < copies; ++k) std::memcpy(base + k * bytes, base, bytes);
  std::vector<float> x(s.n_in), y(s.n_out);
  splitmix64 rng{7};
  for (float& v : x) v = rng.uniform();
  weight_view w{base, type, s.n_out, s.n_in};
  w.validate();
  matvec(w, x.data(), y.data(), c.threads);
  if (!verify(w, x.data(), y.data(), 1, 64, "gemv")) return false;
  const int reps = c.opt.reps ? c.opt.reps : (c.opt.quick ? 5 : 10);
  // Variants, interleaved repetition by repetition so that all see the same
  // bandwidth: auto = the library's GEMV (picks the row grouping by the size
  // of x), rows1 = one row at a time, rowsN = groups of gemv_group_rows rows
  // sharing each activation load.
  // int8 = int8 activations (x quantized in each call, as matmul does;
  // types with an int8 kernel only), checked against the float result.
  const std::string grouped = "rows" + std::to_string(mi::gemv_group_rows);
  const char* names[4] = {"auto", "rows1", grouped.c_str(), "int8"};
  const int n_variants = has_q8_kernel(type) ? 4 : 3;
  if (n_variants == 4) {
    std::vector<float> yq(s.n_out);
    matvec(w, x.data(), yq.data(), c.threads, gemv_activations::q8);
    double scale = 0, diff = 0;
    for (std::size_t o = 0; o < s.n_out; ++o) {
      scale = std::max(scale, static_cast<double>(std::fabs(y[o])));
      diff = std::max(diff, static_cast<double>(std::fabs(y[o] - yq[o])));
    }
    if (!(diff <= 5e-2 * scale)) {  // 8-bit x: a fraction of a percent is expected
      std::fprintf(stderr, "MISMATCH: int8 gemv differs from float by %.3g (scale %.3g)\n", diff,
                   scale);
      return false;
    }
  }
  std::vector<double> seconds[4];
  for (int r = -1; r < reps; ++r) {  // r = -1: warm-up
    for (int v = 0; v < n_variants; ++v) {
      const double t0 = bench::now_seconds();
      for (std::size_t k = 0; k < copies; ++k) {
        w.data = base + k * bytes;
        if (v == 0 || v == 3) {
          matvec(w, x.data(), y.data(), c.threads,
                 v == 3 ? gemv_activations::q8 : gemv_activations::f32);
          continue;
        }
        with_typed(w, [&](auto* wt) {
          using T = std::remove_const_t<std::remove_pointer_t<decltype(wt)>>;
          if (v == 1)
            mi::gemv_grouped<T, 1>(wt, s.n_out, s.n_in, x.data(), y.data(), c.threads);
          else
            mi::gemv_grouped<T, mi::gemv_group_rows>(wt, s.n_out, s.n_in, x.data(), y.data(),
                                                     c.threads);
        });
      }
      if (r >= 0) seconds[v].push_back((bench::now_seconds() - t0) / copies);
    }
  }
  w.data = base;
  if (n_variants == 4)  // the last call was the int8 one: redo the grouped one to verify it
    with_typed(w, [&](auto* wt) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(wt)>>;
      mi::gemv_grouped<T, mi::gemv_group_rows>(wt, s.n_out, s.n_in, x.data(), y.data(), c.threads);
    });
  if (!verify(w, x.data(), y.data(), 1, 64, "gemv grouped")) return false;
  for (int v = 0; v < n_variants; ++v)
    print_record(c, "gemv", names[v], type, s, 1, seconds[v], bytes);
  return true;
}

/// GEMM with 512 tokens: the packed kernel, and (for comparison) the
/// row-streaming kernel the small-batch path uses.
bool bench_gemm(const context& c, const shape& s, weight_type type, bool compare) {
  constexpr std::size_t n_tokens = 512;
  const std::size_t bytes = weight_row_bytes(type, s.n_in) * s.n_out;
  std::vector<std::uint64_t> storage((bytes + 7) / 8);
  unsigned char* base = reinterpret_cast<unsigned char*>(storage.data());
  fill_weights(type, s.n_out, s.n_in, base, s.n_out * 17 + s.n_in);
  const weight_view w{base, type, s.n_out, s.n_in};
  w.validate();
  std::vector<float> x(n_tokens * s.n_in), y(n_tokens * s.n_out);
  splitmix64 rng{9};
  for (float& v : x) v = rng.uniform();
  const int reps = c.opt.reps ? c.opt.reps : (c.opt.quick ? 3 : 5);
  auto time = [&](auto&& call, const char* variant, int n) {
    std::vector<double> seconds;
    for (int r = -1; r < n; ++r) {
      const double t0 = bench::now_seconds();
      call();
      if (r >= 0) seconds.push_back(bench::now_seconds() - t0);
    }
    if (!verify(w, x.data(), y.data(), n_tokens, 64, variant)) return false;
    print_record(c, "gemm", variant, type, s, n_tokens, seconds, bytes);
    return true;
  };
  bool ok = time([&] { matmul(w, x.data(), s.n_in, y.data(), s.n_out, n_tokens, c.threads); },
                 "packed", reps);
  if (ok && compare) {
    ok = time(
        [&] {
          with_typed(w, [&](auto* wt) {
            mi::gemm_by_rows(wt, s.n_out, s.n_in, x.data(), s.n_in, y.data(), s.n_out, n_tokens,
                             c.threads);
          });
        },
        "rows", 1);
  }
  return ok;
}

/// Small batches (2..16 tokens) on one shape: the packed kernel against the
/// row-streaming one, which is what sets gemm_min_tokens. Weights are
/// rotated through copies (>= 256 MiB) as in decoding.
bool bench_small_batches(const context& c, const shape& s, weight_type type) {
  const std::size_t bytes = weight_row_bytes(type, s.n_in) * s.n_out;
  const std::size_t copies =
      std::max<std::size_t>(2, ((std::size_t(256) << 20) + bytes - 1) / bytes);
  std::unique_ptr<std::uint64_t[]> buf(new std::uint64_t[(copies * bytes + 7) / 8]);
  unsigned char* base = reinterpret_cast<unsigned char*>(buf.get());
  fill_weights(type, s.n_out, s.n_in, base, 3);
  for (std::size_t k = 1; k < copies; ++k) std::memcpy(base + k * bytes, base, bytes);
  const int reps = c.opt.reps ? c.opt.reps : 5;
  for (std::size_t n_tokens : {2, 3, 4, 6, 8, 16}) {
    std::vector<float> x(n_tokens * s.n_in), y(n_tokens * s.n_out);
    splitmix64 rng{n_tokens};
    for (float& v : x) v = rng.uniform();
    weight_view w{base, type, s.n_out, s.n_in};
    std::vector<double> seconds[2];
    for (int r = -1; r < reps; ++r) {
      for (int v = 0; v < 2; ++v) {
        const double t0 = bench::now_seconds();
        for (std::size_t k = 0; k < copies; ++k) {
          w.data = base + k * bytes;
          with_typed(w, [&](auto* wt) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(wt)>>;
            if (v == 0)
              mi::gemm(mi::gemm_args<T>{wt, s.n_out, s.n_in, x.data(), s.n_in, y.data(), s.n_out,
                                        n_tokens},
                       c.threads);
            else
              mi::gemm_by_rows(wt, s.n_out, s.n_in, x.data(), s.n_in, y.data(), s.n_out, n_tokens,
                               c.threads);
          });
        }
        if (r >= 0) seconds[v].push_back((bench::now_seconds() - t0) / copies);
        w.data = base + (copies - 1) * bytes;
        if (r == reps - 1 && !verify(w, x.data(), y.data(), n_tokens, 64, v ? "rows" : "packed"))
          return false;
      }
    }
    print_record(c, "gemm_small", "packed", type, s, n_tokens, seconds[0], bytes);
    print_record(c, "gemm_small", "rows", type, s, n_tokens, seconds[1], bytes);
  }
  return true;
}

/// Full check of a small product per type (GEMV and GEMM paths) before timing.
bool check_small(const context& c) {
  for (weight_type type : c.opt.types) {
    const std::size_t n_out = 77, n_in = 512;
    std::vector<std::uint64_t> storage((weight_row_bytes(type, n_in) * n_out + 7) / 8);
    fill_weights(type, n_out, n_in, reinterpret_cast<unsigned char*>(storage.data()), 5);
    const weight_view w{storage.data(), type, n_out, n_in};
    for (std::size_t n_tokens : {std::size_t(1), std::size_t(3), std::size_t(29)}) {
      std::vector<float> x(n_tokens * n_in), y(n_tokens * n_out);
      splitmix64 rng{n_tokens};
      for (float& v : x) v = rng.uniform();
      matmul(w, x.data(), n_in, y.data(), n_out, n_tokens, c.threads);
      if (!verify(w, x.data(), y.data(), n_tokens, 0, "check")) return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  context c;
  c.opt = parse(argc, argv);
  c.threads = detail::resolve_threads(c.opt.threads);
  try {
    if (!check_small(c)) return 1;
    std::fprintf(stderr, "measuring the FMA peak and read bandwidth...\n");
    const bench::rate peak = bench::measure_fma_peak_gflops(c.threads);
    const bench::rate bw = bench::measure_read_bandwidth_gbs(c.threads);
    c.peak = peak;
    c.bandwidth = bw;
    std::printf(
        "{\"bench\":\"matmul\",\"machine\":{\"peak_gflops\":%.4g,\"peak_gflops_best\":%.4g,"
        "\"bandwidth_gbs\":%.4g,\"bandwidth_gbs_best\":%.4g},\"build\":%s}\n",
        peak.median, peak.best, bw.median, bw.best, bench::build_json(c.threads).c_str());
    const shape all_shapes[] = {{"smollm-135m", 576, 576},     {"smollm-135m", 192, 576},
                                {"smollm-135m", 1536, 576},    {"smollm-135m", 576, 1536},
                                {"smollm-135m", 32000, 576},   {"tinyllama-1.1b", 2048, 2048},
                                {"tinyllama-1.1b", 256, 2048}, {"tinyllama-1.1b", 5632, 2048},
                                {"tinyllama-1.1b", 2048, 5632}};
    const shape quick_shapes[] = {{"smollm-135m", 32000, 576},
                                  {"tinyllama-1.1b", 2048, 2048},
                                  {"tinyllama-1.1b", 5632, 2048}};
    std::vector<shape> shapes(std::begin(all_shapes), std::end(all_shapes));
    if (c.opt.quick) shapes.assign(std::begin(quick_shapes), std::end(quick_shapes));
    if (c.opt.op != "gemm") {
      for (const shape& s : shapes) {
        // Bandwidth drifts by up to 1.7x within minutes here: re-measure next to each shape.
        c.bandwidth = bench::measure_read_bandwidth_gbs(c.threads, std::size_t(512) << 20, 3);
        for (weight_type t : c.opt.types) {
          if (s.n_in % weight_info(t).block_size != 0) continue;  // not whole blocks
          std::fprintf(stderr, "gemv %s %s %zux%zu\n", s.model, weight_type_name(t), s.n_out,
                       s.n_in);
          if (!bench_gemv(c, s, t)) return 1;
        }
      }
    }
    if (c.opt.op != "gemv") {
      for (const shape& s : shapes) {
        // The FMA peak drifts too when the machine is shared: re-measure it
        // next to each shape.
        c.peak = bench::measure_fma_peak_gflops(c.threads, 3);
        for (weight_type t : c.opt.types) {
          if (s.n_in % weight_info(t).block_size != 0) continue;  // not whole blocks
          std::fprintf(stderr, "gemm %s %s %zux%zu x 512 tokens\n", s.model, weight_type_name(t),
                       s.n_out, s.n_in);
          const bool compare = c.opt.compare_rows && !c.opt.quick && t == weight_type::f32;
          if (!bench_gemm(c, s, t, compare)) return 1;
        }
      }
    }
    if (c.opt.op != "gemv" && !c.opt.quick) {
      const shape small{"tinyllama-1.1b", 2048, 2048};
      c.bandwidth = bench::measure_read_bandwidth_gbs(c.threads, std::size_t(512) << 20, 3);
      for (weight_type t : c.opt.types) {
        std::fprintf(stderr, "gemm_small %s %zux%zu, 2..16 tokens\n", weight_type_name(t),
                     small.n_out, small.n_in);
        if (!bench_small_batches(c, small, t)) return 1;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shiftrope-bench-matmul: %s\n", e.what());
    return 1;
  }
  return 0;
}
