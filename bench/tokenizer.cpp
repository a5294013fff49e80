// shiftrope-bench-tokenizer: encode and decode throughput (MB/s of UTF-8
// text) for the SPM and byte-level BPE vocabularies of ../shared, on 100 KB
// and 1 MB of generated mixed text (ASCII prose, digit runs, punctuation,
// newlines, some CJK and emoji). The ratio of the per-byte times of the two
// sizes shows the scaling: ~1 for linear, ~10 for quadratic.
//
// Before timing, each run checks decode(encode(text)) == text (the identity
// that holds for well-formed UTF-8, see tests/test_tokenizer.cpp).
// Output: one JSON object per line on stdout (min and median over the
// repetitions), progress on stderr. Single-threaded.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace shiftrope;

struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

/// `bytes` bytes (rounded up to a whole word) of mixed text, fixed seed.
std::string mixed_text(std::size_t bytes) {
  static const char* words[] = {"the",     "little",    "girl",  "named",   "Lily",   "wanted",
                                "to",      "play",      "with",  "a",       "big",    "red",
                                "ball",    "One",       "day",   "she",     "saw",    "It's",
                                "they'll", "tokenizer", "model", "context", "length", "position"};
  static const char* rare[] = {"\xE4\xBD\xA0\xE5\xA5\xBD",  // 你好
                               "\xE4\xB8\x96\xE7\x95\x8C",  // 世界
                               "\xF0\x9F\x98\x80",          // 😀
                               "\xF0\x9F\x9A\x80",          // 🚀
                               "caf\xC3\xA9",
                               "na\xC3\xAFve"};  // café naïve
  splitmix64 rng{20250101};
  std::string s;
  while (s.size() < bytes) {
    const std::uint64_t r = rng.next() % 100;
    if (r < 80) {
      s += words[rng.next() % (sizeof words / sizeof *words)];
    } else if (r < 88) {
      s += std::to_string(rng.next() % 100000);
    } else if (r < 94) {
      s += rare[rng.next() % (sizeof rare / sizeof *rare)];
    } else {
      s += ",.!?;:"[rng.next() % 6];
    }
    s += rng.next() % 12 == 0 ? "\n" : " ";
  }
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct timing {
  double min = 0;
  double median = 0;
};

template <class F>
timing time_it(int reps, F&& f) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return {t.front(),
          t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2])};
}

/// Returns the median encode seconds per byte (for the scaling ratio).
double bench_one(const char* name, const tokenizer& tok, const std::string& text, int reps) {
  std::fprintf(stderr, "%s: %zu bytes...\n", name, text.size());
  std::vector<int> ids = tok.encode(text, false);
  if (tok.decode(ids) != text) {
    std::fprintf(stderr, "shiftrope-bench-tokenizer: %s: round trip failed\n", name);
    std::exit(1);
  }
  const timing enc = time_it(reps, [&] { ids = tok.encode(text, false); });
  std::string back;
  const timing dec = time_it(reps, [&] { back = tok.decode(ids); });
  const double mb = static_cast<double>(text.size()) / 1e6;
  std::printf(
      "{\"bench\":\"tokenizer\",\"vocab\":\"%s\",\"bytes\":%zu,\"tokens\":%zu,\"reps\":%d,"
      "\"encode_min_s\":%.6f,\"encode_median_s\":%.6f,\"encode_mb_s_best\":%.2f,"
      "\"encode_mb_s_median\":%.2f,\"decode_min_s\":%.6f,\"decode_median_s\":%.6f,"
      "\"decode_mb_s_best\":%.2f}\n",
      name, text.size(), ids.size(), reps, enc.min, enc.median, mb / enc.min, mb / enc.median,
      dec.min, dec.median, mb / dec.min);
  return enc.median / static_cast<double>(text.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::string shared = SHIFTROPE_SHARED_DIR;
  int reps = 7;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::puts(
          "usage: shiftrope-bench-tokenizer [--shared DIR] [--reps N]\n"
          "Encode/decode MB/s on 100 KB and 1 MB of mixed text; JSON lines on stdout.");
      return 0;
    } else if (!std::strcmp(argv[i], "--shared") && i + 1 < argc) {
      shared = argv[++i];
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
      if (reps < 1 || reps > 1000) {
        std::fprintf(stderr, "shiftrope-bench-tokenizer: --reps: '%s' is not in [1, 1000]\n",
                     argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "shiftrope-bench-tokenizer: %s: unknown flag or missing value\n",
                   argv[i]);
      return 2;
    }
  }
  try {
    std::printf("{\"bench\":\"tokenizer\",\"compiler\":\"%s\",\"threads\":1}\n", __VERSION__);
    const tokenizer spm =
        tokenizer::from_gguf(gguf_file::open(shared + "/vocab/ggml-vocab-llama-spm.gguf"));
    const tokenizer bpe =
        tokenizer::from_gguf(gguf_file::open(shared + "/vocab/ggml-vocab-gpt-2.gguf"));
    const tokenizer l2c =
        tokenizer::from_llama2c(read_llama2c_vocab(shared + "/models/tok512.bin", 512));
    const std::string small = mixed_text(100000);
    const std::string large = mixed_text(1000000);
    for (const auto& [name, tok] : {std::pair<const char*, const tokenizer*>{"llama-spm", &spm},
                                    {"gpt-2", &bpe},
                                    {"tok512", &l2c}}) {
      const double per_byte_small = bench_one(name, *tok, small, reps);
      const double per_byte_large = bench_one(name, *tok, large, reps);
      std::printf("{\"bench\":\"tokenizer\",\"vocab\":\"%s\",\"scaling_1MB_vs_100KB\":%.3f}\n",
                  name, per_byte_large / per_byte_small);
    }
  } catch (const shiftrope::error& e) {
    std::fprintf(stderr, "shiftrope-bench-tokenizer: %s\n", e.what());
    return 2;
  }
  return 0;
}
