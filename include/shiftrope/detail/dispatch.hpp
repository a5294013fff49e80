// shiftrope/detail/dispatch.hpp - run-time count to compile-time constant.
//
// The register-blocked kernels take their tile sizes as template arguments
// (so the accumulators stay in registers); the drivers know the size of a
// ragged last tile only at run time. dispatch<Max>(n, f) bridges the two.
#pragma once

#include <type_traits>

namespace shiftrope::detail {

namespace dispatch_impl {

template <int N, int Max, class F>
inline void from(int n, F& f) {
  if constexpr (N >= Max) {
    f(std::integral_constant<int, Max>{});
  } else {
    if (n <= N)
      f(std::integral_constant<int, N>{});
    else
      from<N + 1, Max>(n, f);
  }
}

}  // namespace dispatch_impl

/// Calls f(std::integral_constant<int, N>{}) with N = clamp(n, 1, Max): one
/// instantiation of f per value in [1, Max].
template <int Max, class F>
inline void dispatch(int n, F&& f) {
  static_assert(Max >= 1, "dispatch needs Max >= 1");
  dispatch_impl::from<1, Max>(n, f);
}

}  // namespace shiftrope::detail
