// Tests of examples/cli.hpp, the strict flag parser the example programs
// share: numbers, flag grammar, and the exit codes of cli::run.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "../examples/cli.hpp"

namespace {

// argv for a command line (argv[0] = "prog").
struct argv_builder {
  std::vector<std::string> words;
  std::vector<const char*> ptrs;
  explicit argv_builder(std::vector<std::string> w) : words(std::move(w)) {
    words.insert(words.begin(), "prog");
    for (const std::string& s : words) ptrs.push_back(s.c_str());
  }
  [[nodiscard]] int argc() const { return static_cast<int>(ptrs.size()); }
  [[nodiscard]] const char* const* argv() const { return ptrs.data(); }
};

const std::initializer_list<cli::flag_spec> kSpec = {
    {"--n", true}, {"--x", true}, {"--mode", true}, {"--on", false}, {"--off", false}};

// The message of the cli_error that parsing + f throws, or "<no error>".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const cli::cli_error& e) {
    return e.what();
  }
  return "<no error>";
}

std::string parse_error(std::vector<std::string> words) {
  const argv_builder b(std::move(words));
  return error_of([&] { cli::args a(b.argc(), b.argv(), kSpec); });
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("parse_int: whole string, range, overflow") {
  CHECK(cli::parse_int<int>("--n", "42", 0, 100) == 42);
  CHECK(cli::parse_int<int>("--n", "-7", -10, 10) == -7);
  CHECK(cli::parse_int<std::int64_t>("--n", "9223372036854775807", 0,
                                     std::numeric_limits<std::int64_t>::max()) ==
        std::numeric_limits<std::int64_t>::max());
  for (const char* bad : {"", " 1", "1 ", "+1", "12x", "1e3", "0x10", "1.0", "--", "-"}) {
    INFO("text '", bad, "'");
    const std::string msg = error_of([&] { (void)cli::parse_int<int>("--n", bad, 0, 100); });
    CHECK(starts_with(msg, "--n: expected an integer"));
  }
  CHECK(starts_with(error_of([] { (void)cli::parse_int<int>("--n", "101", 0, 100); }),
                    "--n: must be an integer in [0, 100], got '101'"));
  CHECK(starts_with(error_of([] { (void)cli::parse_int<int>("--n", "-1", 0, 100); }),
                    "--n: must be an integer in [0, 100]"));
  CHECK(starts_with(error_of([] { (void)cli::parse_int<int>("--n", "99999999999", 0, 100); }),
                    "--n: must be an integer in [0, 100]"));
  // Control characters never reach the message raw (one line).
  const std::string msg = error_of([] { (void)cli::parse_int<int>("--n", "1\n2", 0, 9); });
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.find("\\x0a") != std::string::npos);
}

TEST_CASE("parse_double: finite decimals only") {
  CHECK(cli::parse_double("--x", "0.33") == 0.33);
  CHECK(cli::parse_double("--x", "-1.5e-3") == -1.5e-3);
  CHECK(cli::parse_double("--x", "7") == 7.0);
  for (const char* bad : {"", "nan", "inf", "-inf", "0.3x", " 0.3", "1e999", "0x1p3", "1,5"}) {
    INFO("text '", bad, "'");
    CHECK(starts_with(error_of([&] { (void)cli::parse_double("--x", bad); }),
                      "--x: expected a finite number"));
  }
}

TEST_CASE("args: values, switches and lookups") {
  const argv_builder b({"--n", "5", "--on", "--x=0.25", "--mode", "fast"});
  const cli::args a(b.argc(), b.argv(), kSpec);
  CHECK(a.has("--n"));
  CHECK(a.has("--on"));
  CHECK_FALSE(a.has("--off"));
  CHECK(a.get_int<int>("--n", 0, 10) == 5);
  CHECK(a.get_int<int>("--n", 0, 10, 99) == 5);
  CHECK(a.get_double("--x", 0.0, 1.0) == 0.25);
  CHECK(a.get_choice("--mode", {"slow", "fast"}, "slow") == "fast");
  CHECK(a.value("--on") == std::nullopt);  // a switch has no value
  CHECK(a.value("--off") == std::nullopt);

  const argv_builder empty({});
  const cli::args e(empty.argc(), empty.argv(), kSpec);
  CHECK(e.get_int<int>("--n", 0, 10, 99) == 99);
  CHECK(e.get_choice("--mode", {"slow", "fast"}, "slow") == "slow");
  CHECK(error_of([&] { (void)e.get_int<int>("--n", 0, 10); }) == "--n: required (see --help)");
  CHECK(starts_with(error_of([&] { (void)a.get_double("--x", 0.5, 1.0); }),
                    "--x: must be in [0.5, 1], got '0.25'"));
  CHECK(starts_with(error_of([&] {
                      (void)a.get_choice("--mode", {"a", "b"}, "a");
                    }),
                    "--mode: unknown value 'fast' (expected one of: a, b)"));
  CHECK(error_of([&] { a.exclusive("--n", "--on"); }) == "--on: cannot be combined with --n");
  CHECK(error_of([&] { a.exclusive("--n", "--off"); }) == "<no error>");
}

TEST_CASE("args: every grammar error names the flag") {
  CHECK(parse_error({"--n", "1"}) == "<no error>");
  CHECK(starts_with(parse_error({"--bogus"}), "--bogus: unknown flag"));
  CHECK(starts_with(parse_error({"-n", "1"}), "-n: unknown flag"));
  CHECK(starts_with(parse_error({"--n", "1", "--n", "2"}), "--n: given more than once"));
  CHECK(starts_with(parse_error({"--n"}), "--n: missing value"));
  CHECK(starts_with(parse_error({"--n", "--on"}), "--n: missing value before '--on'"));
  CHECK(starts_with(parse_error({"--on=yes"}), "--on: takes no value, got 'yes'"));
  CHECK(starts_with(parse_error({"--on", "yes"}), "--on: takes no value, got 'yes'"));
  CHECK(starts_with(parse_error({"stray"}), "'stray': unexpected argument"));
  CHECK(starts_with(parse_error({"--n", "1", "stray"}), "'stray': unexpected argument"));
  // "--n=" is an empty value, rejected by the number parser later, not here.
  CHECK(parse_error({"--n="}) == "<no error>");
  // Negative numbers are values, not flags.
  const argv_builder neg({"--n", "-3"});
  const cli::args a(neg.argc(), neg.argv(), kSpec);
  CHECK(a.get_int<int>("--n", -5, 5) == -3);
}

TEST_CASE("wants_help and run's exit codes") {
  const argv_builder h({"--n", "x", "--help"});
  CHECK(cli::wants_help(h.argc(), h.argv()));
  const argv_builder h2({"-h"});
  CHECK(cli::wants_help(h2.argc(), h2.argv()));
  const argv_builder none({"--n", "1"});
  CHECK_FALSE(cli::wants_help(none.argc(), none.argv()));

  CHECK(cli::run("prog", [] { return 0; }) == 0);
  CHECK(cli::run("prog", [] { return 3; }) == 3);
  CHECK(cli::run("prog", []() -> int { throw cli::cli_error("--n", "bad"); }) == 2);
  CHECK(cli::run("prog", []() -> int { shiftrope::fail("gguf: bad magic"); }) == 2);
  CHECK(cli::run("prog", []() -> int { throw std::runtime_error("disk full"); }) == 1);
  // Running out of memory comes from flags or inputs that ask for too much.
  CHECK(cli::run("prog", []() -> int { throw std::bad_alloc(); }) == 2);
  CHECK(cli::cli_error("--n", "bad").flag() == "--n");
}
