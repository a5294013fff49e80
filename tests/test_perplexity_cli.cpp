// Tests of the shiftrope-perplexity program run as a child process: its NLL
// (overall and per bucket) against NLLs computed here — from the golden
// teacher-forced logits of an independent reference (plain RoPE) and from
// the library's logits with this file's own log-softmax (every method) —
// text input, and bad flags (exit 2, one line).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <vector>

#include "eval_test_util.hpp"
#include "model_test_util.hpp"

namespace fs = std::filesystem;
using eval_test::json;

namespace {

const std::string kPerplexity = SHIFTROPE_BIN_DIR "/shiftrope-perplexity";

// Against the golden reference: logits agree within 1e-3 (models README), so
// an NLL (a log-sum-exp minus one logit) within 2e-3.
constexpr double kGoldenNllTol = 2e-3;
// Against the library's own logits: only the chunking of the prefill differs
// (float rounding) and the printed 9 digits.
constexpr double kSameNllTol = 2e-5;

// -log softmax(row)[target], written plainly in double.
double nll(const float* row, int n, int target) {
  double mx = -1e300;
  for (int j = 0; j < n; ++j) mx = std::max(mx, static_cast<double>(row[j]));
  double s = 0;
  for (int j = 0; j < n; ++j) s += std::exp(static_cast<double>(row[j]) - mx);
  return mx + std::log(s) - static_cast<double>(row[target]);
}

// Mean NLL per bucket (bucket of predicted position p: p·B / ctx) and overall,
// from logits [ctx × n_vocab] of one window.
std::vector<double> bucket_means(const std::vector<float>& logits, const std::vector<int>& tokens,
                                 int n_vocab, int buckets) {
  const int ctx = static_cast<int>(tokens.size());
  std::vector<double> sum(static_cast<std::size_t>(buckets) + 1), cnt(sum.size());
  for (int p = 1; p < ctx; ++p) {
    const double x = nll(&logits[static_cast<std::size_t>(p - 1) * n_vocab], n_vocab,
                         tokens[static_cast<std::size_t>(p)]);
    const auto b = static_cast<std::size_t>(p * buckets / ctx);
    sum[b] += x;
    cnt[b] += 1;
    sum.back() += x;
    cnt.back() += 1;
  }
  for (std::size_t i = 0; i < sum.size(); ++i) sum[i] /= cnt[i];
  return sum;
}

const json& field(const json& o, const char* key) {
  const json* v = o.get(key);
  INFO("field ", key);
  REQUIRE(v != nullptr);
  return *v;
}

void check_against(const json& line, const std::vector<double>& want, double tol) {
  const std::vector<json>& buckets = field(line, "buckets").a;
  REQUIRE(buckets.size() + 1 == want.size());
  CHECK(std::fabs(field(line, "nll").n - want.back()) <= tol);
  CHECK(std::fabs(field(line, "ppl").n - std::exp(want.back())) <= tol * 10);
  for (std::size_t k = 0; k < buckets.size(); ++k) {
    CAPTURE(k);
    CHECK(std::fabs(field(buckets[k], "nll").n - want[k]) <= tol);
  }
}

}  // namespace

TEST_CASE("NLL of a token file equals the reference's and the library's logits") {
  const std::string bin = model_test::shared("stories260K.bin");
  const std::string tokens_file = model_test::shared("golden/story64.tokens");
  const std::string golden = model_test::shared("golden/story64.rope.logits.f32");
  if (!model_test::have({bin, tokens_file, golden})) return;
  const std::vector<int> tokens = model_test::read_tokens(tokens_file);
  REQUIRE(tokens.size() == 64);
  const fs::path json_path = eval_test::scratch() / "ppl.jsonl";
  const std::vector<std::string> specs = {"rope", "string:S=16:W=4", "self-extend:G=4:Wn=8"};
  const auto r =
      eval_test::run(kPerplexity, {"-m", bin, "--train-len", "512", "--tokens-file", tokens_file,
                                   "--ctx", "64", "--buckets", "4", "--batch", "7", "--methods",
                                   specs[0] + "," + specs[1] + "," + specs[2], "--json",
                                   json_path.string(), "-t", "1"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("1 window(s), 63 predictions per method") != std::string::npos);
  const std::vector<json> lines = eval_test::parse_json_lines(eval_test::slurp(json_path));
  REQUIRE(lines.size() == 3);
  for (const json& j : lines) {
    CHECK(field(j, "tokens").n == 63);
    CHECK(field(j, "ctx").n == 64);
    const std::vector<json>& b = field(j, "buckets").a;
    REQUIRE(b.size() == 4);
    CHECK(field(b[0], "begin").n == 1);  // position 0 is never predicted
    CHECK(field(b[0], "tokens").n == 15);
    CHECK(field(b[3], "end").n == 64);
  }
  // Plain RoPE against the independent reference's logits.
  check_against(lines[0], bucket_means(model_test::read_f32(golden), tokens, 512, 4),
                kGoldenNllTol);
  // Every method against the library's logits (one whole prefill here).
  const shiftrope::model m = shiftrope::model::open(bin);
  shiftrope::session_params sp;
  sp.n_ctx = 64;
  sp.position_remap = shiftrope::string_remap{16, 4};
  const std::vector<float> string_logits =
      shiftrope::session(m, sp).forward(tokens, 0, shiftrope::logits_rows::all);
  check_against(lines[1], bucket_means(string_logits, tokens, 512, 4), kSameNllTol);
  sp.position_remap = shiftrope::identity_remap{};
  sp.self_extend = shiftrope::self_extend_remap{4, 8};
  const std::vector<float> se_logits =
      shiftrope::session(m, sp).forward(tokens, 0, shiftrope::logits_rows::all);
  check_against(lines[2], bucket_means(se_logits, tokens, 512, 4), kSameNllTol);
  CHECK(field(lines[1], "nll").n != field(lines[0], "nll").n);  // the methods differ
}

TEST_CASE("a text file: BOS + ctx - 1 tokens per window, several windows") {
  const std::string bin = model_test::shared("stories260K.bin"),
                    tok = model_test::shared("tok512.bin");
  if (!model_test::have({bin, tok})) return;
  const fs::path text = eval_test::scratch() / "story.txt";
  std::string story;
  for (int i = 0; i < 12; ++i)
    story += "Lily and Tom went to the park. They played with a red ball and laughed. ";
  std::ofstream(text) << story;
  const shiftrope::tokenizer t =
      shiftrope::tokenizer::from_llama2c(shiftrope::read_llama2c_vocab(tok, 512));
  const std::size_t n = t.encode(story, false).size();
  const fs::path json_path = eval_test::scratch() / "text.jsonl";
  const auto r = eval_test::run(
      kPerplexity, {"-m", bin, "-z", tok, "--train-len", "512", "-f", text.string(), "--ctx", "50",
                    "--json", json_path.string(), "--quiet", "-t", "1"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::vector<json> lines = eval_test::parse_json_lines(eval_test::slurp(json_path));
  REQUIRE(lines.size() == 2);  // rope, string (the defaults)
  const double windows = static_cast<double>(n / 49);
  CHECK(field(lines[0], "windows").n == windows);
  CHECK(field(lines[0], "tokens").n == windows * 49);
  CHECK(field(lines[0], "buckets").a.size() == 8);
  // A repetitive text is easy: the NLL is well below ln(512) = 6.24.
  CHECK(field(lines[0], "nll").n < 2.0);
  CHECK(r.out.find("all") != std::string::npos);
}

TEST_CASE("bad flags and inputs: exit 2 with one line") {
  const std::string bin = model_test::shared("stories260K.bin"),
                    tok = model_test::shared("tok512.bin");
  if (!model_test::have({bin, tok})) return;
  const auto file = [](const char* name, const std::string& content) {
    const fs::path p = eval_test::scratch() / name;
    std::ofstream(p) << content;
    return p.string();
  };
  const std::string good = file("good.tokens", "1, 2 3\n4,5,6,7,8,9,10");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-m", bin, "--tokens-file", file("x.tokens", "1,2,12x,4")}, "token 2 is '12x'"},
      {{"-m", bin, "--tokens-file", file("y.tokens", "1,2,512")}, "not an id in [0, 512)"},
      {{"-m", bin, "--tokens-file", file("z.tokens", "1,-2")}, "token 1 is '-2'"},
      {{"-m", bin, "--tokens-file", good, "--ctx", "20"}, "fewer than one window of --ctx 20"},
      {{"-m", bin, "--tokens-file", good, "--ctx", "1"}, "--ctx"},
      {{"-m", bin, "--tokens-file", good, "--ctx", "8", "--buckets", "0"}, "--buckets"},
      {{"-m", bin, "--tokens-file", good, "--ctx", "8", "--buckets", "8"}, "--buckets: 8 buckets"},
      {{"-m", bin, "--tokens-file", good, "--methods", "string:W=200"},
       "window (W) must be < shift (S)"},
      {{"-m", bin, "--tokens-file", "/no/such/file"}, "--tokens-file: cannot open"},
      {{"-m", bin, "-z", tok, "-f", "/no/such/text"}, "-f: cannot open"},
      {{"-m", bin, "-z", tok, "-f", good, "--tokens-file", good}, "cannot be combined with -f"},
      {{"-m", bin}, "an input is required"},
      {{"-m", bin, "--tokens-file", good, "--frobnicate"}, "--frobnicate: unknown flag"},
  };
  for (const auto& [args, what] : cases) {
    CAPTURE(what);
    const auto r = eval_test::run(kPerplexity, args);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find('\n') == r.err.size() - 1);
    CHECK_MESSAGE(r.err.find(what) != std::string::npos, r.err);
  }
  const auto help = eval_test::run(kPerplexity, {"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("usage: shiftrope-perplexity") == 0);
}
