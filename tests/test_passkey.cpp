// Tests of the evaluation harness's logic (examples/eval/*.hpp): the prompt
// builder (lengths, depths, keys, seeds, needles, tools/train's documents
// against data.py), the scorer, the method parser, the report writers
// (intervals, effective length, the side-by-side SVG) and the JSON-lines
// summary reader.
// Positions of keys are found independently here: by searching the key's
// digits in the prompt's bytes (byte-level codec) or by decoding growing
// prefixes of the prompt (tokenizer codec).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../examples/eval/codec.hpp"
#include "../examples/eval/compare_svg.hpp"
#include "../examples/eval/methods.hpp"
#include "../examples/eval/prompt.hpp"
#include "../examples/eval/report.hpp"
#include "../examples/eval/score.hpp"
#include "../examples/eval/summary.hpp"
#include "eval_test_util.hpp"
#include "model_test_util.hpp"

using eval::prompt;
using eval::prompt_builder;
using eval::prompt_options;

namespace {

// Decoded text of the prompt's tokens after BOS (byte codec: the bytes).
std::string text_of(const prompt& p) {
  std::string s;
  for (std::size_t i = 1; i < p.tokens.size(); ++i) s += static_cast<char>(p.tokens[i]);
  return s;
}

// Token index of the first digit of `key` in a byte-level prompt.
std::int64_t byte_key_pos(const prompt& p, const std::string& key) {
  const std::size_t at = text_of(p).find(key);
  REQUIRE(at != std::string::npos);
  return static_cast<std::int64_t>(at) + 1;  // token 0 is BOS
}

// The tokenizer codec over tok512 (nullptr when the shared data is absent).
std::unique_ptr<eval::text_codec> tok512_codec() {
  const std::string path = model_test::shared("tok512.bin");
  if (!model_test::have({path})) return nullptr;
  auto tok = std::make_shared<const shiftrope::tokenizer>(
      shiftrope::tokenizer::from_llama2c(shiftrope::read_llama2c_vocab(path, 512)));
  return std::make_unique<eval::text_codec>(eval::text_codec::from(tok, true));
}

// Index of the first token whose decoded prefix holds a digit (independent
// of the builder: decodes prefixes of the whole prompt; "holds a digit"
// grows with the prefix, so a binary search finds the first).
std::int64_t decoded_digit_pos(const eval::text_codec& c, const prompt& p) {
  const auto has_digit = [&](std::size_t n) {
    return c.decode({p.tokens.begin(), p.tokens.begin() + static_cast<std::ptrdiff_t>(n)})
               .find_first_of("0123456789") != std::string::npos;
  };
  if (!has_digit(p.tokens.size())) return -1;
  std::size_t lo = 0, hi = p.tokens.size();  // has_digit(lo) false, has_digit(hi) true
  while (hi - lo > 1) {
    const std::size_t mid = (lo + hi) / 2;
    (has_digit(mid) ? hi : lo) = mid;
  }
  return static_cast<std::int64_t>(hi) - 1;
}

const std::vector<double> kDepths = {0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0};

// Lengths within max(1, 1%), depths ordered and placed at depth × filler
// (within one sentence), both checked against positions found independently.
void check_builder(const eval::text_codec& codec, prompt_options o,
                   const std::vector<std::int64_t>& lengths, std::int64_t max_sentence) {
  prompt_builder b(codec, o);
  for (int trial = 0; trial < 3; ++trial)
    for (const std::int64_t target : lengths) {
      CAPTURE(trial);
      CAPTURE(target);
      const std::vector<prompt> ps = b.build(trial, target, kDepths);
      REQUIRE(ps.size() == kDepths.size());
      const std::int64_t first = ps.front().key_pos[0], last = ps.back().key_pos[0];
      for (std::size_t d = 0; d < ps.size(); ++d) {
        const prompt& p = ps[d];
        const auto n = static_cast<std::int64_t>(p.tokens.size());
        CHECK(std::llabs(n - target) <= std::max<std::int64_t>(1, target / 100));
        CHECK(p.tokens.size() == ps[0].tokens.size());  // same filler, the needle moved
        const std::int64_t found =
            codec.byte_level() ? byte_key_pos(p, p.keys[0]) : decoded_digit_pos(codec, p);
        CHECK(found == p.key_pos[0]);
        // depth 0 / 1: the needle's key right after the instruction / before the question
        const double rel = last > first ? static_cast<double>(p.key_pos[0] - first) /
                                              static_cast<double>(last - first)
                                        : kDepths[d];
        CHECK(std::fabs(rel - kDepths[d]) * static_cast<double>(last - first) <=
              static_cast<double>(max_sentence) / 2 + 1);
        if (d > 0) CHECK(p.key_pos[0] >= ps[d - 1].key_pos[0]);
      }
    }
}

}  // namespace

TEST_CASE("splitmix64 matches tools/train's test vector") {
  eval::splitmix64 r{0};
  CHECK(r.next() == 16294208416658607535ull);
  CHECK(r.next() == 7960286522194355700ull);
  CHECK(r.next() == 487617019471545679ull);
}

TEST_CASE("scorer: the first digit run must be the key") {
  for (const char* ok : {"12345", "12345.", " 12345 is", "12345\n", ": 12345!", "is 12345 and 7"})
    CHECK_MESSAGE(eval::passkey_correct(ok, "12345"), ok);
  for (const char* bad :
       {"1234", "123456", "012345", "7 12345", "", " no digits", "12,345", "1234 5", "112345"})
    CHECK_MESSAGE(!eval::passkey_correct(bad, "12345"), bad);
  const std::vector<std::string> keys{"111111", "222222", "333333", "444444"};
  CHECK(eval::keys_found(" 111111, 222222, 333333 and 444444.", keys) == 4);
  CHECK(eval::keys_found(" 444444 111111 111111", keys) == 2);   // each key once
  CHECK(eval::keys_found(" 1111112 22222 3333333", keys) == 0);  // partial / longer runs
  CHECK(eval::digit_runs("a1b22c333").size() == 3);
}

TEST_CASE("prompt builder (byte codec): lengths, depths, key positions") {
  const eval::text_codec codec = eval::text_codec::bytes();
  prompt_options o;
  o.style = eval::prompt_style::train;
  o.filler = eval::filler_kind::grammar;
  check_builder(codec, o, {197, 198, 205, 256, 300, 512, 777, 1024, 2000}, 50);
  o.style = eval::prompt_style::paper;
  o.filler = eval::filler_kind::story;
  check_builder(codec, o, {260, 300, 512, 1500}, 50);
  o.filler = eval::filler_kind::grass;
  check_builder(codec, o, {260, 301, 512, 999}, 25);
}

TEST_CASE("prompt builder (tok512 codec): lengths, depths, key positions") {
  const auto codec = tok512_codec();
  if (!codec) return;
  prompt_options o;  // paper format, story filler
  check_builder(*codec, o, {160, 192, 256, 384, 461, 512, 1000}, 20);
  o.filler = eval::filler_kind::grass;
  check_builder(*codec, o, {192, 300}, 12);
  // The paper's strings, verbatim, around the needle at depth 0.
  prompt_builder b(*codec, o);
  const prompt p = b.build(0, 256, {0.0})[0];
  const std::string text = codec->decode(p.tokens);
  CHECK(text.rfind(
            "There is an important info hidden inside a lot of irrelevant text. Find it and "
            "memorize it. I will quiz you about the important information there. The pass key is " +
                p.keys[0] + ". Remember it. " + p.keys[0] + " is the pass key. ",
            0) == 0);
  CHECK(text.size() > 40);
  CHECK(text.substr(text.size() - 38) == " What is the pass key? The pass key is");
}

TEST_CASE("keys: distinct across trials, 5 digits, the same prompts for the same seed") {
  const eval::text_codec codec = eval::text_codec::bytes();
  prompt_options o;
  prompt_builder a(codec, o), b(codec, o);
  std::set<std::string> keys;
  for (int t = 0; t < 200; ++t) {
    const std::string k = a.keys(t)[0];
    CHECK(k.size() == 5);
    CHECK(k[0] != '0');
    keys.insert(k);
    CHECK(a.build(t, 300, {0.5})[0].tokens == b.build(t, 300, {0.5})[0].tokens);
  }
  CHECK(keys.size() == 200);
  o.seed = 43;
  prompt_builder c(codec, o);
  CHECK(c.build(0, 300, {0.5})[0].tokens != a.build(0, 300, {0.5})[0].tokens);
  o.key_digits = 6;
  prompt_builder d(codec, o);
  CHECK(d.keys(0)[0].size() == 6);
}

TEST_CASE("needles: four keys, one per quarter, in increasing positions") {
  const eval::text_codec codec = eval::text_codec::bytes();
  prompt_options o;
  o.task = eval::task_kind::needles;
  o.key_digits = 6;
  prompt_builder b(codec, o);
  for (const double depth : {0.0, 0.5, 1.0}) {
    const prompt p = b.build(1, 2000, {depth})[0];
    REQUIRE(p.keys.size() == 4);
    CHECK(std::set<std::string>(p.keys.begin(), p.keys.end()).size() == 4);
    const std::string text = text_of(p);
    CHECK(text.find("One of the magic number is: ") != std::string::npos);
    const std::string question =
        " What are the magic numbers mentioned in the provided text? The numbers are";
    CHECK(text.substr(text.size() - question.size()) == question);
    // Filler spans [start, end): from after the instruction to before the question.
    const double start =
        static_cast<double>(codec.encode_first(templates_for(o.style, o.task).instruction).size());
    const double end = static_cast<double>(p.tokens.size() - question.size());
    for (std::size_t j = 0; j < 4; ++j) {
      CAPTURE(j);
      const std::int64_t pos = byte_key_pos(p, p.keys[j]);
      CHECK(pos == p.key_pos[j]);
      if (j > 0) CHECK(pos > p.key_pos[j - 1]);
      const double rel = (static_cast<double>(pos) - start) / (end - start);
      CHECK(rel >= (static_cast<double>(j) + depth) / 4 - 0.05);
      CHECK(rel <= (static_cast<double>(j) + depth) / 4 + 0.1);
    }
    CHECK(p.n_gen == static_cast<int>(std::string(" 123456, 123456, 123456, 123456.").size()) + 4);
  }
}

TEST_CASE("lengths below the fixed part are refused with the numbers") {
  const eval::text_codec codec = eval::text_codec::bytes();
  prompt_builder b(codec, prompt_options{});
  const std::int64_t fixed = b.fixed_tokens(0);
  CHECK(b.build(0, fixed, {0.0, 1.0})[0].tokens.size() == static_cast<std::size_t>(fixed));
  try {
    (void)b.build(0, fixed - 1, {0.5});
    FAIL("no error");
  } catch (const shiftrope::error& e) {
    CHECK(std::string(e.what()).find("length " + std::to_string(fixed - 1) +
                                     " is below the prompt's fixed part (" +
                                     std::to_string(fixed)) != std::string::npos);
  }
}

namespace {

// Lines of the golden file: doc_len, depth, key, needle_key_pos, text.
struct golden_doc {
  std::int64_t doc_len;
  double depth;
  std::string key;
  std::int64_t key_pos;
  std::string text;
};

std::vector<golden_doc> read_golden(const std::string& content) {
  std::vector<golden_doc> out;
  std::istringstream in(content);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    golden_doc g;
    std::string len, depth, pos;
    std::getline(f, len, '\t');
    std::getline(f, depth, '\t');
    std::getline(f, g.key, '\t');
    std::getline(f, pos, '\t');
    std::getline(f, g.text);
    g.doc_len = std::stoll(len);
    g.depth = std::stod(depth);
    g.key_pos = std::stoll(pos);
    out.push_back(g);
  }
  return out;
}

// The builder's fit-train documents for the golden's (doc_len, depths, 2).
void check_train_documents(const std::vector<golden_doc>& golden) {
  REQUIRE(!golden.empty());
  const eval::text_codec codec = eval::text_codec::bytes();
  prompt_options o;
  o.style = eval::prompt_style::train;
  o.filler = eval::filler_kind::grammar;
  o.fit = eval::fit_mode::train;
  o.seed = 1000;
  prompt_builder b(codec, o);
  CHECK(b.train_fixed_len() == 197);
  std::size_t i = 0;
  for (const std::int64_t len : {256, 320}) {
    const std::vector<prompt> ps = b.build_train_documents(len, {0.0, 0.5, 1.0}, 2);
    for (const prompt& p : ps) {
      REQUIRE(i < golden.size());
      const golden_doc& g = golden[i++];
      CAPTURE(i);
      CHECK(g.doc_len == len);
      CHECK(g.depth == p.depth);
      CHECK(p.keys[0] == g.key);
      CHECK(p.key_pos[0] == g.key_pos);
      CHECK(p.tokens[0] == 256);
      CHECK(text_of(p) == g.text);
    }
  }
  CHECK(i == golden.size());
}

}  // namespace

TEST_CASE("fit train rebuilds tools/train's evaluation documents (committed golden)") {
  check_train_documents(
      read_golden(eval_test::slurp(SHIFTROPE_TEST_DATA_DIR "/passkey_train_documents.tsv")));
}

TEST_CASE("fit train rebuilds the documents of the current tools/train/data.py (python3)") {
  // Opt-in: tools/train/data.py evolves with the training recipe, and the
  // committed golden above is what the suite pins. Set
  // SHIFTROPE_CHECK_TRAIN_DATA=1 to compare against the live generator.
  const char* opt_in = std::getenv("SHIFTROPE_CHECK_TRAIN_DATA");
  if (!opt_in || std::string(opt_in) != "1") {
    shared_data::skip(
        "opt-in: set SHIFTROPE_CHECK_TRAIN_DATA=1 to compare with the live tools/train/data.py");
    return;
  }
  const std::string data_dir = SHIFTROPE_SOURCE_DIR "/tools/train";
  if (std::system("command -v python3 >/dev/null 2>&1") != 0 ||
      !eval_test::fs::exists(data_dir + "/data.py")) {
    shared_data::skip("python3 or tools/train/data.py is absent");
    return;
  }
  const auto script = eval_test::scratch() / "docs.py";
  std::ofstream(script) << "import sys\nsys.path.insert(0, sys.argv[1])\nimport data\n"
                           "for L in (256, 320):\n"
                           "    for d, doc in data.eval_documents(1000, L, [0.0, 0.5, 1.0], 2):\n"
                           "        print('%d\\t%g\\t%d\\t%d\\t%s' % (L, d, doc.key, "
                           "doc.needle_key_pos, bytes(doc.prompt[1:]).decode('ascii')))\n";
  const auto out = eval_test::scratch() / "docs.tsv";
  const std::string cmd = "python3 " + eval_test::shell_quote(script.string()) + " " +
                          eval_test::shell_quote(data_dir) + " > " +
                          eval_test::shell_quote(out.string()) + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) {
    shared_data::skip("python3 could not run tools/train/data.py");
    return;
  }
  check_train_documents(read_golden(eval_test::slurp(out)));
}

TEST_CASE("methods: defaults from L, parameters, errors naming the flag") {
  const auto ms = eval::parse_methods(
      "--methods",
      "rope,string,string:S=100:W=20,string:ratio=0.25,self-extend:G=2:Wn=16,rope:scale=ref", 512);
  REQUIRE(ms.size() == 6);
  CHECK(ms[0].label == "rope");
  CHECK(std::get<shiftrope::string_remap>(ms[1].positions).shift == 168);  // floor(0.33·512)
  CHECK(std::get<shiftrope::string_remap>(ms[1].positions).window == 128);
  CHECK(ms[2].label == "string(S=100,W=20)");
  CHECK(ms[2].params_json == "{\"S\":100,\"W\":20,\"scale\":1}");
  CHECK(std::get<shiftrope::string_remap>(ms[3].positions).shift == 128);
  CHECK(std::get<shiftrope::string_remap>(ms[3].positions).window == 127);  // min(128, S - 1)
  REQUIRE(ms[4].self_extend);
  CHECK(ms[4].self_extend->group == 2);
  CHECK(ms[4].self_extend->neighbor_window == 16);
  CHECK(ms[4].label == "self-extend(G=2,Wn=16)");
  CHECK(std::abs(ms[5].logit_scale - shiftrope::string_reference_logit_scale) < 1e-15);
  const auto se = eval::parse_methods("--methods", "self-extend", 512);
  CHECK(se[0].self_extend->group == 4);
  CHECK(se[0].self_extend->neighbor_window == 64);  // L / 8
  const auto error = [](const char* list) {
    try {
      (void)eval::parse_methods("--methods", list, 512);
    } catch (const cli::cli_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error("rope,,string").find("--methods: empty method") == 0);
  CHECK(error("alibi").find("unknown method 'alibi'") != std::string::npos);
  CHECK(error("string:S=600").find("shift (S) must be < train_len (L)") != std::string::npos);
  CHECK(error("string:S=100:W=100").find("window (W) must be < shift (S)") != std::string::npos);
  CHECK(error("string:S=10:ratio=0.2").find("cannot be combined") != std::string::npos);
  CHECK(error("string:X=1").find("unknown parameter 'X'") != std::string::npos);
  CHECK(error("string:S").find("expected KEY=VALUE") != std::string::npos);
  CHECK(error("self-extend:G=0").find("G") != std::string::npos);
  CHECK(error("rope:scale=-1").find("scale must be > 0") != std::string::npos);
  CHECK(error("string:S=5:S=6").find("given twice") != std::string::npos);
  CHECK(error("rope").find("no error") == 0);
}

TEST_CASE("report: JSON strings, slugs, the table and the heatmap's structure") {
  eval_test::json v;
  const std::string literal = json::string("a\"b\\c\nd\x01\x7f");
  eval_test::json_parser p(literal);
  REQUIRE(p.parse(v));
  CHECK(v.s == "a\"b\\c\nd\x01\x7f");
  CHECK(eval::slug("string(S=168,W=128)*1.14343") == "string_S_168_W_128_1.14343");
  CHECK(eval::slug("self-extend(G=4,Wn=64)") == "self-extend_G_4_Wn_64");
  eval::sweep_results res(2, 3, 2);
  res.at(1, 2, 1) = {1.0, 1, 1, 500};
  res.at(1, 0, 0) = {0.5, 1, 2, 256};
  const std::vector<std::int64_t> lengths{256, 384, 512};
  const std::vector<double> depths{0.0, 1.0};
  std::vector<eval_test::xml_element> el;
  const std::string svg =
      eval::heatmap_svg(res, 1, "passkey: string(S=1,W=0) & <x>", lengths, depths);
  REQUIRE(eval_test::check_xml(svg, el) == "");
  CHECK(el[0].name == "svg");
  std::set<std::pair<std::string, std::string>> cells;
  for (const auto& e : el) {
    if (e.name == "title") CHECK(e.text == "passkey: string(S=1,W=0) & <x>");
    if (e.name == "rect" && e.attrs.count("class") && e.attrs.at("class") == "cell") {
      cells.emplace(e.attrs.at("data-length"), e.attrs.at("data-depth"));
      if (e.attrs.at("data-length") == "512" && e.attrs.at("data-depth") == "1")
        CHECK(e.attrs.at("data-accuracy") == "1");
      if (e.attrs.at("data-length") == "256" && e.attrs.at("data-depth") == "0")
        CHECK(e.attrs.at("data-accuracy") == "0.25");
    }
  }
  CHECK(cells.size() == 6);
  std::vector<eval_test::xml_element> bad;
  CHECK(eval_test::check_xml("<svg><rect></svg>", bad) != "");  // the checker can fail
  const auto methods = eval::parse_methods("--methods", "rope,string", 512);
  const std::string table = eval::accuracy_table(res, methods, lengths, false);
  CHECK(table.find("length") == 0);
  CHECK(table.find("overall") != std::string::npos);
  CHECK(table.find("100.0%") != std::string::npos);  // method 1, length 512
}

namespace {

// The Wilson interval as the roots of (1 + z^2/n) pi^2 - (2p + z^2/n) pi + p^2 = 0,
// and Newcombe's hybrid difference from two of them, written here.
std::pair<double, double> wilson_roots(double k, double n) {
  const double z = 1.959963984540054, p = k / n, z2 = z * z;
  const double a = 1 + z2 / n, b = -(2 * p + z2 / n), c = p * p;
  const double disc = std::sqrt(b * b - 4 * a * c);
  return {std::max(0.0, (-b - disc) / (2 * a)), std::min(1.0, (-b + disc) / (2 * a))};
}

std::string printed(const char* format, double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

// The line of `text` that starts with `first` and contains `part`.
std::string line_with(const std::string& text, const std::string& first, const std::string& part) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(first, 0) == 0 && line.find(part) != std::string::npos) return line;
  return "";
}

}  // namespace

TEST_CASE("report: intervals, differences to rope, the effective length, side-by-side SVG") {
  eval::sweep_results res(2, 2, 2);  // methods rope, string; lengths 256, 512; depths 0, 1
  res.at(0, 0, 0) = {5, 5, 5, 1000};
  res.at(0, 0, 1) = {4, 4, 5, 1000};
  res.at(1, 0, 0) = {5, 5, 5, 1000};
  res.at(1, 0, 1) = {5, 5, 5, 1000};
  res.at(0, 1, 0) = {48, 48, 110, 0};  // rope at 512: 148 of 220
  res.at(0, 1, 1) = {100, 100, 110, 0};
  res.at(1, 1, 0) = {96, 96, 110, 0};  // string at 512: 196 of 220
  res.at(1, 1, 1) = {100, 100, 110, 0};
  const std::vector<std::int64_t> lengths{256, 512};
  const auto methods = eval::parse_methods("--methods", "rope,string:S=256:W=64", 512);
  const std::string table = eval::interval_table(res, methods, lengths, false);
  const auto [l1, u1] = wilson_roots(196, 220);
  const auto [l2, u2] = wilson_roots(148, 220);
  const double p1 = 196.0 / 220, p2 = 148.0 / 220;
  const double dlo = p1 - p2 - std::hypot(p1 - l1, u2 - p2);
  const double dhi = p1 - p2 + std::hypot(u1 - p1, p2 - l2);
  const std::string row = line_with(table, "512", "string(S=256,W=64)");
  INFO(table);
  REQUIRE(!row.empty());
  CHECK(row.find("196/220") != std::string::npos);
  CHECK(row.find(printed("%.1f", 100 * p1) + "% [" + printed("%.1f", 100 * l1) + ", " +
                 printed("%.1f", 100 * u1) + "]") != std::string::npos);
  CHECK(row.find(printed("%+.1f", 100 * (p1 - p2)) + " [" + printed("%+.1f", 100 * dlo) + ", " +
                 printed("%+.1f", 100 * dhi) + "]") != std::string::npos);
  CHECK(row.find("+21.8 [") != std::string::npos);  // 48/220 by hand
  const std::string rope_row = line_with(table, "512", "rope");
  CHECK(rope_row.find("148/220") != std::string::npos);
  CHECK(rope_row.find("[+") == std::string::npos);  // no difference to itself
  CHECK(line_with(table, "overall", "string").find("206/230") != std::string::npos);
  CHECK(line_with(table, "256", "rope").find("9/10") != std::string::npos);
  // Effective length at 80%: rope 9/10 then 148/220 (67%); string 10/10, 196/220 (89%).
  CHECK(eval::effective_length_line(res, methods, lengths, 0.8) ==
        "effective length (accuracy >= 80% at every length up to it): rope 256, "
        "string(S=256,W=64) 512\n");
  CHECK(eval::effective_length_line(res, methods, lengths, 0.95).find("rope none") !=
        std::string::npos);
  // Side by side: rope, string, string - rope; 2 x 2 cells each.
  const std::string svg = eval::comparison_svg(res, methods, eval::baseline_index(methods),
                                               "passkey & <both>", lengths, {0.0, 1.0});
  std::vector<eval_test::xml_element> el;
  REQUIRE(eval_test::check_xml(svg, el) == "");
  int cells = 0;
  for (const auto& e : el) {
    if (e.name != "rect" || !e.attrs.count("class") || e.attrs.at("class") != "cell") continue;
    ++cells;
    if (e.attrs.at("data-panel") == "2" && e.attrs.at("data-length") == "512" &&
        e.attrs.at("data-depth") == "0")
      CHECK(std::stod(e.attrs.at("data-value")) == doctest::Approx((96.0 - 48.0) / 110.0));
    if (e.attrs.at("data-panel") == "0" && e.attrs.at("data-length") == "256" &&
        e.attrs.at("data-depth") == "1")
      CHECK(std::stod(e.attrs.at("data-value")) == doctest::Approx(0.8));
  }
  CHECK(cells == 3 * 2 * 2);
}

TEST_CASE("summary: JSON lines back into cells, and errors name the line") {
  const std::string lines =
      "{\"task\":\"passkey\",\"model\":\"m.gguf\",\"method\":\"rope\",\"label\":\"rope\","
      "\"params\":{\"scale\":1},\"length\":480,\"target_length\":512,\"depth\":1,\"trial\":0,"
      "\"key\":\"12345\",\"key_pos\":[9],\"output\":\" 12345.\",\"correct\":true}\n"
      "\n"
      "{\"task\":\"passkey\",\"model\":\"m.gguf\",\"method\":\"string\",\"label\":\"string(S=2,W=1)"
      "\","
      "\"length\":230,\"target_length\":256,\"depth\":0,\"correct\":false,\"output\":\"\\u0001\"}\n"
      "{\"task\":\"passkey\",\"model\":\"m.gguf\",\"method\":\"rope\",\"label\":\"rope\","
      "\"length\":228,\"target_length\":256,\"depth\":0,\"correct\":true}\n"
      "{\"task\":\"passkey\",\"model\":\"m.gguf\",\"method\":\"rope\",\"label\":\"rope\","
      "\"length\":484,\"target_length\":512,\"depth\":1,\"correct\":false}\n";
  std::istringstream in(lines);
  const eval::summary s = eval::read_summary(in, "x.jsonl");
  CHECK(s.records == 4);
  CHECK(s.task == "passkey");
  CHECK(s.model == "m.gguf");
  REQUIRE(s.methods.size() == 2);
  CHECK(s.methods[0].label == "rope");  // first appearance
  CHECK(s.methods[1].name == "string");
  CHECK(s.lengths == std::vector<std::int64_t>{256, 512});
  CHECK(s.depths == std::vector<double>{0.0, 1.0});
  const auto& c = s.results.at(0, 1, 1);  // rope, 512, depth 1: one of two
  CHECK(c.count == 2);
  CHECK(c.score == 1.0);
  CHECK(c.tokens == 480 + 484);
  CHECK(s.results.at(1, 0, 0).count == 1);
  CHECK(s.results.at(1, 0, 0).score == 0.0);
  CHECK(s.results.at(1, 1, 1).count == 0);
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"{\"task\":\"passkey\"}\n", "x.jsonl:1: field \"model\""},
           {lines + "{\"task\":\"passkey\",\"model\":\"m\",\"method\":\"rope\"\n", "x.jsonl:6:"},
           {lines + "not json\n", "x.jsonl:6:"},
           {lines + "{\"task\":\"needles\"}\n", "x.jsonl:6: task"},
           {"\n\n", "no records"}}) {
    std::istringstream bad(text);
    std::string message;
    try {
      (void)eval::read_summary(bad, "x.jsonl");
    } catch (const shiftrope::error& e) {
      message = e.what();
    }
    CHECK_MESSAGE(message.find(what) != std::string::npos, message);
  }
}
