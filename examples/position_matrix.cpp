// examples/position_matrix.cpp - shiftrope-positions: the relative-position
// matrix f(m - n) a position remap (STRING or plain RoPE) produces for a
// causal sequence, as aligned text (the paper's Figure 5), CSV or an SVG
// heatmap; with --frequency, the paper's position-frequency analysis (how
// often training saw each distance, which distances RoPE and STRING use at
// inference) as text, CSV or an SVG plot. Run with --help for the flags.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <ostream>
#include <shiftrope/position_map.hpp>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "cli.hpp"
#include "position_options.hpp"
#include "position_writers.hpp"

namespace {

using namespace positions_cli;

constexpr const char* kProgram = "shiftrope-positions";

constexpr const char* kHelp =
    R"HELP(usage: shiftrope-positions --length L (--shift S | --ratio R | --rope) [--window W]
                           [--format text|csv|svg] [--output FILE]
       shiftrope-positions --frequency --length L [--shift S | --ratio R] [--window W]
                           [--docs full|train|FILE] [--sequences N] [--below C]
                           [--format text|csv|svg] [--output FILE]

Prints the relative position f(m - n) that the score of query m and key n
sees (keys n <= m; causal), for STRING (An et al., ICLR 2025) or plain RoPE:
  STRING: f(d) = d if d < S, d - S + W if d >= S;   RoPE: f(d) = d.

Remap (exactly one):
  --shift S     STRING with shift S, 1 <= S < L.
  --ratio R     STRING with S = floor(R * L), 0 < R < 1 (the paper uses 0.33).
  --rope        plain RoPE (no --window).
  --window W    STRING's local window, 0 <= W < S. Default: the paper's 128,
                lowered to S - 1 when S <= 128 (so W < S always holds).

Sequence and output:
  --length L    sequence length (training length), 1 <= L <= 2^40.
  --format F    text (default): the lower triangle, row m lists n = 0..m,
                right-aligned, under a header such as
                "STRING S=3 W=0 L=9 (max position 5)"; L <= 64.
                csv: L rows of L comma-separated integers, -1 above the
                diagonal (n > m); no header; L <= 4096; streamed row by row.
                svg: a heatmap, one cell per (m, n) up to L = 256; beyond,
                cells of c x c tokens with c = ceil(L / 256), each showing
                the LARGEST position inside it; grey above the diagonal; a
                colour scale legend from 0 to the maximum position. Needs
                --output. Each cell is <rect class="c" ... data-v="value"/>
                (value -1 above the diagonal).
  --output FILE write there instead of standard output (required for svg).
  --help, -h    this text.

Frequency view (the paper's §2: distance d is trained far less often than
small distances, so the largest ones are under-trained):
  --frequency   instead of the matrix: trained(d), the number of token pairs
                (i, j), i - j = d, inside one training document, for each
                d < L; the distances that RoPE (0..L-1) and STRING (given
                --shift/--ratio and --window; default the paper's
                S = floor(0.33 L)) use on a sequence of L tokens; and the share
                of their L (L + 1) / 2 pairs that fall on distances trained
                fewer than C times. L <= 2^20.
  --docs D      full (default): sequences of L tokens, trained(d) = N (L - d);
                train: tools/train's training stream replayed draw for draw
                (seed 1, documents of 197 + exponential(mean 128) tokens,
                packed, a quarter of the sequences drills; needs L >= 197);
                FILE: document lengths, one per line ('#' comments and blank
                lines skipped); a document longer than L counts as pieces of L.
  --sequences N full: N sequences (default 1); train: the first N sequences
                of the stream (default 9644, the shipped run's 2,411 steps x 4).
  --below C     a count, or P% of trained(0) (default 5%).
  Output: text (a summary and trained(d) every L/16), csv (distance,trained,
  rope_pairs,string_pairs: one row per distance; *_pairs = inference pairs
  scored at that position) or svg (the curve trained(d), the threshold, and
  the two inference ranges; needs --output).

Examples:
  shiftrope-positions --length 9 --shift 3 --window 0        (Figure 5 b)
  shiftrope-positions --frequency --length 512 --docs train --shift 256 --window 64
  shiftrope-positions --length 131072 --ratio 0.33 --format svg --output llama31.svg

Exit status: 0 on success, 2 on a bad flag or value (one line on stderr
naming the flag), 1 if writing the output fails.
)HELP";

int run(int argc, const char* const* argv) {
  const options o = parse_options(argc, argv);
  std::optional<frequency_data> freq;  // computed first: a bad --docs file leaves no output file
  if (o.freq.on) freq = frequency_for(o);
  std::ofstream file;
  if (o.output) {
    file.open(*o.output, std::ios::binary | std::ios::trunc);
    if (!file)
      throw cli::cli_error("--output", "cannot open " + cli::quoted(*o.output) + " for writing");
  }
  std::ostream& out = o.output ? static_cast<std::ostream&>(file) : std::cout;
  if (freq) {
    const frequency_data& f = *freq;
    if (o.format == "text")
      write_frequency_text(out, o, f);
    else if (o.format == "csv")
      write_frequency_csv(out, f);
    else
      write_frequency_svg(out, o, f);
  } else if (o.format == "text")
    write_text(out, o);
  else if (o.format == "csv")
    write_csv(out, o);
  else
    write_svg(out, o);
  out.flush();
  if (!out)
    throw std::runtime_error("writing " + (o.output ? cli::quoted(*o.output) : "stdout") +
                             " failed");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::wants_help(argc, argv)) {
    std::fputs(kHelp, stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  return cli::run(kProgram, [&] { return run(argc, argv); });
}
