// examples/position_matrix.cpp - shiftrope-positions: the relative-position
// matrix f(m - n) a position remap (STRING or plain RoPE) produces for a
// causal sequence, as aligned text (the paper's Figure 5), CSV or an SVG
// heatmap. Run with --help for the flags.
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

namespace {

constexpr const char* kProgram = "shiftrope-positions";

constexpr const char* kHelp =
    R"HELP(usage: shiftrope-positions --length L (--shift S | --ratio R | --rope) [--window W]
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

Examples:
  shiftrope-positions --length 9 --shift 3 --window 0        (Figure 5 b)
  shiftrope-positions --length 131072 --ratio 0.33 --format svg --output llama31.svg

Exit status: 0 on success, 2 on a bad flag or value (one line on stderr
naming the flag), 1 if writing the output fails.
)HELP";

constexpr std::int64_t kMaxLength = shiftrope::max_positions;
constexpr std::int64_t kMaxTextLength = 64;
constexpr std::int64_t kMaxCsvLength = 4096;
constexpr std::int64_t kMaxSvgCells = 256;  // per side

struct options {
  std::int64_t length = 0;            ///< L
  shiftrope::remap map;               ///< identity or STRING
  std::string format = "text";        ///< text | csv | svg
  std::optional<std::string> output;  ///< file; standard output when empty
};

// ---- flags ----

std::string str(std::int64_t v) {
  return std::to_string(v);
}

shiftrope::string_remap parse_string_remap(const cli::args& a, std::int64_t length) {
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

void check_length_for_format(const options& o) {
  if (o.format == "text" && o.length > kMaxTextLength)
    throw cli::cli_error("--length", str(o.length) + " is too large for --format text (at most " +
                                         str(kMaxTextLength) + "); use --format csv or svg");
  if (o.format == "csv" && o.length > kMaxCsvLength)
    throw cli::cli_error("--length", str(o.length) + " is too large for --format csv (at most " +
                                         str(kMaxCsvLength) + "); use --format svg");
}

options parse_options(int argc, const char* const* argv) {
  const cli::args a(argc, argv,
                    {{"--length", true},
                     {"--shift", true},
                     {"--ratio", true},
                     {"--window", true},
                     {"--rope", false},
                     {"--format", true},
                     {"--output", true}});
  options o;
  o.format = a.get_choice("--format", {"text", "csv", "svg"}, "text");
  a.exclusive("--shift", "--ratio");
  a.exclusive("--shift", "--rope");
  a.exclusive("--ratio", "--rope");
  o.length = a.get_int<std::int64_t>("--length", 1, kMaxLength);
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

// ---- shared ----

/// "STRING S=3 W=0 L=9 (max position 5)" or "RoPE L=9 (max position 8)".
std::string title(const options& o) {
  std::string t;
  if (const auto* s = std::get_if<shiftrope::string_remap>(&o.map))
    t = "STRING S=" + str(s->shift) + " W=" + str(s->window);
  else
    t = "RoPE";
  return t + " L=" + str(o.length) + " (max position " +
         str(shiftrope::max_position(o.map, o.length)) + ")";
}

/// Appends v in decimal.
void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// ---- text ----

void write_text(std::ostream& out, const options& o) {
  const std::string width_probe = str(shiftrope::max_position(o.map, o.length));
  const std::size_t width = width_probe.size();
  out << title(o) << '\n';
  std::string row;
  for (std::int64_t m = 0; m < o.length; ++m) {
    row.clear();
    for (std::int64_t n = 0; n <= m; ++n) {
      const std::string v = str(shiftrope::relative_position(o.map, m, n));
      if (n > 0) row += ' ';
      row.append(width - v.size(), ' ');
      row += v;
    }
    row += '\n';
    out << row;
  }
}

// ---- csv ----

void write_csv(std::ostream& out, const options& o) {
  std::string row;  // one row at a time: never the L × L matrix
  for (std::int64_t m = 0; m < o.length; ++m) {
    row.clear();
    for (std::int64_t n = 0; n < o.length; ++n) {
      if (n > 0) row += ',';
      append_int(row, n <= m ? shiftrope::relative_position(o.map, m, n) : -1);
    }
    row += '\n';
    out.write(row.data(), static_cast<std::streamsize>(row.size()));
  }
}

// ---- svg ----

/// Largest f(d) over the distances [lo, hi] (0 <= lo <= hi), in closed form:
/// a downsampled cell's distances form one such interval.
std::int64_t max_over(const shiftrope::identity_remap&, std::int64_t, std::int64_t hi) {
  return hi;
}

std::int64_t max_over(const shiftrope::string_remap& r, std::int64_t lo, std::int64_t hi) {
  // f increases on [0, S) and on [S, inf): the maximum sits at the top of
  // either piece that the interval touches.
  std::int64_t best = -1;
  if (lo < r.shift) best = r(std::min(hi, r.shift - 1));
  if (hi >= r.shift) best = std::max(best, r(hi));
  return best;
}

/// The largest position among the causal pairs of rows [m0, m1) × keys
/// [n0, n1), or -1 when the block lies wholly above the diagonal.
std::int64_t cell_max(const shiftrope::remap& map, std::int64_t m0, std::int64_t m1,
                      std::int64_t n0, std::int64_t n1) {
  const std::int64_t hi = (m1 - 1) - n0;
  if (hi < 0) return -1;
  const std::int64_t lo = std::max<std::int64_t>(0, m0 - (n1 - 1));
  return std::visit([&](const auto& r) { return max_over(r, lo, hi); }, map);
}

/// Perceptual colour scale (viridis, 9 evenly spaced stops), t in [0, 1].
constexpr std::array<std::array<int, 3>, 9> kScale = {{{0x44, 0x01, 0x54},
                                                       {0x47, 0x2d, 0x7b},
                                                       {0x3b, 0x52, 0x8b},
                                                       {0x2c, 0x72, 0x8e},
                                                       {0x21, 0x91, 0x8c},
                                                       {0x28, 0xae, 0x80},
                                                       {0x5e, 0xc9, 0x62},
                                                       {0xad, 0xdc, 0x30},
                                                       {0xfd, 0xe7, 0x25}}};
constexpr const char* kMaskedColour = "#d9d9d9";  // n > m

std::string colour(double t) {
  t = std::clamp(t, 0.0, 1.0) * static_cast<double>(kScale.size() - 1);
  const auto i = std::min(static_cast<std::size_t>(t), kScale.size() - 2);
  const double f = t - static_cast<double>(i);
  char buf[8];
  int rgb[3];
  for (int c = 0; c < 3; ++c)
    rgb[c] = static_cast<int>(std::lround(kScale[i][c] * (1 - f) + kScale[i + 1][c] * f));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buf;
}

std::string num(double x) {
  return cli::number(x);
}

// Layout, in pixels.
constexpr double kPlot = 512, kLeft = 70, kTop = 70, kLegendGap = 30, kBarWidth = 18;
constexpr double kWidth = kLeft + kPlot + kLegendGap + kBarWidth + 110, kHeight = kTop + kPlot + 40;

void write_svg_legend(std::ostream& out, std::int64_t max_pos) {
  const double x = kLeft + kPlot + kLegendGap;
  out << "<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
  for (std::size_t i = 0; i < kScale.size(); ++i) {
    const double t = static_cast<double>(i) / static_cast<double>(kScale.size() - 1);
    out << "<stop offset=\"" << num(t) << "\" stop-color=\"" << colour(t) << "\"/>\n";
  }
  out << "</linearGradient></defs>\n";
  out << "<rect x=\"" << num(x) << "\" y=\"" << num(kTop) << "\" width=\"" << num(kBarWidth)
      << "\" height=\"" << num(kPlot) << "\" fill=\"url(#scale)\" stroke=\"#333\"/>\n";
  // Labels at 0, 1/4, ..., max (rounded; repeated values printed once).
  std::int64_t last = -1;
  for (int k = 0; k <= 4; ++k) {
    const auto v = static_cast<std::int64_t>(std::llround(static_cast<double>(max_pos) * k / 4.0));
    if (v == last) continue;
    last = v;
    const double y = kTop + kPlot - (max_pos > 0 ? kPlot * static_cast<double>(v) / max_pos : 0);
    out << "<line x1=\"" << num(x + kBarWidth) << "\" x2=\"" << num(x + kBarWidth + 5) << "\" y1=\""
        << num(y) << "\" y2=\"" << num(y) << "\" stroke=\"#333\"/>\n";
    out << "<text x=\"" << num(x + kBarWidth + 8) << "\" y=\"" << num(y + 4) << "\">" << v
        << "</text>\n";
  }
  out << "<text x=\"" << num(x) << "\" y=\"" << num(kTop - 10) << "\">position</text>\n";
  out << "<rect x=\"" << num(x) << "\" y=\"" << num(kTop + kPlot + 12) << "\" width=\"12\" "
      << "height=\"12\" fill=\"" << kMaskedColour << "\"/>\n";
  out << "<text x=\"" << num(x + 16) << "\" y=\"" << num(kTop + kPlot + 22)
      << "\">n &gt; m</text>\n";
}

void write_svg(std::ostream& out, const options& o) {
  const std::int64_t cell = (o.length + kMaxSvgCells - 1) / kMaxSvgCells;  // tokens per side
  const std::int64_t grid = (o.length + cell - 1) / cell;                  // cells per side
  const std::int64_t max_pos = shiftrope::max_position(o.map, o.length);
  const double px = kPlot / static_cast<double>(grid);
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(kWidth) << "\" height=\""
      << num(kHeight) << "\" viewBox=\"0 0 " << num(kWidth) << ' ' << num(kHeight)
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out << "<title>" << title(o) << "</title>\n";
  out << "<text x=\"" << num(kLeft) << "\" y=\"22\" font-size=\"15\">" << title(o) << "</text>\n";
  out << "<text x=\"" << num(kLeft) << "\" y=\"40\">colour: f(m - n)"
      << (cell > 1 ? ", the largest in each cell of " + str(cell) + " x " + str(cell) + " tokens"
                   : std::string())
      << "</text>\n";
  out << "<text x=\"" << num(kLeft) << "\" y=\"" << num(kTop - 6) << "\">key n: 0 .. "
      << o.length - 1 << "</text>\n";
  out << "<text transform=\"translate(" << num(kLeft - 8) << ' ' << num(kTop)
      << ") rotate(-90)\" text-anchor=\"end\">query m: 0 .. " << o.length - 1 << "</text>\n";
  out << "<g transform=\"translate(" << num(kLeft) << ' ' << num(kTop) << ") scale(" << num(px)
      << ")\" shape-rendering=\"crispEdges\">\n";
  std::string line;
  for (std::int64_t i = 0; i < grid; ++i) {
    const std::int64_t m0 = i * cell, m1 = std::min(m0 + cell, o.length);
    for (std::int64_t j = 0; j < grid; ++j) {
      const std::int64_t n0 = j * cell, n1 = std::min(n0 + cell, o.length);
      const std::int64_t v = cell_max(o.map, m0, m1, n0, n1);
      line = "<rect class=\"c\" x=\"" + str(j) + "\" y=\"" + str(i) +
             "\" width=\"1\" height=\"1\" fill=\"" +
             (v < 0 ? std::string(kMaskedColour)
                    : colour(max_pos > 0 ? static_cast<double>(v) / max_pos : 0.0)) +
             "\" data-v=\"" + str(v) + "\"/>\n";
      out << line;
    }
  }
  out << "</g>\n";
  write_svg_legend(out, max_pos);
  out << "</svg>\n";
}

int run(int argc, const char* const* argv) {
  const options o = parse_options(argc, argv);
  std::ofstream file;
  if (o.output) {
    file.open(*o.output, std::ios::binary | std::ios::trunc);
    if (!file)
      throw cli::cli_error("--output", "cannot open " + cli::quoted(*o.output) + " for writing");
  }
  std::ostream& out = o.output ? static_cast<std::ostream&>(file) : std::cout;
  if (o.format == "text")
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
