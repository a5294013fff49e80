// A consumer of the core alone (<shiftrope/core.hpp>, target
// shiftrope::core): STRING's position map and the attention kernel, built
// where PCRE2 is not visible.
#include <cmath>
#include <cstdio>
#include <shiftrope/core.hpp>
#include <vector>

float core_attention_sum(int n_tokens);

int main() {
  // L = 512: S = floor(0.33 * 512) = 168, W = 128; the largest position any
  // score sees drops from 511 to 511 - 168 + 128 = 471.
  const auto r = shiftrope::string_remap::paper_default(512);
  const std::int64_t got = shiftrope::max_position(r, 512);
  // Every value row is all ones, so every output element is exactly 1 and
  // the sum over 7 tokens × 2 heads × 16 values is 224.
  const float sum = core_attention_sum(7);
  if (got != 471 || std::fabs(sum - 224.0f) > 1e-3f) {
    std::printf("core consumer: expected 471 and 224, got %lld and %g\n",
                static_cast<long long>(got), static_cast<double>(sum));
    return 1;
  }
  std::printf("core consumer: ok (max position %lld, attention sum %g)\n",
              static_cast<long long>(got), static_cast<double>(sum));
  return 0;
}
