// examples/cli.hpp - a small strict command-line parser shared by the
// example programs (not part of the library).
//
// Grammar: every argument is a declared flag. A flag either takes a value
// (`--length 9` or `--length=9`) or is a switch (`--rope`). `--help` / `-h`
// anywhere asks for help (see wants_help). Rejected with a cli_error whose
// message starts with the flag:
//   * unknown flags and bare words ("--lenght", "9"),
//   * a flag given twice,
//   * a missing value ("--length" last, or followed by another "--flag"),
//   * a value on a switch ("--rope=1"),
//   * numbers that are not the whole argument ("12x", " 12", "+12", "1e3"
//     for an integer), out of range, or not finite ("nan", "inf").
// Numbers are read with std::from_chars, so the result never depends on the
// locale.
//
// Typical use:
//
//   int main(int argc, char** argv) {
//     if (cli::wants_help(argc, argv)) { std::fputs(help_text, stdout); return 0; }
//     return cli::run("prog", [&] {
//       const cli::args a(argc, argv, {{"--length", true}, {"--rope", false}});
//       const auto length = a.get_int<std::int64_t>("--length", 1, 4096);
//       ...
//       return 0;
//     });
//   }
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <initializer_list>
#include <new>
#include <optional>
#include <shiftrope/error.hpp>
#include <shiftrope/position_map.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace cli {

/// Bad command line. what() is one line that starts with the flag, e.g.
/// "--length: expected an integer, got '12x'".
class cli_error : public std::runtime_error {
 public:
  cli_error(std::string_view flag, const std::string& problem)
      : std::runtime_error(std::string(flag) + ": " + problem), flag_(flag) {}
  /// The flag the problem is about.
  [[nodiscard]] const std::string& flag() const noexcept { return flag_; }

 private:
  std::string flag_;
};

/// One declared flag.
struct flag_spec {
  /// With its dashes, e.g. "--length". A string literal in practice: args
  /// keeps the view, so the text must outlive it.
  std::string_view name;
  bool takes_value = false;  ///< true: `--name value`; false: a switch
};

/// True when any argument is exactly "--help" or "-h".
inline bool wants_help(int argc, const char* const* argv) noexcept {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

/// Quotes a value for an error message (control characters escaped, long
/// values cut) so the message stays one line. Always called as cli::quoted:
/// unqualified, argument-dependent lookup picks std::quoted (<iomanip>) for a
/// std::string argument wherever <iomanip> is visible.
inline std::string quoted(std::string_view text) {
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < 64; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > 64) out += "...";
  return out + "'";
}

/// A number as "%g" prints it (0.5, 1e+06), for messages.
inline std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

/// The whole of `text` as an integer in [lo, hi], or a cli_error naming flag.
template <class Int>
[[nodiscard]] Int parse_int(std::string_view flag, std::string_view text, Int lo, Int hi) {
  static_assert(std::is_integral_v<Int>, "parse_int reads integers");
  Int value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  const auto range = [&] {
    return "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
           cli::quoted(text);
  };
  if (ec == std::errc::result_out_of_range) throw cli_error(flag, range());
  if (ec != std::errc() || ptr != end || text.empty())
    throw cli_error(flag, "expected an integer, got " + cli::quoted(text));
  if (value < lo || value > hi) throw cli_error(flag, range());
  return value;
}

/// The whole of `text` as a finite decimal number, or a cli_error naming flag.
[[nodiscard]] inline double parse_double(std::string_view flag, std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, std::chars_format::general);
  if (ec != std::errc() || ptr != end || text.empty() || !std::isfinite(value))
    throw cli_error(flag, "expected a finite number, got " + cli::quoted(text));
  return value;
}

/// A parsed command line: declared flags only, each at most once.
class args {
 public:
  /// Parses argv[1, argc) against spec; throws cli_error on any problem
  /// listed at the top of this file.
  args(int argc, const char* const* argv, std::initializer_list<flag_spec> spec)
      : spec_(spec.begin(), spec.end()) {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      std::optional<std::string_view> inline_value;
      if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string_view::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
      const flag_spec* f = find(arg);
      if (f == nullptr) {
        if (arg.rfind("-", 0) == 0) throw cli_error(arg, "unknown flag (see --help)");
        // A bare word: blame the switch it follows, if any.
        if (i > 1 && !given_.empty() && !given_.back().second && argv[i - 1] == given_.back().first)
          throw cli_error(given_.back().first, "takes no value, got " + cli::quoted(arg));
        throw cli_error(cli::quoted(arg), "unexpected argument: every value follows its --flag");
      }
      if (has(f->name)) throw cli_error(f->name, "given more than once");
      if (!f->takes_value) {
        if (inline_value)
          throw cli_error(f->name, "takes no value, got " + cli::quoted(*inline_value));
        given_.emplace_back(f->name, std::nullopt);
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= argc) throw cli_error(f->name, "missing value");
        const std::string_view next = argv[i + 1];
        if (next.rfind("--", 0) == 0)
          throw cli_error(f->name, "missing value before " + cli::quoted(next));
        inline_value = next;
        ++i;
      }
      given_.emplace_back(f->name, std::string(*inline_value));
    }
  }

  /// Whether the flag appeared.
  [[nodiscard]] bool has(std::string_view flag) const noexcept {
    for (const auto& g : given_)
      if (g.first == flag) return true;
    return false;
  }

  /// The flag's value, if it appeared (switches have none).
  [[nodiscard]] std::optional<std::string> value(std::string_view flag) const {
    for (const auto& g : given_)
      if (g.first == flag) return g.second;
    return std::nullopt;
  }

  /// The flag's value; a cli_error if it is absent.
  [[nodiscard]] std::string required(std::string_view flag) const {
    std::optional<std::string> v = value(flag);
    if (!v) throw cli_error(flag, "required (see --help)");
    return *v;
  }

  /// The flag's value as an integer in [lo, hi]; required.
  template <class Int>
  [[nodiscard]] Int get_int(std::string_view flag, Int lo, Int hi) const {
    return parse_int<Int>(flag, required(flag), lo, hi);
  }

  /// The flag's value as an integer in [lo, hi], or fallback when absent.
  template <class Int>
  [[nodiscard]] Int get_int(std::string_view flag, Int lo, Int hi, Int fallback) const {
    const std::optional<std::string> v = value(flag);
    return v ? parse_int<Int>(flag, *v, lo, hi) : fallback;
  }

  /// The flag's value as a finite number in [lo, hi] (inclusive); required.
  [[nodiscard]] double get_double(std::string_view flag, double lo, double hi) const {
    const std::string text = required(flag);
    const double v = parse_double(flag, text);
    if (v < lo || v > hi)
      throw cli_error(
          flag, "must be in [" + number(lo) + ", " + number(hi) + "], got " + cli::quoted(text));
    return v;
  }

  /// The flag's value, which must be one of choices; fallback when absent.
  [[nodiscard]] std::string get_choice(std::string_view flag,
                                       std::initializer_list<std::string_view> choices,
                                       std::string_view fallback) const {
    const std::optional<std::string> v = value(flag);
    if (!v) return std::string(fallback);
    std::string list;
    for (const std::string_view c : choices) {
      if (*v == c) return *v;
      list += (list.empty() ? "" : ", ") + std::string(c);
    }
    throw cli_error(flag, "unknown value " + cli::quoted(*v) + " (expected one of: " + list + ")");
  }

  /// A cli_error (naming `b`) when both flags appeared.
  void exclusive(std::string_view a, std::string_view b) const {
    if (has(a) && has(b)) throw cli_error(b, "cannot be combined with " + std::string(a));
  }

 private:
  [[nodiscard]] const flag_spec* find(std::string_view name) const noexcept {
    for (const flag_spec& f : spec_)
      if (f.name == name) return &f;
    return nullptr;
  }

  std::vector<flag_spec> spec_;
  std::vector<std::pair<std::string_view, std::optional<std::string>>> given_;  // in order
};

/// Runs body (returning the exit code) and turns failures into one line on
/// stderr: bad flags (cli_error), bad parameters (shiftrope::error) and
/// running out of memory (std::bad_alloc: flags or inputs that ask for more
/// than the machine has) exit with 2, anything else with 1.
template <class Body>
int run(const char* program, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const cli_error& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  } catch (const shiftrope::error& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "%s: out of memory: the flags or the input ask for more memory than is "
                 "available\n",
                 program);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "%s: unknown error\n", program);
    return 1;
  }
}

/// STRING's remap for training length L from the flags a program was
/// given, by the library's one rule (string_remap::shift_for, then
/// string_remap::resolve): S from the shift or ratio flag (neither: the
/// paper's 0.33 L), W from the window flag or min(128, S - 1). A problem with
/// S is a cli_error naming `shift_flag`, one with W names `window_flag`;
/// `where` (e.g. " (L from the model file)") ends the message.
inline shiftrope::string_remap string_remap_for(std::int64_t train_len,
                                                const shiftrope::string_remap::setting& s,
                                                std::string_view shift_flag,
                                                std::string_view window_flag,
                                                const std::string& where = "") {
  std::int64_t shift = 0;
  try {
    shift = shiftrope::string_remap::shift_for(train_len, s.shift, s.ratio);
  } catch (const shiftrope::error& e) {
    throw cli_error(shift_flag, e.what() + where);
  }
  try {
    return shiftrope::string_remap::resolve(train_len, {shift, std::nullopt, s.window});
  } catch (const shiftrope::error& e) {
    throw cli_error(window_flag, e.what() + where);
  }
}

}  // namespace cli
