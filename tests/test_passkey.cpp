// Tests of the evaluation harness's logic (examples/eval/*.hpp): the prompt
// builder (lengths, depths, keys, seeds, needles, tools/train's documents
// against data.py), the scorer, the method parser and the report writers.
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
#include "../examples/eval/methods.hpp"
#include "../examples/eval/prompt.hpp"
#include "../examples/eval/report.hpp"
#include "../examples/eval/score.hpp"
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
  const std::string literal = eval::json_string("a\"b\\c\nd\x01\x7f");
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
