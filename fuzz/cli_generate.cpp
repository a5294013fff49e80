// fuzz/cli_generate.cpp - shiftrope-generate's option parsing for the cli
// fuzz target (examples/generate_options.hpp, the program's own parsers).
// Runs the parsers that need no model file (options, the STRING and
// Self-Extend flags against a training length, the --tokens list); nothing
// is opened, written or allocated in proportion to a flag's value.
#include "../examples/generate_options.hpp"
#include "cli_target.hpp"

namespace shiftrope_fuzz {

void generate_args(int argc, const char* const* argv) {
  using namespace generate_cli;
  try {
    const cli::args a(argc, argv, kFlags);
    const options o = parse_options(a);
    expect(o.batch >= 1 && o.batch <= 65536 && o.n_threads >= 0 && o.n_threads <= 1024,
           "generate: --batch and -t in range");
    const std::int64_t train_len = o.train_len.value_or(4096);
    const shiftrope::remap r = parse_remap(a, train_len);
    if (const auto* s = std::get_if<shiftrope::string_remap>(&r))
      expect(s->window >= 0 && s->window < s->shift && s->shift < train_len,
             "generate: 0 <= W < S < L");
    (void)parse_self_extend(a);
    if (o.token_list) {
      constexpr int n_vocab = 512;
      for (const int id : prompt_tokens(o, nullptr, n_vocab))
        expect(id >= 0 && id < n_vocab, "generate: --tokens ids in range");
    }
  } catch (const cli::cli_error&) {
  } catch (const shiftrope::error&) {
  }
}

}  // namespace shiftrope_fuzz
