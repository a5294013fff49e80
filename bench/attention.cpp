// shiftrope-bench-attention: the attention kernel, RoPE against STRING, in
// prefill (all L tokens, causal) and decode (one token at position L).
//
// First checks the kernel against a naive implementation on a small case
// (exit 1 on mismatch), then prints one JSON object per line and case:
// median and minimum seconds, GFLOP/s (4·head_dim FLOPs per scored
// (query, key) pair and head), the machine's FMA peak and stream-triad
// bandwidth measured in the same run, and for STRING rows the time ratio to
// the matching RoPE row (the two are timed alternately, so drift hits both).
// The naive implementation is timed too for L <= 2048 ("impl":"naive").
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <shiftrope/attention.hpp>
#include <shiftrope/detail/big_buffer.hpp>
#include <shiftrope/kv_q8.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "machine.hpp"

namespace {

using shiftrope::attention_params;
using shiftrope::f16;
using shiftrope::kv_cache_view;
using shiftrope::remap;

struct options {
  std::vector<std::int64_t> lengths{512, 2048, 8192, 32768};
  std::vector<int> head_dims{64, 128};
  std::vector<std::string> modes{"prefill", "decode"};
  std::vector<std::string> kv_types{"f32", "f16"};
  std::vector<std::pair<int, int>> heads{{32, 8}, {8, 8}};
  int threads = 2;
  int min_reps = 3;
  bool naive = true;
  bool machine = true;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "shiftrope-bench-attention: %s (see --help)\n", msg.c_str());
  std::exit(2);
}

template <class T>
std::vector<T> parse_list(const char* flag, const char* text) {
  std::vector<T> out;
  std::string s(text);
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t comma = std::min(s.find(',', at), s.size());
    const std::string item = s.substr(at, comma - at);
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0 || v > (1ll << 24))
      usage_error(std::string(flag) + ": expected positive integers, got '" + item + "'");
    out.push_back(static_cast<T>(v));
    at = comma + 1;
  }
  return out;
}

std::vector<std::string> parse_words(const char* flag, const char* text,
                                     const std::vector<std::string>& allowed) {
  std::vector<std::string> out;
  std::string s(text);
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t comma = std::min(s.find(',', at), s.size());
    const std::string item = s.substr(at, comma - at);
    if (std::find(allowed.begin(), allowed.end(), item) == allowed.end())
      usage_error(std::string(flag) + ": unknown value '" + item + "'");
    out.push_back(item);
    at = comma + 1;
  }
  return out;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::puts(
          "usage: shiftrope-bench-attention [options]\n"
          "  --L N[,N...]            sequence lengths (default 512,2048,8192,32768)\n"
          "  --head-dim D[,D...]     head sizes (default 64,128)\n"
          "  --heads H/K[,H/K...]    query/KV heads (default 32/8,8/8)\n"
          "  --mode prefill|decode   (default both; comma list allowed)\n"
          "  --kv-type f32|f16|q8_0  (default f32,f16; comma list allowed)\n"
          "  --threads N             threads (default 2)\n"
          "  --reps N                minimum repetitions per case (default 3)\n"
          "  --no-naive              skip timing the naive implementation\n"
          "  --no-machine            skip the FMA-peak and bandwidth measurements\n"
          "Prints one JSON object per line on stdout; progress on stderr.");
      std::exit(0);
    }
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(a + ": missing value");
      return argv[++i];
    };
    if (a == "--L") {
      o.lengths = parse_list<std::int64_t>("--L", value());
    } else if (a == "--head-dim") {
      o.head_dims = parse_list<int>("--head-dim", value());
    } else if (a == "--mode") {
      o.modes = parse_words("--mode", value(), {"prefill", "decode"});
    } else if (a == "--kv-type") {
      o.kv_types = parse_words("--kv-type", value(), {"f32", "f16", "q8_0"});
    } else if (a == "--threads") {
      const auto t = parse_list<int>("--threads", value());
      if (t.size() != 1 || t[0] > 1024) usage_error("--threads: expected one value in [1, 1024]");
      o.threads = t[0];
    } else if (a == "--reps") {
      const auto r = parse_list<int>("--reps", value());
      if (r.size() != 1 || r[0] > 1000) usage_error("--reps: expected one value in [1, 1000]");
      o.min_reps = r[0];
    } else if (a == "--heads") {
      o.heads.clear();
      std::string s(value());
      std::size_t at = 0;
      while (at <= s.size()) {
        const std::size_t comma = std::min(s.find(',', at), s.size());
        const std::string item = s.substr(at, comma - at);
        int h = 0, k = 0;
        char tail = 0;
        if (std::sscanf(item.c_str(), "%d/%d%c", &h, &k, &tail) != 2 || h < 1 || k < 1 ||
            h % k != 0 || h > 4096)
          usage_error("--heads: expected H/K with H a multiple of K, got '" + item + "'");
        o.heads.emplace_back(h, k);
        at = comma + 1;
      }
    } else if (a == "--no-naive") {
      o.naive = false;
    } else if (a == "--no-machine") {
      o.machine = false;
    } else {
      usage_error("unknown flag '" + a + "'");
    }
  }
  return o;
}

/// Fixed-seed generator (splitmix64) for the inputs.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() {
    return static_cast<float>(static_cast<double>(next() >> 40) * 0x1.0p-23 - 1.0);
  }
};

/// True for the q8_0 cache (KV = std::int8_t quants with f16 scales).
template <class KV>
constexpr bool is_q8 = std::is_same_v<KV, std::int8_t>;

/// Bytes per cached element: q8_0 stores one byte plus a 2-byte scale per 32.
template <class KV>
constexpr double bytes_per_element = is_q8<KV> ? 34.0 / 32.0 : static_cast<double>(sizeof(KV));

/// Name of a cache element type.
template <class KV>
const char* kv_name() {
  return is_q8<KV> ? "q8_0" : shiftrope::type_name<KV>();
}

/// One problem's buffers: queries [n_tokens × H × D], a head-major cache
/// [K × n_pos × D] of keys rotated at their positions, the output.
template <class KV>
struct workload {
  attention_params params;
  std::int64_t start_pos = 0, n_tokens = 0, n_pos = 0;
  std::vector<float> q, out;
  std::vector<KV, shiftrope::detail::big_buffer_allocator<KV>> k, v;  // as kv_cache stores them
  std::vector<f16> ks, vs;  // q8_0 only: one scale per 32 elements of k, v
  shiftrope::rope_table<float> table;
  kv_cache_view<KV> view() const {
    const auto plain =
        kv_cache_view<KV>::head_major(k.data(), v.data(), n_pos, params.head_dim, n_pos);
    return is_q8<KV> ? plain.with_scales(ks.data(), vs.data()) : plain;
  }
  /// Element e of K (of V) as a float.
  float key(std::size_t e) const {
    if constexpr (is_q8<KV>)
      return shiftrope::to_float(ks[e / shiftrope::kv_q8_block]) * static_cast<float>(k[e]);
    else
      return shiftrope::convert<float>(k[e]);
  }
  float value(std::size_t e) const {
    if constexpr (is_q8<KV>)
      return shiftrope::to_float(vs[e / shiftrope::kv_q8_block]) * static_cast<float>(v[e]);
    else
      return shiftrope::convert<float>(v[e]);
  }
};

template <class KV>
workload<KV> make_workload(int n_heads, int n_kv_heads, int head_dim, std::int64_t start_pos,
                           std::int64_t n_tokens, int threads, std::uint64_t seed) {
  workload<KV> w;
  w.params.n_heads = n_heads;
  w.params.n_kv_heads = n_kv_heads;
  w.params.head_dim = head_dim;
  w.params.n_threads = threads;
  w.start_pos = start_pos;
  w.n_tokens = n_tokens;
  w.n_pos = start_pos + n_tokens;
  shiftrope::rope_config cfg;
  cfg.head_dim = head_dim;
  cfg.base = 500000.0;
  w.table = shiftrope::rope_table<float>(cfg, w.n_pos);
  splitmix64 g{seed};
  const std::size_t D = static_cast<std::size_t>(head_dim);
  w.q.resize(static_cast<std::size_t>(n_tokens) * n_heads * D);
  for (float& x : w.q) x = g.uniform();
  w.out.assign(w.q.size(), 0.0f);
  const std::size_t cache = static_cast<std::size_t>(n_kv_heads) * w.n_pos * D;
  w.k.resize(cache);
  w.v.resize(cache);
  if constexpr (is_q8<KV>) {
    w.ks.resize(cache / shiftrope::kv_q8_block);
    w.vs.resize(cache / shiftrope::kv_q8_block);
  }
  std::vector<float> row(D), vrow(D);
  for (int h = 0; h < n_kv_heads; ++h)
    for (std::int64_t n = 0; n < w.n_pos; ++n) {
      const std::size_t at = (static_cast<std::size_t>(h) * w.n_pos + n) * D;
      for (float& x : row) x = g.uniform();
      w.table.rotate(row.data(), n);
      for (float& x : vrow) x = g.uniform();
      if constexpr (is_q8<KV>) {
        const std::size_t s = at / shiftrope::kv_q8_block;
        shiftrope::quantize_kv_q8(row.data(), w.k.data() + at, w.ks.data() + s, D);
        shiftrope::quantize_kv_q8(vrow.data(), w.v.data() + at, w.vs.data() + s, D);
      } else {
        for (std::size_t i = 0; i < D; ++i) w.k[at + i] = shiftrope::convert<KV>(row[i]);
        for (std::size_t i = 0; i < D; ++i) w.v[at + i] = shiftrope::convert<KV>(vrow[i]);
      }
    }
  return w;
}

/// The naive implementation: for each (token, head) row, the remap's
/// segments give rotated query copies; every score goes into a full row,
/// then a plain softmax and weighted sum. Scalar loops, threads over rows.
template <class KV>
void naive_attention(const workload<KV>& w, const remap& positions, float* out) {
  const attention_params& p = w.params;
  const int D = p.head_dim, H = p.n_heads, group = p.n_heads / p.n_kv_heads;
  const float scale = static_cast<float>(p.logit_factor());
  const auto view = w.view();
  shiftrope::detail::parallel_for(w.n_tokens * H, p.n_threads, [&](std::ptrdiff_t row) {
    const std::int64_t t = row / H;
    const int h = static_cast<int>(row % H);
    const std::int64_t m = w.start_pos + t;
    const std::size_t head = static_cast<std::size_t>(h / group) * view.head_stride;
    shiftrope::key_segment segs[shiftrope::max_key_segments];
    const int n_seg = shiftrope::key_segments(positions, m, segs);
    std::vector<float> scores, qr(static_cast<std::size_t>(D)),
        acc(static_cast<std::size_t>(D), 0.0f);
    std::vector<std::int64_t> keys;
    for (int s = 0; s < n_seg; ++s) {
      const float* q = &w.q[(static_cast<std::size_t>(t) * H + h) * D];
      std::copy(q, q + D, qr.begin());
      w.table.rotate(qr.data(), segs[s].query_pos);
      for (std::int64_t n = segs[s].begin; n < segs[s].end; ++n) {
        const std::size_t k = head + static_cast<std::size_t>(n) * view.pos_stride;
        float dot = 0;
        for (int i = 0; i < D; ++i) dot += qr[i] * w.key(k + static_cast<std::size_t>(i));
        scores.push_back(scale * dot);
        keys.push_back(n);
      }
    }
    const float mx = *std::max_element(scores.begin(), scores.end());
    float sum = 0;
    for (std::size_t j = 0; j < scores.size(); ++j) {
      const float e = std::exp(scores[j] - mx);
      sum += e;
      const std::size_t v = head + static_cast<std::size_t>(keys[j]) * view.pos_stride;
      for (int i = 0; i < D; ++i) acc[i] += e * w.value(v + static_cast<std::size_t>(i));
    }
    float* o = out + static_cast<std::size_t>(row) * D;
    for (int i = 0; i < D; ++i) o[i] = acc[i] / sum;
  });
}

template <class KV>
void run_kernel(workload<KV>& w, const remap& positions, std::vector<std::byte>& scratch) {
  const std::size_t bytes =
      shiftrope::attention_scratch_bytes<float>(w.params, w.start_pos, w.n_tokens);
  if (scratch.size() < bytes) scratch.resize(bytes);
  shiftrope::attention(w.params, positions, w.table, w.q.data(), w.start_pos, w.n_tokens, w.view(),
                       w.out.data(), scratch.data(), scratch.size());
}

/// Kernel against naive on a small STRING case with a duplicated boundary
/// key and on plain RoPE; returns false on mismatch.
template <class KV>
bool verify(int threads) {
  constexpr double abs_tol = 2e-4, rel_tol = 2e-4;  // float sums of ~300 terms
  bool ok = true;
  for (int variant = 0; variant < 3; ++variant) {
    const std::int64_t start = variant == 2 ? 299 : 0, n = variant == 2 ? 1 : 300;
    // 72 values per head: a partial register; q8_0 needs whole blocks of 32.
    const int head_dim = is_q8<KV> ? 96 : 72;
    workload<KV> w = make_workload<KV>(8, 2, head_dim, start, n, threads, 11 + variant);
    shiftrope::string_remap sr{97, 16};
    sr.duplicate_boundary_key = variant == 1;
    const remap r = variant == 0 ? remap{shiftrope::identity_remap{}} : remap{sr};
    std::vector<std::byte> scratch;
    run_kernel(w, r, scratch);
    std::vector<float> want(w.out.size());
    naive_attention(w, r, want.data());
    for (std::size_t i = 0; i < want.size(); ++i)
      if (!(std::fabs(w.out[i] - want[i]) <= abs_tol + rel_tol * std::fabs(want[i]))) {
        std::fprintf(stderr, "verify %s %s: mismatch at %zu: kernel %g, naive %g\n", kv_name<KV>(),
                     shiftrope::describe(r).c_str(), i, w.out[i], want[i]);
        ok = false;
        break;
      }
  }
  return ok;
}

struct machine_limits {
  double peak_gflops = 0, bandwidth_gbs = 0;
  double read_bandwidth_gbs = 0;  // read-only, huge pages: what decoding streams at best
};

struct timing {
  double median = 0, best = 0;
  int reps = 0;
};

timing summarize(const std::vector<double>& t) {
  return {shiftrope::bench::median(t), *std::min_element(t.begin(), t.end()),
          static_cast<int>(t.size())};
}

struct case_desc {
  std::string mode, kv_type;
  std::int64_t L = 0;
  int head_dim = 0, n_heads = 0, n_kv_heads = 0, threads = 0;
};

void print_row(const case_desc& c, const char* impl, const char* remap_name, const timing& t,
               double pairs, double kv_bytes, const machine_limits& ml, double ratio) {
  const double gflops = 4.0 * c.head_dim * pairs * c.n_heads / t.median * 1e-9;
  std::printf(
      "{\"bench\":\"attention\",\"impl\":\"%s\",\"mode\":\"%s\",\"remap\":\"%s\",\"L\":%lld,"
      "\"head_dim\":%d,\"n_heads\":%d,\"n_kv_heads\":%d,\"kv_type\":\"%s\",\"threads\":%d,"
      "\"seconds\":%.6g,\"seconds_min\":%.6g,\"reps\":%d,\"gflops\":%.4g,\"peak_gflops\":%.4g,"
      "\"fraction_of_peak\":%.4g,\"bandwidth_gbs\":%.4g,\"kv_bytes\":%.6g,"
      "\"kv_read_seconds\":%.6g",
      impl, c.mode.c_str(), remap_name, static_cast<long long>(c.L), c.head_dim, c.n_heads,
      c.n_kv_heads, c.kv_type.c_str(), c.threads, t.median, t.best, t.reps, gflops, ml.peak_gflops,
      ml.peak_gflops > 0 ? gflops / ml.peak_gflops : 0.0, ml.bandwidth_gbs, kv_bytes,
      ml.bandwidth_gbs > 0 ? kv_bytes / (ml.bandwidth_gbs * 1e9) : 0.0);
  if (c.mode == "decode" && ml.bandwidth_gbs > 0 && ml.read_bandwidth_gbs > 0)
    std::printf(",\"read_bandwidth_gbs\":%.4g,\"over_kv_read\":%.4f,\"over_kv_read_only\":%.4f",
                ml.read_bandwidth_gbs, t.median / (kv_bytes / (ml.bandwidth_gbs * 1e9)),
                t.median / (kv_bytes / (ml.read_bandwidth_gbs * 1e9)));
  if (ratio > 0) std::printf(",\"string_over_rope\":%.4f", ratio);
  std::printf("}\n");
  std::fflush(stdout);
}

/// Times RoPE and STRING alternately (at least min_reps each, and at least
/// ~0.3 s of each), then the naive implementation for short lengths.
template <class KV>
void run_case(const options& o, const case_desc& c, const machine_limits& ml) {
  const bool prefill = c.mode == "prefill";
  const std::int64_t start = prefill ? 0 : c.L, n = prefill ? c.L : 1;
  std::fprintf(stderr, "case %s L=%lld D=%d heads=%d/%d kv=%s ...\n", c.mode.c_str(),
               static_cast<long long>(c.L), c.head_dim, c.n_heads, c.n_kv_heads, c.kv_type.c_str());
  workload<KV> w = make_workload<KV>(c.n_heads, c.n_kv_heads, c.head_dim, start, n, c.threads, 5);
  const remap rope = shiftrope::identity_remap{};
  const remap str = shiftrope::string_remap{std::max<std::int64_t>(c.L / 3, 129), 128};
  std::vector<std::byte> scratch;
  run_kernel(w, rope, scratch);  // warm-up (pages, threads)
  std::vector<double> t_rope, t_str;
  double spent = 0;
  while (static_cast<int>(t_rope.size()) < o.min_reps || spent < 0.6) {
    for (int which = 0; which < 2; ++which) {
      const double t0 = shiftrope::bench::now_seconds();
      run_kernel(w, which ? str : rope, scratch);
      const double dt = shiftrope::bench::now_seconds() - t0;
      (which ? t_str : t_rope).push_back(dt);
      spent += dt;
    }
    if (t_rope.size() >= 1000) break;
  }
  const double pairs = prefill ? 0.5 * static_cast<double>(c.L) * static_cast<double>(c.L + 1)
                               : static_cast<double>(c.L + 1);
  const double kv_bytes =
      2.0 * c.n_kv_heads * static_cast<double>(w.n_pos) * c.head_dim * bytes_per_element<KV>;
  const timing tr = summarize(t_rope), ts = summarize(t_str);
  print_row(c, "shiftrope", "rope", tr, pairs, kv_bytes, ml, 0);
  print_row(c, "shiftrope", "string", ts, pairs, kv_bytes, ml, ts.median / tr.median);
  if (!o.naive || c.L > 2048) return;
  std::vector<float> out(w.out.size());
  for (int which = 0; which < 2; ++which) {
    std::vector<double> t;
    double naive_spent = 0;
    while (static_cast<int>(t.size()) < o.min_reps || naive_spent < 0.3) {
      const double t0 = shiftrope::bench::now_seconds();
      naive_attention(w, which ? str : rope, out.data());
      t.push_back(shiftrope::bench::now_seconds() - t0);
      naive_spent += t.back();
    }
    print_row(c, "naive", which ? "string" : "rope", summarize(t), pairs, kv_bytes, ml, 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  std::printf("%s\n", shiftrope::bench::build_json(o.threads).c_str());
  if (!verify<float>(o.threads) || !verify<f16>(o.threads) || !verify<std::int8_t>(o.threads)) {
    std::fprintf(stderr, "shiftrope-bench-attention: kernel disagrees with the naive reference\n");
    return 1;
  }
  std::fprintf(stderr, "verified against the naive implementation (f32, f16, q8_0 KV)\n");
  machine_limits ml;
  if (o.machine) {
    std::fprintf(stderr, "measuring FMA peak and stream-triad bandwidth ...\n");
    ml.peak_gflops = shiftrope::bench::measure_fma_peak_gflops(o.threads).median;
    ml.bandwidth_gbs = shiftrope::bench::measure_triad_bandwidth_gbs(o.threads).median;
    ml.read_bandwidth_gbs = shiftrope::bench::measure_read_bandwidth_gbs(o.threads).median;
    std::printf(
        "{\"bench\":\"attention\",\"machine\":true,\"threads\":%d,\"peak_gflops\":%.4g,"
        "\"bandwidth_gbs\":%.4g,\"read_bandwidth_gbs\":%.4g}\n",
        o.threads, ml.peak_gflops, ml.bandwidth_gbs, ml.read_bandwidth_gbs);
  }
  for (const std::string& mode : o.modes)
    for (std::int64_t L : o.lengths)
      for (int d : o.head_dims)
        for (const auto& [h, k] : o.heads)
          for (const std::string& kv : o.kv_types) {
            const case_desc c{mode, kv, L, d, h, k, o.threads};
            if (kv == "f32")
              run_case<float>(o, c, ml);
            else if (kv == "q8_0")
              run_case<std::int8_t>(o, c, ml);
            else
              run_case<f16>(o, c, ml);
          }
  return 0;
}
