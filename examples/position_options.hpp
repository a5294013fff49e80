// examples/position_options.hpp - shiftrope-positions' flags: the option
// set and its parsing (the STRING flags through the library's S/W rule, the
// frequency view's flags). Shared by the program and the flag-parser fuzz
// target.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <shiftrope/position_map.hpp>
#include <string>
#include <variant>

#include "cli.hpp"
#include "eval/train_stream.hpp"

namespace positions_cli {

constexpr std::int64_t kMaxLength = shiftrope::max_positions;
constexpr std::int64_t kMaxTextLength = 64;
constexpr std::int64_t kMaxCsvLength = 4096;
constexpr std::int64_t kMaxSvgCells = 256;  // per side
constexpr std::int64_t kMaxFrequencyLength = std::int64_t{1} << 20;
constexpr std::int64_t kMaxSequences = std::int64_t{1} << 40;  // full: N (L - d) < 2^64
constexpr std::int64_t kMaxTrainSequences = std::int64_t{1}
                                            << 22;  // train: replayed, ~1 s per 10^5

/// --frequency: where the trained distances come from.
struct frequency_options {
  bool on = false;
  std::string docs = "full";              ///< full | train | a file of lengths
  std::optional<std::int64_t> sequences;  ///< --sequences
  std::uint64_t below_count = 0;          ///< --below C (when not a percentage)
  double below_percent = 5;               ///< --below P% (of trained(0)); < 0 when a count
};

struct options {
  std::int64_t length = 0;            ///< L
  shiftrope::remap map;               ///< identity or STRING
  std::string format = "text";        ///< text | csv | svg
  std::optional<std::string> output;  ///< file; standard output when empty
  frequency_options freq;
};

// ---- flags ----

inline std::string str(std::int64_t v) {
  return std::to_string(v);
}

inline shiftrope::string_remap parse_string_remap(const cli::args& a, std::int64_t length) {
  shiftrope::string_remap::setting setting;
  if (a.has("--shift"))
    setting.shift = a.get_int<std::int64_t>("--shift", 1, shiftrope::max_positions);
  else
    setting.ratio = cli::parse_double("--ratio", a.required("--ratio"));
  if (a.has("--window"))
    setting.window = a.get_int<std::int64_t>("--window", 0, shiftrope::max_positions);
  return cli::string_remap_for(length, setting, a.has("--shift") ? "--shift" : "--ratio",
                               "--window", " (L = --length = " + str(length) + ")");
}

inline void check_length_for_format(const options& o) {
  if (o.format == "text" && o.length > kMaxTextLength)
    throw cli::cli_error("--length", str(o.length) + " is too large for --format text (at most " +
                                         str(kMaxTextLength) + "); use --format csv or svg");
  if (o.format == "csv" && o.length > kMaxCsvLength)
    throw cli::cli_error("--length", str(o.length) + " is too large for --format csv (at most " +
                                         str(kMaxCsvLength) + "); use --format svg");
}

// --below: a count, or a percentage of trained(0) ("5%").
inline void parse_below(const cli::args& a, frequency_options& f) {
  const std::string text = a.value("--below").value_or("5%");
  if (!text.empty() && text.back() == '%') {
    f.below_percent =
        cli::parse_double("--below", std::string_view(text).substr(0, text.size() - 1));
    if (!(f.below_percent > 0.0 && f.below_percent <= 100.0))
      throw cli::cli_error("--below", "a percentage must be in (0, 100], got " + cli::quoted(text));
    return;
  }
  f.below_percent = -1;
  f.below_count = cli::parse_int<std::uint64_t>("--below", text, 1, UINT64_MAX);
}

// The flags of the frequency view (after --length).
inline options parse_frequency(const cli::args& a, options& o) {
  o.freq.on = true;
  if (o.length > kMaxFrequencyLength || o.length < 2)
    throw cli::cli_error("--length", "must be in [2, " + str(kMaxFrequencyLength) +
                                         "] with --frequency, got " + str(o.length));
  if (a.has("--rope"))
    throw cli::cli_error("--rope",
                         "the frequency view always shows RoPE; give STRING's --shift "
                         "or --ratio, or neither for the paper's default");
  if (a.has("--shift") || a.has("--ratio")) {
    o.map = parse_string_remap(a, o.length);
  } else if (a.has("--window")) {
    throw cli::cli_error("--window", "needs --shift or --ratio");
  } else if (o.length < 4) {
    throw cli::cli_error("--length", "the paper's S = floor(0.33 L) needs L >= 4, got " +
                                         str(o.length) + " (give --shift)");
  } else {
    o.map = shiftrope::string_remap::paper_default(o.length);
  }
  o.freq.docs = a.value("--docs").value_or("full");
  if (o.freq.docs.empty()) throw cli::cli_error("--docs", "empty file name");
  if (o.freq.docs == "train" && o.length < eval::detail::fixed_len())
    throw cli::cli_error("--docs", "train needs --length >= " + str(eval::detail::fixed_len()) +
                                       " (the documents' fixed part), got " + str(o.length));
  if (a.has("--sequences")) {
    if (o.freq.docs != "full" && o.freq.docs != "train")
      throw cli::cli_error("--sequences", "applies to --docs full or train, not to a file");
    o.freq.sequences = a.get_int<std::int64_t>(
        "--sequences", 1, o.freq.docs == "train" ? kMaxTrainSequences : kMaxSequences);
  }
  parse_below(a, o.freq);
  o.output = a.value("--output");
  if (o.output && o.output->empty()) throw cli::cli_error("--output", "empty file name");
  if (o.format == "svg" && !o.output)
    throw cli::cli_error("--output", "required with --format svg");
  return o;
}

inline options parse_options(int argc, const char* const* argv) {
  const cli::args a(argc, argv,
                    {{"--length", true},
                     {"--shift", true},
                     {"--ratio", true},
                     {"--window", true},
                     {"--rope", false},
                     {"--format", true},
                     {"--output", true},
                     {"--frequency", false},
                     {"--docs", true},
                     {"--sequences", true},
                     {"--below", true}});
  options o;
  o.format = a.get_choice("--format", {"text", "csv", "svg"}, "text");
  a.exclusive("--shift", "--ratio");
  a.exclusive("--shift", "--rope");
  a.exclusive("--ratio", "--rope");
  o.length = a.get_int<std::int64_t>("--length", 1, kMaxLength);
  if (a.has("--frequency")) return parse_frequency(a, o);
  for (const char* flag : {"--docs", "--sequences", "--below"})
    if (a.has(flag)) throw cli::cli_error(flag, "only with --frequency");
  check_length_for_format(o);
  if (a.has("--rope")) {
    if (a.has("--window"))
      throw cli::cli_error("--window", "applies to STRING (--shift or --ratio), not to --rope");
    o.map = shiftrope::identity_remap{};
  } else if (a.has("--shift") || a.has("--ratio")) {
    o.map = parse_string_remap(a, o.length);
  } else {
    throw cli::cli_error("--shift", "no remap chosen: give --shift S, --ratio R or --rope");
  }
  o.output = a.value("--output");
  if (o.output && o.output->empty()) throw cli::cli_error("--output", "empty file name");
  if (o.format == "svg" && !o.output)
    throw cli::cli_error("--output", "required with --format svg");
  return o;
}

}  // namespace positions_cli
