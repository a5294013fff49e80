// fuzz/cli_positions.cpp - shiftrope-positions' option parsing and text
// writers for the cli fuzz target (examples/position_options.hpp and
// position_writers.hpp, the program's own code).
#include <sstream>

#include "../examples/position_options.hpp"
#include "../examples/position_writers.hpp"
#include "cli_target.hpp"

namespace shiftrope_fuzz {

void positions_args(int argc, const char* const* argv) {
  using namespace positions_cli;
  options o;
  try {
    o = parse_options(argc, argv);
  } catch (const cli::cli_error&) {
    return;
  } catch (const shiftrope::error&) {
    return;
  }
  expect(o.length >= 1 && o.length <= kMaxLength, "--length in range");
  if (const auto* s = std::get_if<shiftrope::string_remap>(&o.map))
    expect(s->window >= 0 && s->window < s->shift && s->shift < o.length, "0 <= W < S < L");
  (void)title(o);
  if (o.length <= 16) {  // the text and CSV writers on the parsed remap
    std::ostringstream out;
    write_text(out, o);
    write_csv(out, o);
  }
}

}  // namespace shiftrope_fuzz
