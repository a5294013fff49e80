// examples/perplexity.cpp - shiftrope-perplexity: mean negative
// log-likelihood and perplexity of a text (or token file) under each
// position method, overall and per position bucket. Run with --help.
#include "eval/perplexity.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <shiftrope/model.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "eval/codec.hpp"
#include "eval/methods.hpp"
#include "eval/report.hpp"
#include "session_memory.hpp"

namespace {

constexpr const char* kProgram = "shiftrope-perplexity";

constexpr const char* kHelp =
    R"HELP(usage: shiftrope-perplexity -m MODEL [-z TOKENIZER | --bytes] (-f TEXT | --tokens-file IDS) [options]

Teacher-forced mean negative log-likelihood (NLL, nats per token) and
perplexity exp(NLL) of a text under each position method: the tokens are cut
into windows of --ctx tokens (a text: BOS, then ctx - 1 tokens of the text),
each window fed in chunks of --batch, every row's log-softmax taken in double.
A window of n tokens scores n - 1 predictions; bucket k of B holds the
predicted positions p with floor(p B / ctx) = k.

Model:
  -m FILE            GGUF file or llama2.c checkpoint
  -z FILE            llama2.c tokenizer.bin (a GGUF file carries its own)
  --bytes            byte-level vocabulary (tools/train's model)
                     (-z and --bytes matter for -f only: a token file needs no tokenizer)
  --train-len L      training length L (default: the file's)

Input (one of):
  -f FILE            a text, tokenized with the model's tokenizer
  --tokens-file FILE token ids separated by commas or whitespace, used as given

Evaluation:
  --methods LIST     as shiftrope-passkey (default rope,string): rope | string[:S=..]
                     [:W=..] | string:ratio=R | self-extend[:G=..][:Wn=..], [:scale=X|ref]
  --ctx N            tokens per window (default L; longer is allowed)
  --chunks N         at most N windows (default: every whole window)
  --buckets B        position buckets (default 8)
  --batch N          tokens per forward step (default 256)
  --kv-type T        f32 (default), f16, bf16, q8_0
  -t N               threads

Output:
  --json FILE        one JSON object per method (nll, ppl, tokens, buckets)
  --quiet            no progress on stderr
  --help, -h         this text

Exit status: 0 on success, 2 on bad flags or input, or too little memory for them
(one line on stderr), 1 otherwise.
)HELP";

const std::initializer_list<cli::flag_spec> kFlags = {
    {"-m", true},          {"-z", true},      {"--bytes", false},
    {"--train-len", true}, {"-f", true},      {"--tokens-file", true},
    {"--methods", true},   {"--ctx", true},   {"--chunks", true},
    {"--buckets", true},   {"--batch", true}, {"--kv-type", true},
    {"-t", true},          {"--json", true},  {"--quiet", false}};

constexpr std::int64_t kMaxLen = std::int64_t{1} << 30;

std::string read_file(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw cli::cli_error(flag, "cannot open " + cli::quoted(path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The windows to score: whole windows of ctx tokens (a text's start with BOS).
// A token file needs no tokenizer: ids are checked against the model's vocabulary.
std::vector<std::vector<int>> make_windows(const cli::args& a, const shiftrope::model& m,
                                           std::int64_t ctx, std::int64_t max_windows) {
  a.exclusive("-f", "--tokens-file");
  const bool text = a.has("-f");
  if (!text && !a.has("--tokens-file"))
    throw cli::cli_error("-f", "an input is required (-f TEXT or --tokens-file IDS)");
  const std::string flag = text ? "-f" : "--tokens-file";
  const std::string path = a.required(flag);
  const std::string content = read_file(flag, path);
  const std::optional<eval::text_codec> codec =
      text ? std::optional(eval::load_codec(m, a.value("-z"), a.has("--bytes"))) : std::nullopt;
  const std::vector<int> ids = text ? codec->encode_text(content)
                                    : eval::parse_token_list(content, m.config().n_vocab, path);
  const bool bos = text && codec->bos() >= 0;
  const auto body = static_cast<std::size_t>(ctx - (bos ? 1 : 0));  // input tokens per window
  if (ids.size() < body || body == 0)
    throw cli::cli_error(flag, cli::quoted(path) + " has " + std::to_string(ids.size()) +
                                   " tokens, fewer than one window of --ctx " +
                                   std::to_string(ctx) + (bos ? " (BOS + ctx - 1)" : ""));
  std::vector<std::vector<int>> windows;
  for (std::size_t at = 0;
       at + body <= ids.size() && static_cast<std::int64_t>(windows.size()) < max_windows;
       at += body) {
    std::vector<int> w;
    if (bos) w.push_back(codec->bos());
    w.insert(w.end(), ids.begin() + static_cast<std::ptrdiff_t>(at),
             ids.begin() + static_cast<std::ptrdiff_t>(at + body));
    windows.push_back(std::move(w));
  }
  return windows;
}

std::string method_json(const eval::method& m, const eval::nll_buckets& b, std::int64_t ctx,
                        std::size_t windows, const std::string& model) {
  const auto num = [](double x) { return eval::fmt("%.9g", x); };
  const double nll = b.total() / static_cast<double>(b.total_count());
  std::string s = "{\"model\":" + json::string(model) + ",\"method\":" + json::string(m.name) +
                  ",\"label\":" + json::string(m.label) + ",\"params\":" + m.params_json +
                  ",\"ctx\":" + std::to_string(ctx) + ",\"windows\":" + std::to_string(windows) +
                  ",\"tokens\":" + std::to_string(b.total_count()) + ",\"nll\":" + num(nll) +
                  ",\"ppl\":" + num(std::exp(nll)) + ",\"buckets\":[";
  for (std::size_t k = 0; k < b.sum.size(); ++k) {
    const double bn = b.count[k] ? b.sum[k] / static_cast<double>(b.count[k]) : 0.0;
    s += std::string(k ? "," : "") + "{\"begin\":" + std::to_string(b.begin(k)) +
         ",\"end\":" + std::to_string(k + 1 < b.sum.size() ? b.begin(k + 1) : ctx) +
         ",\"tokens\":" + std::to_string(b.count[k]) + ",\"nll\":" + num(bn) +
         ",\"ppl\":" + num(std::exp(bn)) + "}";
  }
  return s + "]}";
}

// Rows: buckets then "all"; columns: methods, each "NLL (ppl)".
void print_table(const std::vector<eval::method>& methods,
                 const std::vector<eval::nll_buckets>& res, std::int64_t ctx) {
  std::printf("%-14s", "positions");
  for (const eval::method& m : methods) std::printf("  %-24s", m.label.c_str());
  std::printf("\n");
  const auto cell = [](double sum, std::int64_t n) {
    if (n == 0) return std::string("-");
    const double nll = sum / static_cast<double>(n);
    return eval::fmt("%.4f", nll) + " (" + eval::fmt("%.2f", std::exp(nll)) + ")";
  };
  for (std::size_t k = 0; k < res[0].sum.size(); ++k) {
    const std::int64_t end = k + 1 < res[0].sum.size() ? res[0].begin(k + 1) : ctx;
    std::printf("%-14s",
                ("[" + std::to_string(res[0].begin(k)) + ", " + std::to_string(end) + ")").c_str());
    for (const eval::nll_buckets& b : res)
      std::printf("  %-24s", cell(b.sum[k], b.count[k]).c_str());
    std::printf("\n");
  }
  std::printf("%-14s", "all");
  for (const eval::nll_buckets& b : res)
    std::printf("  %-24s", cell(b.total(), b.total_count()).c_str());
  std::printf("\n");
}

int run(int argc, char** argv) {
  const cli::args a(argc, argv, kFlags);
  const shiftrope::model m = shiftrope::model::open(a.required("-m"));
  const std::int64_t train_len =
      a.get_int<std::int64_t>("--train-len", 2, kMaxLen, m.config().train_len);
  const std::vector<eval::method> methods =
      eval::parse_methods("--methods", a.value("--methods").value_or("rope,string"), train_len);
  const std::int64_t ctx = a.get_int<std::int64_t>("--ctx", 2, kMaxLen, train_len);
  const int buckets = a.get_int<int>("--buckets", 1, 4096, 8);
  if (buckets > ctx - 1)
    throw cli::cli_error("--buckets", std::to_string(buckets) + " buckets for " +
                                          std::to_string(ctx - 1) + " predicted positions");
  const auto max_windows = a.get_int<std::int64_t>("--chunks", 1, kMaxLen, kMaxLen);
  shiftrope::session_params sp;
  sp.n_ctx = ctx;
  sp.max_batch = a.get_int<int>("--batch", 1, 65536, 256);
  sp.kv =
      shiftrope::parse_kv_type(a.get_choice("--kv-type", {"f32", "f16", "bf16", "q8_0"}, "f32"));
  sp.train_len = train_len;
  sp.n_threads = a.get_int<int>("-t", 1, 1024, 0);
  const std::vector<std::vector<int>> windows = make_windows(a, m, ctx, max_windows);
  std::optional<std::ofstream> json;
  if (const auto path = a.value("--json")) {
    json.emplace(*path);
    if (!*json)
      throw cli::cli_error("--json", "cannot open " + cli::quoted(*path) + " for writing");
  }
  const std::unique_ptr<shiftrope::session> session =
      cli::open_session(m, sp, "--ctx", a.has("--ctx") ? "" : "the default (the training length)");
  shiftrope::session& s = *session;
  eval::progress prog(static_cast<double>(methods.size() * windows.size()), a.has("--quiet"));
  std::vector<eval::nll_buckets> res;
  std::vector<float> logits;
  for (const eval::method& method : methods) {
    res.emplace_back(ctx, buckets);
    for (std::size_t w = 0; w < windows.size(); ++w) {
      method.apply(s);  // a fresh sequence per window
      eval::window_nll(s, windows[w], static_cast<std::size_t>(sp.max_batch), res.back(), logits);
      prog.advance(1, method.label + " window " + std::to_string(w + 1) + "/" +
                          std::to_string(windows.size()));
    }
    if (json) *json << method_json(method, res.back(), ctx, windows.size(), m.name()) << '\n';
  }
  if (json && !json->flush()) shiftrope::fail("--json: writing failed");
  std::printf("%s: model %s, ctx %lld, %zu window(s), %lld predictions per method, NLL (ppl)\n",
              kProgram, m.name().c_str(), static_cast<long long>(ctx), windows.size(),
              static_cast<long long>(res[0].total_count()));
  print_table(methods, res, ctx);
  std::printf("%.1f s\n", prog.seconds());
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
