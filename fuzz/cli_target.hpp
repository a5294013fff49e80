// fuzz/cli_target.hpp - the example programs' flag parsing on arbitrary
// command lines: examples/cli.hpp itself, and the option parsers of
// shiftrope-positions and shiftrope-generate (each in its own translation
// unit, fuzz/cli_positions.cpp and fuzz/cli_generate.cpp, so that the
// programs' own checks are what runs).
//
// Input layout: the arguments, separated by NUL bytes (at most 64; argv[0]
// is fixed). Expected rejections: cli::cli_error and shiftrope::error.
// Properties checked besides "no crash": parsed integers and numbers lie in
// the requested range; a parsed STRING remap satisfies 0 <= W < S < L.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../examples/cli.hpp"
#include "common.hpp"

namespace shiftrope_fuzz {

/// Runs f(), swallowing the two expected rejections; true when f returned.
template <class F>
bool cli_accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const cli::cli_error&) {
    return false;
  } catch (const shiftrope::error&) {
    return false;
  }
}

/// shiftrope-positions' parser on argv (fuzz/cli_positions.cpp).
void positions_args(int argc, const char* const* argv);
/// shiftrope-generate's parsers on argv (fuzz/cli_generate.cpp).
void generate_args(int argc, const char* const* argv);

/// cli.hpp alone, with one flag of each kind.
inline void generic_options(int argc, const char* const* argv) {
  (void)cli::wants_help(argc, argv);
  const auto spec = {cli::flag_spec{"--n", true},    cli::flag_spec{"--x", true},
                     cli::flag_spec{"--mode", true}, cli::flag_spec{"--name", true},
                     cli::flag_spec{"--on", false},  cli::flag_spec{"--off", false}};
  std::optional<cli::args> parsed;
  if (!cli_accepts([&] { parsed.emplace(argc, argv, spec); })) return;
  const cli::args& a = *parsed;
  cli_accepts([&] {
    const int v = a.get_int<int>("--n", -7, 1000, 3);
    expect(v >= -7 && v <= 1000, "get_int<int> in range");
  });
  cli_accepts([&] {
    const auto v = a.get_int<std::uint32_t>("--n", 1, 4000000000u);
    expect(v >= 1 && v <= 4000000000u, "get_int<uint32> in range");
  });
  cli_accepts([&] {
    const auto v = a.get_int<std::int64_t>("--name", INT64_MIN, INT64_MAX, 0);
    (void)v;
  });
  cli_accepts([&] {
    const double v = a.get_double("--x", -1e6, 0.5);
    expect(v >= -1e6 && v <= 0.5, "get_double in range");
  });
  cli_accepts([&] { (void)a.get_choice("--mode", {"a", "bb", ""}, "a"); });
  cli_accepts([&] { a.exclusive("--on", "--off"); });
  cli_accepts([&] { (void)a.required("--name"); });
  (void)a.value("--mode");
  (void)cli::quoted(a.value("--name").value_or(""));
}

inline void cli_input(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words;
  std::string_view rest = as_text(data, size);
  while (!rest.empty() && words.size() < 64) {
    const std::size_t nul = rest.find('\0');
    words.emplace_back(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  std::vector<const char*> argv{"fuzz"};
  for (const std::string& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(argv.size() - 1);
  positions_args(argc, argv.data());
  generate_args(argc, argv.data());
  generic_options(argc, argv.data());
}

}  // namespace shiftrope_fuzz
