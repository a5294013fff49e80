// The model shipped in models/ (trained by tools/train, converted to GGUF by
// shiftrope-convert): its logits through shiftrope equal the training
// script's own PyTorch logits, and it retrieves the passkey at short lengths.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::string models = SHIFTROPE_SOURCE_DIR "/models/";
const std::string gguf = models + "shiftrope-passkey-258.gguf";
constexpr int n_vocab = 258;
// PyTorch float32 against shiftrope float32 (measured 1.2e-5 / 2.9e-5).
constexpr float logits_tolerance = 1e-3f;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<float> read_f32(const std::string& path) {
  const std::string bytes = slurp(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void check_logits(const std::string& extra_flags, const std::string& golden) {
  std::string tokens = slurp(models + "shiftrope-passkey-258.tokens");
  while (!tokens.empty() && (tokens.back() == '\n' || tokens.back() == ' ')) tokens.pop_back();
  const std::string out = SHIFTROPE_BIN_DIR "/shipped_model_logits.f32";
  REQUIRE(run(SHIFTROPE_BIN_DIR "/shiftrope-generate -m " + gguf + " --tokens " + tokens +
              " -n 0 -t 1 " + extra_flags + " --dump-logits " + out + " 2>/dev/null") == 0);
  const std::vector<float> got = read_f32(out), want = read_f32(models + golden);
  REQUIRE(want.size() % n_vocab == 0);
  REQUIRE(got.size() == want.size());
  float worst = 0.0f;
  int argmax_diff = 0;
  for (std::size_t row = 0; row < want.size() / n_vocab; ++row) {
    std::size_t ag = 0, aw = 0;
    for (std::size_t j = 0; j < n_vocab; ++j) {
      const std::size_t i = row * n_vocab + j;
      worst = std::max(worst, std::fabs(got[i] - want[i]));
      if (got[i] > got[row * n_vocab + ag]) ag = j;
      if (want[i] > want[row * n_vocab + aw]) aw = j;
    }
    argmax_diff += ag != aw;
  }
  MESSAGE(golden << ": max |shiftrope - PyTorch| = " << worst);
  CHECK(worst <= logits_tolerance);
  CHECK(argmax_diff == 0);
}

}  // namespace

TEST_CASE("shipped model: GGUF logits equal the training script's PyTorch logits") {
  check_logits("", "shiftrope-passkey-258.logits.f32");
  check_logits("--string-shift 64 --string-window 16",
               "shiftrope-passkey-258.string-S64-W16.logits.f32");
}

TEST_CASE("shipped model: retrieves the passkey at <= L/2 with plain RoPE") {
  // 20 fixed prompts (documents of 256 bytes, 5 depths x 4 trials); measured
  // 20/20 when the model was shipped; the threshold leaves a margin.
  const std::string json = SHIFTROPE_BIN_DIR "/shipped_model_passkey.jsonl";
  REQUIRE(run(SHIFTROPE_BIN_DIR "/shiftrope-passkey -m " + gguf +
              " --bytes --fit train --lengths 256 --depths 0,0.25,0.5,0.75,1 --trials 4"
              " --methods rope --quiet -t 1 --json " +
              json + " >/dev/null 2>&1") == 0);
  std::istringstream lines(slurp(json));
  std::string line;
  int total = 0, correct = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ++total;
    correct += line.find("\"correct\":true") != std::string::npos;
  }
  MESSAGE("retrieved " << correct << " of " << total);
  CHECK(total == 20);
  CHECK(correct >= 16);
}
