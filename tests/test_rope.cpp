// Tests of rope.hpp: per-plane frequencies of every scaling variant against
// the Hugging Face formulas written out plainly here (and literal values
// computed independently), the relative-position identity of the rotation,
// SIMD rotation against a scalar rotation, tables at large positions, and
// every validation error.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <shiftrope/rope.hpp>
#include <string>
#include <vector>

using shiftrope::rope_config;
using shiftrope::rope_pairing;
using shiftrope::rope_scaling;

namespace {

constexpr double kPi = 3.141592653589793238462643383279502884;

// Frequencies: library (pow(b, -2i/D)) and reference (1 / b^(2i/D)) take
// different rounding paths, both in double.
constexpr double kThetaRel = 1e-13;
// Literal constants below are printed by CPython with 16-17 significant digits.
constexpr double kLiteralRel = 1e-14;

// Fixed-seed generator (splitmix64), identical on every platform.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [-1, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0; }
  /// Uniform integer in [0, n).
  std::int64_t below(std::int64_t n) {
    return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n));
  }
};

bool close(double got, double want, double rel, double abs_tol = 0.0) {
  return std::fabs(got - want) <= abs_tol + rel * std::fabs(want);
}

// ---- Hugging Face modeling_rope_utils formulas, written out plainly ----

// default: inv_freq = 1 / base^(arange(0, D, 2) / D)
std::vector<double> hf_default(double base, int dim) {
  std::vector<double> inv;
  for (int j = 0; j < dim; j += 2)
    inv.push_back(1.0 / std::pow(base, static_cast<double>(j) / dim));
  return inv;
}

// llama3: wavelength bands; L_old / low_freq_factor and L_old / high_freq_factor.
std::vector<double> hf_llama3(double base, int dim, double factor, double low_freq_factor,
                              double high_freq_factor, double old_context_len) {
  std::vector<double> inv = hf_default(base, dim);
  const double low_freq_wavelen = old_context_len / low_freq_factor;
  const double high_freq_wavelen = old_context_len / high_freq_factor;
  for (double& f : inv) {
    const double wavelen = 2 * kPi / f;
    double scaled = wavelen > low_freq_wavelen ? f / factor : f;
    const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    if (medium) {
      const double smooth =
          (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      scaled = (1 - smooth) * scaled / factor + smooth * scaled;
    }
    f = scaled;
  }
  return inv;
}

// yarn: find_correction_range + linear_ramp_factor, extrapolation/interpolation blend.
std::vector<double> hf_yarn(double base, int dim, double factor, double max_pos, double beta_fast,
                            double beta_slow) {
  const auto find_correction_dim = [&](double num_rotations) {
    return (dim * std::log(max_pos / (num_rotations * 2 * kPi))) / (2 * std::log(base));
  };
  const double low = std::max(std::floor(find_correction_dim(beta_fast)), 0.0);
  double high = std::min(std::ceil(find_correction_dim(beta_slow)), dim - 1.0);
  if (low == high) high += 0.001;
  std::vector<double> inv;
  for (int i = 0; i < dim / 2; ++i) {
    const double pos_freq = std::pow(base, 2.0 * i / dim);
    const double extrapolation = 1.0 / pos_freq;
    const double interpolation = 1.0 / (factor * pos_freq);
    double ramp = (i - low) / (high - low);
    ramp = ramp < 0 ? 0 : (ramp > 1 ? 1 : ramp);
    const double extrapolation_factor = 1 - ramp;
    inv.push_back(interpolation * (1 - extrapolation_factor) +
                  extrapolation * extrapolation_factor);
  }
  return inv;
}

// dynamic NTK: base' = base * (factor * seq / max_pos - (factor - 1))^(D / (D - 2)).
std::vector<double> hf_dynamic_ntk(double base, int dim, double factor, double max_pos,
                                   double current_len) {
  const double seq = current_len > max_pos ? current_len : max_pos;
  const double scaled_base =
      base * std::pow(factor * seq / max_pos - (factor - 1), static_cast<double>(dim) / (dim - 2));
  return hf_default(scaled_base, dim);
}

// longrope: ext_factors = long_factor if seq_len > original_max_position_embeddings
// else short_factor; inv_freq = 1 / (ext_factors * base^(arange(0, D, 2) / D)).
std::vector<double> hf_longrope(double base, int dim, const std::vector<float>& long_factor,
                                const std::vector<float>& short_factor, double original_max_pos,
                                double seq_len) {
  const std::vector<float>& ext = seq_len > original_max_pos ? long_factor : short_factor;
  std::vector<double> inv;
  for (int j = 0; j < dim; j += 2)
    inv.push_back(1.0 / (static_cast<double>(ext[static_cast<std::size_t>(j / 2)]) *
                         std::pow(base, static_cast<double>(j) / dim)));
  return inv;
}

// longrope's attention factor: sqrt(1 + log(factor) / log(original_max_position_embeddings)),
// 1 when factor <= 1.
double hf_longrope_attention_factor(double factor, double original_max_pos) {
  if (factor <= 1.0) return 1.0;
  return std::sqrt(1 + std::log(factor) / std::log(original_max_pos));
}

void check_all_close(const std::vector<double>& got, const std::vector<double>& want, double rel) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("plane ", i, ": got ", got[i], ", want ", want[i]);
    CHECK(close(got[i], want[i], rel));
  }
}

rope_config make_config(int head_dim, double base, rope_scaling scaling = rope_scaling::none) {
  rope_config cfg;
  cfg.head_dim = head_dim;
  cfg.base = base;
  cfg.scaling = scaling;
  return cfg;
}

}  // namespace

TEST_CASE("close() rejects values outside the tolerance") {
  CHECK(close(1.0, 1.0, 0.0));
  CHECK_FALSE(close(1.0 + 1e-12, 1.0, 1e-13));
  CHECK_FALSE(close(0.0, 1.0, 0.5));
  CHECK(close(1e-9, 0.0, 0.0, 1e-8));
}

TEST_CASE("theta: Llama-2 (base 10000, D = 128)") {
  const rope_config cfg = make_config(128, 10000.0);
  const std::vector<double> inv = shiftrope::rope_inv_freq(cfg);
  check_all_close(inv, hf_default(10000.0, 128), kThetaRel);
  // python3: [10000.0 ** (-2 * i / 128) for i in (0, 1, 32, 63)]
  CHECK(inv[0] == 1.0);
  CHECK(close(inv[1], 0.8659643233600653, kLiteralRel));
  CHECK(close(inv[32], 0.01, kLiteralRel));
  CHECK(close(inv[63], 0.00011547819846894582, kLiteralRel));
  // Geometric: each plane turns base^(-2/D) times as fast as the previous one.
  for (std::size_t i = 1; i < inv.size(); ++i)
    CHECK(close(inv[i] / inv[i - 1], std::pow(10000.0, -2.0 / 128), kThetaRel));
  CHECK(shiftrope::rope_attention_factor(cfg) == 1.0);
}

TEST_CASE("theta: Llama-3.1 (base 500000, factor 8, low 1, high 4, original 8192)") {
  rope_config cfg = make_config(128, 500000.0, rope_scaling::llama3);
  cfg.factor = 8.0;
  cfg.low_freq_factor = 1.0;
  cfg.high_freq_factor = 4.0;
  cfg.original_max_positions = 8192;
  const std::vector<double> inv = shiftrope::rope_inv_freq(cfg);
  check_all_close(inv, hf_llama3(500000.0, 128, 8.0, 1.0, 4.0, 8192.0), kThetaRel);
  // Bands for these numbers (wavelength 2 pi / theta vs 2048 and 8192):
  // planes 0..28 kept, 29..34 blended, 35..63 divided by 8.
  const std::vector<double> plain = hf_default(500000.0, 128);
  for (int i = 0; i <= 28; ++i) CHECK(close(inv[i], plain[i], kThetaRel));
  for (int i = 29; i <= 34; ++i) {
    CHECK(inv[i] < plain[i]);
    CHECK(inv[i] > plain[i] / 8.0);
  }
  for (int i = 35; i < 64; ++i) CHECK(close(inv[i], plain[i] / 8.0, kThetaRel));
  // python3, the HF loop: values at planes 20, 30, 63.
  CHECK(close(inv[20], 0.016560440080994446, kLiteralRel));
  CHECK(close(inv[30], 0.0013718935677611381, kLiteralRel));
  CHECK(close(inv[63], 3.068925988914511e-07, kLiteralRel));
  CHECK(shiftrope::rope_attention_factor(cfg) == 1.0);
}

TEST_CASE("theta: YaRN (factor 4, original 32768, beta 32/1, base 10000, D = 128)") {
  rope_config cfg = make_config(128, 10000.0, rope_scaling::yarn);
  cfg.factor = 4.0;
  cfg.original_max_positions = 32768;
  cfg.beta_fast = 32.0;
  cfg.beta_slow = 1.0;
  const std::vector<double> inv = shiftrope::rope_inv_freq(cfg);
  check_all_close(inv, hf_yarn(10000.0, 128, 4.0, 32768.0, 32.0, 1.0), kThetaRel);
  // corr(32) = 35.39 -> low = 35, corr(1) = 59.48 -> high = 60: planes up to
  // 35 keep theta, planes from 60 on are divided by the factor.
  const std::vector<double> plain = hf_default(10000.0, 128);
  for (int i = 0; i <= 35; ++i) CHECK(close(inv[i], plain[i], kThetaRel));
  for (int i = 60; i < 64; ++i) CHECK(close(inv[i], plain[i] / 4.0, kThetaRel));
  // python3, the HF formulas: planes 36, 59, 63.
  CHECK(close(inv[36], 0.005454710854346387, kLiteralRel));
  CHECK(close(inv[59], 5.74987007408001e-05, kLiteralRel));
  CHECK(close(inv[63], 2.8869549617236455e-05, kLiteralRel));
  // Attention factor 0.1 ln 4 + 1 (python3: 0.1 * math.log(4) + 1).
  CHECK(close(shiftrope::rope_attention_factor(cfg), 1.138629436111989, kLiteralRel));
  CHECK(close(shiftrope::rope_attention_factor(cfg), 0.1 * std::log(4.0) + 1.0, 1e-15));
  cfg.yarn_attention_factor = 1.25;  // an explicit value wins
  CHECK(shiftrope::rope_attention_factor(cfg) == 1.25);
  cfg.yarn_attention_factor = 0.0;
  cfg.factor = 0.5;  // no extension: no sharpening
  CHECK(shiftrope::rope_attention_factor(cfg) == 1.0);
}

TEST_CASE("theta: linear (factor 2) divides every frequency") {
  rope_config cfg = make_config(128, 10000.0, rope_scaling::linear);
  cfg.factor = 2.0;
  const std::vector<double> inv = shiftrope::rope_inv_freq(cfg);
  std::vector<double> want = hf_default(10000.0, 128);
  for (double& f : want) f /= 2.0;
  check_all_close(inv, want, kThetaRel);
  // python3: 10000.0 ** (-2 / 128) / 2 and 10000.0 ** (-126 / 128) / 2
  CHECK(close(inv[1], 0.4329821616800327, kLiteralRel));
  CHECK(close(inv[63], 5.773909923447291e-05, kLiteralRel));
}

TEST_CASE("theta: NTK-aware (alpha 2)") {
  rope_config cfg = make_config(128, 10000.0, rope_scaling::ntk);
  cfg.alpha = 2.0;
  const std::vector<double> inv = shiftrope::rope_inv_freq(cfg);
  // base' = base * alpha^(D / (D - 2))
  check_all_close(inv, hf_default(10000.0 * std::pow(2.0, 128.0 / 126.0), 128), kThetaRel);
  // python3: b = 10000 * 2 ** (128 / 126); b ** (-2 / 128)
  CHECK(close(inv[1], 0.8564889141408358, kLiteralRel));
  // The lowest frequency is exactly the linear one: base'^(-(D-2)/D) = base^(-(D-2)/D) / alpha.
  CHECK(close(inv[63], hf_default(10000.0, 128)[63] / 2.0, kThetaRel));
  CHECK(inv[0] == 1.0);
}

TEST_CASE("theta: dynamic NTK (factor 2, original 2048)") {
  rope_config cfg = make_config(128, 10000.0, rope_scaling::dynamic_ntk);
  cfg.factor = 2.0;
  cfg.original_max_positions = 2048;
  SUBCASE("shorter than the original context: unscaled") {
    check_all_close(shiftrope::rope_inv_freq(cfg, 1000), hf_default(10000.0, 128), kThetaRel);
    check_all_close(shiftrope::rope_inv_freq(cfg, 2048), hf_default(10000.0, 128), kThetaRel);
    check_all_close(shiftrope::rope_inv_freq(cfg, 0), hf_default(10000.0, 128), kThetaRel);
  }
  SUBCASE("4096 tokens: base' = base * 3^(128/126)") {
    const std::vector<double> inv = shiftrope::rope_inv_freq(cfg, 4096);
    check_all_close(inv, hf_dynamic_ntk(10000.0, 128, 2.0, 2048.0, 4096.0), kThetaRel);
    // python3: b = 10000 * (2 * 4096 / 2048 - 1) ** (128 / 126) = 30527.7367488067
    check_all_close(inv, hf_default(30527.7367488067, 128), 1e-13);
    CHECK(close(inv[1], 0.8509942913412162, kLiteralRel));
    CHECK(close(inv[63], 3.849273282298194e-05, kLiteralRel));
  }
  SUBCASE("a table takes its current length from n_pos unless given") {
    const shiftrope::rope_table<double> grown(cfg, 4096);
    const shiftrope::rope_table<double> short_ctx(cfg, 4096, 1000);
    const double th_grown = hf_dynamic_ntk(10000.0, 128, 2.0, 2048.0, 4096.0)[1];
    const double th_plain = hf_default(10000.0, 128)[1];
    CHECK(close(grown.cos(3000)[1], std::cos(3000 * th_grown), 0, 1e-11));
    CHECK(close(short_ctx.cos(3000)[1], std::cos(3000 * th_plain), 0, 1e-11));
  }
}

TEST_CASE("theta: LongRoPE (Phi-3: factor 32, original 4096, D = 96)") {
  rope_config cfg = make_config(96, 10000.0, rope_scaling::longrope);
  cfg.factor = 32.0;  // 131072 / 4096
  cfg.original_max_positions = 4096;
  for (int i = 0; i < cfg.n_planes(); ++i) {
    cfg.long_factors.push_back(1.0f + 0.75f * static_cast<float>(i));
    cfg.short_factors.push_back(1.0f + 0.03125f * static_cast<float>(i % 5));
  }
  SUBCASE("short factors up to the original context, long ones beyond it") {
    for (std::int64_t len : {1, 2048, 4096, 4097, 131072}) {
      CAPTURE(len);
      check_all_close(shiftrope::rope_inv_freq(cfg, len),
                      hf_longrope(10000.0, 96, cfg.long_factors, cfg.short_factors, 4096.0,
                                  static_cast<double>(len)),
                      kThetaRel);
    }
    // A table's current_len defaults to its length.
    const shiftrope::rope_table<double> within(cfg, 4096), beyond(cfg, 4097);
    const double th_short =
        hf_longrope(10000.0, 96, cfg.long_factors, cfg.short_factors, 4096.0, 4096.0)[7];
    const double th_long =
        hf_longrope(10000.0, 96, cfg.long_factors, cfg.short_factors, 4096.0, 4097.0)[7];
    CHECK(close(within.sin(4000)[7], std::sin(4000 * th_short), 0, 1e-11));
    CHECK(close(beyond.sin(4000)[7], std::sin(4000 * th_long), 0, 1e-11));
  }
  SUBCASE("attention factor: the formula, an explicit value, none without extension") {
    CHECK(close(shiftrope::rope_attention_factor(cfg), hf_longrope_attention_factor(32.0, 4096.0),
                1e-15));
    CHECK(close(shiftrope::rope_attention_factor(cfg), 1.1902380714238083, kLiteralRel));
    cfg.longrope_attention_factor = 1.19;  // as GGUF stores it: an explicit value wins
    CHECK(shiftrope::rope_attention_factor(cfg) == 1.19);
    cfg.longrope_attention_factor = 0.0;
    cfg.factor = 1.0;
    CHECK(shiftrope::rope_attention_factor(cfg) == 1.0);
  }
  SUBCASE("empty factor lists divide by nothing") {
    cfg.long_factors.clear();
    check_all_close(shiftrope::rope_inv_freq(cfg, 8192), hf_default(10000.0, 96), kThetaRel);
  }
}

TEST_CASE("theta: freq_factors divide each plane") {
  SUBCASE("plain divisors") {
    rope_config cfg = make_config(12, 10000.0);
    cfg.freq_factors = {1.0f, 2.0f, 3.0f, 0.5f, 7.0f, 1.5f};
    const std::vector<double> inv = shiftrope::rope_inv_freq(cfg);
    const std::vector<double> plain = hf_default(10000.0, 12);
    for (std::size_t i = 0; i < inv.size(); ++i)
      CHECK(close(inv[i], plain[i] / cfg.freq_factors[i], kThetaRel));
  }
  SUBCASE("GGUF rope_freqs of Llama 3.1 reproduce the llama3 rule") {
    // A llama-arch GGUF stores llama3 scaling as per-plane divisors over the
    // default frequencies, in float32.
    const std::vector<double> plain = hf_default(500000.0, 128);
    const std::vector<double> llama3 = hf_llama3(500000.0, 128, 8.0, 1.0, 4.0, 8192.0);
    rope_config cfg = make_config(128, 500000.0);
    for (std::size_t i = 0; i < plain.size(); ++i)
      cfg.freq_factors.push_back(static_cast<float>(plain[i] / llama3[i]));
    // float divisors: one float rounding (2^-24 relative) per plane.
    check_all_close(shiftrope::rope_inv_freq(cfg), llama3, 1e-7);
  }
  SUBCASE("partial rotary: one divisor per rotated plane") {
    rope_config cfg = make_config(16, 10000.0);
    cfg.rotary_dim = 8;
    cfg.freq_factors = {1.0f, 4.0f, 1.0f, 4.0f};
    const std::vector<double> inv = shiftrope::rope_inv_freq(cfg);
    REQUIRE(inv.size() == 4);
    CHECK(close(inv[1], std::pow(10000.0, -2.0 / 8) / 4.0, kThetaRel));
  }
}

// ---- rotation ----

namespace {

// Tolerances of a rotation computed in T against the same rotation in double.
template <class T>
struct rot_tol;
template <>
struct rot_tol<float> {
  static constexpr double rel = 2e-6;  // a few float roundings, relative to |q| |k|
};
template <>
struct rot_tol<double> {
  static constexpr double rel = 1e-11;  // angles up to ~2000 rad lose ~1e-13 in p * theta
};

// The plain rotation: plane i turns (x[a], x[b]) by angle[i]; a, b by pairing.
void scalar_rotate(std::vector<double>& x, const std::vector<double>& angle, int rotary_dim,
                   rope_pairing pairing) {
  const int planes = rotary_dim / 2;
  for (int i = 0; i < planes; ++i) {
    const int a = pairing == rope_pairing::interleaved ? 2 * i : i;
    const int b = pairing == rope_pairing::interleaved ? 2 * i + 1 : i + planes;
    const double x0 = x[a], x1 = x[b];
    x[a] = x0 * std::cos(angle[i]) - x1 * std::sin(angle[i]);
    x[b] = x1 * std::cos(angle[i]) + x0 * std::sin(angle[i]);
  }
}

template <class T>
std::vector<T> random_vector(splitmix64& rng, int n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (T& x : v) x = static_cast<T>(rng.uniform());
  return v;
}

template <class T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

template <class T>
double norm(const std::vector<T>& a) {
  return std::sqrt(dot(a, a));
}

const char* pairing_name(rope_pairing p) {
  return p == rope_pairing::interleaved ? "interleaved" : "half_split";
}

}  // namespace

TEST_CASE_TEMPLATE("rotation: <R(a) q, R(b) k> = <q, R(b - a) k>, norms kept", T, float, double) {
  constexpr std::int64_t n_pos = 2048;
  splitmix64 rng{0x5eed0001};
  for (const rope_pairing pairing : {rope_pairing::interleaved, rope_pairing::half_split}) {
    for (const int head_dim : {2, 6, 10, 34, 66, 130}) {
      rope_config cfg = make_config(head_dim, 10000.0);
      cfg.pairing = pairing;
      const shiftrope::rope_table<T> table(cfg, n_pos);
      for (int trial = 0; trial < 20; ++trial) {
        const std::int64_t a = rng.below(n_pos);
        const std::int64_t b = a + rng.below(n_pos - a);
        const std::vector<T> q = random_vector<T>(rng, head_dim);
        const std::vector<T> k = random_vector<T>(rng, head_dim);
        std::vector<T> qa = q, kb = k, kd = k;
        table.rotate(qa.data(), a);
        table.rotate(kb.data(), b);
        table.rotate(kd.data(), b - a);
        INFO(pairing_name(pairing), " head_dim ", head_dim, " a ", a, " b ", b);
        const double scale = norm(q) * norm(k);
        CHECK(close(dot(qa, kb), dot(q, kd), 0, rot_tol<T>::rel * scale));
        CHECK(close(norm(qa), norm(q), rot_tol<T>::rel));
        CHECK(close(norm(kb), norm(k), rot_tol<T>::rel));
      }
    }
  }
}

TEST_CASE_TEMPLATE("rotation: matches the plain scalar rotation, guards intact", T, float, double) {
  // Head sizes whose plane counts are not multiples of any SIMD width.
  constexpr int guard = 8;
  constexpr T sentinel = static_cast<T>(-7.25);
  splitmix64 rng{0x5eed0002};
  for (const rope_pairing pairing : {rope_pairing::interleaved, rope_pairing::half_split}) {
    for (const int head_dim : {2, 6, 10, 18, 34, 66, 130, 258}) {
      for (const int rotary_dim : {head_dim, head_dim / 2 - (head_dim / 2) % 2}) {
        if (rotary_dim < 2) continue;
        rope_config cfg = make_config(head_dim, 10000.0);
        cfg.rotary_dim = rotary_dim;
        cfg.pairing = pairing;
        const shiftrope::rope_table<T> table(cfg, 1000);
        const std::vector<double> theta = hf_default(10000.0, rotary_dim);
        for (const std::int64_t pos : {0, 1, 17, 999}) {
          INFO(pairing_name(pairing), " head_dim ", head_dim, " rotary_dim ", rotary_dim, " pos ",
               pos);
          // [guard | head_dim | guard]
          std::vector<T> buf(static_cast<std::size_t>(head_dim + 2 * guard), sentinel);
          std::vector<double> want(static_cast<std::size_t>(head_dim));
          for (int i = 0; i < head_dim; ++i) {
            buf[guard + i] = static_cast<T>(rng.uniform());
            want[i] = buf[guard + i];
          }
          std::vector<double> angle;
          for (const double th : theta) angle.push_back(static_cast<double>(pos) * th);
          scalar_rotate(want, angle, rotary_dim, pairing);
          table.rotate(buf.data() + guard, pos);
          double worst = 0;
          for (int i = 0; i < head_dim; ++i)
            worst = std::max(worst, std::fabs(buf[guard + i] - want[i]));
          CHECK(worst <= rot_tol<T>::rel * 2);  // entries are <= 1 in magnitude
          // Dimensions past rotary_dim are bit-for-bit untouched.
          for (int i = rotary_dim; i < head_dim; ++i)
            CHECK(buf[guard + i] == static_cast<T>(want[i]));
          for (int i = 0; i < guard; ++i) {
            CHECK(buf[i] == sentinel);
            CHECK(buf[guard + head_dim + i] == sentinel);
          }
        }
      }
    }
  }
}

TEST_CASE_TEMPLATE("apply_rope: SIMD body + tail equals a scalar loop in T", T, float, double) {
  // Arbitrary cos/sin (not from a table) so every lane sees different values;
  // the reference runs the same formula in T without SIMD, so the only
  // difference is a fused multiply-add: a couple of roundings.
  constexpr double tol = std::numeric_limits<T>::epsilon() * 4;
  splitmix64 rng{0x5eed0003};
  for (const rope_pairing pairing : {rope_pairing::interleaved, rope_pairing::half_split}) {
    for (int planes = 1; planes <= 67; planes += (planes < 20 ? 1 : 7)) {
      INFO(pairing_name(pairing), " planes ", planes);
      std::vector<T> cs(static_cast<std::size_t>(planes)), sn(cs.size());
      for (int i = 0; i < planes; ++i) {
        const double angle = rng.uniform() * 10.0;
        cs[i] = static_cast<T>(std::cos(angle));
        sn[i] = static_cast<T>(std::sin(angle));
      }
      const int n = 2 * planes;
      std::vector<T> x(static_cast<std::size_t>(n + 1));
      for (T& v : x) v = static_cast<T>(rng.uniform());
      const T guard = x[n];
      std::vector<T> want(x.begin(), x.end() - 1);
      for (int i = 0; i < planes; ++i) {
        const int a = pairing == rope_pairing::interleaved ? 2 * i : i;
        const int b = pairing == rope_pairing::interleaved ? 2 * i + 1 : i + planes;
        const T x0 = want[a], x1 = want[b];
        want[a] = x0 * cs[i] - x1 * sn[i];
        want[b] = x1 * cs[i] + x0 * sn[i];
      }
      shiftrope::apply_rope(x.data(), cs.data(), sn.data(), planes, pairing);
      for (int i = 0; i < n; ++i) CHECK(close(x[i], want[i], 0, tol));
      CHECK(x[n] == guard);
    }
  }
}

TEST_CASE("pairings: half_split equals interleaved on permuted coordinates") {
  // GGUF row 2i + r = HF row r * D/2 + i: rotating the permuted vector with
  // the interleaved pairing gives the permuted result of the half-split one.
  constexpr int head_dim = 34;
  rope_config inter = make_config(head_dim, 10000.0);
  rope_config half = inter;
  half.pairing = rope_pairing::half_split;
  const shiftrope::rope_table<double> t_inter(inter, 600), t_half(half, 600);
  splitmix64 rng{0x5eed0004};
  std::vector<double> hf = random_vector<double>(rng, head_dim);
  std::vector<double> gguf(head_dim);
  for (int i = 0; i < head_dim / 2; ++i) {
    gguf[2 * i] = hf[i];
    gguf[2 * i + 1] = hf[i + head_dim / 2];
  }
  t_half.rotate(hf.data(), 537);
  t_inter.rotate(gguf.data(), 537);
  // Same table values; only fused vs separate multiply-adds differ.
  constexpr double kFmaRounding = 4e-16;
  for (int i = 0; i < head_dim / 2; ++i) {
    CHECK(close(gguf[2 * i], hf[i], 0, kFmaRounding));
    CHECK(close(gguf[2 * i + 1], hf[i + head_dim / 2], 0, kFmaRounding));
  }
}

TEST_CASE("tables: cos/sin at large positions agree with double") {
  constexpr std::int64_t n_pos = 100001;
  const rope_config cfg = make_config(16, 10000.0);
  const std::vector<double> theta = hf_default(10000.0, 16);
  const shiftrope::rope_table<float> tf(cfg, n_pos);
  const shiftrope::rope_table<double> td(cfg, n_pos);
  // Float: one rounding of a value in [-1, 1] (<= 2^-25 absolute) plus the
  // angle's own double rounding (p * theta ~ 1e5 * 2^-53 ~ 1e-11).
  constexpr double kFloatTable = 0x1.0p-25 + 1e-10;
  constexpr double kDoubleTable = 1e-10;
  for (const std::int64_t pos : {std::int64_t{0}, std::int64_t{4095}, std::int64_t{65537},
                                 std::int64_t{99999}, std::int64_t{100000}}) {
    for (int i = 0; i < 8; ++i) {
      INFO("pos ", pos, " plane ", i);
      const double angle = static_cast<double>(pos) * theta[i];
      CHECK(close(tf.cos(pos)[i], std::cos(angle), 0, kFloatTable));
      CHECK(close(tf.sin(pos)[i], std::sin(angle), 0, kFloatTable));
      CHECK(close(td.cos(pos)[i], std::cos(angle), 0, kDoubleTable));
      CHECK(close(td.sin(pos)[i], std::sin(angle), 0, kDoubleTable));
    }
  }
  // python3: t = 10000.0 ** (-2 / 16); math.cos(100000 * t), math.sin(100000 * t)
  CHECK(close(td.cos(100000)[1], 0.8799452654477423, 0, kDoubleTable));
  CHECK(close(td.sin(100000)[1], -0.47507507808356175, 0, kDoubleTable));
  // YaRN's attention factor is reported, never folded into the table.
  rope_config yarn = make_config(16, 10000.0, rope_scaling::yarn);
  yarn.factor = 4.0;
  yarn.original_max_positions = 64;
  const shiftrope::rope_table<double> ty(yarn, 100);
  for (int i = 0; i < 8; ++i)
    CHECK(close(ty.cos(77)[i] * ty.cos(77)[i] + ty.sin(77)[i] * ty.sin(77)[i], 1.0, 1e-15));
  CHECK(tf.n_pos() == n_pos);
  CHECK(tf.n_planes() == 8);
}

// ---- validation ----

namespace {

// The message of the shiftrope::error that f throws, or "<no error>".
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const shiftrope::error& e) {
    return e.what();
  }
  return "<no error>";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every message names the struct, the field and the value.
void check_config_error(const rope_config& cfg, const std::string& field,
                        const std::string& value) {
  const std::string msg = error_of([&] { cfg.validate(); });
  INFO("message: ", msg);
  CHECK(contains(msg, "rope_config"));
  CHECK(contains(msg, field));
  CHECK(contains(msg, value));
  // Every entry point validates.
  CHECK(contains(error_of([&] { (void)shiftrope::rope_inv_freq(cfg); }), field));
  CHECK(contains(error_of([&] { shiftrope::rope_table<float> t(cfg, 4); }), field));
}

}  // namespace

TEST_CASE("error_of reports a missing error") {
  CHECK(error_of([] {}) == "<no error>");
  CHECK(error_of([] { shiftrope::fail("x ", 1); }) == "x 1");
}

TEST_CASE("validation: every field error names the field and the value") {
  const rope_config good = make_config(8, 10000.0);
  CHECK(error_of([&] { good.validate(); }) == "<no error>");
  rope_config c = good;

  SUBCASE("head_dim") {
    c.head_dim = 0;
    check_config_error(c, "head_dim", "0");
    c.head_dim = 70000;
    check_config_error(c, "head_dim", "70000");
  }
  SUBCASE("rotary_dim") {
    c.rotary_dim = 5;
    check_config_error(c, "rotary_dim", "5");
    c.head_dim = 7;  // odd head_dim, rotary_dim defaulted to it
    c.rotary_dim = 0;
    check_config_error(c, "rotary_dim", "7");
    c.head_dim = 8;
    c.rotary_dim = 10;
    check_config_error(c, "rotary_dim", "10");
    c.rotary_dim = -2;
    check_config_error(c, "rotary_dim", "-2");
  }
  SUBCASE("base") {
    c.base = 0.0;
    check_config_error(c, "base", "0");
    c.base = -5.0;
    check_config_error(c, "base", "-5");
    c.base = std::numeric_limits<double>::infinity();
    check_config_error(c, "base", "inf");
    c.base = std::numeric_limits<double>::quiet_NaN();
    check_config_error(c, "base", "nan");
  }
  SUBCASE("factor") {
    for (const rope_scaling s : {rope_scaling::linear, rope_scaling::dynamic_ntk,
                                 rope_scaling::yarn, rope_scaling::llama3}) {
      c = good;
      c.scaling = s;
      c.original_max_positions = 64;
      c.factor = 0.0;
      check_config_error(c, "factor", "0");
      c.factor = -2.0;
      check_config_error(c, "factor", "-2");
    }
    c = good;
    c.factor = 0.0;  // ignored without scaling
    CHECK(error_of([&] { c.validate(); }) == "<no error>");
  }
  SUBCASE("alpha") {
    c.scaling = rope_scaling::ntk;
    c.alpha = 0.0;
    check_config_error(c, "alpha", "0");
    c.alpha = -1.5;
    check_config_error(c, "alpha", "-1.5");
  }
  SUBCASE("original_max_positions") {
    for (const rope_scaling s :
         {rope_scaling::dynamic_ntk, rope_scaling::yarn, rope_scaling::llama3}) {
      c = good;
      c.scaling = s;
      c.factor = 2.0;
      c.original_max_positions = 0;
      check_config_error(c, "original_max_positions", "0");
      c.original_max_positions = -4096;
      check_config_error(c, "original_max_positions", "-4096");
    }
  }
  SUBCASE("yarn betas, base and attention factor") {
    c.scaling = rope_scaling::yarn;
    c.factor = 4.0;
    c.original_max_positions = 4096;
    c.beta_fast = 1.0;
    c.beta_slow = 1.0;
    check_config_error(c, "beta_fast", "1");
    c.beta_fast = 32.0;
    c.beta_slow = 0.0;
    check_config_error(c, "beta_slow", "0");
    c.beta_slow = 1.0;
    c.base = 1.0;  // ln(base) = 0 in the correction range
    check_config_error(c, "base", "1");
    c.base = 10000.0;
    c.yarn_attention_factor = -1.0;
    check_config_error(c, "yarn_attention_factor", "-1");
    c.yarn_attention_factor = std::numeric_limits<double>::quiet_NaN();
    check_config_error(c, "yarn_attention_factor", "nan");
  }
  SUBCASE("llama3 low/high") {
    c.scaling = rope_scaling::llama3;
    c.factor = 8.0;
    c.original_max_positions = 8192;
    c.low_freq_factor = 4.0;
    c.high_freq_factor = 4.0;
    check_config_error(c, "low_freq_factor", "4");
    check_config_error(c, "high_freq_factor", "4");
    c.low_freq_factor = 0.0;
    check_config_error(c, "low_freq_factor", "0");
  }
  SUBCASE("longrope") {
    c.scaling = rope_scaling::longrope;
    c.factor = 4.0;
    c.original_max_positions = 0;
    check_config_error(c, "original_max_positions", "0");
    c.original_max_positions = 1;  // ln(1) = 0 would divide the default attention factor
    check_config_error(c, "original_max_positions", "1");
    c.original_max_positions = 64;
    c.long_factors = {1.0f, 2.0f};
    check_config_error(c, "long_factors", "2");
    c.long_factors = {1.0f, 2.0f, -1.0f, 1.0f};
    check_config_error(c, "long_factors[2]", "-1");
    c.long_factors.clear();
    c.short_factors = {0.0f, 1.0f, 1.0f, 1.0f};
    check_config_error(c, "short_factors[0]", "0");
    c.short_factors.clear();
    c.longrope_attention_factor = -1.0;
    check_config_error(c, "longrope_attention_factor", "-1");
  }
  SUBCASE("freq_factors") {
    c.freq_factors = {1.0f, 1.0f, 1.0f};
    check_config_error(c, "freq_factors", "3");
    c.freq_factors = {1.0f, 1.0f, 0.0f, 1.0f};
    check_config_error(c, "freq_factors[2]", "0");
    c.freq_factors = {1.0f, -2.0f, 1.0f, 1.0f};
    check_config_error(c, "freq_factors[1]", "-2");
    c.freq_factors = {1.0f, 1.0f, 1.0f, std::numeric_limits<float>::quiet_NaN()};
    check_config_error(c, "freq_factors[3]", "nan");
  }
}

TEST_CASE("validation: rope_table n_pos") {
  const rope_config cfg = make_config(8, 10000.0);
  std::string msg = error_of([&] { shiftrope::rope_table<float> t(cfg, -1); });
  CHECK(contains(msg, "n_pos"));
  CHECK(contains(msg, "-1"));
  // Too many entries, including a count whose product with the planes overflows.
  msg = error_of([&] { shiftrope::rope_table<float> t(cfg, std::int64_t{1} << 30); });
  CHECK(contains(msg, "n_pos"));
  msg = error_of(
      [&] { shiftrope::rope_table<float> t(cfg, std::numeric_limits<std::int64_t>::max()); });
  CHECK(contains(msg, "n_pos"));
  const shiftrope::rope_table<float> empty(cfg, 0);
  CHECK(empty.n_pos() == 0);
}
