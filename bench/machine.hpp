// bench/machine.hpp - the machine's limits, measured inside a benchmark so
// that its results can be stated as fractions of them from the same run:
//   - FP32 FMA peak: independent FMA chains on registers, on every thread;
//   - read bandwidth: a sum over a 512 MiB array, on every thread.
// Shared by the benchmarks (matmul, attention, forward). Header-only, uses
// the library's SIMD and OpenMP doors only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <new>
#include <shiftrope/detail/big_buffer.hpp>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/detail/simd.hpp>
#include <string>
#include <vector>

namespace shiftrope::bench {

/// Seconds on a monotonic clock.
inline double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

/// Median of a non-empty sample (copied: the caller keeps its order).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// A measured rate: median and best over the repetitions.
struct rate {
  double median = 0;  // median over repetitions
  double best = 0;    // largest over repetitions
};

namespace detail_machine {

/// Runs `iters` steps of 12 independent FMA chains (more than the FMA
/// latency times the FMA units: the loop is throughput bound) and returns a
/// value that depends on all of them, so nothing is optimised away.
inline float fma_chains(long iters, float seed) noexcept {
  using namespace shiftrope::detail::simd;
  constexpr int chains = 12;
  const vec<float> m(0.999999f), c(seed * 1e-6f);
  vec<float> a[chains];
  for (int i = 0; i < chains; ++i) a[i] = vec<float>(seed + static_cast<float>(i));
  for (long k = 0; k < iters; ++k)
    for (int i = 0; i < chains; ++i)
      a[i] = fma(a[i], m, c);  // converges: no overflow, no denormals
  vec<float> s = a[0];
  for (int i = 1; i < chains; ++i) s = s + a[i];
  return hsum(s);
}

}  // namespace detail_machine

/// FP32 FMA peak in GFLOP/s on n_threads threads (<= 0: default), counting
/// 2 FLOPs per lane per FMA. Each repetition runs ~0.1 s.
inline rate measure_fma_peak_gflops(int n_threads, int reps = 5) {
  const int threads = shiftrope::detail::resolve_threads(n_threads);
  constexpr long iters = 20'000'000;
  constexpr double flops_per_thread =
      2.0 * 12 * static_cast<double>(shiftrope::detail::simd::lanes<float>) * iters;
  std::vector<float> sink(static_cast<std::size_t>(threads) * 16, 0.0f);
  std::vector<double> gflops;
  for (int r = 0; r < reps; ++r) {
    int used = 1;
    const double t0 = now_seconds();
    shiftrope::detail::parallel_region(threads, [&](int tid, int nt) {
      if (tid == 0) used = nt;
      sink[static_cast<std::size_t>(tid) * 16] += detail_machine::fma_chains(iters, 1.0f + tid);
    });
    gflops.push_back(flops_per_thread * used / (now_seconds() - t0) * 1e-9);
  }
  if (sink[0] == 12345.0f) std::fputs("", stderr);  // keep the sink alive
  return rate{median(gflops), *std::max_element(gflops.begin(), gflops.end())};
}

/// Read bandwidth in GB/s (1e9 bytes/s): each of n_threads threads sums its
/// static chunk of a `bytes` array (first touched by the same thread, so its
/// pages are local to it). Memory-bound, so it drifts with the machine's
/// other traffic: compare against it in the same run.
inline rate measure_read_bandwidth_gbs(int n_threads, std::size_t bytes = std::size_t(512) << 20,
                                       int reps = 5) {
  namespace simd = shiftrope::detail::simd;
  const int threads = shiftrope::detail::resolve_threads(n_threads);
  const std::size_t n = bytes / sizeof(float);
  std::vector<float, shiftrope::detail::big_buffer_allocator<float>> data(n);  // huge pages
  std::vector<double> partial(static_cast<std::size_t>(threads) * 8, 0.0);
  auto chunk = [n](int tid, int nt, std::size_t& b, std::size_t& e) {
    b = n / 64 * static_cast<std::size_t>(tid) / static_cast<std::size_t>(nt) * 64;
    e = tid + 1 == nt
            ? n
            : n / 64 * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(nt) * 64;
  };
  shiftrope::detail::parallel_region(threads, [&](int tid, int nt) {
    std::size_t b, e;
    chunk(tid, nt, b, e);
    for (std::size_t i = b; i < e; ++i) data[i] = 1.0f;
  });
  std::vector<double> gbs;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    shiftrope::detail::parallel_region(threads, [&](int tid, int nt) {
      std::size_t b, e;
      chunk(tid, nt, b, e);
      constexpr std::size_t w = simd::lanes<float>;
      simd::vec<float> s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
      std::size_t i = b;
      for (; i + 4 * w <= e; i += 4 * w) {
        s0 = s0 + simd::load_as<float>(data.data() + i);
        s1 = s1 + simd::load_as<float>(data.data() + i + w);
        s2 = s2 + simd::load_as<float>(data.data() + i + 2 * w);
        s3 = s3 + simd::load_as<float>(data.data() + i + 3 * w);
      }
      double s = simd::hsum((s0 + s1) + (s2 + s3));
      for (; i < e; ++i) s += data[i];
      partial[static_cast<std::size_t>(tid) * 8] += s;
    });
    gbs.push_back(static_cast<double>(n * sizeof(float)) / (now_seconds() - t0) * 1e-9);
  }
  if (partial[0] == -1.0) std::fputs("", stderr);  // keep the sums alive
  return rate{median(gbs), *std::max_element(gbs.begin(), gbs.end())};
}

/// Stream-triad bandwidth in GB/s (1e9 bytes/s): a[i] = b[i] + s·c[i] over
/// three float arrays of `bytes` each, counting 3 × bytes per pass (the
/// STREAM convention: the write-allocate read of a is not counted). Each
/// thread works on its static chunk, first touched by itself.
inline rate measure_triad_bandwidth_gbs(int n_threads, std::size_t bytes = std::size_t(256) << 20,
                                        int reps = 5) {
  namespace simd = shiftrope::detail::simd;
  const int threads = shiftrope::detail::resolve_threads(n_threads);
  const std::size_t n = bytes / sizeof(float);
  // Plain pages, as STREAM allocates: three huge-page-aligned arrays would
  // share their offsets and collide in the memory banks (measured: 22 GB/s
  // instead of 35).
  std::vector<float> a(n), b(n), c(n);
  auto chunk = [n](int tid, int nt, std::size_t& lo, std::size_t& hi) {
    lo = n / 64 * static_cast<std::size_t>(tid) / static_cast<std::size_t>(nt) * 64;
    hi = tid + 1 == nt
             ? n
             : n / 64 * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(nt) * 64;
  };
  shiftrope::detail::parallel_region(threads, [&](int tid, int nt) {
    std::size_t lo, hi;
    chunk(tid, nt, lo, hi);
    for (std::size_t i = lo; i < hi; ++i) a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
  });
  std::vector<double> gbs;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    shiftrope::detail::parallel_region(threads, [&](int tid, int nt) {
      std::size_t lo, hi;
      chunk(tid, nt, lo, hi);
      constexpr std::size_t w = simd::lanes<float>;
      const simd::vec<float> s(0.5f);
      std::size_t i = lo;
      for (; i + w <= hi; i += w)
        simd::fma(s, simd::load_as<float>(c.data() + i), simd::load_as<float>(b.data() + i))
            .store_unaligned(a.data() + i);
      for (; i < hi; ++i) a[i] = b[i] + 0.5f * c[i];
    });
    gbs.push_back(3.0 * static_cast<double>(n * sizeof(float)) / (now_seconds() - t0) * 1e-9);
  }
  if (a[n / 2] == -1.0f) std::fputs("", stderr);  // keep the stores alive
  return rate{median(gbs), *std::max_element(gbs.begin(), gbs.end())};
}

/// The processor, from /proc/cpuinfo: its model name and `cpu family`
/// (AMD: 25 = Zen 3/4, 26 = Zen 5), the two facts that tell which peer
/// figures apply. Empty / -1 where the file or the field is absent.
struct processor {
  std::string model_name;
  int family = -1;
};

inline processor read_processor() {
  processor p;
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : std::string();
    if (key == "model name" && p.model_name.empty()) p.model_name = value;
    if (key == "cpu family" && p.family < 0) {
      try {
        p.family = std::stoi(value);
      } catch (...) {
        p.family = -1;
      }
    }
    if (!p.model_name.empty() && p.family >= 0) break;
  }
  return p;
}

/// The processor as JSON fields (no braces): "cpu":"…","cpu_family":N.
inline std::string processor_json_fields() {
  const processor p = read_processor();
  std::string name;
  for (const char c : p.model_name)
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) name += c;
  return "\"cpu\":\"" + name + "\",\"cpu_family\":" + std::to_string(p.family);
}

/// One JSON object describing the run: processor, compiler, SIMD width,
/// threads.
inline std::string build_json(int threads) {
  std::string s = "{" + processor_json_fields() + ",\"compiler\":\"";
#if defined(__clang__)
  s += "clang " __clang_version__;
#elif defined(__GNUC__)
  s += "g++ " __VERSION__;
#endif
  s += "\",\"simd_float_lanes\":" + std::to_string(shiftrope::detail::simd::lanes<float>);
#if defined(__AVX512F__)
  s += ",\"isa\":\"avx512\"";
#elif defined(__AVX2__)
  s += ",\"isa\":\"avx2\"";
#else
  s += ",\"isa\":\"baseline\"";
#endif
  s += ",\"threads\":" + std::to_string(threads) + "}";
  return s;
}

}  // namespace shiftrope::bench
