// examples/passkey.cpp - shiftrope-passkey: the long-context retrieval sweep
// (passkey, or the paper's 4-needle NIAH) over lengths × depths × methods
// on one model, with 95% intervals; --summary recomputes the tables from a
// run's JSON lines. The logic lives in examples/eval/*.hpp; run with --help.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <shiftrope/model.hpp>
#include <string>
#include <vector>

#include "cli.hpp"
#include "eval/codec.hpp"
#include "eval/compare_svg.hpp"
#include "eval/methods.hpp"
#include "eval/prompt.hpp"
#include "eval/report.hpp"
#include "eval/summary.hpp"
#include "eval/sweep.hpp"
#include "session_memory.hpp"

namespace {

constexpr const char* kProgram = "shiftrope-passkey";

constexpr const char* kHelp =
    R"HELP(usage: shiftrope-passkey -m MODEL [-z TOKENIZER | --bytes] [options]
       shiftrope-passkey --summary FILE [--threshold X] [--svg PREFIX]

Hides a random key in filler text at several depths and lengths, asks for it,
decodes greedily and scores exact matches, for each position method. Prints
the accuracy per length and method, the same with 95% intervals (Wilson) and
each method's difference to rope (Newcombe's hybrid score interval), and the
effective length of each method.

Model:
  -m FILE            GGUF file or llama2.c checkpoint
  -z FILE            llama2.c tokenizer.bin (a GGUF file carries its own)
  --bytes            byte-level vocabulary (tools/train's model: id = byte, BOS 256, EOS 257)
  --train-len L      training length L (default: the file's; stories260K.gguf claims
                     2048 for a model trained at 512)

Task and prompts:
  --task T           passkey (default): one 5-digit key; needles: the paper's NIAH,
                     four 6-digit keys, needle j at (j + depth)/4 of the filler,
                     scored as the fraction found (and >= 2 of 4)
  --format F         paper (the STRING repository's / llama.cpp's strings), train
                     (tools/train/data.py's), or auto (default: train with --bytes)
  --filler K         story (default for paper), grammar (data.py's, default for
                     train) or grass (llama.cpp's five sentences)
  --fit M            exact (default): each prompt has the length in tokens within
                     max(1, 1%); train: data.py's make_document (lengths are doc_len
                     in bytes; --seed 1000 rebuilds passkey_eval.py's prompts)
  --key-digits N     digits per key (default 5, needles 6; train: 5)
  --seed S           seed of keys and filler (default 42)
  --gen N            tokens to decode (default: the answer's + 4)

Sweep:
  --lengths LIST     comma-separated token counts (512) or fractions of L (0.5)
                     (default 0.25,0.5,0.75,0.9,1.0; defaults too short for the
                     prompt's fixed part are skipped)
  --depths LIST      needle depths in [0, 1] (default 0,0.1,...,1)
  --trials N         prompts per (length, depth), each with other keys (default 1)
  --methods LIST     default rope,string; each rope | string[:S=..][:W=..] |
                     string:ratio=R[:W=..] | self-extend[:G=4][:Wn=L/8], and
                     [:scale=X|ref] (logit factor) on any
  --no-reuse         feed every prompt whole (default: reuse the prefix shared
                     with the previous depth)

Runtime:
  --ctx N            context positions (default: the longest prompt + generation)
  --batch N          prefill chunk (default 256)
  --kv-type T        f32 (default), f16, bf16, q8_0
  -t N               threads

Output:
  --json FILE        one JSON object per generation (length, depth, method, params,
                     key, output, correct, ...)
  --svg PREFIX       PREFIX.<method>.svg: a depth x length heatmap per method; with
                     two methods or more also PREFIX.compare.svg: all of them side
                     by side, then each method's difference to rope
  --threshold X      accuracy in (0, 1] that defines the effective length: the
                     longest length with accuracy >= X there and at every shorter
                     length (default 0.8)
  --print-prompt     print the first prompt of the sweep (first length, first depth,
                     trial 0) as text on stdout and its key on stderr, and exit: a
                     prompt in the model's own template for shiftrope-generate -p
  --summary FILE     no model: read a --json file and print the tables, intervals
                     and effective lengths again from its records (with --svg, the
                     heatmaps too)
  --quiet            no progress on stderr
  --help, -h         this text

Exit status: 0 on success, 2 on bad flags or input, or too little memory for them
(one line on stderr), 1 otherwise.
)HELP";

const std::initializer_list<cli::flag_spec> kFlags = {
    {"-m", true},           {"-z", true},
    {"--bytes", false},     {"--train-len", true},
    {"--task", true},       {"--format", true},
    {"--filler", true},     {"--fit", true},
    {"--key-digits", true}, {"--seed", true},
    {"--gen", true},        {"--lengths", true},
    {"--depths", true},     {"--trials", true},
    {"--methods", true},    {"--no-reuse", false},
    {"--ctx", true},        {"--batch", true},
    {"--kv-type", true},    {"-t", true},
    {"--json", true},       {"--svg", true},
    {"--quiet", false},     {"--threshold", true},
    {"--summary", true},    {"--print-prompt", false}};

// The file name of a path (the model's name in titles).
std::string base_name(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

constexpr std::int64_t kMaxLen = std::int64_t{1} << 30;

// --lengths: integers are tokens, numbers with a '.' fractions of L.
std::vector<std::int64_t> parse_lengths(const std::string& list, std::int64_t train_len) {
  std::vector<std::int64_t> out;
  for (const std::string_view item : eval::detail::split(list, ',')) {
    if (item.find('.') == std::string_view::npos) {
      out.push_back(cli::parse_int<std::int64_t>("--lengths", item, 1, kMaxLen));
      continue;
    }
    const double f = cli::parse_double("--lengths", item);
    const double tokens = std::round(f * static_cast<double>(train_len));
    if (!(f > 0.0) || tokens < 1 || tokens > static_cast<double>(kMaxLen))
      throw cli::cli_error("--lengths", "fraction " + cli::quoted(item) + " of L = " +
                                            std::to_string(train_len) + " is not a length");
    out.push_back(static_cast<std::int64_t>(tokens));
  }
  return out;
}

std::vector<double> parse_depths(const std::string& list) {
  std::vector<double> out;
  for (const std::string_view item : eval::detail::split(list, ',')) {
    const double d = cli::parse_double("--depths", item);
    if (d < 0.0 || d > 1.0)
      throw cli::cli_error("--depths", "depth must be in [0, 1], got " + cli::quoted(item));
    out.push_back(d);
  }
  return out;
}

eval::prompt_options parse_prompt_options(const cli::args& a, bool bytes) {
  eval::prompt_options o;
  o.task = a.get_choice("--task", {"passkey", "needles"}, "passkey") == "needles"
               ? eval::task_kind::needles
               : eval::task_kind::passkey;
  const std::string format = a.get_choice("--format", {"auto", "paper", "train"}, "auto");
  o.style = format == "train" || (format == "auto" && bytes) ? eval::prompt_style::train
                                                             : eval::prompt_style::paper;
  const std::string filler =
      a.get_choice("--filler", {"story", "grammar", "grass"},
                   o.style == eval::prompt_style::train ? "grammar" : "story");
  o.filler = filler == "grammar" ? eval::filler_kind::grammar
             : filler == "grass" ? eval::filler_kind::grass
                                 : eval::filler_kind::story;
  o.fit = a.get_choice("--fit", {"exact", "train"}, "exact") == "train" ? eval::fit_mode::train
                                                                        : eval::fit_mode::exact;
  const int digits_default =
      o.task == eval::task_kind::needles && o.style == eval::prompt_style::paper ? 6 : 5;
  o.key_digits = a.get_int<int>("--key-digits", 1, 18, digits_default);
  o.seed = a.get_int<std::uint64_t>("--seed", 0, UINT64_MAX, 42);
  o.gen_tokens = a.get_int<int>("--gen", 1, 4096, 0);
  try {
    o.validate();
  } catch (const shiftrope::error& e) {
    throw cli::cli_error(o.fit == eval::fit_mode::train ? "--fit" : "--key-digits", e.what());
  }
  return o;
}

// Lengths below the prompt's fixed part: an error when given, skipped (with
// a note) when defaulted.
std::vector<std::int64_t> usable_lengths(const cli::args& a, std::vector<std::int64_t> lengths,
                                         std::int64_t min_len) {
  std::vector<std::int64_t> out;
  for (const std::int64_t l : lengths) {
    if (l >= min_len) {
      out.push_back(l);
    } else if (a.has("--lengths")) {
      throw cli::cli_error("--lengths", "length " + std::to_string(l) +
                                            " is below the prompt's fixed part (" +
                                            std::to_string(min_len) + " tokens)");
    } else {
      std::fprintf(stderr, "%s: skipping default length %lld (the prompt needs %lld tokens)\n",
                   kProgram, static_cast<long long>(l), static_cast<long long>(min_len));
    }
  }
  if (out.empty()) throw cli::cli_error("--lengths", "no length fits the prompt");
  return out;
}

// Positions needed: the longest prompt (within the fit's tolerance) and its
// generation; --ctx, when given, must hold them.
shiftrope::session_params session_for(const cli::args& a, const eval::sweep_config& cfg,
                                      eval::prompt_builder& builder, std::int64_t train_len) {
  const std::int64_t longest = *std::max_element(cfg.lengths.begin(), cfg.lengths.end());
  const int n_gen = builder.gen_tokens(0);
  const std::int64_t needed = longest + eval::length_tolerance(longest) + n_gen + 8;
  shiftrope::session_params sp;
  sp.n_ctx = a.get_int<std::int64_t>("--ctx", 1, kMaxLen, needed);
  if (a.has("--ctx") && needed > sp.n_ctx)
    throw cli::cli_error("--ctx", "length " + std::to_string(longest) + " needs up to " +
                                      std::to_string(needed) + " positions (prompt, " +
                                      std::to_string(n_gen) + " generated tokens), above --ctx " +
                                      std::to_string(sp.n_ctx));
  sp.max_batch = a.get_int<int>("--batch", 1, 65536, 256);
  sp.kv =
      shiftrope::parse_kv_type(a.get_choice("--kv-type", {"f32", "f16", "bf16", "q8_0"}, "f32"));
  sp.train_len = train_len;
  sp.n_threads = a.get_int<int>("-t", 1, 1024, 0);
  return sp;
}

// The --json and --svg files, opened before the sweep so a bad path fails first.
struct outputs {
  std::optional<std::ofstream> json;
  std::vector<std::string> svg_names;  // PREFIX.<method>.svg, one per method
  std::vector<std::ofstream> svgs;
  std::string compare_name;  // PREFIX.compare.svg (two methods or more)
  std::optional<std::ofstream> compare;
};

void open_outputs(const cli::args& a, const std::vector<eval::method>& methods, outputs& o) {
  if (const auto path = a.value("--json")) {
    o.json.emplace(*path);
    if (!*o.json)
      throw cli::cli_error("--json", "cannot open " + cli::quoted(*path) + " for writing");
  }
  const auto prefix = a.value("--svg");
  if (!prefix) return;
  for (std::size_t i = 0; i < methods.size(); ++i) {
    std::string name = *prefix + "." + eval::slug(methods[i].label) + ".svg";
    if (std::find(o.svg_names.begin(), o.svg_names.end(), name) != o.svg_names.end())
      name = *prefix + "." + eval::slug(methods[i].label) + "_" + std::to_string(i) + ".svg";
    o.svg_names.push_back(name);
    o.svgs.emplace_back(name);
    if (!o.svgs.back()) throw cli::cli_error("--svg", "cannot open " + cli::quoted(name));
  }
  if (methods.size() < 2) return;
  o.compare_name = *prefix + ".compare.svg";
  o.compare.emplace(o.compare_name);
  if (!*o.compare) throw cli::cli_error("--svg", "cannot open " + cli::quoted(o.compare_name));
}

// The tables of a sweep (live or rebuilt by --summary): accuracy, intervals
// and differences, effective lengths.
void print_report(const eval::sweep_results& res, const std::vector<eval::method>& methods,
                  const std::vector<std::int64_t>& lengths, bool needles, double threshold) {
  std::fputs(eval::accuracy_table(res, methods, lengths, needles).c_str(), stdout);
  std::printf(
      "\n95%% intervals: accuracy (Wilson) and difference to rope in points (Newcombe's "
      "hybrid score;\nthe methods see the same prompts, so this unpaired interval is "
      "conservative)%s:\n",
      needles ? ", of the cases with >= 2 of 4 keys" : "");
  std::fputs(eval::interval_table(res, methods, lengths, needles).c_str(), stdout);
  std::fputs(eval::effective_length_line(res, methods, lengths, threshold).c_str(), stdout);
}

// The heatmaps: one per method, and all side by side with the differences.
void write_svgs(outputs& out, const eval::sweep_results& res,
                const std::vector<eval::method>& methods, const std::string& task,
                const std::string& model, const std::vector<std::int64_t>& lengths,
                const std::vector<double>& depths) {
  for (std::size_t i = 0; i < out.svgs.size(); ++i) {
    out.svgs[i] << eval::heatmap_svg(
        res, i, task + " accuracy: " + methods[i].label + " - " + model, lengths, depths);
    if (!out.svgs[i].flush()) shiftrope::fail("--svg: writing ", out.svg_names[i], " failed");
  }
  if (!out.compare) return;
  *out.compare << eval::comparison_svg(res, methods, eval::baseline_index(methods),
                                       task + " accuracy by needle depth and length - " + model,
                                       lengths, depths);
  if (!out.compare->flush()) shiftrope::fail("--svg: writing ", out.compare_name, " failed");
}

double threshold_of(const cli::args& a) {
  if (!a.has("--threshold")) return 0.8;
  const double t = a.get_double("--threshold", 0.0, 1.0);
  if (!(t > 0.0))
    throw cli::cli_error("--threshold", "must be in (0, 1], got " + *a.value("--threshold"));
  return t;
}

// --summary FILE: the report again from a --json file's records.
int run_summary(const cli::args& a) {
  for (const char* other : {"-m", "-z", "--bytes", "--json", "--print-prompt", "--methods",
                            "--lengths", "--depths", "--trials"})
    a.exclusive(other, "--summary");
  const double threshold = threshold_of(a);
  const std::string path = a.required("--summary");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw cli::cli_error("--summary", "cannot open " + cli::quoted(path));
  eval::summary s;
  try {
    s = eval::read_summary(in, path);
  } catch (const shiftrope::error& e) {
    throw cli::cli_error("--summary", e.what());
  }
  outputs out;
  open_outputs(a, s.methods, out);
  std::printf("%s: summary of %s: %lld records, task %s, model %s\n", kProgram, path.c_str(),
              static_cast<long long>(s.records), s.task.c_str(), s.model.c_str());
  print_report(s.results, s.methods, s.lengths, s.task == "needles", threshold);
  write_svgs(out, s.results, s.methods, s.task, base_name(s.model), s.lengths, s.depths);
  return 0;
}

// --print-prompt: the sweep's first prompt as text, its key on stderr.
int print_prompt(const eval::text_codec& codec, eval::prompt_builder& builder,
                 const eval::sweep_config& cfg) {
  const std::int64_t length = cfg.lengths.front();
  const eval::prompt p = builder.options().fit == eval::fit_mode::train
                             ? builder.build_train_documents(length, cfg.depths, cfg.trials).front()
                             : builder.build(0, length, cfg.depths).front();
  std::vector<int> ids = p.tokens;
  if (!ids.empty() && ids.front() == codec.bos()) ids.erase(ids.begin());
  std::string keys;
  for (const std::string& k : p.keys) keys += (keys.empty() ? "" : " ") + k;
  std::printf("%s\n", codec.decode(ids).c_str());
  std::fprintf(stderr,
               "%s: length %lld, depth %g, trial 0: %zu tokens (BOS included); answer: %s\n",
               kProgram, static_cast<long long>(length), p.depth, p.tokens.size(), keys.c_str());
  return std::fflush(stdout) == 0 ? 0 : 1;
}

// The sweep's methods, depths, trials and usable lengths.
eval::sweep_config sweep_for(const cli::args& a, eval::prompt_builder& builder,
                             std::int64_t train_len) {
  eval::sweep_config cfg;
  cfg.methods =
      eval::parse_methods("--methods", a.value("--methods").value_or("rope,string"), train_len);
  cfg.depths =
      parse_depths(a.value("--depths").value_or("0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1"));
  cfg.trials = a.get_int<int>("--trials", 1, 1 << 20, 1);
  cfg.reuse_prefix = !a.has("--no-reuse");
  std::int64_t min_len = builder.train_fixed_len();
  if (builder.options().fit == eval::fit_mode::exact) {
    min_len = 0;
    for (int t = 0; t < cfg.trials; ++t) min_len = std::max(min_len, builder.fixed_tokens(t));
  }
  cfg.lengths = usable_lengths(
      a, parse_lengths(a.value("--lengths").value_or("0.25,0.5,0.75,0.9,1.0"), train_len), min_len);
  return cfg;
}

int run(int argc, char** argv) {
  const cli::args a(argc, argv, kFlags);
  if (a.has("--summary")) return run_summary(a);
  const double threshold = threshold_of(a);
  const std::string model_path = a.required("-m");
  const eval::prompt_options po = parse_prompt_options(a, a.has("--bytes"));
  const shiftrope::model m = shiftrope::model::open(model_path);
  const eval::text_codec codec = eval::load_codec(m, a.value("-z"), a.has("--bytes"));
  const std::int64_t train_len =
      a.get_int<std::int64_t>("--train-len", 2, kMaxLen, m.config().train_len);
  eval::prompt_builder builder(codec, po);
  const eval::sweep_config cfg = sweep_for(a, builder, train_len);
  if (a.has("--print-prompt")) return print_prompt(codec, builder, cfg);
  const shiftrope::session_params sp = session_for(a, cfg, builder, train_len);
  const std::int64_t longest = *std::max_element(cfg.lengths.begin(), cfg.lengths.end());
  const std::unique_ptr<shiftrope::session> session =
      a.has("--ctx")
          ? cli::open_session(m, sp, "--ctx", "")
          : cli::open_session(m, sp, "--lengths",
                              "length " + std::to_string(longest) +
                                  (a.has("--lengths") ? "" : " (default: fractions of L)"));
  shiftrope::session& s = *session;
  outputs out;
  open_outputs(a, cfg.methods, out);
  const char* task = po.task == eval::task_kind::needles ? "needles" : "passkey";
  const eval::progress clock(0, true);
  std::int64_t fed = 0, runs = 0;
  const eval::sweep_results res =
      eval::run_sweep(s, codec, builder, cfg, a.has("--quiet"), [&](const eval::record& r) {
        fed += r.fed;
        ++runs;
        if (out.json)
          *out.json << eval::record_json(r, cfg.methods[r.method], task, m.name()) << '\n';
      });
  if (out.json && !out.json->flush()) shiftrope::fail("--json: writing failed");
  std::printf("%s: task %s, format %s, model %s, L = %lld, %d trial(s) x %zu depth(s) per cell\n",
              kProgram, task, po.style == eval::prompt_style::train ? "train" : "paper",
              m.name().c_str(), static_cast<long long>(train_len), cfg.trials, cfg.depths.size());
  print_report(res, cfg.methods, cfg.lengths, po.task == eval::task_kind::needles, threshold);
  std::printf("%lld generations, %lld prompt tokens fed, %.1f s\n", static_cast<long long>(runs),
              static_cast<long long>(fed), clock.seconds());
  write_svgs(out, res, cfg.methods, task, base_name(m.name()), cfg.lengths, cfg.depths);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::wants_help(argc, argv)) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  return cli::run(kProgram, [&] { return run(argc, argv); });
}
