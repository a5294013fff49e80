// Tests of numeric.hpp: f16/bf16 conversions against exact values and
// identities, q8_0 layout.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <shiftrope/numeric.hpp>

using namespace shiftrope;

TEST_CASE("f16: known bit patterns") {
  CHECK(to_f16(1.0f).bits == 0x3c00);
  CHECK(to_f16(-2.0f).bits == 0xc000);
  CHECK(to_f16(65504.0f).bits == 0x7bff);
  CHECK(to_f16(65520.0f).bits == 0x7c00);                // rounds up to infinity
  CHECK(to_f16(5.9604644775390625e-8f).bits == 0x0001);  // smallest subnormal
  CHECK(to_f16(0.0f).bits == 0x0000);
  CHECK(to_f16(-0.0f).bits == 0x8000);
  CHECK(to_f16(std::numeric_limits<float>::infinity()).bits == 0x7c00);
  CHECK(std::isnan(to_float(to_f16(std::numeric_limits<float>::quiet_NaN()))));
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even -> 1.
  CHECK(to_f16(1.0f + 0.00048828125f).bits == 0x3c00);
  CHECK(to_f16(1.0f + 3 * 0.00048828125f).bits == 0x3c02);
}

TEST_CASE("f16: every half value round-trips through float") {
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    f16 h;
    h.bits = static_cast<std::uint16_t>(b);
    const float x = to_float(h);
    if (std::isnan(x)) continue;
    REQUIRE(to_f16(x).bits == h.bits);
  }
}

TEST_CASE("f16: conversion rounds to the nearest half") {
  // Every float in a dense sweep lands on a neighbour at most half an ulp away.
  for (float x = -70000.0f; x < 70000.0f; x += 13.37f) {
    const float y = to_float(to_f16(x));
    if (std::fabs(x) > 65519.0f) {
      CHECK(std::isinf(y));
      continue;
    }
    const float ulp = std::ldexp(
        1.0f, std::max(-24, static_cast<int>(std::floor(std::log2(std::fabs(x) + 1e-30f))) - 10));
    CHECK(std::fabs(y - x) <= 0.5f * ulp);
  }
}

TEST_CASE("bf16: known values and rounding") {
  CHECK(to_bf16(1.0f).bits == 0x3f80);
  CHECK(to_float(to_bf16(3.0f)) == 3.0f);
  CHECK(to_bf16(1.00390625f).bits == 0x3f80);  // halfway: ties to even
  CHECK(to_bf16(1.01171875f).bits == 0x3f82);  // halfway above odd: rounds up
  CHECK(std::isnan(to_float(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    bf16 h;
    h.bits = static_cast<std::uint16_t>(b);
    const float x = to_float(h);
    if (std::isnan(x)) continue;
    REQUIRE(to_bf16(x).bits == h.bits);
  }
}

TEST_CASE("q8_0 block has the GGUF layout") {
  CHECK(sizeof(q8_0_block) == 34);
  CHECK(q8_0_block::size == 32);
}
