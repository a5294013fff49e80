// examples/generate_options.hpp - shiftrope-generate's flags: the option
// set, its parsing (the STRING and Self-Extend flags included) and the
// prompt's token ids. Shared by the program and the flag-parser fuzz target.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <shiftrope/kv_cache.hpp>
#include <shiftrope/load_mode.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/sampler.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"

namespace generate_cli {

constexpr int kDefaultNew = 64;
constexpr std::uint64_t kDefaultSeed = 42;

struct options {
  std::string model_path;
  std::optional<std::string> tokenizer_path;
  std::optional<std::string> prompt;
  std::optional<std::string> token_list;
  std::optional<std::int64_t> n_new;
  std::optional<std::int64_t> steps;
  shiftrope::sampler_params sampling{0.0, 0, 1.0, kDefaultSeed};
  int n_threads = 0;
  std::optional<std::int64_t> n_ctx;
  int batch = 256;
  shiftrope::kv_type kv = shiftrope::kv_type::f32;
  shiftrope::load_mode load = shiftrope::load_mode::map;
  std::optional<std::int64_t> train_len;
  double logit_scale = 1.0;
  std::optional<std::string> dump_logits;
  bool json = false;
};

inline options parse_options(const cli::args& a) {
  options o;
  o.model_path = a.required("-m");
  o.tokenizer_path = a.value("-z");
  o.prompt = a.value("-p");
  o.token_list = a.value("--tokens");
  a.exclusive("-p", "--tokens");
  if (!o.prompt && !o.token_list)
    throw cli::cli_error("-p", "a prompt is required (-p or --tokens)");
  a.exclusive("-n", "--steps");
  if (a.has("-n")) o.n_new = a.get_int<std::int64_t>("-n", 0, std::int64_t{1} << 30);
  if (a.has("--steps")) o.steps = a.get_int<std::int64_t>("--steps", 1, std::int64_t{1} << 30);
  if (a.has("--temp")) o.sampling.temperature = a.get_double("--temp", 0.0, 1e6);
  o.sampling.top_k = a.get_int<int>("--top-k", 0, 1 << 30, 0);
  if (a.has("--top-p")) o.sampling.top_p = a.get_double("--top-p", 1e-9, 1.0);
  o.sampling.seed = a.get_int<std::uint64_t>("--seed", 0, UINT64_MAX, kDefaultSeed);
  o.n_threads = a.get_int<int>("-t", 1, 1024, 0);
  if (a.has("--ctx")) o.n_ctx = a.get_int<std::int64_t>("--ctx", 1, std::int64_t{1} << 30);
  o.batch = a.get_int<int>("--batch", 1, 65536, 256);
  o.kv = shiftrope::parse_kv_type(a.get_choice("--kv-type", {"f32", "f16", "bf16", "q8_0"}, "f32"));
  o.load = shiftrope::parse_load_mode(a.get_choice("--load", {"map", "copy"}, "map"));
  if (a.has("--train-len"))
    o.train_len = a.get_int<std::int64_t>("--train-len", 2, std::int64_t{1} << 30);
  if (const auto s = a.value("--logit-scale"))
    o.logit_scale = *s == "ref" ? shiftrope::string_reference_logit_scale
                                : a.get_double("--logit-scale", 1e-6, 1e6);
  o.dump_logits = a.value("--dump-logits");
  o.json = a.has("--json");
  return o;
}

/// The remap the flags ask for; L is the training length in force.
inline shiftrope::remap parse_remap(const cli::args& a, std::int64_t train_len) {
  const bool any = a.has("--string") || a.has("--string-shift") || a.has("--string-ratio") ||
                   a.has("--string-window");
  if (!any) return shiftrope::identity_remap{};
  a.exclusive("--string", "--string-shift");
  a.exclusive("--string", "--string-ratio");
  a.exclusive("--string-shift", "--string-ratio");
  constexpr std::int64_t max = std::int64_t{1} << 30;
  shiftrope::string_remap::setting s;
  if (a.has("--string-shift")) s.shift = a.get_int<std::int64_t>("--string-shift", 1, max);
  if (a.has("--string-ratio")) s.ratio = a.get_double("--string-ratio", 1e-9, 1.0 - 1e-9);
  if (a.has("--string-window")) s.window = a.get_int<std::int64_t>("--string-window", 0, max);
  const char* shift_flag = a.has("--string-shift")   ? "--string-shift"
                           : a.has("--string-ratio") ? "--string-ratio"
                                                     : "--string";
  return cli::string_remap_for(
      train_len, s, shift_flag, "--string-window",
      a.has("--train-len") ? " (L from --train-len)" : " (L from the model file)");
}

// --self-extend G,Wn (exclusive with the STRING flags).
inline std::optional<shiftrope::self_extend_remap> parse_self_extend(const cli::args& a) {
  const std::optional<std::string> v = a.value("--self-extend");
  if (!v) return std::nullopt;
  for (const char* f : {"--string", "--string-shift", "--string-ratio", "--string-window"})
    a.exclusive(f, "--self-extend");
  const std::size_t comma = v->find(',');
  if (comma == std::string::npos)
    throw cli::cli_error("--self-extend", "expected G,Wn (two integers), got " + cli::quoted(*v));
  constexpr std::int64_t max = std::int64_t{1} << 30;
  shiftrope::self_extend_remap r;
  r.group =
      cli::parse_int<std::int64_t>("--self-extend", std::string_view(*v).substr(0, comma), 1, max);
  r.neighbor_window =
      cli::parse_int<std::int64_t>("--self-extend", std::string_view(*v).substr(comma + 1), 1, max);
  return r;
}

inline std::vector<int> prompt_tokens(const options& o, const shiftrope::tokenizer* tok,
                                      int n_vocab) {
  std::vector<int> ids;
  if (o.token_list) {
    std::string_view rest = *o.token_list;
    while (true) {
      const std::size_t comma = rest.find(',');
      ids.push_back(cli::parse_int<int>("--tokens", rest.substr(0, comma), 0, n_vocab - 1));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return ids;
  }
  if (tok == nullptr)
    throw cli::cli_error("-p", "the model file has no tokenizer: give -z FILE or --tokens");
  const bool bos = o.tokenizer_path.has_value() || tok->add_bos_default();
  ids = tok->encode(*o.prompt, bos && tok->bos() >= 0);
  if (ids.empty()) throw cli::cli_error("-p", "the prompt encodes to no tokens");
  return ids;
}

inline const std::initializer_list<cli::flag_spec> kFlags = {{"-m", true},
                                                             {"-z", true},
                                                             {"-p", true},
                                                             {"--tokens", true},
                                                             {"-n", true},
                                                             {"--steps", true},
                                                             {"--temp", true},
                                                             {"--top-k", true},
                                                             {"--top-p", true},
                                                             {"--seed", true},
                                                             {"-t", true},
                                                             {"--ctx", true},
                                                             {"--batch", true},
                                                             {"--kv-type", true},
                                                             {"--load", true},
                                                             {"--train-len", true},
                                                             {"--string", false},
                                                             {"--string-shift", true},
                                                             {"--string-ratio", true},
                                                             {"--string-window", true},
                                                             {"--self-extend", true},
                                                             {"--logit-scale", true},
                                                             {"--dump-logits", true},
                                                             {"--json", false}};

}  // namespace generate_cli
