// Tests of the shiftrope-passkey program run as a child process: the whole
// pipeline on stories260K (every method, JSON lines parsed by the test's own
// JSON parser and re-scored here, SVG heatmaps checked for structure), the
// byte-level path on a random 258-token model (tools/train's documents
// rebuilt, the needles task), bad flags (exit 2, one line), prefix reuse
// against fresh prefills, shiftrope-generate's --self-extend, --print-prompt
// against data.py's documents, and --summary against the live run's tables.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../examples/eval/sweep.hpp"
#include "eval_test_util.hpp"
#include "model_test_util.hpp"

namespace fs = std::filesystem;
using eval_test::json;

namespace {

const std::string kPasskey = SHIFTROPE_BIN_DIR "/shiftrope-passkey";
const std::string kGenerate = SHIFTROPE_BIN_DIR "/shiftrope-generate";

// The passkey rule written again here: the first maximal digit run.
bool first_run_is(const std::string& out, const std::string& key) {
  const std::size_t a = out.find_first_of("0123456789");
  if (a == std::string::npos) return false;
  std::size_t b = a;
  while (b < out.size() && out[b] >= '0' && out[b] <= '9') ++b;
  return out.substr(a, b - a) == key;
}

const json& field(const json& o, const char* key) {
  const json* v = o.get(key);
  INFO("field ", key);
  REQUIRE(v != nullptr);
  return *v;
}

// One line on stderr, naming `what`.
void check_one_line_error(const eval_test::result& r, const std::string& what) {
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  REQUIRE(!r.err.empty());
  CHECK(r.err.find('\n') == r.err.size() - 1);
  CHECK_MESSAGE(r.err.find(what) != std::string::npos, r.err);
  CHECK(r.err.rfind("shiftrope-passkey: ", 0) == 0);
}

// data.py's documents for the golden file: (doc_len, depth, key, key_pos, text) rows.
std::vector<std::vector<std::string>> golden_documents() {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(eval_test::slurp(SHIFTROPE_TEST_DATA_DIR "/passkey_train_documents.tsv"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f(5);
    std::istringstream ls(line);
    for (std::string& x : f) std::getline(ls, x, '\t');
    rows.push_back(f);
  }
  return rows;
}

}  // namespace

TEST_CASE("stories260K: every method runs, JSON lines, SVG heatmaps and the table agree") {
  const std::string bin = model_test::shared("stories260K.bin"),
                    tok = model_test::shared("tok512.bin");
  if (!model_test::have({bin, tok})) return;
  const fs::path json_path = eval_test::scratch() / "run.jsonl";
  const std::string prefix = (eval_test::scratch() / "heat").string();
  const auto r = eval_test::run(kPasskey, {"-m",          bin,
                                           "-z",          tok,
                                           "--train-len", "512",
                                           "--lengths",   "192,256",
                                           "--depths",    "0,0.5,1",
                                           "--trials",    "1",
                                           "--methods",   "rope,string,self-extend:G=4:Wn=32",
                                           "--json",      json_path.string(),
                                           "--svg",       prefix,
                                           "-t",          "1"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.err.find("ETA") != std::string::npos);  // progress on stderr
  const std::vector<json> lines = eval_test::parse_json_lines(eval_test::slurp(json_path));
  REQUIRE(lines.size() == 2 * 3 * 3);
  std::set<std::string> methods;
  int correct = 0;
  for (const json& j : lines) {
    const double length = field(j, "length").n, target = field(j, "target_length").n;
    CHECK((target == 192 || target == 256));
    CHECK(std::fabs(length - target) <= std::max(1.0, std::floor(target / 100)));
    const double depth = field(j, "depth").n;
    CHECK((depth == 0 || depth == 0.5 || depth == 1));
    const std::string key = field(j, "key").s, output = field(j, "output").s;
    CHECK(key.size() == 5);
    CHECK(field(j, "params").k == json::kind::object);
    CHECK(field(j, "correct").k == json::kind::boolean);
    CHECK(field(j, "correct").b == first_run_is(output, key));
    correct += field(j, "correct").b ? 1 : 0;
    methods.insert(field(j, "method").s);
    REQUIRE(field(j, "key_pos").a.size() == 1);
    CHECK(field(j, "key_pos").a[0].n < length);
  }
  CHECK(methods == std::set<std::string>{"rope", "string", "self-extend"});
  // The table: a row per length and the overall row, a column per method.
  CHECK(r.out.find("string(S=168,W=128)") != std::string::npos);
  CHECK(r.out.find("self-extend(G=4,Wn=32)") != std::string::npos);
  CHECK(r.out.find("\n192 ") != std::string::npos);
  CHECK(r.out.find("\n256 ") != std::string::npos);
  CHECK(r.out.find("\noverall") != std::string::npos);
  CHECK(r.out.find("18 generations") != std::string::npos);
  for (const std::string label : {"rope", "string_S_168_W_128", "self-extend_G_4_Wn_32"}) {
    const fs::path svg = prefix + "." + label + ".svg";
    REQUIRE_MESSAGE(fs::exists(svg), svg);
    std::vector<eval_test::xml_element> el;
    REQUIRE(eval_test::check_xml(eval_test::slurp(svg), el) == "");
    std::set<std::pair<std::string, std::string>> cells;
    bool titled = false;
    for (const auto& e : el) {
      if (e.name == "title")
        titled = e.text.find(label.substr(0, 4)) != std::string::npos &&
                 e.text.find("stories260K.bin") != std::string::npos;
      if (e.name == "rect" && e.attrs.count("class") && e.attrs.at("class") == "cell") {
        cells.emplace(e.attrs.at("data-length"), e.attrs.at("data-depth"));
        const double a = std::stod(e.attrs.at("data-accuracy"));
        CHECK((a >= 0 && a <= 1));
      }
    }
    CHECK(titled);
    CHECK(cells == std::set<std::pair<std::string, std::string>>{{"192", "0"},
                                                                 {"192", "0.5"},
                                                                 {"192", "1"},
                                                                 {"256", "0"},
                                                                 {"256", "0.5"},
                                                                 {"256", "1"}});
  }
  MESSAGE("stories260K retrieved ", correct,
          " of 18 keys (the story model is not a passkey model)");
}

TEST_CASE("byte-level model: fit train rebuilds data.py's documents, needles task") {
  const std::string model = eval_test::byte_model();
  const fs::path json_path = eval_test::scratch() / "bytes.jsonl";
  auto r = eval_test::run(kPasskey, {"-m",
                                     model,
                                     "--bytes",
                                     "--fit",
                                     "train",
                                     "--seed",
                                     "1000",
                                     "--lengths",
                                     "256,320",
                                     "--depths",
                                     "0,0.5,1",
                                     "--trials",
                                     "2",
                                     "--methods",
                                     "rope,string:S=64:W=16",
                                     "--json",
                                     json_path.string(),
                                     "--quiet",
                                     "-t",
                                     "1"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.err.empty());                                    // --quiet
  CHECK(r.out.find("format train") != std::string::npos);  // --format auto with --bytes
  const std::vector<json> lines = eval_test::parse_json_lines(eval_test::slurp(json_path));
  REQUIRE(lines.size() == 2 * 3 * 2 * 2);
  // The golden (data.py's eval_documents): keys and prompt lengths per
  // (doc_len, depth, sample); the program runs trials outside methods and
  // depths, so look each line up by (target, depth, trial).
  const std::vector<std::vector<std::string>> golden = golden_documents();
  REQUIRE(golden.size() == 12);
  for (const json& j : lines) {
    const int len = static_cast<int>(field(j, "target_length").n);
    const double depth = field(j, "depth").n;
    const int trial = static_cast<int>(field(j, "trial").n);
    const std::size_t index = (len == 256 ? 0 : 6) + static_cast<std::size_t>(depth * 2) * 2 +
                              static_cast<std::size_t>(trial);
    REQUIRE(index < golden.size());
    const std::vector<std::string>& g = golden[index];
    CHECK(g[0] == std::to_string(len));
    CHECK(field(j, "key").s == g[2]);
    CHECK(field(j, "key_pos").a[0].n == std::stod(g[3]));
    CHECK(field(j, "length").n == static_cast<double>(g[4].size() + 1));  // BOS + bytes
  }
  // Needles on the same model: four keys per line, scored as a fraction.
  r = eval_test::run(kPasskey, {"-m", model, "--bytes", "--task", "needles", "--lengths", "600",
                                "--depths", "0,1", "--methods", "self-extend:G=2:Wn=100", "--json",
                                json_path.string(), "--quiet", "-t", "1"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  for (const json& j : eval_test::parse_json_lines(eval_test::slurp(json_path))) {
    REQUIRE(field(j, "key").a.size() == 4);
    REQUIRE(field(j, "key_pos").a.size() == 4);
    for (std::size_t i = 1; i < 4; ++i)
      CHECK(field(j, "key_pos").a[i].n > field(j, "key_pos").a[i - 1].n);
    const double found = field(j, "found").n, score = field(j, "correct").n;
    CHECK(score == found / 4);
    CHECK(std::fabs(field(j, "length").n - 600) <= 6);
  }
  CHECK(r.out.find("overall") != std::string::npos);
}

TEST_CASE("bad flags and inputs: exit 2 with one line naming the problem") {
  const std::string bin = model_test::shared("stories260K.bin"),
                    tok = model_test::shared("tok512.bin");
  if (!model_test::have({bin, tok})) return;
  const std::string byte_model = eval_test::byte_model();
  const std::vector<std::string> base = {"-m", bin, "-z", tok, "--train-len", "512", "--quiet"};
  const auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::string missing_dir = (eval_test::scratch() / "no" / "such" / "dir").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {with({"--lenghts", "256"}), "--lenghts: unknown flag"},
      {with({"--lengths", "100"}), "length 100 is below the prompt's fixed part"},
      {with({"--lengths", "256x"}), "--lengths"},
      {with({"--lengths", "0.0"}), "--lengths"},
      {with({"--lengths", "1000", "--ctx", "600"}), "--ctx: length 1000 needs up to"},
      {with({"--depths", "1.5"}), "--depths: depth must be in [0, 1]"},
      {with({"--trials", "0"}), "--trials"},
      {with({"--methods", "rope,alibi"}), "unknown method 'alibi'"},
      {with({"--methods", "string:S=512"}), "shift (S) must be < train_len (L)"},
      {with({"--task", "haystack"}), "--task: unknown value"},
      {with({"--fit", "train"}), "--fit"},
      {with({"--format", "train", "--key-digits", "6"}), "key_digits must be 5"},
      {with({"--svg", missing_dir + "/x", "--lengths", "256"}), "--svg: cannot open"},
      {with({"--json", missing_dir + "/x.json", "--lengths", "256"}), "--json: cannot open"},
      {with({"--bytes"}), "--bytes"},
      {{"-m", bin, "--train-len", "512"}, "-z: the model file has no tokenizer"},
      {{"-z", tok}, "-m: required"},
      {{"-m", byte_model, "--bytes", "--lengths", "150"}, "below the prompt's fixed part"},
  };
  for (const auto& [args, what] : cases) {
    CAPTURE(what);
    check_one_line_error(eval_test::run(kPasskey, args), what);
  }
  const auto help = eval_test::run(kPasskey, {"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("usage: shiftrope-passkey") == 0);
}

TEST_CASE("prefix reuse: rewinding to a shared prefix equals a fresh prefill") {
  const std::string bin = model_test::shared("stories260K.bin"),
                    tok = model_test::shared("tok512.bin");
  if (!model_test::have({bin, tok})) return;
  const shiftrope::model m = shiftrope::model::open(bin);
  auto t = std::make_shared<const shiftrope::tokenizer>(
      shiftrope::tokenizer::from_llama2c(shiftrope::read_llama2c_vocab(tok, 512)));
  const eval::text_codec codec = eval::text_codec::from(t, true);
  eval::prompt_builder b(codec, eval::prompt_options{});
  const std::vector<eval::prompt> ps = b.build(0, 300, {0.2, 0.7});
  for (const char* spec : {"rope", "string:S=100:W=20", "self-extend:G=3:Wn=40"}) {
    CAPTURE(spec);
    const eval::method meth = eval::parse_methods("--methods", spec, 512)[0];
    shiftrope::session_params sp;
    sp.n_ctx = 400;
    sp.max_batch = 64;
    sp.n_threads = 1;
    shiftrope::session s(m, sp), fresh(m, sp);
    meth.apply(s);
    meth.apply(fresh);
    std::vector<float> logits(512), want(512);
    (void)eval::run_prompt(s, codec, ps[0], 0, logits);  // prompt 0, then its generation
    const std::int64_t shared = eval::common_prefix(ps[0].tokens, ps[1].tokens);
    CHECK(shared > 50);
    s.forward(ps[1].tokens.data() + shared, ps[1].tokens.size() - static_cast<std::size_t>(shared),
              shared, logits.data());
    fresh.forward(ps[1].tokens, 0).swap(want);
    double diff = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      diff = std::max(diff, static_cast<double>(std::fabs(logits[i] - want[i])));
    CHECK(diff <= 1e-3);  // float rounding of other chunkings only
  }
}

TEST_CASE("shiftrope-generate --self-extend: G = 1 is RoPE, bad values exit 2") {
  const std::string bin = model_test::shared("stories260K.bin"),
                    tok = model_test::shared("tok512.bin");
  if (!model_test::have({bin, tok})) return;
  const std::vector<std::string> base = {"-m",      bin,  "-z", tok, "-p", "Once upon a time",
                                         "--steps", "64", "-t", "1"};
  const auto plain = eval_test::run(kGenerate, base);
  REQUIRE(plain.code == 0);
  std::vector<std::string> se = base;
  se.insert(se.end(), {"--self-extend", "1,8"});
  const auto g1 = eval_test::run(kGenerate, se);
  REQUIRE_MESSAGE(g1.code == 0, g1.err);
  CHECK(g1.out == plain.out);
  CHECK(g1.err.find("self-extend(G=1,Wn=8)") != std::string::npos);
  se.back() = "4,8";
  const auto g4 = eval_test::run(kGenerate, se);
  REQUIRE(g4.code == 0);
  CHECK(g4.out.rfind("Once upon a time", 0) == 0);
  for (const auto& [value, what] : std::vector<std::pair<std::string, std::string>>{
           {"0,8", "--self-extend"}, {"4", "expected G,Wn"}, {"4,x", "--self-extend"}}) {
    std::vector<std::string> a = base;
    a.insert(a.end(), {"--self-extend", value});
    const auto r = eval_test::run(kGenerate, a);
    CHECK(r.code == 2);
    CHECK_MESSAGE(r.err.find(what) != std::string::npos, r.err);
  }
  std::vector<std::string> both = base;
  both.insert(both.end(), {"--string", "--self-extend", "4,8"});
  const auto r = eval_test::run(kGenerate, both);
  CHECK(r.code == 2);
  CHECK(r.err.find("--self-extend: cannot be combined with --string") != std::string::npos);
}

namespace {

// The lines of text from the first that starts with `from` up to (without)
// the first that starts with `to` (or the end).
std::string lines_between(const std::string& text, const std::string& from, const std::string& to) {
  std::istringstream in(text);
  std::string line, out;
  bool on = false;
  while (std::getline(in, line)) {
    if (!on && line.rfind(from, 0) == 0) on = true;
    if (on && !to.empty() && line.rfind(to, 0) == 0) break;
    if (on) out += line + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("--print-prompt: the sweep's first prompt, exactly data.py's document text") {
  const std::string model = eval_test::byte_model();
  const auto golden = golden_documents();
  REQUIRE(golden.size() == 12);
  // eval_documents(1000, 256, [0, 0.5, 1], 2)[0]: depth 0, the first sample.
  const auto r = eval_test::run(
      kPasskey, {"-m", model, "--bytes", "--fit", "train", "--seed", "1000", "--lengths", "256",
                 "--depths", "0,0.5,1", "--trials", "2", "--print-prompt"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == golden[0][4] + "\n");
  CHECK(r.err.find("answer: " + golden[0][2]) != std::string::npos);
  CHECK(r.err.find(std::to_string(golden[0][4].size() + 1) + " tokens") != std::string::npos);
  // The default fit (exact length in tokens) is in the same template.
  const auto exact = eval_test::run(
      kPasskey, {"-m", model, "--bytes", "--lengths", "300", "--depths", "0.5", "--print-prompt"});
  REQUIRE_MESSAGE(exact.code == 0, exact.err);
  CHECK(exact.out.rfind("There is an important info hidden inside a lot of irrelevant text. Find "
                        "it and memorize it. The ",
                        0) == 0);
  CHECK(exact.out.find(". Remember it. ") != std::string::npos);
  CHECK(exact.out.size() >= 5);
  CHECK(exact.out.substr(exact.out.size() - 39) == " What is the pass key? The pass key is\n");
  CHECK(std::fabs(static_cast<double>(exact.out.size()) - 300.0) <= 3.0);  // BOS + bytes, - '\n'
}

TEST_CASE(
    "--summary: the tables again from the JSON lines, with intervals and the comparison SVG") {
  const std::string model = eval_test::byte_model();
  const fs::path json_path = eval_test::scratch() / "summary.jsonl";
  const std::string prefix = (eval_test::scratch() / "sum").string();
  const auto live = eval_test::run(kPasskey, {"-m",
                                              model,
                                              "--bytes",
                                              "--fit",
                                              "train",
                                              "--lengths",
                                              "256,320",
                                              "--depths",
                                              "0,1",
                                              "--trials",
                                              "3",
                                              "--methods",
                                              "rope,string:S=64:W=16",
                                              "--json",
                                              json_path.string(),
                                              "--svg",
                                              prefix,
                                              "--quiet",
                                              "-t",
                                              "1"});
  REQUIRE_MESSAGE(live.code == 0, live.err);
  CHECK(live.out.find("95% intervals") != std::string::npos);
  CHECK(live.out.find("difference to rope") != std::string::npos);
  CHECK(live.out.find("effective length (accuracy >= 80%") != std::string::npos);
  CHECK(fs::exists(prefix + ".compare.svg"));
  const auto again =
      eval_test::run(kPasskey, {"--summary", json_path.string(), "--svg", prefix + "2"});
  REQUIRE_MESSAGE(again.code == 0, again.err);
  CHECK(again.out.find("summary of " + json_path.string() + ": 24 records") != std::string::npos);
  const std::string tables = lines_between(live.out, "length", "24 generations");
  CHECK(tables.find("overall") != std::string::npos);
  CHECK(lines_between(again.out, "length", "") == tables);
  CHECK(eval_test::slurp(prefix + "2.compare.svg") == eval_test::slurp(prefix + ".compare.svg"));
  // Each row's k/n counted here from the JSON lines.
  int rope_correct = 0, rope_n = 0;
  for (const json& j : eval_test::parse_json_lines(eval_test::slurp(json_path)))
    if (field(j, "method").s == "rope" && field(j, "target_length").n == 320) {
      ++rope_n;
      rope_correct += field(j, "correct").b ? 1 : 0;
    }
  CHECK(rope_n == 6);
  const std::string count = std::to_string(rope_correct) + "/6";
  bool seen = false;
  std::istringstream rows(again.out);
  for (std::string line; std::getline(rows, line);)
    if (line.rfind("320 ", 0) == 0 && line.find(" rope ") != std::string::npos)
      seen = line.find(" " + count + " ") != std::string::npos;
  CHECK_MESSAGE(seen, again.out);
  // --threshold moves the effective-length line only.
  const auto strict =
      eval_test::run(kPasskey, {"--summary", json_path.string(), "--threshold", "1"});
  REQUIRE(strict.code == 0);
  CHECK(strict.out.find("(accuracy >= 100%") != std::string::npos);
}

TEST_CASE("--summary and --threshold: bad input exits 2 with one line") {
  const fs::path garbled = eval_test::scratch() / "garbled.jsonl";
  {
    std::ofstream f(garbled);
    f << "{\"task\":\"passkey\",\"model\":\"m\",\"method\":\"rope\",\"label\":\"rope\","
         "\"length\":9,\"target_length\":9,\"depth\":0,\"correct\":true}\n{\"task\":\n";
  }
  const std::string model = eval_test::byte_model();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--summary", (eval_test::scratch() / "missing.jsonl").string()}, "--summary: cannot open"},
      {{"--summary", garbled.string()}, "garbled.jsonl:2:"},
      {{"--summary", garbled.string(), "-m", model}, "--summary: cannot be combined with -m"},
      {{"--summary", garbled.string(), "--threshold", "0"}, "--threshold"},
      {{"--summary", garbled.string(), "--threshold", "1.5"}, "--threshold"},
      {{"-m", model, "--bytes", "--threshold", "x"}, "--threshold"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.second);
    check_one_line_error(eval_test::run(kPasskey, c.first), c.second);
  }
}
