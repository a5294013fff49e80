// Tests of the quantized weight types (quant.hpp): each block layout packed
// by hand here from chosen quants and scales and dequantized against the
// plain formula; the matmul kernels of every type against a double-precision
// dot over the reference-dequantized rows; the quantized fixture models
// against their exact float64 logits (RoPE and STRING); bad input refused
// by name.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <shiftrope/gguf_writer.hpp>
#include <shiftrope/matmul.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/model_weights.hpp>
#include <shiftrope/quant.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "model_test_util.hpp"
#include "shared_data.hpp"

using namespace shiftrope;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- hand-packed blocks: logical quants and scales -> bytes ----

// The IQ4 grid, written out again here.
constexpr int iq4_grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                              1,    13,   25,  38,  53,  69,  89,  113};

struct packer {
  std::mt19937 rng{1234};
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
  // Scales exactly representable in f16: k / 64 for small k.
  float scale() { return static_cast<float>(pick(1, 40)) / 64.0f; }
};

// Each case: pack a block, and fill `want` with the values it stands for.
template <class T>
void pack(packer& p, T& b, float* want);

template <>
void pack(packer& p, q8_0_block& b, float* want) {
  const float d = p.scale();
  b.d = to_f16(d);
  for (int i = 0; i < 32; ++i) {
    const int q = p.pick(-127, 127);
    b.qs[i] = static_cast<std::int8_t>(q);
    want[i] = d * static_cast<float>(q);
  }
}

template <class T>
void pack_4bit32(packer& p, T& b, float* want, int offset, bool with_min, bool grid) {
  const float d = p.scale(), m = with_min ? -p.scale() : 0.0f;
  int q[32];
  for (int& v : q) v = p.pick(0, 15);
  std::memset(b.qs, 0, sizeof b.qs);
  for (int i = 0; i < 32; ++i) {
    b.qs[i % 16] = static_cast<std::uint8_t>(b.qs[i % 16] | q[i] << (i < 16 ? 0 : 4));
    want[i] =
        grid ? d * static_cast<float>(iq4_grid[q[i]]) : d * static_cast<float>(q[i] - offset) + m;
  }
  b.d = to_f16(d);
  if constexpr (std::is_same_v<T, q4_1_block>) b.m = to_f16(m);
}

template <>
void pack(packer& p, q4_0_block& b, float* want) {
  pack_4bit32(p, b, want, 8, false, false);
}
template <>
void pack(packer& p, q4_1_block& b, float* want) {
  pack_4bit32(p, b, want, 0, true, false);
}
template <>
void pack(packer& p, iq4_nl_block& b, float* want) {
  pack_4bit32(p, b, want, 0, false, true);
}

template <class T>
void pack_5bit32(packer& p, T& b, float* want, bool with_min) {
  const float d = p.scale(), m = with_min ? -p.scale() : 0.0f;
  std::memset(b.qs, 0, sizeof b.qs);
  std::memset(b.qh, 0, sizeof b.qh);
  for (int i = 0; i < 32; ++i) {
    const int q = p.pick(0, 31);
    b.qs[i % 16] = static_cast<std::uint8_t>(b.qs[i % 16] | (q & 15) << (i < 16 ? 0 : 4));
    if (q & 16) b.qh[i / 8] = static_cast<std::uint8_t>(b.qh[i / 8] | 1 << (i % 8));
    want[i] = with_min ? d * static_cast<float>(q) + m : d * static_cast<float>(q - 16);
  }
  b.d = to_f16(d);
  if constexpr (std::is_same_v<T, q5_1_block>) b.m = to_f16(m);
}
template <>
void pack(packer& p, q5_0_block& b, float* want) {
  pack_5bit32(p, b, want, false);
}
template <>
void pack(packer& p, q5_1_block& b, float* want) {
  pack_5bit32(p, b, want, true);
}

// K-quants: element i of a 256-block with 2-bit fields sits in byte
// 32 * (i / 128) + i % 32 at bit 2 * ((i % 128) / 32).
void put_2bit(std::uint8_t* qs, int i, int v) {
  qs[32 * (i / 128) + i % 32] |= static_cast<std::uint8_t>(v << (2 * ((i % 128) / 32)));
}

template <>
void pack(packer& p, q2_k_block& b, float* want) {
  b = {};
  const float d = p.scale(), dmin = p.scale();
  b.d = to_f16(d);
  b.dmin = to_f16(dmin);
  for (int s = 0; s < 16; ++s) {
    const int sc = p.pick(0, 15), mn = p.pick(0, 15);
    b.scales[s] = static_cast<std::uint8_t>(sc | mn << 4);
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * s + l, q = p.pick(0, 3);
      put_2bit(b.qs, i, q);
      want[i] = d * static_cast<float>(sc) * static_cast<float>(q) - dmin * static_cast<float>(mn);
    }
  }
}

template <>
void pack(packer& p, q3_k_block& b, float* want) {
  b = {};
  const float d = p.scale();
  b.d = to_f16(d);
  for (int s = 0; s < 16; ++s) {
    const int sc = p.pick(0, 63);
    if (s < 8)
      b.scales[s] |= static_cast<std::uint8_t>(sc & 15);
    else
      b.scales[s - 8] |= static_cast<std::uint8_t>((sc & 15) << 4);
    b.scales[8 + s % 4] |= static_cast<std::uint8_t>((sc >> 4) << (2 * (s / 4)));
    for (int l = 0; l < 16; ++l) {
      const int i = 16 * s + l, q = p.pick(0, 7);  // value q - 4
      put_2bit(b.qs, i, q & 3);
      if (q & 4) b.hmask[i % 32] |= static_cast<std::uint8_t>(1 << (i / 32));
      want[i] = d * static_cast<float>(sc - 32) * static_cast<float>(q - 4);
    }
  }
}

// Q4_K / Q5_K: 6-bit scale and minimum of sub-block s.
void put_k4_scales(std::uint8_t* sb, const int* sc, const int* mn) {
  for (int s = 0; s < 4; ++s) {
    sb[s] = static_cast<std::uint8_t>((sc[s] & 63) | (sc[s + 4] >> 4) << 6);
    sb[s + 4] = static_cast<std::uint8_t>((mn[s] & 63) | (mn[s + 4] >> 4) << 6);
    sb[s + 8] = static_cast<std::uint8_t>((sc[s + 4] & 15) | (mn[s + 4] & 15) << 4);
  }
}

template <class T>
void pack_k45(packer& p, T& b, float* want, int bits) {
  b = {};
  const float d = p.scale(), dmin = p.scale();
  b.d = to_f16(d);
  b.dmin = to_f16(dmin);
  int sc[8], mn[8];
  for (int s = 0; s < 8; ++s) {
    sc[s] = p.pick(0, 63);
    mn[s] = p.pick(0, 63);
  }
  put_k4_scales(b.scales, sc, mn);
  for (int i = 0; i < 256; ++i) {
    const int q = p.pick(0, (1 << bits) - 1), s = i / 32;
    b.qs[32 * (i / 64) + i % 32] |= static_cast<std::uint8_t>((q & 15) << (4 * (s % 2)));
    if constexpr (std::is_same_v<T, q5_k_block>)
      if (q & 16) b.qh[i % 32] |= static_cast<std::uint8_t>(1 << s);
    want[i] =
        d * static_cast<float>(sc[s]) * static_cast<float>(q) - dmin * static_cast<float>(mn[s]);
  }
}
template <>
void pack(packer& p, q4_k_block& b, float* want) {
  pack_k45(p, b, want, 4);
}
template <>
void pack(packer& p, q5_k_block& b, float* want) {
  pack_k45(p, b, want, 5);
}

template <>
void pack(packer& p, q6_k_block& b, float* want) {
  b = {};
  const float d = p.scale();
  b.d = to_f16(d);
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<std::int8_t>(p.pick(-128, 127));
  for (int i = 0; i < 256; ++i) {
    const int q = p.pick(0, 63), h = i / 128, k = (i % 128) / 32, l = i % 32;
    b.ql[64 * h + 32 * (k % 2) + l] |= static_cast<std::uint8_t>((q & 15) << (4 * (k / 2)));
    b.qh[32 * h + l] |= static_cast<std::uint8_t>((q >> 4) << (2 * k));
    want[i] = d * static_cast<float>(b.scales[i / 16]) * static_cast<float>(q - 32);
  }
}

template <>
void pack(packer& p, iq4_xs_block& b, float* want) {
  b = {};
  const float d = p.scale();
  b.d = to_f16(d);
  for (int s = 0; s < 8; ++s) {
    const int ls = p.pick(0, 63);
    b.scales_l[s / 2] |= static_cast<std::uint8_t>((ls & 15) << (4 * (s % 2)));
    b.scales_h = static_cast<std::uint16_t>(b.scales_h | (ls >> 4) << (2 * s));
    for (int j = 0; j < 32; ++j) {
      const int c = p.pick(0, 15);
      b.qs[16 * s + j % 16] |= static_cast<std::uint8_t>(c << (j < 16 ? 0 : 4));
      want[32 * s + j] = d * static_cast<float>(ls - 32) * static_cast<float>(iq4_grid[c]);
    }
  }
}

template <class T>
void check_block_layout() {
  packer p;
  constexpr int bs = T::size;
  for (int rep = 0; rep < 4; ++rep) {
    std::vector<T> blocks(3);
    std::vector<float> want(3 * bs), got(3 * bs, -1.0f);
    for (int b = 0; b < 3; ++b) pack(p, blocks[b], want.data() + b * bs);
    const weight_type t = element_traits<T>::type;
    dequantize_row(t, blocks.data(), got.data(), got.size());
    int bad = 0;
    for (int i = 0; i < 3 * bs; ++i)
      if (std::fabs(got[i] - want[i]) > 1e-6f * std::fabs(want[i])) ++bad;
    CAPTURE(weight_type_name(t));
    CHECK(bad == 0);
    // The kernels' decoder (matmul with one-hot x) gives the same weights.
    weight_view w{blocks.data(), t, 1, static_cast<std::size_t>(3 * bs)};
    std::vector<float> x(3 * bs, 0.0f);
    for (int i : {0, 1, bs - 1, bs + 7, 3 * bs - 1}) {
      x[i] = 1.0f;
      float y = 0.0f;
      matvec(w, x.data(), &y, 1);
      CHECK(y == doctest::Approx(want[i]).epsilon(1e-6));
      x[i] = 0.0f;
    }
  }
}

}  // namespace

TEST_CASE("block layouts: hand-packed blocks dequantize to the formula") {
  check_block_layout<q8_0_block>();
  check_block_layout<q4_0_block>();
  check_block_layout<q4_1_block>();
  check_block_layout<q5_0_block>();
  check_block_layout<q5_1_block>();
  check_block_layout<q2_k_block>();
  check_block_layout<q3_k_block>();
  check_block_layout<q4_k_block>();
  check_block_layout<q5_k_block>();
  check_block_layout<q6_k_block>();
  check_block_layout<iq4_nl_block>();
  check_block_layout<iq4_xs_block>();
}

TEST_CASE("the table of weight types") {
  // GGUF ids, block sizes and bytes as ggml defines them.
  struct row {
    weight_type t;
    ggml_type g;
    std::size_t block, bytes;
  };
  const row rows[] = {
      {weight_type::f32, ggml_type::f32, 1, 4},
      {weight_type::f16, ggml_type::f16, 1, 2},
      {weight_type::bf16, ggml_type::bf16, 1, 2},
      {weight_type::q8_0, ggml_type::q8_0, 32, 34},
      {weight_type::q4_0, ggml_type::q4_0, 32, 18},
      {weight_type::q4_1, ggml_type::q4_1, 32, 20},
      {weight_type::q5_0, ggml_type::q5_0, 32, 22},
      {weight_type::q5_1, ggml_type::q5_1, 32, 24},
      {weight_type::q2_k, ggml_type::q2_k, 256, 84},
      {weight_type::q3_k, ggml_type::q3_k, 256, 110},
      {weight_type::q4_k, ggml_type::q4_k, 256, 144},
      {weight_type::q5_k, ggml_type::q5_k, 256, 176},
      {weight_type::q6_k, ggml_type::q6_k, 256, 210},
      {weight_type::iq4_nl, ggml_type::iq4_nl, 32, 18},
      {weight_type::iq4_xs, ggml_type::iq4_xs, 256, 136},
  };
  CHECK(weight_type_count == std::size(rows));
  for (const row& r : rows) {
    CAPTURE(weight_type_name(r.t));
    CHECK(weight_info(r.t).ggml == r.g);
    CHECK(weight_row_bytes(r.t, 2 * r.block) == 2 * r.bytes);
    CHECK(ggml_row_bytes(r.g, 2 * r.block) == 2 * r.bytes);
    weight_type back{};
    CHECK(weight_type_of_ggml(r.g, back));
    CHECK(back == r.t);
    CHECK(ggml_type_supported(r.g));
  }
  for (ggml_type g : {ggml_type::q8_1, ggml_type::q8_k, ggml_type::iq2_xxs, ggml_type::iq1_s,
                      ggml_type::iq3_s, ggml_type::tq1_0, ggml_type::mxfp4, ggml_type::q4_0_4_4})
    CHECK_FALSE(ggml_type_supported(g));
}

namespace {

template <class T, class = void>
struct has_m : std::false_type {};
template <class T>
struct has_m<T, std::void_t<decltype(T::m)>> : std::true_type {};
template <class T, class = void>
struct has_dmin : std::false_type {};
template <class T>
struct has_dmin<T, std::void_t<decltype(T::dmin)>> : std::true_type {};

// Random blocks with random bytes and finite scales of mixed sign.
template <class T>
std::vector<T> random_blocks(std::size_t n, std::mt19937& rng) {
  std::vector<T> v(n);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> sc(-0.05f, 0.05f);
  for (T& b : v) {
    auto* bytes = reinterpret_cast<unsigned char*>(&b);
    for (std::size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<unsigned char>(byte(rng));
    b.d = to_f16(sc(rng));
    if constexpr (has_m<T>::value) b.m = to_f16(sc(rng));
    if constexpr (has_dmin<T>::value) b.dmin = to_f16(sc(rng));
  }
  return v;
}

template <class T>
void check_kernels() {
  std::mt19937 rng(7);
  constexpr std::size_t bs = element_traits<T>::block_size;
  const weight_type t = element_traits<T>::type;
  CAPTURE(weight_type_name(t));
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  // n_in from one block to the grouped-GEMV width (n_in * 4 > 16 KiB).
  for (std::size_t n_in : {bs, 3 * bs, std::size_t{4608}}) {
    if (n_in % bs != 0) continue;
    for (std::size_t n_out : {std::size_t{1}, std::size_t{13}, std::size_t{67}}) {
      const std::vector<T> blocks = random_blocks<T>(n_out * n_in / bs, rng);
      std::vector<float> wf(n_out * n_in);
      dequantize_row(t, blocks.data(), wf.data(), wf.size());
      const weight_view w{blocks.data(), t, n_out, n_in};
      w.validate();
      for (std::size_t n_tok : {1, 2, 3, 4, 17}) {
        CAPTURE(n_in);
        CAPTURE(n_out);
        CAPTURE(n_tok);
        const std::size_t xs = n_in + 3, ys = n_out + 5;
        std::vector<float> x(n_tok * xs), y(n_tok * ys, 0.0f);
        for (float& v : x) v = ud(rng);
        matmul(w, x.data(), xs, y.data(), ys, n_tok, 2);
        double worst = 0.0;
        for (std::size_t k = 0; k < n_tok; ++k)
          for (std::size_t o = 0; o < n_out; ++o) {
            double ref = 0.0, mag = 0.0;
            for (std::size_t i = 0; i < n_in; ++i) {
              const double p = static_cast<double>(wf[o * n_in + i]) * x[k * xs + i];
              ref += p;
              mag += std::fabs(p);
            }
            // Float accumulation: a few ulps of the magnitude per term.
            const double err = std::fabs(y[k * ys + o] - ref) / (mag * 1e-6 + 1e-30);
            worst = std::max(worst, err);
          }
        CHECK(worst <= 4.0);
      }
    }
  }
}

}  // namespace

TEST_CASE("kernels of every type against a double dot over the dequantized rows") {
  check_kernels<q8_0_block>();
  check_kernels<q4_0_block>();
  check_kernels<q4_1_block>();
  check_kernels<q5_0_block>();
  check_kernels<q5_1_block>();
  check_kernels<q2_k_block>();
  check_kernels<q3_k_block>();
  check_kernels<q4_k_block>();
  check_kernels<q5_k_block>();
  check_kernels<q6_k_block>();
  check_kernels<iq4_nl_block>();
  check_kernels<iq4_xs_block>();
}

TEST_CASE("quantized fixture models: logits against the exact float64 forward pass") {
  using namespace model_test;
  const std::string dir = shared_data::path("models/quant/");
  const char* names[] = {"F32",    "Q4_0",   "Q4_1",   "Q5_0",   "Q5_1", "Q8_0",   "Q2_K",
                         "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
  if (!have({dir + "qllama.tokens"})) return;
  const std::vector<int> tokens = read_tokens(dir + "qllama.tokens");
  REQUIRE(tokens.size() == 128);
  for (const std::string name : names) {
    const std::string base = dir + "qllama-" + name;
    if (!have({base + ".gguf", base + ".rope.logits.f32", base + ".string-S40-W8.logits.f32"}))
      return;
    CAPTURE(name);
    const model m = model::open(base + ".gguf");
    const int n_vocab = m.config().n_vocab;
    REQUIRE(n_vocab == 512);
    session rope(m, {});
    const std::vector<float> rope_logits = rope.forward(tokens, 0, logits_rows::all);
    const logit_diff dr = compare_logits(rope_logits, read_f32(base + ".rope.logits.f32"), n_vocab);
    session_params sp;
    sp.position_remap = string_remap{40, 8};
    session str(m, sp);
    const logit_diff ds = compare_logits(str.forward(tokens, 0, logits_rows::all),
                                         read_f32(base + ".string-S40-W8.logits.f32"), n_vocab);
    MESSAGE(name, ": max |logit - exact| RoPE ", dr.max_abs, ", STRING ", ds.max_abs);
    CHECK(dr.max_abs <= golden_tolerance);
    CHECK(ds.max_abs <= golden_tolerance);
    // Decode with float activations, one token at a time (the GEMV), gives
    // the prefill rows (GEMM).
    session_params exact;
    exact.decode_activations = gemv_activations::f32;
    session dec(m, exact);
    double worst = 0.0;
    for (std::size_t i = 0; i < 24; ++i) {
      const std::vector<float> row = dec.forward({tokens[i]}, static_cast<std::int64_t>(i));
      for (int v = 0; v < n_vocab; ++v)
        worst = std::max(
            worst, static_cast<double>(
                       std::fabs(row[v] - rope_logits[i * static_cast<std::size_t>(n_vocab) + v])));
    }
    CHECK(worst <= 1e-4);
  }
}

namespace {

// ---- int8 activations (the decode GEMV) ----

// llama.cpp's errors against the exact logits on one fixture file, read
// from the folder's summary.json ("qllama-NAME": {... fields ...}).
struct llamacpp_errors {
  double max_abs = -1, mean_abs = -1, argmax_agree = -1;
};

double json_number_after(const std::string& text, std::size_t from, std::size_t to,
                         const std::string& key) {
  const std::size_t k = text.find("\"" + key + "\"", from);
  if (k == std::string::npos || k > to) return -1;
  const std::size_t colon = text.find(':', k);
  return std::stod(text.substr(colon + 1, 40));
}

llamacpp_errors read_llamacpp_errors(const std::string& summary, const std::string& name) {
  const std::size_t at = summary.find("\"qllama-" + name + "\"");
  REQUIRE(at != std::string::npos);
  const std::size_t end = summary.find('}', at);
  return {json_number_after(summary, at, end, "llamacpp_vs_oracle_maxabs"),
          json_number_after(summary, at, end, "llamacpp_vs_oracle_meanabs"),
          json_number_after(summary, at, end, "argmax_agree")};
}

// Max and mean |a - b| and the fraction of rows whose argmax agrees.
struct decode_errors {
  double max_abs = 0, mean_abs = 0, argmax_agree = 0;
};

decode_errors errors_of(const std::vector<float>& a, const std::vector<float>& b, int n_vocab) {
  REQUIRE(a.size() == b.size());
  decode_errors e;
  const std::size_t rows = a.size() / static_cast<std::size_t>(n_vocab);
  std::size_t agree = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* x = a.data() + r * static_cast<std::size_t>(n_vocab);
    const float* y = b.data() + r * static_cast<std::size_t>(n_vocab);
    for (int i = 0; i < n_vocab; ++i) {
      const double d = std::fabs(static_cast<double>(x[i]) - y[i]);
      e.max_abs = std::max(e.max_abs, d);
      e.mean_abs += d;
    }
    if (argmax(x, n_vocab) == argmax(y, n_vocab)) ++agree;
  }
  e.mean_abs /= static_cast<double>(a.size());
  e.argmax_agree = static_cast<double>(agree) / static_cast<double>(rows);
  return e;
}

// All rows of a token-by-token decode (int8 activations).
std::vector<float> decode_all(const model& m, session_params sp, const std::vector<int>& tokens) {
  sp.decode_activations = gemv_activations::q8;
  session s(m, sp);
  std::vector<float> out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::vector<float> row = s.forward({tokens[i]}, static_cast<std::int64_t>(i));
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

// Round to nearest, halfway cases to the even integer, written out.
double round_half_even(double v) {
  const double f = std::floor(v), r = v - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return std::fmod(f, 2.0) == 0.0 ? f : f + 1;
}

// The int8 kernel of type T against a double dot of the reference-dequantized
// weights with the dequantized activations (d * q), rows of one and several
// blocks, odd row counts; results equal for 1 and 3 threads.
template <class T>
void check_q8_kernel() {
  std::mt19937 rng(11);
  constexpr std::size_t bs = element_traits<T>::block_size;
  const weight_type t = element_traits<T>::type;
  CAPTURE(weight_type_name(t));
  REQUIRE(has_q8_kernel(t));
  std::uniform_real_distribution<float> ud(-2.0f, 2.0f);
  for (std::size_t n_in : {bs, 3 * bs, std::size_t{5632} / bs * bs}) {
    for (std::size_t n_out : {std::size_t{1}, std::size_t{13}, std::size_t{67}}) {
      CAPTURE(n_in);
      CAPTURE(n_out);
      const std::vector<T> blocks = random_blocks<T>(n_out * n_in / bs, rng);
      std::vector<float> wf(n_out * n_in);
      dequantize_row(t, blocks.data(), wf.data(), wf.size());
      std::vector<float> x(n_in);
      for (float& v : x) v = ud(rng);
      std::vector<q8_activation_block> xa(n_in / 32);
      quantize_activations(x.data(), n_in, xa.data());
      const weight_view w{blocks.data(), t, n_out, n_in};
      std::vector<float> y(n_out + 1, -7.0f), y3(n_out + 1, -7.0f);
      matvec_q8(w, xa.data(), y.data(), 1);
      matvec_q8(w, xa.data(), y3.data(), 3);
      CHECK(y[n_out] == -7.0f);  // guard element
      CHECK(std::memcmp(y.data(), y3.data(), n_out * sizeof(float)) == 0);
      double worst = 0.0;
      for (std::size_t o = 0; o < n_out; ++o) {
        double ref = 0.0, mag = 0.0;
        for (std::size_t i = 0; i < n_in; ++i) {
          const double xq = static_cast<double>(xa[i / 32].d) * xa[i / 32].qs[i % 32];
          const double p = static_cast<double>(wf[o * n_in + i]) * xq;
          ref += p;
          mag += std::fabs(p);
        }
        worst = std::max(worst, std::fabs(y[o] - ref) / (mag * 1e-6 + 1e-30));
      }
      // Exact integer block sums, float scales and sums: a few float ulps of
      // the magnitude.
      CHECK(worst <= 4.0);
      // matmul with gemv_activations::q8 is the same computation.
      std::vector<float> ym(n_out);
      matmul(w, x.data(), n_in, ym.data(), n_out, 1, 2, gemv_activations::q8);
      CHECK(std::memcmp(y.data(), ym.data(), n_out * sizeof(float)) == 0);
    }
  }
}

// A GGUF holding one tensor `name` of type g, dims {n_in, n_out}, bytes b.
std::vector<std::uint8_t> one_tensor(const std::string& name, ggml_type g, std::uint64_t n_in,
                                     std::uint64_t n_out, const std::vector<std::uint8_t>& b) {
  gguf_writer w;
  w.add_tensor(name, g, {n_in, n_out}, b.data(), b.size());
  return w.to_bytes();
}

}  // namespace

TEST_CASE("quantized fixture models: int8-activation decode within llama.cpp's error") {
  // Decode quantizes activations to 8 bits, as llama.cpp does: judged
  // against the exact logits relative to llama.cpp's own errors on the same
  // file (max and mean |error| <= 1.5 × llama.cpp's, argmax agreement at most
  // 0.03 below), for plain RoPE and for STRING S = 40, W = 8.
  using namespace model_test;
  const std::string dir = shared_data::path("models/quant/");
  const char* names[] = {"F32",    "Q4_0",   "Q4_1",   "Q5_0",   "Q5_1", "Q8_0",   "Q2_K",
                         "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
  if (!have({dir + "qllama.tokens", dir + "summary.json"})) return;
  std::string summary;
  {
    std::ifstream in(dir + "summary.json");
    summary.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::vector<int> tokens = read_tokens(dir + "qllama.tokens");
  for (const std::string name : names) {
    const std::string base = dir + "qllama-" + name;
    if (!have({base + ".gguf", base + ".rope.logits.f32", base + ".string-S40-W8.logits.f32"}))
      return;
    CAPTURE(name);
    const llamacpp_errors ref = read_llamacpp_errors(summary, name);
    REQUIRE(ref.max_abs >= 0);
    REQUIRE(ref.mean_abs >= 0);
    REQUIRE(ref.argmax_agree >= 0);
    const model m = model::open(base + ".gguf");
    const int n_vocab = m.config().n_vocab;
    session_params string_params;
    string_params.position_remap = string_remap{40, 8};
    const decode_errors er =
        errors_of(decode_all(m, {}, tokens), read_f32(base + ".rope.logits.f32"), n_vocab);
    const decode_errors es = errors_of(decode_all(m, string_params, tokens),
                                       read_f32(base + ".string-S40-W8.logits.f32"), n_vocab);
    MESSAGE(name, " int8 decode: RoPE max ", er.max_abs, " mean ", er.mean_abs, " argmax ",
            er.argmax_agree, "; STRING max ", es.max_abs, " mean ", es.mean_abs, " argmax ",
            es.argmax_agree, "; llama.cpp max ", ref.max_abs, " mean ", ref.mean_abs, " argmax ",
            ref.argmax_agree);
    for (const decode_errors& e : {er, es}) {
      CHECK(e.max_abs <= 1.5 * ref.max_abs);
      CHECK(e.mean_abs <= 1.5 * ref.mean_abs);
      CHECK(e.argmax_agree >= ref.argmax_agree - 0.03);
    }
  }
}

TEST_CASE("quantize_activations against its definition") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> ud(-3.0f, 3.0f);
  std::vector<float> x(96);
  for (float& v : x) v = ud(rng);
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // block 1: all zero
  std::vector<q8_activation_block> a(3);
  quantize_activations(x.data(), x.size(), a.data());
  for (std::size_t b : {0, 2}) {
    CAPTURE(b);
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * b + i]));
    const float d = amax / 127.0f;
    CHECK(a[b].d == d);
    int sum = 0, bad = 0;
    for (int i = 0; i < 32; ++i) {
      const double want = round_half_even(static_cast<double>(x[32 * b + i] * (1.0f / d)));
      if (a[b].qs[i] != want) ++bad;
      sum += a[b].qs[i];
    }
    CHECK(bad == 0);
    for (int k = 0; k < 8; ++k)
      CHECK(a[b].neg_sums[k] ==
            -(a[b].qs[4 * k] + a[b].qs[4 * k + 1] + a[b].qs[4 * k + 2] + a[b].qs[4 * k + 3]));
    CHECK(a[b].s == doctest::Approx(d * static_cast<float>(sum)));
  }
  CHECK(a[1].d == 0.0f);
  CHECK(a[1].s == 0.0f);
  for (std::int8_t q : a[1].qs) CHECK(q == 0);
  // Halfway cases go to the even integer: amax 127 gives d = 1.
  std::vector<float> h(32, 0.0f);
  h[0] = 127.0f;
  h[1] = 2.5f;
  h[2] = -3.5f;
  h[3] = 0.5f;
  h[4] = -126.6f;
  quantize_activations(h.data(), 32, a.data());
  CHECK(a[0].d == 1.0f);
  CHECK(a[0].qs[0] == 127);
  CHECK(a[0].qs[1] == 2);
  CHECK(a[0].qs[2] == -4);
  CHECK(a[0].qs[3] == 0);
  CHECK(a[0].qs[4] == -127);
  // A NaN or an infinity: the block's scale is NaN, its quants 0, and every
  // product with it NaN.
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    h[5] = bad;
    quantize_activations(h.data(), 32, a.data());
    CHECK(std::isnan(a[0].d));
    CHECK(a[0].qs[0] == 0);
    std::vector<q8_0_block> wb(1);
    quantize_q8_0(std::vector<float>(32, 1.0f).data(), wb.data(), 32);
    float y = 0.0f;
    matvec_q8({wb.data(), weight_type::q8_0, 1, 32}, a.data(), &y, 1);
    CHECK(std::isnan(y));
  }
}

TEST_CASE("int8-activation kernels against a double dot of the dequantized operands") {
  check_q8_kernel<q8_0_block>();
  check_q8_kernel<q4_0_block>();
  check_q8_kernel<q4_1_block>();
  check_q8_kernel<q4_k_block>();
  check_q8_kernel<q5_k_block>();
  check_q8_kernel<q6_k_block>();
  check_q8_kernel<iq4_nl_block>();
  check_q8_kernel<iq4_xs_block>();
  for (weight_type t : {weight_type::f32, weight_type::f16, weight_type::q5_0, weight_type::q5_1,
                        weight_type::q2_k, weight_type::q3_k})
    CHECK_FALSE(has_q8_kernel(t));
}

TEST_CASE("bad quantized input is refused by name") {
  SUBCASE("a row length that is not a whole number of blocks") {
    std::vector<q4_k_block> b(4);
    const weight_view w{b.data(), weight_type::q4_k, 2, 384};
    const std::string e = error_of([&] { w.validate(); });
    CHECK(e.find("n_in = 384 is not a multiple of 256 (type q4_k)") != std::string::npos);
    // In a file: the reader names the tensor, the length and the type.
    std::vector<std::uint8_t> bytes =
        one_tensor("blk.0.ffn_up.weight", ggml_type::q4_0, 64, 2, std::vector<std::uint8_t>(72));
    // Patch dims[0] = 64 into 48 (the u64 after the name and n_dims).
    const std::string nm = "blk.0.ffn_up.weight";
    const auto it = std::search(bytes.begin(), bytes.end(), nm.begin(), nm.end());
    REQUIRE(it != bytes.end());
    const std::size_t at = static_cast<std::size_t>(it - bytes.begin()) + nm.size() + 4;
    std::uint64_t d0 = 0;
    std::memcpy(&d0, bytes.data() + at, 8);
    REQUIRE(d0 == 64);
    d0 = 48;
    std::memcpy(bytes.data() + at, &d0, 8);
    const std::string e2 = error_of([&] { (void)gguf_file::from_bytes(bytes, "bad.gguf"); });
    CHECK(e2.find("48") != std::string::npos);
    CHECK(e2.find("Q4_0") != std::string::npos);
    CHECK(e2.find("blk.0.ffn_up.weight") != std::string::npos);
  }
  SUBCASE("an unsupported type is named with the tensor") {
    for (ggml_type g : {ggml_type::iq2_xxs, ggml_type::q8_k, ggml_type::tq2_0, ggml_type::mxfp4}) {
      const std::uint64_t bytes = ggml_row_bytes(g, 256) * 2;
      const gguf_file f = gguf_file::from_bytes(
          one_tensor("output.weight", g, 256, 2, std::vector<std::uint8_t>(bytes)), "u.gguf");
      const std::string e =
          error_of([&] { (void)detail::gguf_matrix(f, "output.weight", 2, 256); });
      CAPTURE(e);
      CHECK(e.find("tensor 'output.weight' has type " + ggml_type_name(g)) != std::string::npos);
      CHECK(e.find("does not support") != std::string::npos);
    }
  }
  SUBCASE("a non-finite block scale is named with the tensor, row and block") {
    std::mt19937 rng(3);
    std::vector<q4_k_block> b = random_blocks<q4_k_block>(6, rng);
    b[3].dmin.bits = 0x7e00;  // NaN: row 1, block 1 (2 blocks a row)
    std::vector<std::uint8_t> raw(sizeof(q4_k_block) * b.size());
    std::memcpy(raw.data(), b.data(), raw.size());
    const gguf_file f = gguf_file::from_bytes(
        one_tensor("blk.0.attn_q.weight", ggml_type::q4_k, 512, 3, raw), "nan.gguf");
    const std::string e =
        error_of([&] { (void)detail::gguf_matrix(f, "blk.0.attn_q.weight", 3, 512); });
    CAPTURE(e);
    CHECK(e.find("tensor 'blk.0.attn_q.weight' (q4_k) has a non-finite scale in row 1, block 1") !=
          std::string::npos);
    b[3].dmin = to_f16(0.01f);
    std::memcpy(raw.data(), b.data(), raw.size());
    const gguf_file ok = gguf_file::from_bytes(
        one_tensor("blk.0.attn_q.weight", ggml_type::q4_k, 512, 3, raw), "ok.gguf");
    CHECK_NOTHROW((void)detail::gguf_matrix(ok, "blk.0.attn_q.weight", 3, 512));
  }
  SUBCASE("truncated quantized data is refused by the reader") {
    std::vector<std::uint8_t> bytes = one_tensor("blk.0.attn_q.weight", ggml_type::q6_k, 256, 4,
                                                 std::vector<std::uint8_t>(4 * 210));
    bytes.resize(bytes.size() - 100);
    const std::string e = error_of([&] { (void)gguf_file::from_bytes(bytes, "cut.gguf"); });
    CHECK(e.find("blk.0.attn_q.weight") != std::string::npos);
  }
  SUBCASE("dequantize_row refuses a partial block") {
    std::vector<q6_k_block> b(1);
    std::vector<float> out(300);
    const std::string e =
        error_of([&] { dequantize_row(weight_type::q6_k, b.data(), out.data(), 300); });
    CHECK(e.find("n = 300 is not a multiple of 256 (type q6_k)") != std::string::npos);
  }
}
