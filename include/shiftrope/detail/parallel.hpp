// shiftrope/detail/parallel.hpp - the only door to OpenMP.
//
// One parallel region per call, static schedule, no nesting. Without OpenMP
// (SHIFTROPE_OPENMP off, or a compiler without -fopenmp) everything becomes a
// plain loop on the calling thread.
#pragma once

#include <algorithm>
#include <cstddef>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace shiftrope::detail {

/// Upper bound on the threads any call will use; larger requests are clamped
/// (a thread count is user input: "-t 100000" must not spawn 100000 threads).
inline constexpr int max_threads_limit = 1024;

/// OpenMP's default thread count (1 without OpenMP).
inline int default_threads() noexcept {
#if defined(_OPENMP)
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

/// Resolves a user thread count: <= 0 means the default; clamped to
/// max_threads_limit.
inline int resolve_threads(int n_threads) noexcept {
  const int n = n_threads <= 0 ? default_threads() : n_threads;
  return std::min(n, max_threads_limit);
}

/// Runs body(tid, n_threads) once on each of n_threads threads (one region).
/// The body must not throw.
template <class Body>
void parallel_region(int n_threads, Body&& body) noexcept {
  n_threads = resolve_threads(n_threads);
#if defined(_OPENMP)
  if (n_threads > 1) {
#pragma omp parallel num_threads(n_threads)
    { body(omp_get_thread_num(), omp_get_num_threads()); }
    return;
  }
#endif
  body(0, 1);
}

/// Calls f(i) for i in [0, n), split statically over n_threads threads.
/// The body must not throw.
template <class F>
void parallel_for(std::ptrdiff_t n, int n_threads, F&& f) noexcept {
  if (n <= 0) return;
  n_threads = static_cast<int>(std::min<std::ptrdiff_t>(resolve_threads(n_threads), n));
#if defined(_OPENMP)
  if (n_threads > 1) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  for (std::ptrdiff_t i = 0; i < n; ++i) f(i);
}

}  // namespace shiftrope::detail
