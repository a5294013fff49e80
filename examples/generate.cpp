// examples/generate.cpp - shiftrope-generate: runs a GGUF or llama2.c model
// on a prompt, with plain RoPE or STRING, and prints the continuation (or
// JSON, or teacher-forced logits). Run with --help for the flags.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <shiftrope/model.hpp>
#include <shiftrope/sampler.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "generate_options.hpp"
#include "json.hpp"
#include "session_memory.hpp"

namespace {

using namespace generate_cli;

constexpr const char* kProgram = "shiftrope-generate";

constexpr const char* kHelp =
    R"HELP(usage: shiftrope-generate -m MODEL [-z TOKENIZER] (-p PROMPT | --tokens IDS) [options]

Runs a Llama-family model (GGUF architectures llama and qwen2, or a llama2.c
checkpoint) on a prompt and prints the prompt and its continuation.

Model and input:
  -m FILE            GGUF file or llama2.c checkpoint (told apart by the "GGUF" magic)
  -z FILE            llama2.c tokenizer.bin (a GGUF file carries its own tokenizer)
  -p TEXT            prompt: encoded with the model's tokenizer, BOS prepended
                     (as llama2.c's run does; GGUF: when the vocabulary asks for it)
  --tokens IDS       comma-separated token ids, fed as given (no BOS added)

Generation:
  -n N               new tokens to generate (default 64; 0: prefill only)
  --steps N          instead of -n, llama2.c's count: N positions in all, BOS and
                     prompt included (the last token sampled is printed, not fed),
                     so `--steps 64` prints what llama2.c's `run -n 64` prints
  --temp T           temperature (default 0: greedy)
  --top-k K          keep the K most probable tokens (default 0: all)
  --top-p P          nucleus sampling mass in (0, 1] (default 1: off)
  --seed S           sampler seed (default 42)
  Generation stops early at EOS or BOS (neither is printed).

Positions (default: plain RoPE):
  --string           STRING with the paper's setting: S = floor(0.33 L), W = 128
                     (or S - 1 when S <= 128)
  --string-shift S   STRING with shift S (1 <= S < L)
  --string-ratio R   STRING with S = floor(R L), 0 < R < 1
  --string-window W  STRING's local window, 0 <= W < S (default 128, or S - 1)
  --self-extend G,Wn Self-Extend instead (the baseline STRING is compared with):
                     distances below the neighbour window Wn kept, farther keys
                     at grouped positions floor(m/G) - floor(n/G) + Wn - floor(Wn/G)
  --train-len L      training length L (default: the file's; stories260K.gguf
                     claims 2048 for a model trained at 512)
  --logit-scale X    multiply attention logits by X > 0 (default 1), or `ref`
                     for STRING's reference factor (1 + 0.1 ln 2)^2 = 1.1434

Runtime:
  -t N               threads (default: OpenMP's default)
  --ctx N            KV cache positions (default: prompt + new tokens); a context
                     whose KV cache would not fit in this machine's memory is refused
  --batch N          prefill chunk in tokens (default 256)
  --kv-type T        KV cache storage: f32 (default), f16, bf16, q8_0
  --load MODE        map (default: memory-mapped) or copy (read into huge
                     pages: faster decoding, the file's size in private memory)

Output:
  --dump-logits FILE write the logits after each prompt token (teacher forced),
                     float32 row-major [prompt tokens x vocabulary]
  --json             print one JSON object (ids, text, timings) instead of text
  --help, -h         this text

Timings (tokens/s of prefill and decode) go to stderr. Exit status: 0 on
success, 2 on bad flags or input, or too little memory for them (one line on
stderr), 1 on other failures.
)HELP";

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

std::unique_ptr<shiftrope::tokenizer> load_tokenizer(const options& o, const shiftrope::model& m) {
  if (o.tokenizer_path)
    return std::make_unique<shiftrope::tokenizer>(shiftrope::tokenizer::from_llama2c(
        shiftrope::read_llama2c_vocab(*o.tokenizer_path, m.config().n_vocab)));
  if (m.gguf() != nullptr && m.gguf()->has("tokenizer.ggml.tokens"))
    return std::make_unique<shiftrope::tokenizer>(shiftrope::tokenizer::from_gguf(*m.gguf()));
  return nullptr;
}

// Prints the decoded text as it grows. Decoding the whole sequence each time
// keeps SentencePiece's space rules and multi-byte characters right; a
// trailing U+FFFD (a character whose bytes are still coming) waits.
class text_printer {
 public:
  explicit text_printer(const shiftrope::tokenizer* tok, bool quiet) : tok_(tok), quiet_(quiet) {}

  void update(const std::vector<int>& ids, bool final) {
    if (tok_ == nullptr) {
      for (; shown_ids_ < ids.size(); ++shown_ids_)
        emit((shown_ids_ ? " " : "") + std::to_string(ids[shown_ids_]));
      return;
    }
    text_ = tok_->decode(ids);
    std::size_t stable = text_.size();
    static constexpr std::string_view replacement = "\xEF\xBF\xBD";
    while (!final && stable >= 3 && std::string_view(text_).substr(stable - 3, 3) == replacement)
      stable -= 3;
    if (stable > shown_) emit(text_.substr(shown_, stable - shown_));
    shown_ = std::max(shown_, stable);
  }
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  void emit(const std::string& s) {
    if (tok_ == nullptr) text_ += s;
    if (quiet_) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  }
  const shiftrope::tokenizer* tok_;
  bool quiet_;
  std::string text_;
  std::size_t shown_ = 0;
  std::size_t shown_ids_ = 0;
};

std::string json_ids(const std::vector<int>& ids, std::size_t from) {
  std::string out = "[";
  for (std::size_t i = from; i < ids.size(); ++i)
    out += (i > from ? "," : "") + std::to_string(ids[i]);
  return out + "]";
}

// The --dump-logits file, opened before any work so that a bad path fails
// first; written after the prefill.
class logits_file {
 public:
  explicit logits_file(const std::optional<std::string>& path) {
    if (!path) return;
    path_ = *path;
    f_ = std::fopen(path_.c_str(), "wb");
    if (f_ == nullptr) shiftrope::fail("--dump-logits: cannot open '", path_, "' for writing");
  }
  ~logits_file() {  // never written (an error came first): leave no partial file
    if (f_ == nullptr) return;
    std::fclose(f_);
    std::remove(path_.c_str());
  }
  logits_file(const logits_file&) = delete;
  logits_file& operator=(const logits_file&) = delete;

  void write(const std::vector<float>& logits) {
    const std::size_t wrote = std::fwrite(logits.data(), sizeof(float), logits.size(), f_);
    const int closed = std::fclose(f_);
    f_ = nullptr;
    if (closed != 0 || wrote != logits.size())
      shiftrope::fail("--dump-logits: writing '", path_, "' failed");
  }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

struct run_result {
  std::vector<int> ids;  // prompt + generated
  std::size_t n_prompt = 0;
  double prefill_ms = 0.0;    // forward of the prompt
  double decode_ms = 0.0;     // sampling + one-token forwards
  std::size_t n_decoded = 0;  // one-token forwards
  const char* stop = "length";
};

// Session parameters for n_prompt prompt tokens and n_new new ones.
shiftrope::session_params session_for(const cli::args& a, const options& o,
                                      const shiftrope::model& m, std::int64_t n_prompt,
                                      std::int64_t n_new) {
  // Positions fed: the prompt and every new token but the last.
  const std::int64_t needed = n_prompt + std::max<std::int64_t>(n_new - 1, 0);
  shiftrope::session_params sp;
  sp.n_ctx = o.n_ctx.value_or(needed);
  if (n_prompt > sp.n_ctx)
    throw cli::cli_error("--ctx", "the prompt (" + std::to_string(n_prompt) +
                                      " tokens) is longer than the context (" +
                                      std::to_string(sp.n_ctx) + ")");
  sp.max_batch = o.batch;
  sp.kv = o.kv;
  sp.train_len = o.train_len.value_or(m.config().train_len);
  sp.position_remap = parse_remap(a, sp.train_len);
  sp.self_extend = parse_self_extend(a);
  sp.logit_scale = o.logit_scale;
  sp.n_threads = o.n_threads;
  return sp;
}

// The session, its context checked against memory first; a refusal names
// the flag that sized the context (--ctx, else --steps, else -n).
std::unique_ptr<shiftrope::session> open_session(const cli::args& a, const options& o,
                                                 const shiftrope::model& m, std::int64_t n_prompt,
                                                 std::int64_t n_new) {
  const shiftrope::session_params sp = session_for(a, o, m, n_prompt, n_new);
  const std::string prompt = " after a " + std::to_string(n_prompt) + "-token prompt";
  if (o.n_ctx) return cli::open_session(m, sp, "--ctx", "");
  if (o.steps) return cli::open_session(m, sp, "--steps", "");
  return cli::open_session(m, sp, "-n", std::to_string(n_new) + " new tokens" + prompt);
}

// Prefill (with --dump-logits: every row), then sample up to n_new tokens.
void generate(const options& o, shiftrope::session& s, const shiftrope::tokenizer* tok,
              std::int64_t n_new, logits_file& dump, text_printer& out, run_result& r) {
  shiftrope::sampler smp(s.config().n_vocab, o.sampling);
  const std::size_t n_vocab = static_cast<std::size_t>(s.config().n_vocab);
  std::vector<float> logits(o.dump_logits ? r.n_prompt * n_vocab : n_vocab);
  auto t0 = clock_type::now();
  s.forward(r.ids.data(), r.n_prompt, 0, logits.data(),
            o.dump_logits ? shiftrope::logits_rows::all : shiftrope::logits_rows::last);
  r.prefill_ms = ms_since(t0);
  if (o.dump_logits) dump.write(logits);
  const float* last = logits.data() + (o.dump_logits ? (r.n_prompt - 1) * n_vocab : 0);
  // llama2.c ends a story at BOS; EOS ends it too. Without a tokenizer: ids 1 and 2.
  const int bos = tok ? tok->bos() : 1, eos = tok ? tok->eos() : 2;

  t0 = clock_type::now();
  double print_ms = 0.0;
  for (std::int64_t i = 0; i < n_new; ++i) {
    const int next = smp.sample(last);
    if (next == eos || next == bos) {
      r.stop = "eos";
      break;
    }
    r.ids.push_back(next);
    const auto p0 = clock_type::now();
    out.update(r.ids, false);
    print_ms += ms_since(p0);
    if (i + 1 == n_new) break;
    if (s.n_past() == s.n_ctx()) {
      r.stop = "context";
      break;
    }
    s.forward(&r.ids.back(), 1, s.n_past(), logits.data(), shiftrope::logits_rows::last);
    last = logits.data();
    ++r.n_decoded;
  }
  r.decode_ms = ms_since(t0) - print_ms;
  out.update(r.ids, true);
}

void report(const options& o, const shiftrope::model& m, const shiftrope::session& s,
            const run_result& r, const text_printer& out) {
  const double prefill_tps =
      1000.0 * static_cast<double>(r.n_prompt) / std::max(r.prefill_ms, 1e-9);
  const double decode_tps = 1000.0 * static_cast<double>(r.n_decoded) / std::max(r.decode_ms, 1e-9);
  const std::string remap = s.params().self_extend ? shiftrope::describe(*s.params().self_extend)
                                                   : shiftrope::describe(s.params().position_remap);
  if (o.json) {
    const std::vector<int> prompt(r.ids.begin(),
                                  r.ids.begin() + static_cast<std::ptrdiff_t>(r.n_prompt));
    std::printf(
        "{\"model\":%s,\"remap\":%s,\"kv_type\":\"%s\",\"n_ctx\":%lld,\"prompt_ids\":%s,"
        "\"ids\":%s,\"text\":%s,\"stop\":\"%s\",\"prefill_tokens\":%zu,\"prefill_ms\":%.3f,"
        "\"prefill_tokens_per_s\":%.1f,\"decode_tokens\":%zu,\"decode_ms\":%.3f,"
        "\"decode_tokens_per_s\":%.1f}\n",
        json::string(m.name()).c_str(), json::string(remap).c_str(),
        shiftrope::kv_type_name(s.params().kv), static_cast<long long>(s.n_ctx()),
        json_ids(prompt, 0).c_str(), json_ids(r.ids, r.n_prompt).c_str(),
        json::string(out.text()).c_str(), r.stop, r.n_prompt, r.prefill_ms, prefill_tps,
        r.n_decoded, r.decode_ms, decode_tps);
  } else {
    std::printf("\n");
  }
  std::fprintf(stderr,
               "%s: %s, prefill %zu tokens in %.2f ms (%.1f tokens/s), decode %zu tokens in "
               "%.2f ms (%.1f tokens/s)\n",
               kProgram, remap.c_str(), r.n_prompt, r.prefill_ms, prefill_tps, r.n_decoded,
               r.decode_ms, decode_tps);
}

int run(int argc, char** argv) {
  const cli::args a(argc, argv, kFlags);
  const options o = parse_options(a);
  logits_file dump(o.dump_logits);
  const shiftrope::model m = shiftrope::model::open(o.model_path, o.load);
  const std::unique_ptr<shiftrope::tokenizer> tok = load_tokenizer(o, m);
  if (tok && tok->n_vocab() > m.config().n_vocab)
    shiftrope::fail(o.tokenizer_path.value_or(m.name()), ": the tokenizer has ", tok->n_vocab(),
                    " tokens, the model only ", m.config().n_vocab);
  run_result r;
  r.ids = prompt_tokens(o, tok.get(), m.config().n_vocab);
  r.n_prompt = r.ids.size();
  const auto n_prompt = static_cast<std::int64_t>(r.n_prompt);
  if (o.steps && *o.steps < n_prompt)
    throw cli::cli_error("--steps", std::to_string(*o.steps) + " is shorter than the prompt (" +
                                        std::to_string(n_prompt) + " tokens)");
  // --steps N: llama2.c feeds positions [0, N) and prints the token sampled
  // at each, so the sequence ends with N + 1 tokens, BOS included.
  const std::int64_t n_new = o.steps ? *o.steps + 1 - n_prompt : o.n_new.value_or(kDefaultNew);
  const std::unique_ptr<shiftrope::session> s = open_session(a, o, m, n_prompt, n_new);
  text_printer out(tok.get(), o.json);
  out.update(r.ids, false);
  generate(o, *s, tok.get(), n_new, dump, out, r);
  report(o, m, *s, r, out);
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
