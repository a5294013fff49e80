// Tests of the shiftrope-generate program, run as a child process: the
// README's llama2.c stories, --dump-logits against the golden files, --json
// (checked by a small JSON syntax checker written here), seeded sampling,
// and exit code 2 with one line on stderr for each kind of bad input.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "model_test_util.hpp"

namespace fs = std::filesystem;
using namespace model_test;

namespace {

const std::string kBinary = SHIFTROPE_BIN_DIR "/shiftrope-generate";

// A scratch directory for this test program, removed at exit.
struct scratch_dir {
  fs::path path = fs::temp_directory_path() /
                  ("shiftrope_generate_test_" + std::to_string(static_cast<long>(::getpid())));
  scratch_dir() { fs::create_directories(path); }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& scratch() {
  static const scratch_dir dir;
  return dir.path;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct result {
  int code = -1;  // exit status; -1 when the child did not exit normally
  std::string out, err;
};

// Runs the program; with limit_kib > 0 under an address-space limit of that
// many KiB (the shell's ulimit -v), where an allocation above the limit fails
// at once instead of touching memory.
result run(const std::vector<std::string>& args, long limit_kib = 0) {
  REQUIRE_MESSAGE(fs::exists(kBinary), "the program is not built: ", kBinary);
  const fs::path out = scratch() / "stdout.txt", err = scratch() / "stderr.txt";
  std::string cmd = quote(kBinary);
  if (limit_kib > 0)  // sh -c 'ulimit -v N && exec "$0" "$@"' BINARY ARGS...
    cmd = "/bin/sh -c " +
          quote("ulimit -v " + std::to_string(limit_kib) + R"( && exec "$0" "$@")") + " " + cmd;
  for (const std::string& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(out.string()) + " 2>" + quote(err.string());
  const int status = std::system(cmd.c_str());
  result r;
  if (status != -1 && WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::string joined(const std::vector<int>& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

// A JSON syntax checker (RFC 8259 grammar, no semantic checks), plain
// recursive descent: enough to tell that --json prints one valid value.
class json_checker {
 public:
  explicit json_checker(const std::string& s) : s_(s) {}
  bool valid() {
    ws();
    if (!value()) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  bool value() {
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') return string();
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return number();
    for (const char* lit : {"true", "false", "null"})
      if (s_.compare(i_, std::strlen(lit), lit) == 0) return (i_ += std::strlen(lit)), true;
    return false;
  }
  bool object() {
    ++i_;
    ws();
    if (peek('}')) return ++i_, true;
    while (true) {
      ws();
      if (!peek('"') || !string()) return false;
      ws();
      if (!peek(':')) return false;
      ++i_;
      ws();
      if (!value()) return false;
      ws();
      if (peek('}')) return ++i_, true;
      if (!peek(',')) return false;
      ++i_;
    }
  }
  bool array() {
    ++i_;
    ws();
    if (peek(']')) return ++i_, true;
    while (true) {
      ws();
      if (!value()) return false;
      ws();
      if (peek(']')) return ++i_, true;
      if (!peek(',')) return false;
      ++i_;
    }
  }
  bool string() {
    ++i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (i_ >= s_.size()) return false;
        const char e = s_[i_++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k)
            if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_++])))
              return false;
        } else if (std::string("\"\\/bfnrt").find(e) == std::string::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool number() {
    const std::size_t start = i_;
    if (peek('-')) ++i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) ||
                              std::string(".eE+-").find(s_[i_]) != std::string::npos))
      ++i_;
    return i_ > start && std::isdigit(static_cast<unsigned char>(s_[i_ - 1]));
  }
  bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  const std::string& s_;
  std::size_t i_ = 0;
};

// The integers of the JSON array after "key": (ids only: no nesting).
std::vector<int> json_int_array(const std::string& json, const std::string& key) {
  const std::size_t at = json.find("\"" + key + "\":[");
  REQUIRE(at != std::string::npos);
  const std::size_t begin = at + key.size() + 4, end = json.find(']', begin);
  std::vector<int> out;
  std::stringstream ss(json.substr(begin, end - begin));
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

TEST_CASE("json_checker: accepts valid JSON and rejects broken JSON") {
  for (const char* ok : {"{}", "[1,2.5,-3e2]", R"({"a":[true,false,null],"b":"x\n\u00e9"})"}) {
    INFO(ok);
    CHECK(json_checker(ok).valid());
  }
  for (const char* bad : {"{", "{\"a\":1,}", "[1 2]", "\"a\nb\"", "{\"a\" 1}", "tru", "{} x"}) {
    INFO(bad);
    CHECK_FALSE(json_checker(bad).valid());
  }
}

TEST_CASE("shiftrope-generate: --help") {
  const result r = run({"--help"});
  CHECK(r.code == 0);
  CHECK(r.out.find("usage: shiftrope-generate") != std::string::npos);
  CHECK(r.out.find("--dump-logits") != std::string::npos);
}

TEST_CASE("shiftrope-generate: --steps 64 prints llama2.c's stories, from both files") {
  if (!have({shared("stories260K.bin"), shared("tok512.bin"), shared("stories260K.gguf")})) return;
  for (const story& st : readme_stories) {
    // One thread: the model is tiny, and a busy machine makes thread
    // barriers the whole cost. Threads are tested in test_model.
    const result a = run({"-m", shared("stories260K.bin"), "-z", shared("tok512.bin"), "-p",
                          st.prompt, "--steps", "64", "-t", "1"});
    const result b =
        run({"-m", shared("stories260K.gguf"), "-p", st.prompt, "--steps", "64", "-t", "1"});
    for (const result* r : {&a, &b}) {
      INFO("stderr: ", r->err);
      CHECK(r->code == 0);
      CHECK(r->out == std::string(st.text) + "\n");
      CHECK(r->err.find("tokens/s") != std::string::npos);
      CHECK(std::count(r->err.begin(), r->err.end(), '\n') == 1);
    }
  }
}

TEST_CASE("shiftrope-generate: --dump-logits equals the golden logits") {
  const std::string dump = (scratch() / "logits.f32").string();
  struct dump_case {
    std::string model, tokens, golden;
    std::vector<std::string> flags;
  };
  const std::vector<dump_case> cases = {
      {"stories260K.bin", "golden/story64.tokens", "golden/story64.rope.logits.f32", {}},
      {"stories260K.gguf", "golden/story64.tokens", "golden/story64.rope.logits.f32", {}},
      {"stories260K.bin",
       "golden/story64.tokens",
       "golden/story64.string-S16-W4.logits.f32",
       {"--string-shift", "16", "--string-window", "4"}},
      {"stories260K.gguf",
       "golden/story64.tokens",
       "golden/story64.string-S40-W8.logits.f32",
       {"--string-shift", "40", "--string-window", "8", "--batch", "7", "--kv-type", "f32"}},
      {"arch/qwen2-tiny.gguf", "arch/qwen2-tiny.tokens", "arch/qwen2-tiny.rope.logits.f32", {}},
      {"arch/qwen2-tiny.gguf",
       "arch/qwen2-tiny.tokens",
       "arch/qwen2-tiny.string-S40-W8.logits.f32",
       {"--string-shift", "40", "--string-window", "8"}},
      // Context 136 > original_context_length 64: LongRoPE's long factors.
      {"arch/phi3-tiny.gguf",
       "arch/phi3-tiny.tokens",
       "arch/phi3-tiny.rope.logits.f32",
       {"--ctx", "136"}},
      {"arch/phi3-tiny.gguf",
       "arch/phi3-tiny.tokens",
       "arch/phi3-tiny.string-S40-W8.logits.f32",
       {"--string-shift", "40", "--string-window", "8", "--ctx", "136", "--batch", "9"}},
  };
  std::vector<std::string> files;
  for (const dump_case& c : cases)
    for (const std::string& f : {c.model, c.tokens, c.golden}) files.push_back(shared(f));
  if (!have(files)) return;
  for (const dump_case& c : cases) {
    std::vector<std::string> args = {"-m",
                                     shared(c.model),
                                     "--tokens",
                                     joined(read_tokens(shared(c.tokens))),
                                     "-n",
                                     "0",
                                     "--dump-logits",
                                     dump,
                                     "-t",
                                     "1"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const result r = run(args);
    INFO(c.model, " ", c.golden, ": ", r.err);
    REQUIRE(r.code == 0);
    const std::vector<float> golden = read_f32(shared(c.golden));
    const std::vector<float> got = read_f32(dump);
    REQUIRE(got.size() == golden.size());
    const logit_diff d = compare_logits(got, golden, 512);
    CHECK(d.max_abs <= golden_tolerance);
    CHECK(d.argmax_mismatches == 0);
  }
}

TEST_CASE("shiftrope-generate: --json is valid JSON with the ids and the text") {
  if (!have({shared("stories260K.gguf"), shared("golden/story64.tokens")})) return;
  const result r = run({"-m", shared("stories260K.gguf"), "-p", "Once upon a time", "--steps", "64",
                        "--json", "--kv-type", "bf16", "--string"});
  INFO(r.out, r.err);
  REQUIRE(r.code == 0);
  CHECK(json_checker(r.out).valid());
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);  // one line
  const std::vector<int> story = read_tokens(shared("golden/story64.tokens"));
  CHECK(json_int_array(r.out, "prompt_ids") == std::vector<int>(story.begin(), story.begin() + 5));
  // STRING with L = 2048 (the file's claim): S = 675 never reached in 64
  // positions, so the greedy story is plain RoPE's (bf16 KV keeps it here).
  const std::vector<int> ids = json_int_array(r.out, "ids");
  REQUIRE(ids.size() == 60);
  CHECK(std::equal(story.begin() + 5, story.end(), ids.begin()));
  CHECK(r.out.find("\"remap\":\"string(S=675,W=128)\"") != std::string::npos);
  CHECK(r.out.find("\"text\":\"Once upon a time, there was a little girl named Lily.") !=
        std::string::npos);
  CHECK(r.out.find("too high.\\nLily\"") != std::string::npos);
  CHECK(r.out.find("\"prefill_tokens\":5,") != std::string::npos);
}

TEST_CASE("shiftrope-generate: seeded sampling is reproducible") {
  if (!have({shared("stories260K.bin"), shared("tok512.bin")})) return;
  const auto sample = [](const char* seed) {
    return run({"-m", shared("stories260K.bin"), "-z", shared("tok512.bin"), "-p", "The dog", "-n",
                "40", "--temp", "1.0", "--top-k", "40", "--top-p", "0.95", "--seed", seed, "-t",
                "1"});
  };
  const result a = sample("7"), b = sample("7"), c = sample("8");
  REQUIRE(a.code == 0);
  CHECK(a.out == b.out);
  CHECK(a.out != c.out);
  CHECK(a.out.rfind("The dog", 0) == 0);
}

TEST_CASE("shiftrope-generate: bad input exits with 2 and one line naming the problem") {
  if (!have({shared("stories260K.bin"), shared("tok512.bin"), shared("stories260K.gguf")})) return;
  const std::string bin = shared("stories260K.bin"), tok = shared("tok512.bin"),
                    gguf = shared("stories260K.gguf");
  const fs::path corrupt = scratch() / "corrupt.gguf", truncated = scratch() / "truncated.gguf";
  std::ofstream(corrupt, std::ios::binary) << "GGUF\x03\0\0\0garbage";
  {
    const std::string bytes = slurp(gguf);
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, 5000);
  }
  struct bad_case {
    std::vector<std::string> args;
    std::string expect;  // part of the message
  };
  const std::vector<bad_case> cases = {
      {{"-m", "/nonexistent/m.gguf", "-p", "x"}, "/nonexistent/m.gguf"},
      {{"-m", corrupt.string(), "-p", "x"}, "corrupt.gguf"},
      {{"-m", truncated.string(), "-p", "x"}, "truncated.gguf"},
      {{"-m", bin, "-z", bin, "-p", "x"}, "stories260K.bin"},
      {{"-m", bin, "--tokens", "1,512"}, "--tokens"},
      {{"-m", bin, "--tokens", "1,,2"}, "--tokens"},
      {{"-m", bin, "--tokens", ""}, "--tokens"},
      {{"-m", bin, "-p", "x"}, "-z"},
      {{"-m", bin, "-z", tok}, "-p"},
      {{"-m", bin, "-z", tok, "-p", "x", "--tokens", "1"}, "--tokens"},
      {{"-m", bin, "-z", tok, "-p", "Once upon a time", "--ctx", "3"}, "longer than the context"},
      {{"-m", bin, "-z", tok, "-p", "Once upon a time", "--steps", "2"}, "--steps"},
      {{"-m", bin, "-z", tok, "-p", "x", "--string-shift", "600"}, "--string-shift"},
      {{"-m", gguf, "-p", "x", "--string-shift", "600", "--train-len", "512"}, "L = 512"},
      {{"-m", bin, "-z", tok, "-p", "x", "--string-shift", "40", "--string-window", "40"},
       "--string-window"},
      {{"-m", bin, "-z", tok, "-p", "x", "--string-ratio", "1.5"}, "--string-ratio"},
      {{"-m", bin, "-z", tok, "-p", "x", "--string", "--train-len", "2"},
       "--string: string_remap: train_len (L) = 2 is too small"},
      {{"-m", bin, "-z", tok, "-p", "x", "--train-len", "1"}, "--train-len"},
      {{"-m", bin, "-z", tok, "-p", "x", "--string", "--string-shift", "9"}, "--string-shift"},
      {{"-m", bin, "-z", tok, "-p", "x", "-n", "abc"}, "-n"},
      {{"-m", bin, "-z", tok, "-p", "x", "-n", "-1"}, "-n"},
      {{"-m", bin, "-z", tok, "-p", "x", "--temp", "-1"}, "--temp"},
      {{"-m", bin, "-z", tok, "-p", "x", "--top-p", "1.5"}, "--top-p"},
      {{"-m", bin, "-z", tok, "-p", "x", "--top-k", "many"}, "--top-k"},
      {{"-m", bin, "-z", tok, "-p", "x", "--seed", "x"}, "--seed"},
      {{"-m", bin, "-z", tok, "-p", "x", "-t", "0"}, "-t"},
      {{"-m", bin, "-z", tok, "-p", "x", "--ctx", "0"}, "--ctx"},
      {{"-m", bin, "-z", tok, "-p", "x", "--logit-scale", "0"}, "--logit-scale"},
      {{"-m", bin, "-z", tok, "-p", "x", "--logit-scale", "huge"}, "--logit-scale"},
      {{"-m", bin, "-z", tok, "-p", "x", "--kv-type", "f8"}, "--kv-type"},
      {{"-m", bin, "-z", tok, "-p", "x", "--kv-type", "q8_0"},
       "head_dim = 8 is not a multiple of 32, which kv_type q8_0 needs"},
      {{"-m", bin, "-z", tok, "-p", "x", "--frobnicate"}, "--frobnicate"},
      {{"-m", bin, "-z", tok, "-p", "x", "--dump-logits", "/nonexistent/dir/l.f32"},
       "/nonexistent/dir/l.f32"},
      {{"-p", "x"}, "-m"},
  };
  for (const bad_case& c : cases) {
    const result r = run(c.args);
    std::string shown;
    for (const std::string& a : c.args) shown += a + " ";
    INFO("args: ", shown, "\nstderr: ", r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.back() == '\n');
    CHECK(r.out.empty());
  }
}

TEST_CASE("shiftrope-generate: an unknown architecture exits with 2 naming it and the supported") {
  if (!have({shared("arch/phi3-tiny.gguf")})) return;
  // phi3-tiny with general.architecture = "gpt2" (same length: one value patched).
  std::ifstream in(shared("arch/phi3-tiny.gguf"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string key = "general.architecture";
  const std::size_t at = bytes.find(key);
  REQUIRE(at != std::string::npos);
  const std::size_t value = at + key.size() + 4 + 8;  // type (u32), then the length (u64)
  REQUIRE(bytes.compare(value, 4, "phi3") == 0);
  bytes.replace(value, 4, "gpt2");
  const std::string path = (scratch() / "gpt2.gguf").string();
  std::ofstream(path, std::ios::binary) << bytes;
  const result r = run({"-m", path, "-p", "x", "-t", "1"});
  INFO("stderr: ", r.err);
  CHECK(r.code == 2);
  CHECK(r.err.find("general.architecture = \"gpt2\" is not supported (supported: llama, qwen2, "
                   "phi3)") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.out.empty());
}

// AddressSanitizer reserves terabytes of address space for its shadow memory,
// so a program built with it cannot start under ulimit -v.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// The KV cache is allocated up front for the whole context. A context whose
// cache is above the cap (64 GiB) or this machine's memory is refused before
// anything is allocated, naming the flag that sized it and its value; one
// whose allocation fails anyway is reported the same way. stories260K takes
// 1280 bytes of f32 KV cache per position: 2^30 positions are 1.25 TiB, above
// the cap on any machine. -n 4000000 (4.9 GiB) and --ctx 40000000 (49 GiB)
// run under a 1 GiB address-space limit, so that they are refused (machines
// with less memory) or fail to allocate (the others) without touching memory.
TEST_CASE("shiftrope-generate: a context beyond memory exits with 2 naming the flag") {
  if (!have({shared("stories260K.gguf")})) return;
  const std::string gguf = shared("stories260K.gguf");
  struct big_case {
    std::vector<std::string> args;
    std::string flag, value;  // the message starts with "flag: " and holds value
    bool limited;             // run under ulimit -v
  };
  const std::vector<big_case> cases = {
      {{"-n", "1073741824"}, "-n", "1073741824", false},
      {{"--ctx", "1073741824"}, "--ctx", "1073741824", false},
      {{"--steps", "1073741824"}, "--steps", "1073741824", false},
      {{"--ctx", "1073741824", "-n", "3", "--kv-type", "f16"}, "--ctx", "1073741824", false},
      {{"-n", "4000000"}, "-n", "4000000", true},
      {{"--ctx", "40000000", "-n", "3"}, "--ctx", "40000000", true},
      {{"-n", "4000000", "--self-extend", "4,64"}, "-n", "4000000", true},
  };
  constexpr long kLimitKib = 1L << 20;  // 1 GiB
  for (const big_case& c : cases) {
    std::vector<std::string> args = {"-m", gguf, "-p", "x", "-t", "1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    std::string shown;
    for (const std::string& a : c.args) shown += a + " ";
    if (c.limited && kAddressSanitizer) {
      MESSAGE("skipped under AddressSanitizer (no ulimit -v): ", shown);
      continue;
    }
    const result r = run(args, c.limited ? kLimitKib : 0);
    INFO("args: ", shown, "\nstderr: ", r.err);
    CHECK(r.code == 2);
    CHECK(r.err.rfind("shiftrope-generate: " + c.flag + ": ", 0) == 0);
    CHECK(r.err.find(c.value) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.out.empty());
  }
}
