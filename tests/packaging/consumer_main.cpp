// A consumer of the installed (or add_subdirectory'd) library.
#include <cstdio>
#include <shiftrope.hpp>

std::int64_t consumer_max_position(std::int64_t length);

int main() {
  // L = 512: S = floor(0.33 * 512) = 168, W = 128; the largest position any
  // score sees drops from 511 to 511 - 168 + 128 = 471.
  const std::int64_t got = consumer_max_position(512);
  if (got != 471) {
    std::printf("consumer: expected max position 471, got %lld\n", static_cast<long long>(got));
    return 1;
  }
  std::printf("consumer: ok (max position %lld)\n", static_cast<long long>(got));
  return 0;
}
